package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler"
	"github.com/xelwatch/xelwatch/handler/internal/app"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/logctx"
)

// ShutdownTimeout bounds the graceful shutdown on SIGTERM: running
// invocations finish (or their callers retry).
const ShutdownTimeout = 30 * time.Second

// ServeOptions lets tests replace what Build would create.
type ServeOptions struct {
	App      app.Options
	Listener net.Listener // nil: listen on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT
	// RedispatchAfter overrides the age after which the sweep re-emits
	// undispatched findings (see handler.Deps.RedispatchAfter).
	RedispatchAfter time.Duration
}

// Serve runs the custom handler until ctx ends.
func Serve(ctx context.Context, args []string, env envconfig.Lookuper, _ io.Reader, stdout, stderr io.Writer) int {
	return ServeWith(ctx, args, env, stdout, stderr, ServeOptions{})
}

// ServeWith is Serve with injected dependencies.
func ServeWith(ctx context.Context, args []string, env envconfig.Lookuper, stdout, stderr io.Writer, so ServeOptions) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: xelwatch serve [--addr HOST:PORT]

Runs the Azure Functions custom handler: the Functions host starts it (host.json
arguments ["serve"]) with FUNCTIONS_CUSTOMHANDLER_PORT and posts invocations of
AuditBlob, AuditSweep, Notifier and AuditControl to http://127.0.0.1:<port>/<Function>.
Settings come from the environment (app settings); logs are JSON lines on stdout.
`)
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage(err)
	}
	cfg, err := config.Load(ctx, env)
	if err != nil {
		fmt.Fprintf(stderr, "xelwatch serve: %v\n", err)
		return 2
	}
	log := logctx.New(stdout, cfg.LogLevel)
	ln := so.Listener
	if ln == nil {
		a := *addr
		if a == "" {
			if cfg.Port == "" {
				fmt.Fprintln(stderr, "xelwatch serve: FUNCTIONS_CUSTOMHANDLER_PORT is not set (the Functions host sets it); use --addr to run by hand")
				return 2
			}
			a = net.JoinHostPort("127.0.0.1", cfg.Port)
		}
		// Listen first: the host probes GET / until it gets any answer.
		if ln, err = net.Listen("tcp", a); err != nil {
			fmt.Fprintf(stderr, "xelwatch serve: listen: %v\n", err)
			return 1
		}
	}
	var ready atomic.Pointer[error]
	notYet := errors.New("warming up")
	ready.Store(&notYet)
	deps := handler.Deps{Log: log, Container: cfg.AuditContainer, Ready: func() error { return *ready.Load() }}
	a, err := app.Build(ctx, cfg, log, so.App)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "xelwatch serve: %v\n", err)
		return 2
	}
	deps.Ingester = a.Pipeline
	deps.Notifier = app.NotifyAdapter{N: a.Notifier}
	deps.Control = a.Control
	deps.Sweep = a.SweepOptions()
	deps.Outbox = a.Store // the sweep re-emits findings whose queue output was lost
	deps.RedispatchAfter = so.RedispatchAfter
	// Read timeouts and body bound against a peer that stalls; a write
	// timeout past the host's own (functionTimeout + 1 min), so that a
	// long blob run is never cut off: see handler.Limits.
	srv := handler.NewHTTPServer(deps, handler.DefaultLimits())
	go func() {
		// Warm-up after listening: create missing tables and queues
		// (local runs; in Azure the infrastructure made them).
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := a.Ensure(wctx); err != nil {
			log.Warn("could not create tables/queues; continuing with what exists", "err", err.Error())
		}
		var ok error
		ready.Store(&ok)
		log.Info("xelwatch ready", "addr", ln.Addr().String(), "container", cfg.AuditContainer,
			"storage", cfg.AppStorage(), "audit_storage", cfg.AuditStorageAccount())
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		log.Error("server stopped", "err", err.Error())
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err.Error())
	}
	log.Info("xelwatch stopped")
	return 0
}

func exitUsage(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
