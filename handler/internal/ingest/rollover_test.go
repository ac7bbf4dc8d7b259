package ingest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// Azure SQL Database rolls an audit over to a new blob when the current
// one reaches 50 MB: <hh_mm_ss_ms>_<n>.xel in the same date folder, or
// the first file of the next date folder at midnight UTC. These tests
// drive the sweep through such rollovers with the in-memory fakes and an
// injected clock (discovery at most once a minute, as the app runs it)
// and check that no record is lost and that an audit's files are read in
// order: every record of a file is stored (and evaluated) before any
// record of a later file of the same audit.

// rollover is a sweep fixture over one audit that records the order in
// which the blobs' records are stored and evaluated.
type rollover struct {
	*fixture
	now   time.Time
	so    SweepOptions
	order []string // blob of each stored batch, in order
	evals []string // file_name of each evaluated record, in order
}

const aud = "srv1/db1/SqlDbAuditing_ServerAudit/"

func newRollover(t *testing.T, start time.Time, opt Options) *rollover {
	r := &rollover{now: start, so: SweepOptions{Days: 2, IdleClose: 2 * time.Hour, DiscoverEvery: time.Minute}}
	opt.Now = func() time.Time { return r.now }
	r.fixture = newFixture(t, opt)
	r.p = New(r.blobs, r.cursors, r.rows, evalFunc(func(rec *audit.Record) {
		r.evals = append(r.evals, rec.FileName)
	}), XEL{}, nil, opt)
	r.rows.Fail = func(blob string) error {
		r.order = append(r.order, blob)
		return nil
	}
	return r
}

type evalFunc func(rec *audit.Record)

func (f evalFunc) Evaluate(_ context.Context, rec *audit.Record) ([]detect.Finding, error) {
	f(rec)
	return nil, nil
}

func (r *rollover) sweep(t *testing.T, after time.Duration) SweepResult {
	t.Helper()
	r.now = r.now.Add(after)
	res, err := r.p.Sweep(context.Background(), r.so)
	if err != nil {
		t.Fatalf("sweep at %s: %v", r.now.Format(time.TimeOnly), err)
	}
	return res
}

// files writes n records per file into each blob (one file each, 4 KiB
// buffers), appending the whole file at once, and returns the files.
func (r *rollover) write(t *testing.T, n int, blobs ...string) map[string][]byte {
	out := map[string][]byte{}
	for _, b := range blobs {
		f := auditFile(t, n)
		out[b] = f
		r.blobs.Append(b, f, r.now)
	}
	return out
}

// checkAll: every record of every blob is stored (n per blob; n < 0:
// not checked), and the blobs were stored and evaluated in the given
// order, none interleaved; all but the last are closed.
func (r *rollover) checkAll(t *testing.T, n int, order ...string) {
	t.Helper()
	per := map[string]int{}
	for _, rec := range r.rows.Records() {
		per[rec.FileName]++
	}
	for _, b := range order {
		if n >= 0 && per[b] != n {
			t.Errorf("%s: %d rows stored, want %d", b, per[b], n)
		}
	}
	for name, what := range map[string][]string{"stored": r.order, "evaluated": r.evals} {
		if got := slices.Compact(slices.Clone(what)); !slices.Equal(got, order) {
			t.Errorf("blobs %s in the order\n %q\nwant\n %q", name, got, order)
		}
	}
	for _, b := range order[:len(order)-1] {
		if c, err := r.cursors.Get(context.Background(), b); err != nil || c.State != StateClosed {
			t.Errorf("%s: cursor %s (%v), want closed: a newer file of its audit exists", b, c.State, err)
		}
	}
	last := order[len(order)-1]
	if c, err := r.cursors.Get(context.Background(), last); err != nil || c.State != StateOpen {
		t.Errorf("%s: cursor %s (%v), want open: the audit's newest file", last, c.State, err)
	}
}

