package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/internal/app"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/logctx"
	"github.com/xelwatch/xelwatch/handler/internal/progress"
	"github.com/xelwatch/xelwatch/handler/internal/queuemsg"
)

// MaxDequeueCount is the host's default (host.json maxDequeueCount).
const MaxDequeueCount = 5

// visibilityTimeout hides a message being delivered (host.json).
const visibilityTimeout = 30 * time.Second

// Options of a Watcher.
type Options struct {
	Interval time.Duration
	Dir      string // local folder instead of the audit container
	Once     bool   // one ingest pass and one queue drain, then return
	Notify   bool   // consume the detections queue (default on)
	// Visibility hides a message while it is delivered; a failed one
	// reappears after it (default visibilityTimeout).
	Visibility time.Duration
}

// Watcher runs the loop.
type Watcher struct {
	App *app.App
	Log *slog.Logger
	Opt Options
	// OnResult is called for each blob result of a pass (demo prints).
	OnResult func(r ingest.Result)
	// OnNotified is called for each detection the consumer handled.
	OnNotified func(id string, err error, attempt int)
	// Progress, when set, is told the bytes each pass reads (watch --once
	// draws them on a terminal).
	Progress ingest.Progress
}

// Run is the `watch` subcommand.
func Run(ctx context.Context, args []string, env envconfig.Lookuper, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.DurationVar(&o.Interval, "interval", 10*time.Second, "time between polls")
	fs.StringVar(&o.Dir, "dir", "", "watch a local folder of .xel/.sqlaudit files instead of the audit container")
	fs.BoolVar(&o.Once, "once", false, "one pass, deliver what it found, exit")
	noNotify := fs.Bool("no-notify", false, "do not consume the detections queue (another watcher or the function app does)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: xelwatch watch [--dir DIR] [--interval 10s] [--once] [--no-notify]

Runs the function app's pipeline without the Functions host: polls the audit
container (XELWATCH_AUDIT_CONTAINER on AuditStorage, or AzureWebJobsStorage) or
a local folder, stores rows and cursors in the tables, puts detections on the
detections queue and delivers them to the configured channels (webhook, Teams,
Slack), moving a message to <queue>-poison after 5 failed deliveries.

With --dir only regular files named *.xel / *.sqlaudit are read (links to
them followed, links to folders not); a FIFO, device, socket, dangling link
or link loop is never opened and is logged once as a warning. A damaged
file's cursor is marked failed with its offset (see xelwatch cursors) and
the other files go on. SIGINT or SIGTERM stops the watcher after the
current step; it then exits 0 (a second signal exits at once).

With --once, stderr shows a progress line (bytes read, of the folder's
total with --dir, rate, time left) when XELWATCH_PROGRESS allows: auto
(default: only when stderr is a terminal and stdout, the log, is not),
always or never.
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || o.Interval < time.Second {
		fs.Usage()
		return 2
	}
	o.Notify = !*noNotify
	var meter *progress.Meter
	if o.Once {
		pw, err := progress.Writer(env, stdout, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "xelwatch watch: %v\n", err)
			return 2
		}
		meter = progress.New(pw, progress.Options{Label: "watch"})
	}
	cfg, err := config.Load(ctx, env)
	if err != nil {
		fmt.Fprintf(stderr, "xelwatch watch: %v\n", err)
		return 2
	}
	log := logctx.New(stdout, cfg.LogLevel)
	w, err := New(ctx, cfg, log, app.Options{}, o)
	if err != nil {
		fmt.Fprintf(stderr, "xelwatch watch: %v\n", err)
		return 2
	}
	if meter != nil {
		w.Progress = meter
	}
	err = w.Run(ctx)
	meter.Done()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "xelwatch watch: %v\n", err)
		return 1
	}
	return 0
}

// New builds a Watcher (and the App) from the config.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, ao app.Options, o Options) (*Watcher, error) {
	if o.Dir != "" {
		abs, err := filepath.Abs(o.Dir)
		if err != nil {
			return nil, err
		}
		o.Dir = abs
		// Cursors of local files live under their own "container" key.
		sum := sha256.Sum256([]byte(abs))
		cfg.AuditContainer = "dir-" + hex.EncodeToString(sum[:8])
		if cfg.AuditConnectionString == "" && cfg.AuditBlobServiceURI == "" {
			cfg.AuditConnectionString = cfg.AppConnectionString
			cfg.AuditBlobServiceURI = cfg.AppBlobServiceURI
		}
		blobs := ingest.NewDirBlobs(abs)
		blobs.OnSkip = skipLogger(log)
		ao.Blobs = blobs
	}
	a, err := app.Build(ctx, cfg, log, ao)
	if err != nil {
		return nil, err
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Visibility <= 0 {
		o.Visibility = visibilityTimeout
	}
	return &Watcher{App: a, Log: log, Opt: o}, nil
}

// maxSkipsRemembered bounds the skipped entries skipLogger remembers.
const maxSkipsRemembered = 10000

