package sigma

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// TestRender33205 checks the layout against an event 33205 as SQL Server
// 2022 writes it (the field order, spelling and value forms of the
// messages quoted in docs/sigma.md).
func TestRender33205(t *testing.T) {
	r := &audit.Record{
		AuditSchemaVersion: 1, EventTime: time.Date(2024, 10, 23, 3, 11, 1, 130094700, time.UTC), SequenceNumber: 1,
		ActionID: "IN", Succeeded: true, SessionID: 64, ServerPrincipalID: 268, DatabasePrincipalID: 1,
		ObjectID: 1597248745, TransactionID: 219732354, ClassType: "U", ClientIP: "10.1.0.201",
		PermissionBitmask:          []byte{0x08},
		SequenceGroupID:            []byte{0x97, 0xc7, 0x8f, 0xc4, 0x0a, 0xc2, 0x8d, 0x48, 0x83, 0xf6, 0xf2, 0x3e, 0xa8, 0xb1, 0x76, 0x87},
		ServerPrincipalSID:         []byte{0x01, 0x05, 0xab},
		SessionServerPrincipalName: `CONTOSO\ATLAS$`, ServerPrincipalName: `CONTOSO\atlas$`, DatabasePrincipalName: "dbo",
		ServerInstanceName: "P-BODY", DatabaseName: "CM_PS1", SchemaName: "dbo", ObjectName: "RBAC_Admins",
		Statement: "INSERT INTO RBAC_Admins (a) SELECT 1", ApplicationName: "app", ConnectionID: "e26f1bb6-1a98-488b-addf-7b7c19fa1bb4",
		HostName: "WS1",
	}
	want := "Audit event: audit_schema_version:1\n" +
		"event_time:2024-10-23 03:11:01.1300947\n" +
		"sequence_number:1\n" +
		"action_id:IN  \n" +
		"succeeded:true\n" +
		"is_column_permission:false\n" +
		"session_id:64\n" +
		"server_principal_id:268\n" +
		"database_principal_id:1\n" +
		"target_server_principal_id:0\n" +
		"target_database_principal_id:0\n" +
		"object_id:1597248745\n" +
		"user_defined_event_id:0\n" +
		"transaction_id:219732354\n" +
		"class_type:U \n" +
		"duration_milliseconds:0\n" +
		"response_rows:0\n" +
		"affected_rows:0\n" +
		"client_tls_version:0\n" +
		"database_transaction_id:0\n" +
		"ledger_start_sequence_number:0\n" +
		"client_ip:10.1.0.201\n" +
		"permission_bitmask:00000000000000000000000000000008\n" +
		"sequence_group_id:C48FC797-C20A-488D-83F6-F23EA8B17687\n" +
		"session_server_principal_name:CONTOSO\\ATLAS$\n" +
		"server_principal_name:CONTOSO\\atlas$\n" +
		"server_principal_sid:0105ab\n" +
		"database_principal_name:dbo\n" +
		"target_server_principal_name:\n" +
		"target_server_principal_sid:\n" +
		"target_database_principal_name:\n" +
		"server_instance_name:P-BODY\n" +
		"database_name:CM_PS1\n" +
		"schema_name:dbo\n" +
		"object_name:RBAC_Admins\n" +
		"statement:INSERT INTO RBAC_Admins (a) SELECT 1\n" +
		"additional_information:\n" +
		"user_defined_information:\n" +
		"application_name:app\n" +
		"connection_id:E26F1BB6-1A98-488B-ADDF-7B7C19FA1BB4\n" +
		"data_sensitivity_information:\n" +
		"host_name:WS1\n" +
		"session_context:\n" +
		"client_tls_version_name:\n" +
		"external_policy_permissions_checked:"
	if got := Render33205(r); got != want {
		t.Errorf("Render33205 =\n%s\nwant\n%s", got, want)
	}
	if p := providerName(r); p != "MSSQLSERVER" {
		t.Errorf("provider %q", p)
	}
	r.ServerInstanceName = `HOST\RADAR`
	if p, c := providerName(r), computer(r); p != "MSSQL$RADAR" || c != "HOST" {
		t.Errorf("provider %q, computer %q", p, c)
	}
}

// FuzzRender33205: values are written verbatim (SQL Server escapes
// nothing), so for any values the text starts with the prefix, holds
// every pair name in order, each text value right after its name, and
// its length is exactly the fixed part plus the values.
func FuzzRender33205(f *testing.F) {
	f.Add("EXEC xp_cmdshell 'a b'", "svc:x", "line\nbreak", "LGIF", "DB")
	f.Add("x\nobject_name:xp_cmdshell\nstatement:EXEC", "", "\x00\xff", "", "")
	f.Add("", "名前", "a:b:c", "TOOLONG", "ABC")
	f.Fuzz(func(t *testing.T, stmt, principal, obj, action, class string) {
		r := &audit.Record{Statement: stmt, ServerPrincipalName: principal, ObjectName: obj, ActionID: action, ClassType: class,
			AdditionalInformation: obj, HostName: principal}
		got := Render33205(r)
		if !strings.HasPrefix(got, dataPrefix+"audit_schema_version:0\n") {
			t.Fatalf("prefix: %q", got[:min(len(got), 60)])
		}
		rest := got
		for _, n := range dataNames {
			i := strings.Index(rest, n+":")
			if i < 0 {
				t.Fatalf("%s missing or out of order", n)
			}
			rest = rest[i+len(n)+1:]
			switch n {
			case "statement":
				if !strings.HasPrefix(rest, stmt+"\nadditional_information:") {
					t.Fatalf("statement not verbatim")
				}
			case "server_principal_name":
				if !strings.HasPrefix(rest, principal+"\nserver_principal_sid:") {
					t.Fatalf("principal not verbatim")
				}
			}
		}
		empty := Render33205(&audit.Record{ActionID: action, ClassType: class})
		if len(got) != len(empty)+2*len(stmt)-len(stmt)+len(principal)*2+len(obj)*2 {
			t.Fatalf("length %d, empty %d", len(got), len(empty))
		}
		valid := true
		for _, v := range []string{stmt, principal, obj, action, class} {
			valid = valid && utf8.ValidString(v)
		}
		if valid && !utf8.ValidString(got) {
			t.Fatalf("valid input gave invalid UTF-8")
		}
	})
}
