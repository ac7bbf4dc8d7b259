package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"
	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/control"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/notify"
	"github.com/xelwatch/xelwatch/handler/internal/queuemsg"
	"github.com/xelwatch/xelwatch/handler/internal/store"
	"github.com/xelwatch/xelwatch/xel"
)

// App holds the shared clients and components.
type App struct {
	Cfg      *config.Config
	Log      *slog.Logger
	Store    *store.Store
	Blob     *azblob.Client // audit account
	Blobs    *ingest.AzureBlobs
	Queues   *azqueue.ServiceClient // app account
	Queue    *azqueue.QueueClient   // detections queue
	Poison   *azqueue.QueueClient   // detections-poison
	Pipeline *ingest.Pipeline
	Notifier *notify.Notifier
	// Control processes AuditControl's Event Grid events.
	Control *control.Processor

	engine     *detect.Engine   // the engine from config (nil when Eval was injected)
	stateTable *aztables.Client // detection state (nil when Eval was injected)
	state      *store.State     // on stateTable, pruned by the sweep
	localSrc   bool             // audit source is a local folder
}

// Options of Build.
type Options struct {
	// Eval overrides the detection engine (nil: the engine from config,
	// with its state in the DetectionState table). Tests and the CLI may
	// replace it.
	Eval ingest.Evaluator
	// Channels overrides the notification channels (nil: from config).
	Channels []notify.Channel
	// Blobs overrides the audit source (a local folder for watch --dir).
	Blobs ingest.Blobs
	Now   func() time.Time
}

// Build creates the clients from cfg. It does no I/O: Ensure creates the
// tables, queues and container when they are missing. Every storage
// client comes from cfg's accounts (config.Storage), which build them
// through package azclient with its retry policy: one table service
// client (events, cursors, detections, detection state), one queue
// service client, one blob client for the audit account.
func Build(ctx context.Context, cfg *config.Config, log *slog.Logger, o Options) (*App, error) {
	if err := cfg.RequireAppStorage(); err != nil {
		return nil, err
	}
	if err := cfg.RequireAuditStorage(); err != nil {
		return nil, err
	}
	a := &App{Cfg: cfg, Log: log}
	appAcct := cfg.AppStorage()
	tsvc, err := appAcct.TableServiceClient()
	if err != nil {
		return nil, err
	}
	a.Store = store.New(tsvc, store.Names{Events: cfg.EventsTable, Cursors: cfg.CursorsTable, Detections: cfg.DetectionsTable})
	if a.Queues, err = appAcct.QueueServiceClient(); err != nil {
		return nil, err
	}
	a.Queue = a.Queues.NewQueueClient(cfg.DetectionsQueue)
	a.Poison = a.Queues.NewQueueClient(cfg.DetectionsQueue + "-poison")
	if a.Blob, err = cfg.AuditStorageAccount().BlobClient(); err != nil {
		return nil, err
	}
	a.Blobs = ingest.NewAzureBlobs(a.Blob, cfg.AuditContainer)

	eval := o.Eval
	if eval == nil {
		if eval, err = newEngine(ctx, cfg, a, tsvc); err != nil {
			return nil, err
		}
	}
	var src ingest.Blobs = a.Blobs
	if o.Blobs != nil {
		src, a.localSrc = o.Blobs, true
	}
	// A file with more metadata buffers than a stored cursor can list
	// fails its cursor (poison input) instead of failing every commit.
	// The audit reader's limits are the function app's (ingest.XEL.Audit
	// zero: ingest.MaxRecordBytes, ingest.MaxPendingBytes).
	dec := ingest.XEL{Options: &xel.Options{MaxMetadataBuffers: store.MaxMetadataOffsets}}
	a.Pipeline = ingest.New(src, a.Store.Cursors(cfg.AuditContainer), a.Store.Rows(log),
		eval, dec, log, ingest.Options{MaxBytesPerRun: cfg.MaxBytesPerRun, Now: o.Now, FindingSink: a.RecordPending, Container: cfg.AuditContainer})

	if err := newControl(cfg, a, tsvc); err != nil {
		return nil, err
	}

	chans := o.Channels
	if chans == nil {
		if chans, err = cfg.Notify.Channels(); err != nil {
			return nil, err
		}
	}
	a.Notifier = notify.New(a.Store, chans, notify.Options{MinSeverity: cfg.Notify.MinSeverity, Logger: log})
	return a, nil
}