// TestRolloverMidHour: the audit's file is open and read; it gets its
// last records and rolls over at 50 MB to a new file of the same folder,
// both within one sweep interval. The next sweeps read the rest of the
// old file, close it, and read the new one, in that order.
func TestRolloverMidHour(t *testing.T) {
	t.Parallel()
	r := newRollover(t, time.Date(2026, 11, 21, 10, 30, 0, 0, time.UTC), Options{})
	a, b := aud+"2026-11-21/10_00_00_000_0.xel", aud+"2026-11-21/10_37_12_345_1.xel"
	fa := auditFile(t, 80)
	r.blobs.Append(a, fa[:len(fa)/2], r.now)
	r.sweep(t, 0)
	r.blobs.Append(a, fa[len(fa)/2:], r.now.Add(7*time.Minute))
	r.write(t, 80, b)
	r.sweep(t, 5*time.Second) // within the minute: no listing, the open file grows
	r.sweep(t, time.Minute)   // lists: b exists, a is final
	r.sweep(t, 5*time.Second)
	r.checkAll(t, 80, a, b)
}

// TestRolloverAtMidnight: the last file of a day and the first of the
// next, neither announced (no Event Grid, or the listing before midnight
// came too early): the sweep lists today's folder first, yet reads
// yesterday's file first.
func TestRolloverAtMidnight(t *testing.T) {
	t.Parallel()
	r := newRollover(t, time.Date(2026, 11, 21, 23, 59, 40, 0, time.UTC), Options{})
	a, b := aud+"2026-11-21/23_59_50_000_0.xel", aud+"2026-11-22/00_00_00_120_1.xel"
	r.sweep(t, 0) // lists an empty container
	r.write(t, 60, a)
	r.now = r.now.Add(30 * time.Second)
	r.write(t, 60, b)
	r.sweep(t, 40*time.Second) // 00:00:50: both folders listed
	r.sweep(t, time.Minute)
	r.checkAll(t, 60, a, b)
}

// TestRolloverSeveralWithinOneInterval: heavy auditing fills three
// files between two listings. The sweep closes the open one, then reads
// the new ones oldest first (by their names' numbers, not as text:
// 9_59_… before 10_00_…, _9 before _10), closing each but the newest in
// the same sweep.
func TestRolloverSeveralWithinOneInterval(t *testing.T) {
	t.Parallel()
	r := newRollover(t, time.Date(2026, 11, 21, 9, 59, 0, 0, time.UTC), Options{})
	first := aud + "2026-11-21/9_58_00_000_8.xel"
	next := []string{aud + "2026-11-21/9_59_30_000_9.xel", aud + "2026-11-21/10_00_10_000_10.xel", aud + "2026-11-21/10_00_40_000_11.xel"}
	r.write(t, 40, first)
	r.sweep(t, 0)
	r.write(t, 40, next...)
	res := r.sweep(t, time.Minute)
	if res.Discovered != 3 || res.Closed != 3 {
		t.Errorf("discovered %d, closed %d in one sweep; want 3 and 3 (the open file and the two superseded new ones)", res.Discovered, res.Closed)
	}
	r.checkAll(t, 40, append([]string{first}, next...)...)
}

// TestRolloverBudgetHoldsLaterFiles: when the byte budget stops a sweep
// inside a file, the later files of its audit wait for the next sweep
// even though a little budget is left (it is smaller than the old file's
// next buffer, not than the new file's small buffers).
func TestRolloverBudgetHoldsLaterFiles(t *testing.T) {
	t.Parallel()
	r := newRollover(t, time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), Options{MaxBytesPerRun: 3<<16 - 1})
	a, b := aud+"2026-11-21/10_00_00_000_0.xel", aud+"2026-11-21/10_20_00_000_1.xel"
	r.blobs.Append(a, bufferedFile(t, 5000, 1<<16), r.now)
	r.blobs.Append(b, bufferedFile(t, 50, 1024), r.now)
	for range 30 {
		r.sweep(t, time.Minute)
	}
	r.checkAll(t, -1, a, b)
	for blob, n := range map[string]int{a: 5000, b: 50} {
		got := 0
		for _, rec := range r.rows.Records() {
			if rec.FileName == blob {
				got++
			}
		}
		if got != n {
			t.Errorf("%s: %d rows, want %d", blob, got, n)
		}
	}
}

