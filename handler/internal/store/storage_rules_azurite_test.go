package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/handler/internal/ingest"
)

// TestAzuriteCursorIdentity: the generation, the rows of earlier
// generations, the blob identity (type, creation time, digests) and the
// silence report survive a write and a listing.
func TestAzuriteCursorIdentity(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	cs := s.Cursors("sqldbauditlogs")
	blob := "srv1/db1/SqlDbAuditing_ServerAudit/2026-11-21/20_31_39_123_0.xel"
	at := time.Date(2026, 11, 21, 20, 31, 40, 0, time.UTC)
	id := ingest.Identity{Type: "AppendBlob", Created: at, TailOffset: 4096, TailLength: 65536,
		TailSHA256: "aa", HeadLength: 4096, HeadSHA256: "bb"}
	c, err := cs.Create(ctx, ingest.Cursor{Blob: blob, State: ingest.StateOpen, Offset: 69632, Rows: 12,
		Generation: 2, EarlierRows: 340, Identity: id, LastGrowth: at, SilenceReported: at})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got ingest.Cursor) {
		t.Helper()
		if got.Generation != 2 || got.EarlierRows != 340 || got.Identity != id || !got.SilenceReported.Equal(at) {
			t.Errorf("%s: generation %d earlier %d identity %+v silence %v", what, got.Generation, got.EarlierRows, got.Identity, got.SilenceReported)
		}
	}
	got, err := cs.Get(ctx, blob)
	if err != nil {
		t.Fatal(err)
	}
	check("get", got)
	open, err := cs.Open(ctx, 10)
	if err != nil || len(open) != 1 {
		t.Fatalf("open: %d, %v", len(open), err)
	}
	check("open", open[0])
	// An update that resets the generation's state keeps what it sets.
	c.Identity, c.SilenceReported = ingest.Identity{}, time.Time{}
	if _, err := cs.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, _ := cs.Get(ctx, blob); got.Identity != (ingest.Identity{}) || !got.SilenceReported.IsZero() {
		t.Errorf("after reset: %+v %v", got.Identity, got.SilenceReported)
	}
}

// TestAzuriteHeartbeatClaim: of concurrent claims of one period exactly
// one wins; an earlier or the same period is refused later; the next
// period is claimed once; the claim entity is not listed as a detection.
func TestAzuriteHeartbeatClaim(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for _, period := range []int64{20425, 20426} {
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				ok, err := s.ClaimHeartbeat(ctx, period)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("period %d: %d winners, want 1", period, won.Load())
		}
	}
	for _, p := range []int64{20425, 20426} {
		if ok, err := s.ClaimHeartbeat(ctx, p); ok || err != nil {
			t.Errorf("claim of past period %d: %v %v", p, ok, err)
		}
	}
	for d, err := range s.ListDetections(ctx, time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("listed %+v", d)
	}
}
