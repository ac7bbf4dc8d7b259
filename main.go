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
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/cli"
)

func main() {
	args, env := os.Args[1:], envconfig.OsLookuper()
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	daemon := cli.IsDaemon(args, env)
	go onSignal(sigs, cancel, daemon)
	err := cli.Run(ctx, args, env, os.Stdin, os.Stdout, os.Stderr)
	var sig interrupted
	if errors.As(context.Cause(ctx), &sig) && !daemon {
		os.Exit(sig.status()) // the command stopped early: its output is incomplete
	}
	if err != nil {
		if code, ok := err.(cli.ExitCode); ok {
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