// TestRolloverIdleClosedFileGrows: an audit quiet for longer than
// XELWATCH_IDLE_CLOSE has its file closed; when the audit then writes
// to the same file again (no rollover: it is under 50 MB), the sweep
// reopens it and reads the new records instead of losing them.
func TestRolloverIdleClosedFileGrows(t *testing.T) {
	t.Parallel()
	r := newRollover(t, time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), Options{})
	a := aud + "2026-11-21/10_00_00_000_0.xel"
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	cut := 0
	for i := range 60 {
		if i == 30 {
			if err := w.Flush(); err != nil { // the audit's last whole buffer before it went quiet
				t.Fatal(err)
			}
			cut = buf.Len()
		}
		if err := w.WriteAudit(xeltest.AuditEvent{EventTime: r.now.Add(time.Duration(i) * time.Second), ActionID: "BCM", ClassType: "DB",
			Succeeded: true, ServerPrincipalName: "app", ServerInstanceName: "srv1", DatabaseName: "db1", Statement: fmt.Sprintf("SELECT %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	fa := buf.Bytes()
	r.blobs.Append(a, fa[:cut], r.now)
	r.sweep(t, 0)
	r.sweep(t, 3*time.Hour) // idle: closed
	if c, _ := r.cursors.Get(context.Background(), a); c.State != StateClosed {
		t.Fatalf("cursor %s after idling, want closed", c.State)
	}
	r.blobs.Append(a, fa[cut:], r.now.Add(time.Minute))
	r.sweep(t, time.Minute)
	r.sweep(t, time.Minute)
	if got := len(r.rows.Records()); got != 60 {
		t.Errorf("%d rows, want 60: the records written after the idle close were lost", got)
	}
	if c, _ := r.cursors.Get(context.Background(), a); c.State != StateOpen || c.BlobLength != int64(len(fa)) {
		t.Errorf("cursor %s at length %d, want open at %d", c.State, c.BlobLength, len(fa))
	}
}

// bufferedFile is an audit file of n records in buffers of size bytes.
func bufferedFile(t *testing.T, n, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: size})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.WriteAudit(xeltest.AuditEvent{EventTime: t0.Add(time.Duration(i) * time.Second), ActionID: "BCM", ClassType: "DB",
			Succeeded: true, ServerPrincipalName: "app", ServerInstanceName: "srv1", DatabaseName: "db1", Statement: fmt.Sprintf("SELECT %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPollIdleClosedFileGrows: the same for a local folder (watch --dir):
// a file closed as idle that SQL Server writes to again is reopened.
func TestPollIdleClosedFileGrows(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	blobs, cursors, rows := NewMemoryBlobs(), NewMemoryCursors(), NewMemoryRows()
	p := New(blobs, cursors, rows, nil, XEL{}, nil, Options{Now: func() time.Time { return now }})
	name := "MSSQL/Audit/Audit_1_0_1.sqlaudit"
	a, b := bufferedFile(t, 30, 4096), bufferedFile(t, 60, 4096)
	if !bytes.HasPrefix(b, a[:len(a)-4096]) {
		t.Skip("xeltest no longer writes the same bytes for the same first records")
	}
	cut := len(a) - 4096 // whole buffers of the first 30 records' file, shared with b
	blobs.Append(name, b[:cut], now)
	poll := func(after time.Duration) {
		t.Helper()
		now = now.Add(after)
		if _, err := p.Poll(context.Background(), SweepOptions{IdleClose: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	poll(0)
	poll(2 * time.Hour) // idle: closed
	if c, _ := cursors.Get(context.Background(), name); c.State != StateClosed {
		t.Fatalf("cursor %s after idling, want closed", c.State)
	}
	blobs.Append(name, b[cut:], now)
	poll(time.Minute)
	if got := len(rows.Records()); got != 60 {
		t.Errorf("%d rows, want 60: the records written after the idle close were lost", got)
	}
}
