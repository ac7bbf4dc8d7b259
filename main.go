// Command xelwatch is the Azure Functions custom handler of xelwatch
// (xelwatch serve, started by the Functions host) and its command line:
// decode audit files, scan them offline, list the rules, query stored rows
// and detections, watch a container or folder without the Functions host,
// and a self-contained demo.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/detect/detectcmd"
	"github.com/xelwatch/xelwatch/handler/cli"
	"github.com/xelwatch/xelwatch/handler/demo"
	"github.com/xelwatch/xelwatch/handler/watch"
	"github.com/xelwatch/xelwatch/xel/xelcmd"
)

func main() {
	args, env := os.Args[1:], envconfig.OsLookuper()
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	daemon := isDaemon(args, env)
	go onSignal(sigs, cancel, daemon)
	err := run(ctx, args, env, os.Stdin, os.Stdout, os.Stderr)
	var sig interrupted
	if errors.As(context.Cause(ctx), &sig) && !daemon {
		os.Exit(sig.status()) // the command stopped early: its output is incomplete
	}
	if err != nil {
		if code, ok := err.(exitCode); ok {
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "xelwatch:", err)
		os.Exit(1)
	}
}

// signalGrace is how long a command other than serve and watch has to
// return after SIGINT/SIGTERM before the process exits without it (a
// write to a stalled pipe cannot be cancelled).
const signalGrace = 2 * time.Second

// onSignal cancels the context with the first SIGINT or SIGTERM. A
// command stops at its next check and returns; the process exits after a
// second signal, or after signalGrace unless the command is a daemon
// (serve drains running invocations, watch finishes its step).
func onSignal(sigs <-chan os.Signal, cancel context.CancelCauseFunc, daemon bool) {
	first := interrupted{<-sigs}
	cancel(first)
	var force <-chan time.Time
	if !daemon {
		force = time.After(signalGrace)
	}
	select {
	case <-sigs:
	case <-force:
	}
	fmt.Fprintf(os.Stderr, "xelwatch: %v: exiting without waiting for the command\n", first)
	os.Exit(first.status())
}

// interrupted is the context's cause after a signal.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string {
	switch i.sig {
	case os.Interrupt:
		return "received SIGINT"
	case syscall.SIGTERM:
		return "received SIGTERM"
	}
	return "received " + i.sig.String()
}

// status is the shell's convention for death by the signal: 130 for
// SIGINT, 143 for SIGTERM.
func (i interrupted) status() int {
	if s, ok := i.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// isDaemon reports whether args run serve or watch, whose normal stop is
// SIGTERM: they shut down in their own time and their exit status stands.
func isDaemon(args []string, env envconfig.Lookuper) bool {
	if len(args) == 0 {
		port, ok := env.Lookup("FUNCTIONS_CUSTOMHANDLER_PORT")
		return ok && port != ""
	}
	return args[0] == "serve" || args[0] == "watch"
}

// exitCode is a subcommand's non-zero exit status (it printed why).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

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
	{"serve", "run the Azure Functions custom handler (default when FUNCTIONS_CUSTOMHANDLER_PORT is set)", withEnv(cli.Serve)},
	{"decode", "decode .xel/.sqlaudit files to JSON lines or CSV", std(xelcmd.Decode)},
	{"scan", "run the detection rules over audit files offline", std(detectcmd.Scan)},
	{"rules", "list the detection rules", std(detectcmd.Rules)},
	{"query", "print stored audit rows of a server/database and time range", withEnv(cli.Query)},
	{"detections", "print recorded detections and their delivery status", withEnv(cli.Detections)},
	{"cursors", "print where ingestion of each audit blob stands (exit 3 if any failed)", withEnv(cli.Cursors)},
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

// run dispatches to a subcommand. It is what main and the tests call.
func run(ctx context.Context, args []string, env envconfig.Lookuper, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		if port, ok := env.Lookup("FUNCTIONS_CUSTOMHANDLER_PORT"); ok && port != "" {
			args = []string{"serve"}
		} else {
			usage(stderr)
			return exitCode(2)
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
				return exitCode(code)
			}
			return nil
		}
	}
	fmt.Fprintf(stderr, "xelwatch: unknown command %q\n", args[0])
	usage(stderr)
	return exitCode(2)
}
