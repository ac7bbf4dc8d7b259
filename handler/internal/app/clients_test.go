package app

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/internal/azclient/azclienttest"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/store"
)

// TestClientsCutOffHungServer builds the app's clients from a config, the
// way serve and watch do, against a server that accepts connections and
// never answers. Every client (the store's tables, the detection state
// table, the detections queue, the audit blobs) must give up each try at
// the policy's per-try bound and retry exactly MaxRetries times, then
// fail. With the SDK's defaults (no per-try bound) the first try hangs
// until the safety deadline below and the test fails on the attempt
// count and the error.
func TestClientsCutOffHungServer(t *testing.T) {
	hung := azclienttest.NewHung(t)
	cfg, err := config.Load(t.Context(), envconfig.MapLookuper(map[string]string{"AzureWebJobsStorage": hung.ConnString()}))
	if err != nil {
		t.Fatal(err)
	}
	pol := azclienttest.FastPolicy()
	cfg.SetClientPolicy(pol)
	a, err := Build(t.Context(), cfg, slog.New(slog.DiscardHandler), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.state == nil {
		t.Fatal("no detection state built")
	}
	ops := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"store tables", a.Store.EnsureTables},
		{"detection state", func(ctx context.Context) error { return store.EnsureStateTable(ctx, a.stateTable) }},
		{"detections queue", func(ctx context.Context) error { _, err := a.Queue.EnqueueMessage(ctx, "x", nil); return err }},
		{"audit blobs", func(ctx context.Context) error {
			_, err := a.Blobs.Properties(ctx, "srv/db/audit/2026-01-01/00_00_00_000_0.xel")
			return err
		}},
	}
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			checkCutOff(t, hung, int(pol.MaxRetries)+1, o.op)
		})
	}
}

// checkCutOff runs op against the hung server and checks it failed by
// itself after want tries, each cut off by the client. The 30 s context is
// a safety net that only the old behaviour reaches, not a timing check.
func checkCutOff(t *testing.T, hung *azclienttest.Hung, want int, op func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := op(ctx)
	if err == nil {
		t.Fatal("no error from a server that never answers")
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		t.Fatalf("the operation ran into the caller's deadline (no per-try bound): %v", err)
	}
	attempts, cut, paths, serr := hung.Settle(ctx)
	if serr != nil {
		t.Fatalf("requests still open after the operation returned: %v", serr)
	}
	if attempts != want || cut != want {
		t.Errorf("%d tries (%d cut off by the client), want %d and %d: %q", attempts, cut, want, want, paths)
	}
}
