package audit_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

func TestActionName(t *testing.T) {
	cases := []struct{ code, want string }{
		{"BA", "BACKUP"},
		{"BA  ", "BACKUP"},
		{" ba", "BACKUP"},
		{"LGIF", "LOGIN FAILED"},
		{"AUSC", "AUDIT SESSION CHANGED"},
		{"DBAS", "DATABASE AUTHENTICATION SUCCEEDED"},
		{"CNAU", "AUDIT_CHANGE_GROUP"},
		{"ENLR", "ENABLE LEDGER"},
		{"ZZZZ", ""},
		{"", ""},
		{"4294967295", ""},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			if got := audit.ActionName(tc.code); got != tc.want {
				t.Errorf("ActionName(%q) = %q, want %q", tc.code, got, tc.want)
			}
		})
	}
}

func TestClassTypeDesc(t *testing.T) {
	cases := []struct{ code, want string }{
		{"A", "SERVER AUDIT"},
		{"A ", "SERVER AUDIT"},
		{"SA", "SERVER AUDIT SPECIFICATION"},
		{"DU", "AUDIT"},
		{"DB", "DATABASE"},
		{"U", "TABLE"},
		{"SL", "SQL LOGIN"},
		{"AL", "ASYMMETRIC KEY LOGIN"}, // class code, not the ALTER action
		{"QQ", ""},
		{"", ""},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			if got := audit.ClassTypeDesc(tc.code); got != tc.want {
				t.Errorf("ClassTypeDesc(%q) = %q, want %q", tc.code, got, tc.want)
			}
		})
	}
}

func TestActionGroupsFor(t *testing.T) {
	cases := []struct {
		action, class string
		want          []string
	}{
		{"BA", "DB", []string{"BACKUP_RESTORE_GROUP"}},
		{"BA", "", []string{"BACKUP_RESTORE_GROUP"}},
		{"RS", "DB", []string{"BACKUP_RESTORE_GROUP"}},
		{"AL", "A", []string{"AUDIT_CHANGE_GROUP"}},
		{"DR", "SA", []string{"AUDIT_CHANGE_GROUP"}},
		{"CR", "DU", []string{"AUDIT_CHANGE_GROUP"}},
		{"AUSC", "A", []string{"AUDIT_CHANGE_GROUP"}},
		{"AL", "DB", []string{"DATABASE_CHANGE_GROUP"}},
		{"CR", "SL", []string{"SERVER_PRINCIPAL_CHANGE_GROUP"}},
		{"CR", "US", []string{"DATABASE_PRINCIPAL_CHANGE_GROUP"}},
		{"AL", "U", []string{"SCHEMA_OBJECT_CHANGE_GROUP"}},
		{"AL", "IF", []string{"SCHEMA_OBJECT_CHANGE_GROUP"}}, // not listed: same securable class as U, V, P
		{"CR", "EP", []string{"SERVER_OBJECT_CHANGE_GROUP"}},
		{"APRL", "SG", []string{"SERVER_ROLE_MEMBER_CHANGE_GROUP"}},
		{"APRL", "RL", []string{"DATABASE_ROLE_MEMBER_CHANGE_GROUP"}},
		{"G", "SR", []string{"SERVER_PERMISSION_CHANGE_GROUP"}},
		{"G", "DB", []string{"DATABASE_PERMISSION_CHANGE_GROUP"}},
		{"IMP", "LX", []string{"SERVER_PRINCIPAL_IMPERSONATION_GROUP"}},
		{"IMP", "US", []string{"DATABASE_PRINCIPAL_IMPERSONATION_GROUP"}},
		{"EX", "X", []string{"SCHEMA_OBJECT_ACCESS_GROUP"}},
		{"BCM", "", []string{"BATCH_COMPLETED_GROUP"}},
		{"DBAF", "DB", []string{"FAILED_DATABASE_AUTHENTICATION_GROUP"}},
		{"LGIF", "LX", []string{"FAILED_LOGIN_GROUP"}},
		{"TXBG", "", []string{"TRANSACTION_BEGIN_GROUP", "TRANSACTION_GROUP"}},
		{"ba  ", "db", []string{"BACKUP_RESTORE_GROUP"}},
		{"ZZZZ", "DB", nil},
		{"BRDB", "", nil}, // a group code is not logged by a group
	}
	for _, tc := range cases {
		t.Run(tc.action+"+"+tc.class, func(t *testing.T) {
			if got := audit.ActionGroupsFor(tc.action, tc.class); !slices.Equal(got, tc.want) {
				t.Errorf("ActionGroupsFor(%q, %q) = %q, want %q", tc.action, tc.class, got, tc.want)
			}
		})
	}
}

