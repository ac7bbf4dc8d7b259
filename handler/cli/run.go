package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/internal/demo"
	"github.com/xelwatch/xelwatch/handler/internal/detectcmd"
	"github.com/xelwatch/xelwatch/handler/internal/watch"
	"github.com/xelwatch/xelwatch/handler/internal/xelcmd"
)

// IsDaemon reports whether args run serve or watch, whose normal stop is
// SIGTERM: they shut down in their own time and their exit status stands.
func IsDaemon(args []string, env envconfig.Lookuper) bool {
	if len(args) == 0 {
		port, ok := env.Lookup("FUNCTIONS_CUSTOMHANDLER_PORT")
		return ok && port != ""
	}
	return args[0] == "serve" || args[0] == "watch"
}

// ExitCode is a subcommand's non-zero exit status (it printed why).
type ExitCode int

func (e ExitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Command is the one signature of every subcommand: the arguments after
// its name, the settings, the standard streams; it returns the exit
// status, having printed why when it is not 0.
type Command func(ctx context.Context, args []string, env envconfig.Lookuper, stdin io.Reader, stdout, stderr io.Writer) int

// command is one subcommand.
type command struct {
	name, summary string
	run           Command
}

var commands = []command{
	{"serve", "run the Azure Functions custom handler (default when FUNCTIONS_CUSTOMHANDLER_PORT is set)", Serve},
	{"decode", "decode .xel/.sqlaudit files to JSON lines or CSV", xelcmd.Decode},
	{"scan", "run the detection rules over audit files offline", detectcmd.Scan},
	{"rules", "list the detection rules", detectcmd.Rules},
	{"query", "print stored audit rows of a server/database and time range", Query},
	{"detections", "print recorded detections and their delivery status", Detections},
	{"cursors", "print where ingestion of each audit blob stands (exit 3 if any failed)", Cursors},
	{"watch", "ingest a container or local folder and notify, without the Functions host", watch.Run},
	{"demo", "append a sample audit file to Azurite and show rows and detections", demo.Run},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: xelwatch <command> [arguments]  (xelwatch <command> --help for details)")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nSettings are environment variables (Azure app settings); see README.md.")
	fmt.Fprintln(w, "SIGINT/SIGTERM stops a command at once with exit status 130/143; serve and")
	fmt.Fprintln(w, "watch shut down gracefully and exit 0 (a second signal exits at once).")
}

// Run dispatches to a subcommand. It is what main and the tests call.
func Run(ctx context.Context, args []string, env envconfig.Lookuper, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		if port, ok := env.Lookup("FUNCTIONS_CUSTOMHANDLER_PORT"); ok && port != "" {
			args = []string{"serve"}
		} else {
			usage(stderr)
			return ExitCode(2)
		}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			if code := c.run(ctx, args[1:], env, stdin, stdout, stderr); code != 0 {
				return ExitCode(code)
			}
			return nil
		}
	}
	fmt.Fprintf(stderr, "xelwatch: unknown command %q\n", args[0])
	usage(stderr)
	return ExitCode(2)
}
