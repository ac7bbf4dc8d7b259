package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/internal/azclient/azclienttest"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/progress"
)

// TestStoreCutsOffHungServer: the store of the query, detections and
// cursors commands is built through the one client builder, so a listing
// against a server that never answers is cut off per try and retried,
// then fails, instead of hanging the command. The 30 s context is a
// safety net only the old behaviour (no per-try bound) reaches.
func TestStoreCutsOffHungServer(t *testing.T) {
	hung := azclienttest.NewHung(t)
	cfg, err := config.Load(t.Context(), envconfig.MapLookuper(map[string]string{"AzureWebJobsStorage": hung.ConnString()}))
	if err != nil {
		t.Fatal(err)
	}
	pol := azclienttest.FastPolicy()
	cfg.SetClientPolicy(pol)
	st, err := storeFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var lerr error
	for _, err := range st.ListCursors(ctx, "") {
		lerr = err
		break
	}
	if lerr == nil || ctx.Err() != nil || errors.Is(lerr, context.Canceled) {
		t.Fatalf("listing cursors: err %v, caller's context %v; want a failure of its own", lerr, ctx.Err())
	}
	attempts, cut, paths, err := hung.Settle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := int(pol.MaxRetries) + 1; attempts != want || cut != want {
		t.Errorf("%d tries (%d cut off), want %d: %q", attempts, cut, want, paths)
	}
}

// TestQueryProgressSpan: the query's progress is the part of the time
// range its rows' event times have covered: from --from (or the first
// row) to --to (or the time the query started), never going back when
// a later partition starts earlier.
func TestQueryProgressSpan(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	clock := t0
	now := func() time.Time { return clock }
	last := func(b *bytes.Buffer) string {
		s := b.String()
		return s[strings.LastIndexByte(s, '\r')+1:]
	}

	var b bytes.Buffer
	s := newSpanMeter(progress.New(&b, progress.Options{Label: "query", Unit: progress.Span, Noun: "rows", Now: now, Every: time.Second}),
		t0, t0.Add(4*time.Hour), now)
	clock = clock.Add(time.Second)
	s.row(t0.Add(time.Hour))
	if got, want := last(&b), "query: 1h00m of 4h00m (25%), 1 rows, 1 rows/s, ETA 3s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	clock = clock.Add(time.Second)
	s.row(t0.Add(30 * time.Minute)) // another database's partition, earlier
	if got, want := last(&b), "query: 1h00m of 4h00m (25%), 2 rows, 1 rows/s, ETA 6s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}

	// No --from, no --to: from the first row to the start of the query.
	b.Reset()
	clock = t0.Add(4 * time.Hour)
	s = newSpanMeter(progress.New(&b, progress.Options{Label: "query", Unit: progress.Span, Noun: "rows", Now: now, Every: time.Second}),
		time.Time{}, time.Time{}, now)
	clock = clock.Add(2 * time.Second)
	s.row(t0)
	clock = clock.Add(2 * time.Second)
	s.row(t0.Add(3 * time.Hour))
	if got, want := last(&b), "query: 3h00m of 4h00m (75%), 2 rows, 0 rows/s, ETA 1s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}

	// No meter: nothing to do, no panic.
	newSpanMeter(nil, time.Time{}, time.Time{}, now).row(t0)
}