func TestTablesConsistent(t *testing.T) {
	acts := audit.Actions()
	if len(acts) != 169 {
		t.Errorf("%d action codes, want 169 (audit_actions.csv)", len(acts))
	}
	if n := len(audit.ClassTypes()); n != 105 {
		t.Errorf("%d class types, want 105 (audit_class_types.csv)", n)
	}
	if n := len(audit.ActionGroups()); n != 54 {
		t.Errorf("%d action groups, want 54 (audit_action_groups.csv)", n)
	}
	if n := len(audit.OperationSignatures()); n != 99 {
		t.Errorf("%d operation signatures, want 99", n)
	}
	for _, a := range acts {
		if got := xeltest.ActionIDInt(a.ID); got != a.XEInt {
			t.Errorf("action %s: XEInt %d, code packs to %d", a.ID, a.XEInt, got)
		}
		if got, ok := audit.LookupAction(a.ID); !ok || got.Name != a.Name {
			t.Errorf("LookupAction(%s) = %v, %v", a.ID, got, ok)
		}
	}
	for _, c := range audit.ClassTypes() {
		if got := xeltest.ClassTypeInt(c.Code); got != c.XEInt {
			t.Errorf("class %s: XEInt %d, code packs to %d", c.Code, c.XEInt, got)
		}
	}
	for _, g := range audit.ActionGroups() {
		for _, id := range g.ActionIDs {
			a, ok := audit.LookupAction(id)
			if !ok || a.Group {
				t.Errorf("group %s logs %s, which is not a known action", g.Name, id)
			}
		}
		for _, c := range g.ClassTypes {
			if _, ok := audit.LookupClassType(c); !ok {
				t.Errorf("group %s covers unknown class %s", g.Name, c)
			}
		}
	}
	g, ok := audit.LookupActionGroup("audit_change_group")
	if !ok || g.Code != "CNAU" || g.Availability.AzureSQLDB != "N" {
		t.Errorf("LookupActionGroup(AUDIT_CHANGE_GROUP) = %+v, %v", g, ok)
	}
	if got, want := audit.GroupActionIDs("BACKUP_RESTORE_GROUP"), []string{"BA", "BAL", "RS"}; !slices.Equal(got, want) {
		t.Errorf("GroupActionIDs(BACKUP_RESTORE_GROUP) = %v, want %v", got, want)
	}
}

// TestTablesUpToDate regenerates tables_gen.go from the committed
// reference/*.csv and compares.
func TestTablesUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go run")
	}
	out := filepath.Join(t.TempDir(), "tables_gen.go")
	cmd := exec.Command("go", "run", "./internal/gen", "-ref", "reference", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("tables_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, have) {
		t.Errorf("tables_gen.go is stale: run go generate ./xel/audit")
	}
}

// referenceFiles are the files of ../shared/audit-reference that
// internal/gen reads, committed under reference/.
var referenceFiles = []string{"audit_actions.csv", "audit_class_types.csv", "audit_action_groups.csv", "audit_operation_signatures.csv"}

// TestReferenceMatchesShared checks that the committed reference/*.csv
// are the research copy beside the repository (../shared/audit-reference),
// so an update there is taken (copy, go generate) rather than missed. It
// fails under CI, and is skipped elsewhere, when that copy is absent.
func TestReferenceMatchesShared(t *testing.T) {
	shared := filepath.Join("..", "..", "..", "shared", "audit-reference")
	if _, err := os.Stat(shared); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("../shared/audit-reference is required in CI: %v", err)
		}
		t.Skipf("../shared/audit-reference not available: %v", err)
	}
	for _, name := range referenceFiles {
		want, err := os.ReadFile(filepath.Join(shared, name))
		if err != nil {
			t.Errorf("shared copy: %v", err)
			continue
		}
		got, err := os.ReadFile(filepath.Join("reference", name))
		if err != nil {
			t.Errorf("committed copy: %v", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("reference/%s (%d bytes) differs from %s (%d bytes): copy it and run go generate ./xel/audit",
				name, len(got), filepath.Join(shared, name), len(want))
		}
	}
}
