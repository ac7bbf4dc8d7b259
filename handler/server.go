package handler

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/logctx"
)

// Ingester is what AuditBlob and AuditSweep need from the pipeline
// (*ingest.Pipeline).
type Ingester interface {
	Ingest(ctx context.Context, blob string, ro ingest.RunOptions) (ingest.Result, error)
	Sweep(ctx context.Context, so ingest.SweepOptions) (ingest.SweepResult, error)
}

// Notifier records and delivers one detection (*notify.Notifier). An
// error fails the invocation (the host retries, then poisons the message).
type Notifier interface {
	Notify(ctx context.Context, f detect.Finding) error
}

// Deps are the server's dependencies, built once in main.
type Deps struct {
	Log      *slog.Logger
	Ingester Ingester
	Notifier Notifier
	// Control runs AuditControl (nil: the function answers 503).
	Control   Controller
	Container string              // audit container (XELWATCH_AUDIT_CONTAINER)
	Sweep     ingest.SweepOptions // template for AuditSweep runs (Owner is set per invocation)
	Ready     func() error        // nil = ready; an error makes function calls answer 503 while warming up
	// Outbox, when set, lets AuditSweep re-emit findings whose queue
	// message was lost (nil: no re-emission).
	Outbox Outbox
	// RedispatchAfter is the age at which AuditSweep re-emits a pending
	// finding: 0 means DefaultRedispatchAfter, a negative value at once
	// (tests). Not a setting on purpose.
	RedispatchAfter time.Duration
}

// Function names: folder names under functions/ and routes.
const (
	FuncAuditBlob    = "AuditBlob"
	FuncAuditSweep   = "AuditSweep"
	FuncNotifier     = "Notifier"
	FuncAuditControl = "AuditControl"
)

// Binding names used in function.json.
const (
	bindingDetections = "detections" // queue output of AuditBlob and AuditSweep
	bindingMessage    = "message"    // queue trigger of Notifier
	bindingEvent      = "event"      // Event Grid trigger of AuditControl
)

// NewServer returns the handler for every route, bodies bounded and read
// whole first (readBody). NewHTTPServer wraps it in the server with its
// timeouts.
func NewServer(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	addRoutes(mux, d)
	return readBody(d.Log, mux)
}

// invocation wraps a function handler: request-scoped log attributes
// (invocation_id, function), readiness, and a last-resort recover so that
// a bug answers 500 instead of killing the process the host depends on.
func invocation(d Deps, name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Azure-Functions-InvocationId")
		ctx := logctx.With(r.Context(), slog.String("invocation_id", id), slog.String("function", name))
		r = r.WithContext(ctx)
		defer func() {
			if v := recover(); v != nil {
				d.Log.ErrorContext(ctx, "panic in invocation", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		if d.Ready != nil {
			if err := d.Ready(); err != nil {
				d.Log.WarnContext(ctx, "invocation before warm-up finished", "err", err.Error())
				writeError(w, http.StatusServiceUnavailable, "starting: "+err.Error())
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