// RecordPending is the pipeline's default finding sink (the function
// app's): each batch's findings go to the outbox (the Detections table's
// !outbox partition, in batch transactions) before the cursor commits
// them, because the queue output binding carrying them is applied only
// after the invocation answers. The sweep re-emits what the notifier
// never saw ([store.Store.ListUndispatched]). Runs that bring their own
// sink (watch and demo enqueue directly) skip it.
func (a *App) RecordPending(ctx context.Context, fs []detect.Finding) error {
	if err := a.Store.RecordPending(ctx, fs...); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	return nil
}

// discoverEvery is how often a process lists the audit container's date
// folders during sweeps; continuing known blobs runs on every sweep.
const discoverEvery = time.Minute

// SweepOptions are the sweep settings of cfg, with the pruning of expired
// detection state when the app runs the table-backed engine.
func (a *App) SweepOptions() ingest.SweepOptions {
	so := ingest.SweepOptions{Days: a.Cfg.SweepDays, IdleClose: a.Cfg.IdleClose, DiscoverEvery: discoverEvery}
	if a.state != nil {
		so.Prune, so.PruneEvery = a.pruneState, PruneEvery
	}
	if sp := a.Cfg.Silence(); sp.Enabled() {
		so.SilenceGap = func(p ingest.Path) time.Duration { return sp.Gap(p.Server, p.Database, p.Audit) }
	}
	if a.Cfg.Heartbeat > 0 {
		so.Heartbeat, so.HeartbeatClaim = a.Cfg.Heartbeat, a.Store.ClaimHeartbeat
	}
	return so
}

// Ensure creates what is missing: tables, the detections queue and its
// poison queue, the audit container. In Azure the infrastructure creates
// them; locally (Azurite) this makes a first run work.
func (a *App) Ensure(ctx context.Context) error {
	if err := a.Store.EnsureTables(ctx); err != nil {
		return fmt.Errorf("app: tables: %w", err)
	}
	if a.stateTable != nil {
		if err := store.EnsureStateTable(ctx, a.stateTable); err != nil {
			return fmt.Errorf("app: state table: %w", err)
		}
	}
	for _, q := range []*azqueue.QueueClient{a.Queue, a.Poison} {
		if _, err := q.Create(ctx, nil); err != nil && !isExists(err) {
			return fmt.Errorf("app: create queue: %w", err)
		}
	}
	if a.localSrc {
		return nil
	}
	if _, err := a.Blobs.Container().Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("app: create container %s: %w", a.Cfg.AuditContainer, err)
	}
	return nil
}

func isExists(err error) bool { return queueerror.HasCode(err, queueerror.QueueAlreadyExists) }

// Enqueue puts findings on the detections queue the way the host's queue
// binding expects them (base64 text of {"detection":…}), a few at a time.
func (a *App) Enqueue(ctx context.Context, fs []detect.Finding) error {
	msgs := make([]string, len(fs))
	for i, f := range fs {
		b, err := queuemsg.Marshal(f)
		if err != nil {
			return err
		}
		msgs[i] = queuemsg.EncodeQueueText(b)
	}
	errs := make([]error, len(fs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := a.Queue.EnqueueMessage(ctx, m, nil); err != nil {
				errs[i] = fmt.Errorf("app: enqueue %s: %w", fs[i].DetectionID, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// NotifyAdapter makes the notifier fit handler.Notifier.
type NotifyAdapter struct{ N *notify.Notifier }

// Notify implements handler.Notifier.
func (n NotifyAdapter) Notify(ctx context.Context, f detect.Finding) error { return n.N.Notify(ctx, f) }