// skipLogger logs each entry of the folder that the listing leaves out (a
// FIFO, device, socket, dangling link, link loop, unreadable folder) as a
// warning, once per entry and reason rather than at every poll.
func skipLogger(log *slog.Logger) func(error) {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(err error) {
		msg := err.Error()
		mu.Lock()
		defer mu.Unlock()
		if seen[msg] {
			return
		}
		if len(seen) >= maxSkipsRemembered {
			clear(seen)
		}
		seen[msg] = true
		log.Warn("audit folder entry skipped: not a regular file or unreadable", "err", msg)
	}
}

// Run polls until ctx ends (or one pass with Once).
func (w *Watcher) Run(ctx context.Context) error {
	if err := w.App.Ensure(ctx); err != nil {
		return err
	}
	w.Log.Info("watching", "source", w.source(), "interval", w.Opt.Interval.String())
	t := time.NewTicker(w.Opt.Interval)
	defer t.Stop()
	for {
		more, err := w.Pass(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			w.Log.Error("pass incomplete; retrying next interval", "err", err.Error())
		}
		if w.Opt.Notify {
			if err := w.Drain(ctx); err != nil && ctx.Err() == nil {
				w.Log.Error("delivering detections", "err", err.Error())
			}
		}
		if more && err == nil && ctx.Err() == nil {
			continue // a budget stopped the pass: go on at once (with Once too)
		}
		if w.Opt.Once {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (w *Watcher) source() string {
	if w.Opt.Dir != "" {
		return w.Opt.Dir
	}
	return w.App.Cfg.AuditContainer
}

// Pass is one ingest pass: the sweep over the container (or a poll of the
// folder); detections go to the queue before each cursor commits. more
// reports that a byte or findings budget stopped it before the end.
func (w *Watcher) Pass(ctx context.Context) (more bool, err error) {
	so := w.App.SweepOptions()
	so.Owner = "watch"
	so.FindingSink = w.App.Enqueue
	so.Progress = w.Progress
	var res ingest.SweepResult
	if w.Opt.Dir != "" {
		res, err = w.App.Pipeline.Poll(ctx, so)
	} else {
		res, err = w.App.Pipeline.Sweep(ctx, so)
	}
	for _, r := range res.Results {
		if w.OnResult != nil {
			w.OnResult(r)
		}
		if r.Rows > 0 || r.Outcome == ingest.OutcomeFailed {
			w.Log.Info("ingested", "blob", r.Blob, "outcome", string(r.Outcome), "rows", r.Rows, "detections", len(r.Findings))
		}
	}
	for _, f := range res.Findings {
		w.Log.Info("sweep finding", "rule", f.Rule, "detection_id", f.DetectionID)
	}
	return res.Budget, err
}

// Drain delivers the queued detections, like the host's queue trigger:
// a failed delivery leaves the message to reappear after the visibility
// timeout; after MaxDequeueCount attempts it moves to the poison queue.
func (w *Watcher) Drain(ctx context.Context) error {
	for {
		resp, err := w.App.Queue.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{
			NumberOfMessages: ptr(int32(16)), VisibilityTimeout: ptr(int32(max(w.Opt.Visibility/time.Second, 1))),
		})
		if err != nil {
			return fmt.Errorf("watch: dequeue: %w", err)
		}
		if len(resp.Messages) == 0 {
			return nil
		}
		for _, m := range resp.Messages {
			if err := w.handle(ctx, m); err != nil {
				return err
			}
		}
	}
}

func (w *Watcher) handle(ctx context.Context, m *azqueue.DequeuedMessage) error {
	text, attempt := deref(m.MessageText), int(deref(m.DequeueCount))
	ctx = logctx.With(ctx, slog.String("function", "Notifier"), slog.String("invocation_id", deref(m.MessageID)))
	var nerr error
	body, err := queuemsg.DecodeQueueText(text)
	if err == nil {
		f, uerr := queuemsg.Unmarshal(body)
		if uerr != nil {
			nerr = uerr
		} else {
			nerr = w.App.Notifier.Notify(ctx, f)
			if w.OnNotified != nil {
				w.OnNotified(f.DetectionID, nerr, attempt)
			}
		}
	} else {
		nerr = err
	}
	if nerr == nil {
		_, err := w.App.Queue.DeleteMessage(ctx, deref(m.MessageID), deref(m.PopReceipt), nil)
		return err
	}
	w.Log.WarnContext(ctx, "delivery failed", "attempt", attempt, "err", nerr.Error())
	if attempt < MaxDequeueCount && !errors.Is(nerr, queuemsg.ErrBad) {
		return nil // reappears after the visibility timeout
	}
	if _, err := w.App.Poison.EnqueueMessage(ctx, text, nil); err != nil {
		return fmt.Errorf("watch: poison: %w", err)
	}
	w.Log.ErrorContext(ctx, "message moved to the poison queue", "attempt", attempt)
	_, err = w.App.Queue.DeleteMessage(ctx, deref(m.MessageID), deref(m.PopReceipt), nil)
	return err
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}
