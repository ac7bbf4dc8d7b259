package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/store"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
)

// TestSweepPrunesDetectionState (Azurite): the app's sweep deletes
// detection state that expired more than PruneGrace ago, keeps younger
// state, and prunes again only after PruneEvery. Before, Prune was
// called from tests only and the table grew forever.
func TestSweepPrunesDetectionState(t *testing.T) {
	conn := azuritetest.ConnString(t)
	ctx := t.Context()
	cfg, err := config.Load(ctx, envconfig.MapLookuper(map[string]string{
		"AzureWebJobsStorage":       conn,
		"XELWATCH_AUDIT_CONTAINER":  azuritetest.Name("prune"),
		"XELWATCH_EVENTS_TABLE":     azuritetest.Name("PruneEv"),
		"XELWATCH_CURSORS_TABLE":    azuritetest.Name("PruneCur"),
		"XELWATCH_DETECTIONS_TABLE": azuritetest.Name("PruneDet"),
		"XELWATCH_STATE_TABLE":      azuritetest.Name("PruneState"),
		"XELWATCH_DETECTIONS_QUEUE": azuritetest.Name("prune"),
	}))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	a, err := Build(ctx, cfg, slog.New(slog.DiscardHandler), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		bg := context.Background()
		if svc, err := cfg.AppStorage().TableServiceClient(); err == nil {
			for _, n := range []string{cfg.EventsTable, cfg.CursorsTable, cfg.DetectionsTable, cfg.StateTable} {
				_, _ = svc.DeleteTable(bg, n, nil)
			}
		}
		_, _ = a.Queue.Delete(bg, nil)
		_, _ = a.Poison.Delete(bg, nil)
		_, _ = a.Blobs.Container().Delete(bg, nil)
	})

	st := store.NewState(a.stateTable, &store.StateOptions{ReadTTL: -1})
	put := func(key string, expires time.Time) {
		t.Helper()
		if _, err := st.Update(ctx, key, expires, func([]detect.Entry) []detect.Entry { return []detect.Entry{{ID: key}} }); err != nil {
			t.Fatal(err)
		}
	}
	has := func(key string) bool {
		t.Helper()
		es, err := st.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return es != nil
	}
	sweep := func() {
		t.Helper()
		if _, err := a.Pipeline.Sweep(ctx, a.SweepOptions()); err != nil {
			t.Fatal(err)
		}
	}
	put("fail|old", now.Add(-PruneGrace-time.Hour))
	put("fail|recent", now.Add(-PruneGrace+time.Hour)) // expired, but within the grace
	put("fail|live", now.Add(time.Hour))
	sweep()
	if has("fail|old") || !has("fail|recent") || !has("fail|live") {
		t.Fatalf("after the first sweep: old %v, recent %v, live %v; want only old gone", has("fail|old"), has("fail|recent"), has("fail|live"))
	}
	put("fail|old2", now.Add(-PruneGrace-time.Hour))
	now = now.Add(PruneEvery - time.Second)
	sweep()
	if !has("fail|old2") {
		t.Fatal("pruned again within PruneEvery")
	}
	now = now.Add(time.Second)
	sweep()
	if has("fail|old2") {
		t.Error("not pruned after PruneEvery")
	}
}
