package detect

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

var t0 = time.Date(2026, 11, 18, 14, 0, 0, 0, time.UTC) // a Wednesday

// rec builds a routine record; options adjust it.
func rec(action, class, stmt string, opts ...func(*audit.Record)) audit.Record {
	r := audit.Record{
		EventTime:                  t0,
		ActionID:                   action,
		ClassType:                  class,
		Succeeded:                  true,
		SessionID:                  55,
		ServerInstanceName:         "sql01",
		DatabaseName:               "Sales",
		ServerPrincipalName:        `CONTOSO\alice`,
		SessionServerPrincipalName: `CONTOSO\alice`,
		ClientIP:                   "10.0.0.5",
		ApplicationName:            "Microsoft SQL Server Management Studio - Query",
		HostName:                   "WS-ALICE",
		Statement:                  stmt,
		FileName:                   "sql01/Sales/audit/2026-11-18/14_00_00_000_0.xel",
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func at(d time.Duration) func(*audit.Record) {
	return func(r *audit.Record) { r.EventTime = t0.Add(d) }
}

func by(p string) func(*audit.Record) {
	return func(r *audit.Record) { r.ServerPrincipalName, r.SessionServerPrincipalName = p, p }
}

func app(a string) func(*audit.Record) { return func(r *audit.Record) { r.ApplicationName = a } }
func ip(a string) func(*audit.Record)  { return func(r *audit.Record) { r.ClientIP = a } }
func obj(o string) func(*audit.Record) { return func(r *audit.Record) { r.ObjectName = o } }
func failed(r *audit.Record)           { r.Succeeded = false }
func target(p string) func(*audit.Record) {
	return func(r *audit.Record) { r.TargetServerPrincipalName = p }
}
func host(h string) func(*audit.Record) { return func(r *audit.Record) { r.HostName = h } }
func server(s string) func(*audit.Record) {
	return func(r *audit.Record) { r.ServerInstanceName = s }
}

// testConfig is the allow-listed configuration most cases use.
func testConfig(t testing.TB) Config {
	t.Helper()
	c := DefaultConfig()
	c.AllowedBackupDestinations = []string{"https://backupacct.blob.core.windows.net/sql/", `\\backupsrv\sql\`, "D:\\Backups\\", "NightlyTape"}
	c.AllowedPrincipals = []string{`CONTOSO\svc-backup`, `CONTOSO\dba`}
	c.AllowedApplications = []string{"SQLAgent - TSQL JobStep*", "Microsoft SQL Server Management Studio*"}
	c.AllowedClientIPs = []string{"10.0.1.0/24"}
	c.MaintenanceWindows = []string{"Sat 01:00-05:00 UTC"}
	return c
}

// svc makes the record come from the approved backup actor.
func svc(r *audit.Record) {
	r.ServerPrincipalName, r.SessionServerPrincipalName = `CONTOSO\svc-backup`, `CONTOSO\svc-backup`
	r.ApplicationName = "SQLAgent - TSQL JobStep (Job 0x1 : Step 1)"
	r.ClientIP = "10.0.1.20"
}

// run evaluates records in order with a fresh memory state, giving each a
// distinct file offset, and returns every finding.
func run(t testing.TB, cfg Config, recs []audit.Record) []Finding {
	t.Helper()
	e, err := New(cfg, NewMemoryState())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var out []Finding
	for i := range recs {
		if recs[i].AuditFileOffset == 0 {
			recs[i].AuditFileOffset = int64(4096 * (i + 1))
		}
		fs, err := e.Evaluate(context.Background(), &recs[i])
		if err != nil {
			t.Fatalf("Evaluate record %d: %v", i, err)
		}
		out = append(out, fs...)
	}
	return out
}

// summary renders findings of one rule as "RULE/severity" strings.
func summary(fs []Finding, rule string) []string {
	var out []string
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, fmt.Sprintf("%s/%s", f.Rule, f.Severity))
		}
	}
	return out
}

func whys(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s %s: %s", f.Rule, f.Severity, f.Why)
	}
	return b.String()
}
