package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/detect/sigma"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/control"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/sigmarules"
	"github.com/xelwatch/xelwatch/handler/internal/store"
)

// newEngine builds the detection engine with its windowed state in the
// XELWATCH_STATE_TABLE table, so that correlations work across files,
// invocations and instances.
// svc is the app account's table service client Build made.
func newEngine(ctx context.Context, cfg *config.Config, a *App, svc *aztables.ServiceClient) (ingest.Evaluator, error) {
	a.stateTable = svc.NewClient(cfg.StateTable)
	a.state = store.NewState(a.stateTable, nil)
	e, err := detect.New(cfg.Detect(), a.state)
	if err != nil {
		return nil, fmt.Errorf("app: detection engine: %w", err)
	}
	if e, err = withSigma(ctx, e, cfg.Sigma(), a.Log); err != nil {
		return nil, err
	}
	a.engine = e
	return e, nil
}

// withSigma adds the Sigma rules of XELWATCH_SIGMA_RULES (loaded and
// validated by config.Load) to the engine, and logs what was loaded and
// what was skipped. Without rules the engine is returned as it is.
func withSigma(ctx context.Context, e *detect.Engine, rs *sigmarules.Rules, log *slog.Logger) (*detect.Engine, error) {
	if rs == nil {
		return e, nil
	}
	for _, s := range rs.Skipped {
		log.WarnContext(ctx, "Sigma rule skipped", "reason", s)
	}
	set, err := sigma.NewSet(rs.Rules, sigma.Options{OnError: func(rule string, err error) {
		log.WarnContext(ctx, "Sigma rule failed on a record; treated as no match", "rule", rule, "error", err)
	}})
	if err != nil {
		return nil, fmt.Errorf("app: sigma rules: %w", err)
	}
	log.InfoContext(ctx, "Sigma rules loaded", "rules", set.Len(), "skipped", len(rs.Skipped))
	if set.Len() == 0 {
		return e, nil
	}
	return e.WithExtensions(set), nil
}

// newControl builds AuditControl's processor on the same detection
// engine and state as ingestion (AUD-012 correlates through it); with an
// injected evaluator, on an engine of its own over the same state table.
func newControl(cfg *config.Config, a *App, svc *aztables.ServiceClient) error {
	e := a.engine
	if e == nil {
		if a.stateTable == nil {
			a.stateTable = svc.NewClient(cfg.StateTable)
		}
		var err error
		if e, err = detect.New(cfg.Detect(), store.NewState(a.stateTable, nil)); err != nil {
			return fmt.Errorf("app: detection engine: %w", err)
		}
	}
	rules, err := detect.NewControl(e, cfg.ControlConfig())
	if err != nil {
		return fmt.Errorf("app: control rules: %w", err)
	}
	a.Control = &control.Processor{Rules: rules, Cursors: a.Store.Cursors(cfg.AuditContainer), Container: cfg.AuditContainer,
		Sink: a.RecordPending, Log: a.Log}
	if cfg.Control.StateRead {
		// The app's identity (the one of AzureWebJobsStorage), read-only:
		// Reader on the SQL servers; without it the findings say "unknown".
		cred, err := cfg.AppStorage().TokenCredential()
		if err != nil {
			return fmt.Errorf("app: XELWATCH_AUDIT_STATE_READ: %w", err)
		}
		a.Control.State = control.NewARMState(cred, nil, a.Log)
	}
	return nil
}

// Pruning of the DetectionState table. Not settings: the values follow
// from the rule windows and the ingestion lag, and are documented here.
const (
	// PruneEvery: a process prunes on its first sweep and then at most
	// this often (the sweep ticks every few seconds).
	PruneEvery = 10 * time.Minute
	// PruneGrace: an entity is deleted once its Expires (event time of its
	// last update plus the rule's window, so already past every window
	// that could use it) is older than the wall clock minus PruneGrace.
	// Expires is in event time while the prune runs on the wall clock: a
	// file ingested late (a backlog after an outage, a blob nobody
	// announced found by the sweep, which looks back XELWATCH_SWEEP_DAYS,
	// 2 by default) still correlates with state written for it during the
	// last two days. Records arriving later than that may miss a
	// correlation whose state was pruned; the same would happen to the
	// in-memory state's horizon.
	PruneGrace = 48 * time.Hour
	// PruneMaxRequests bounds one run (listing pages and conditional
	// deletes together), and PruneBudget its time: a backlog is drained
	// over several runs, each resuming the scan where the last one
	// stopped. One process deletes up to ~1,000 entities per 10 minutes
	// (~144,000 a day); a faster growth than that shows as repeated
	// "more to prune" warnings. The sweep answers (and its findings go
	// out) only after the prune, so PruneBudget is also the most a prune
	// delays one sweep's detections, once per PruneEvery.
	PruneMaxRequests = 1000
	PruneBudget      = 10 * time.Second
)

// pruneState is the sweep's housekeeping (ingest.SweepOptions.Prune):
// one bounded store.State.PruneSome run. Deletes are conditional on the
// ETag the scan read, so an entity another instance refreshed meanwhile
// stays; several instances pruning at once only waste a few requests on
// 404/412 answers. Running out of PruneBudget is not an error: the next
// run continues.
func (a *App) pruneState(ctx context.Context, now time.Time) error {
	pctx, cancel := context.WithTimeout(ctx, PruneBudget)
	defer cancel()
	n, more, err := a.state.PruneSome(pctx, now.Add(-PruneGrace), PruneMaxRequests)
	if err != nil && ctx.Err() == nil && pctx.Err() != nil {
		more, err = true, nil // our own time budget: the next run continues
	}
	if err != nil {
		return fmt.Errorf("app: prune detection state: %w", err)
	}
	switch {
	case more:
		a.Log.WarnContext(ctx, "pruned expired detection state; more to prune, the next runs continue", "deleted", n)
	case n > 0:
		a.Log.InfoContext(ctx, "pruned expired detection state", "deleted", n)
	}
	return nil
}
