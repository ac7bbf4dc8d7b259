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

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, env envconfig.Lookuper, stdin io.Reader, stdout, stderr io.Writer) int
}

func std(f func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int) func(context.Context, []string, envconfig.Lookuper, io.Reader, io.Writer, io.Writer) int {
	return func(ctx context.Context, args []string, _ envconfig.Lookuper, stdin io.Reader, stdout, stderr io.Writer) int {
		return f(ctx, args, stdin, stdout, stderr)
	}
}

func withEnv(f func(ctx context.Context, args []string, env envconfig.Lookuper, stdout, stderr io.Writer) int) func(context.Context, []string, envconfig.Lookuper, io.Reader, io.Writer, io.Writer) int {
	return func(ctx context.Context, args []string, env envconfig.Lookuper, _ io.Reader, stdout, stderr io.Writer) int {
		return f(ctx, args, env, stdout, stderr)
	}
}

var commands = []command{
	{"serve", "run the Azure Functions custom handler (default when FUNCTIONS_CUSTOMHANDLER_PORT is set)", withEnv(Serve)},
	{"decode", "decode .xel/.sqlaudit files to JSON lines or CSV", std(xelcmd.Decode)},
	{"scan", "run the detection rules over audit files offline", std(detectcmd.Scan)},
	{"rules", "list the detection rules", std(detectcmd.Rules)},
	{"query", "print stored audit rows of a server/database and time range", withEnv(Query)},
	{"detections", "print recorded detections and their delivery status", withEnv(Detections)},
	{"cursors", "print where ingestion of each audit blob stands (exit 3 if any failed)", withEnv(Cursors)},
	{"watch", "ingest a container or local folder and notify, without the Functions host", withEnv(watch.Run)},
	{"demo", "append a sample audit file to Azurite and show rows and detections", withEnv(demo.Run)},
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
