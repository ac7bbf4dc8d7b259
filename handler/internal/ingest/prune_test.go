package ingest

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSweepPruneInterval: the sweep runs its Prune housekeeping on a
// process's first sweep, then at most once per PruneEvery, after the
// ingestion; a failing prune is logged, never fails the sweep, and is
// not retried before the interval. Polls (watch --dir) do the same.
func TestSweepPruneInterval(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)
	blob := "srv1/db1/aud/2026-11-21/10_00_00_000_0.xel"
	f := newFixture(t, Options{Now: func() time.Time { return now }})
	f.blobs.Append(blob, auditFile(t, 10), now)
	var calls []time.Time
	var pruneErr error
	rowsAtPrune := -1
	so := SweepOptions{Days: 2, IdleClose: time.Hour, PruneEvery: 10 * time.Minute,
		Prune: func(_ context.Context, at time.Time) error {
			calls = append(calls, at)
			if rowsAtPrune < 0 {
				rowsAtPrune = len(f.rows.Records())
			}
			return pruneErr
		}}
	step := func(d time.Duration, want int) {
		t.Helper()
		now = now.Add(d)
		if _, err := f.p.Sweep(context.Background(), so); err != nil {
			t.Fatalf("sweep failed: %v", err)
		}
		if len(calls) != want {
			t.Fatalf("after %v: %d prunes, want %d", d, len(calls), want)
		}
	}
	step(0, 1) // first sweep of the process
	if rowsAtPrune != 10 {
		t.Errorf("prune ran with %d rows stored, want after the ingestion (10)", rowsAtPrune)
	}
	step(5*time.Second, 1)
	step(9*time.Minute, 1)
	pruneErr = errors.New("table service: status 503")
	step(time.Minute, 2) // 10 min after the first: runs, and fails
	step(5*time.Second, 2)
	pruneErr = nil
	step(10*time.Minute, 3)
	if !calls[2].Equal(now) {
		t.Errorf("prune got time %v, want the pipeline's clock %v", calls[2], now)
	}
	// Poll shares the schedule.
	if _, err := f.p.Poll(context.Background(), so); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 3 {
		t.Errorf("poll within the interval pruned")
	}
	now = now.Add(10 * time.Minute)
	if _, err := f.p.Poll(context.Background(), so); err != nil || len(calls) != 4 {
		t.Errorf("poll after the interval: %d prunes (err %v), want 4", len(calls), err)
	}
}
