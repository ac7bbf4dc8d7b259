package audit_test

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// azureOnly are columns older engines do not write; zeroing them in the
// input makes wantRecord expect the zero value.
var azureOnly = map[string]func(*xeltest.AuditEvent){
	"duration_milliseconds":               func(a *xeltest.AuditEvent) { a.DurationMilliseconds = 0 },
	"response_rows":                       func(a *xeltest.AuditEvent) { a.ResponseRows = 0 },
	"affected_rows":                       func(a *xeltest.AuditEvent) { a.AffectedRows = 0 },
	"connection_id":                       func(a *xeltest.AuditEvent) { a.ConnectionID = xeltest.GUID{} },
	"data_sensitivity_information":        func(a *xeltest.AuditEvent) { a.DataSensitivityInformation = "" },
	"host_name":                           func(a *xeltest.AuditEvent) { a.HostName = "" },
	"session_context":                     func(a *xeltest.AuditEvent) { a.SessionContext = "" },
	"client_tls_version":                  func(a *xeltest.AuditEvent) { a.ClientTLSVersion = 0 },
	"client_tls_version_name":             func(a *xeltest.AuditEvent) { a.ClientTLSVersionName = "" },
	"database_transaction_id":             func(a *xeltest.AuditEvent) { a.DatabaseTransactionID = 0 },
	"ledger_start_sequence_number":        func(a *xeltest.AuditEvent) { a.LedgerStartSequenceNumber = 0 },
	"external_policy_permissions_checked": func(a *xeltest.AuditEvent) { a.ExternalPolicyPermissionsChecked = "" },
	"obo_middle_tier_app_id":              func(a *xeltest.AuditEvent) { a.OBOMiddleTierAppID = "" },
	"is_local_secondary_replica":          func(a *xeltest.AuditEvent) { a.IsLocalSecondaryReplica = false },
	"client_ip":                           func(a *xeltest.AuditEvent) { a.ClientIP = "" },
	"application_name":                    func(a *xeltest.AuditEvent) { a.ApplicationName = "" },
	"transaction_id":                      func(a *xeltest.AuditEvent) { a.TransactionID = 0 },
}

func TestFromEventLayouts(t *testing.T) {
	var omitAll []string
	for name := range azureOnly {
		omitAll = append(omitAll, name)
	}
	cases := []struct {
		name   string
		layout xeltest.AuditLayout
	}{
		{"inferred layout", xeltest.AuditLayout{}},
		{"codes as unicode strings", xeltest.AuditLayout{ActionIDType: xeltest.TypeUnicodeString, ClassTypeType: xeltest.TypeUnicodeString}},
		{"codes as ansi strings", xeltest.AuditLayout{ActionIDType: xeltest.TypeAnsiString, ClassTypeType: xeltest.TypeAnsiString}},
		{"codes as signed integers", xeltest.AuditLayout{ActionIDType: xeltest.TypeInt32, ClassTypeType: xeltest.TypeInt16}},
		{"codes as wide integers", xeltest.AuditLayout{ActionIDType: xeltest.TypeUint64, ClassTypeType: xeltest.TypeUint32}},
		{"counters int32", xeltest.AuditLayout{CounterType: xeltest.TypeInt32}},
		{"counters uint64", xeltest.AuditLayout{CounterType: xeltest.TypeUint64}},
		{"counters as text", xeltest.AuditLayout{CounterType: xeltest.TypeUnicodeString}},
		{"booleans uint8", xeltest.AuditLayout{BoolType: xeltest.TypeUint8}},
		{"booleans int32", xeltest.AuditLayout{BoolType: xeltest.TypeInt32}},
		{"event_time absent", xeltest.AuditLayout{NoEventTime: true}},
		{"azure-only columns absent", xeltest.AuditLayout{Omit: omitAll}},
		{"package name differs", xeltest.AuditLayout{PackageName: "sqlserver"}},
		{"every variant at once", xeltest.AuditLayout{ActionIDType: xeltest.TypeUnicodeString, ClassTypeType: xeltest.TypeInt16,
			CounterType: xeltest.TypeInt32, BoolType: xeltest.TypeUint8, NoEventTime: true, Omit: omitAll}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inputs := []xeltest.AuditEvent{fullAuditEvent(0), fullAuditEvent(1), fullAuditEvent(2)}
			inputs[1].ActionID, inputs[1].ClassType = "G", "U" // one-letter codes are space-padded
			inputs[2].ActionID, inputs[2].ClassType = "LGIF", "LX"
			inputs[2].Succeeded, inputs[2].IsColumnPermission, inputs[2].IsLocalSecondaryReplica = false, false, false
			for i := range inputs {
				for _, name := range tc.layout.Omit {
					azureOnly[name](&inputs[i])
				}
			}
			data, w := newFile(t, &xeltest.Options{Audit: tc.layout, TrackPositions: true}, func(w *xeltest.Writer) error {
				for _, in := range inputs {
					if err := w.WriteAudit(in); err != nil {
						return err
					}
				}
				return nil
			})
			xr, err := xel.NewReader(bytes.NewReader(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, in := range inputs {
				ev, err := xr.Next()
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				for _, name := range tc.layout.Omit {
					if _, ok := ev.Field(name); ok {
						t.Fatalf("field %s written although omitted", name)
					}
				}
				got, ok := audit.FromEvent(ev, "f.xel")
				if !ok {
					t.Fatalf("event %d: FromEvent not ok for %s.%s", i, ev.Package, ev.Name)
				}
				want := wantRecord(in)
				pos := w.Positions()[i]
				want.FileName, want.AuditFileOffset, want.EventIndex = "f.xel", pos.Offset, pos.Index
				if !reflect.DeepEqual(got, want) {
					t.Errorf("record %d differs:\n got %+v\nwant %+v", i, got, want)
				}
			}
		})
	}
}

// variantPackage defines audit_event with the given fields only.
func variantPackage(fields ...xeltest.FieldType) xeltest.Package {
	return xeltest.Package{
		Name: "SecAudit",
		Maps: []xeltest.MapType{{Name: "action_map", Size: 4, Entries: []xeltest.MapEntry{
			{Key: xeltest.ActionIDInt("BA"), Text: "BACKUP"}, {Key: xeltest.ActionIDInt("LGIF"), Text: "LGIF"}, {Key: 7, Text: "SOMETHING NEW"}}}},
		Events: []xeltest.EventType{{Name: "audit_event", UUID: xeltest.MustGUID(xeltest.AuditEventUUID), Fields: fields}},
	}
}

func TestFromEventValueVariants(t *testing.T) {
	ts := time.Date(2025, 2, 3, 4, 5, 6, 700, time.UTC).Truncate(100 * time.Nanosecond)
	ft := time.Date(2024, 12, 31, 23, 59, 59, 999999900, time.UTC)
	U, S, A := xeltest.TypeUint32, xeltest.TypeUnicodeString, xeltest.TypeAnsiString
	cases := []struct {
		name  string
		field xeltest.FieldType
		value any
		get   func(*audit.Record) any
		want  any
	}{
		{"action_id uint32", xeltest.FieldType{Name: "action_id", Type: U}, uint32(538984770), actionOf, "BA/BACKUP"},
		{"action_id AUSC as documented", xeltest.FieldType{Name: "action_id", Type: U}, uint32(1129534785), actionOf, "AUSC/AUDIT SESSION CHANGED"},
		{"action_id SELECT padded", xeltest.FieldType{Name: "action_id", Type: xeltest.TypeInt32}, int32(538987603), actionOf, "SL/SELECT"},
		{"action_id lower-case text", xeltest.FieldType{Name: "action_id", Type: S}, "ba  ", actionOf, "BA/BACKUP"},
		{"action_id numeric text", xeltest.FieldType{Name: "action_id", Type: A}, "538984770", actionOf, "BA/BACKUP"},
		{"action_id unknown code", xeltest.FieldType{Name: "action_id", Type: U}, xeltest.ActionIDInt("ZZZZ"), actionOf, "ZZZZ/"},
		{"action_id long unknown text", xeltest.FieldType{Name: "action_id", Type: S}, "sensitive_batch_completed", actionOf, "SENSITIVE_BATCH_COMPLETED/"},
		{"action_id not ASCII", xeltest.FieldType{Name: "action_id", Type: U}, uint32(0xFFFFFFFF), actionOf, "4294967295/"},
		{"action_id zero", xeltest.FieldType{Name: "action_id", Type: U}, uint32(0), actionOf, "/"},
		{"action_id map text is a name", xeltest.FieldType{Name: "action_id", Map: "action_map"}, xeltest.ActionIDInt("BA"), actionOf, "BA/BACKUP"},
		{"action_id map text is a code", xeltest.FieldType{Name: "action_id", Map: "action_map"}, xeltest.ActionIDInt("LGIF"), actionOf, "LGIF/LOGIN FAILED"},
		{"action_id map unknown text", xeltest.FieldType{Name: "action_id", Map: "action_map"}, 7, actionOf, "7/"},
		{"field name case", xeltest.FieldType{Name: "Action_ID", Type: U}, xeltest.ActionIDInt("BA"), actionOf, "BA/BACKUP"},
		{"class_type uint16 one letter", xeltest.FieldType{Name: "class_type", Type: xeltest.TypeUint16}, uint16(8257), classOf, "A/SERVER AUDIT"},
		{"class_type int16", xeltest.FieldType{Name: "class_type", Type: xeltest.TypeInt16}, int16(16964), classOf, "DB/DATABASE"},
		{"class_type text padded", xeltest.FieldType{Name: "class_type", Type: S}, "U ", classOf, "U/TABLE"},
		{"class_type not ASCII", xeltest.FieldType{Name: "class_type", Type: xeltest.TypeUint16}, uint16(0x0101), classOf, "257/"},
		{"class_type unknown", xeltest.FieldType{Name: "class_type", Type: xeltest.TypeUint16}, xeltest.ClassTypeInt("QQ"), classOf, "QQ/"},
		{"counter numeric text", xeltest.FieldType{Name: "affected_rows", Type: S}, " 12345 ", func(r *audit.Record) any { return r.AffectedRows }, int64(12345)},
		{"counter hex text", xeltest.FieldType{Name: "response_rows", Type: S}, "0x10", func(r *audit.Record) any { return r.ResponseRows }, int64(16)},
		{"counter garbage text", xeltest.FieldType{Name: "response_rows", Type: S}, "many", func(r *audit.Record) any { return r.ResponseRows }, int64(0)},
		{"counter uint8", xeltest.FieldType{Name: "duration_milliseconds", Type: xeltest.TypeUint8}, uint8(250), func(r *audit.Record) any { return r.DurationMilliseconds }, int64(250)},
		{"counter int64 large", xeltest.FieldType{Name: "transaction_id", Type: xeltest.TypeInt64}, int64(1) << 50, func(r *audit.Record) any { return r.TransactionID }, int64(1) << 50},
		{"counter negative int32", xeltest.FieldType{Name: "transaction_id", Type: xeltest.TypeInt32}, int32(-5), func(r *audit.Record) any { return r.TransactionID }, int64(-5)},
		{"session_id uint16", xeltest.FieldType{Name: "session_id", Type: xeltest.TypeUint16}, uint16(77), func(r *audit.Record) any { return r.SessionID }, int16(77)},
		{"sequence_number text", xeltest.FieldType{Name: "sequence_number", Type: S}, "3", func(r *audit.Record) any { return r.SequenceNumber }, int32(3)},
		{"bool from int", xeltest.FieldType{Name: "succeeded", Type: xeltest.TypeInt32}, int32(5), func(r *audit.Record) any { return r.Succeeded }, true},
		{"bool from text true", xeltest.FieldType{Name: "succeeded", Type: S}, "True", func(r *audit.Record) any { return r.Succeeded }, true},
		{"bool from text 0", xeltest.FieldType{Name: "succeeded", Type: S}, "0", func(r *audit.Record) any { return r.Succeeded }, false},
		{"binary from guid", xeltest.FieldType{Name: "sequence_group_id", Type: xeltest.TypeGUID}, xeltest.MustGUID("00112233-4455-6677-8899-aabbccddeeff"),
			func(r *audit.Record) any { return fmt.Sprintf("%x", r.SequenceGroupID) }, "33221100554477668899aabbccddeeff"},
		{"binary from hex text", xeltest.FieldType{Name: "server_principal_sid", Type: S}, "0x0105AB", func(r *audit.Record) any { return fmt.Sprintf("%x", r.ServerPrincipalSID) }, "0105ab"},
		{"binary empty", xeltest.FieldType{Name: "permission_bitmask", Type: xeltest.TypeBinary}, []byte{}, func(r *audit.Record) any { return r.PermissionBitmask == nil }, true},
		{"connection_id text", xeltest.FieldType{Name: "connection_id", Type: S}, "{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}", func(r *audit.Record) any { return r.ConnectionID }, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
		{"connection_id binary", xeltest.FieldType{Name: "connection_id", Type: xeltest.TypeBinary}, func() []byte {
			g := xeltest.MustGUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
			return g[:]
		}(), func(r *audit.Record) any { return r.ConnectionID }, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
		{"connection_id zero guid", xeltest.FieldType{Name: "connection_id", Type: xeltest.TypeGUID}, xeltest.GUID{}, func(r *audit.Record) any { return r.ConnectionID }, ""},
		{"event_time field wins over timestamp", xeltest.FieldType{Name: "event_time", Type: xeltest.TypeFiletime}, ft, timeOf, ft},
		{"event_time as integer FILETIME", xeltest.FieldType{Name: "event_time", Type: xeltest.TypeUint64}, xeltest.Filetime(ft), timeOf, ft},
		{"event_time as text", xeltest.FieldType{Name: "event_time", Type: S}, "2024-12-31 23:59:59.9999999", timeOf, ft},
		{"event_time zero falls back to timestamp", xeltest.FieldType{Name: "event_time", Type: xeltest.TypeFiletime}, uint64(0), timeOf, ts},
		{"event_time unparseable falls back", xeltest.FieldType{Name: "event_time", Type: S}, "yesterday", timeOf, ts},
		{"string column from integer", xeltest.FieldType{Name: "client_ip", Type: xeltest.TypeUint32}, uint32(42), func(r *audit.Record) any { return r.ClientIP }, "42"},
		{"xml string column", xeltest.FieldType{Name: "additional_information", Type: xeltest.TypeXML}, "<a/>", func(r *audit.Record) any { return r.AdditionalInformation }, "<a/>"},
		{"unknown field ignored", xeltest.FieldType{Name: "brand_new_column", Type: S}, "x", func(r *audit.Record) any { return r.Statement }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, _ := newFile(t, &xeltest.Options{Packages: []xeltest.Package{variantPackage(tc.field)}}, func(w *xeltest.Writer) error {
				return w.WriteEvent(xeltest.Event{Package: "SecAudit", Name: "audit_event", Time: ts, Fields: map[string]any{tc.field.Name: tc.value}})
			})
			recs, _, err := readAll(t, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 {
				t.Fatalf("got %d records, want 1", len(recs))
			}
			if got := tc.get(recs[0]); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func actionOf(r *audit.Record) any { return r.ActionID + "/" + r.ActionName }
func classOf(r *audit.Record) any  { return r.ClassType + "/" + r.ClassTypeDesc }
func timeOf(r *audit.Record) any   { return r.EventTime }

func TestFromEventSkipsOtherEvents(t *testing.T) {
	data, _ := newFile(t, &xeltest.Options{Packages: []xeltest.Package{xeltest.SamplePackage("sqlserver"), xeltest.AuditPackage(xeltest.AuditLayout{})}},
		func(w *xeltest.Writer) error {
			for i := range 5 {
				if err := w.WriteEvent(xeltest.SampleEvent("sqlserver", i, t0)); err != nil {
					return err
				}
				if err := w.WriteAudit(fullAuditEvent(i)); err != nil {
					return err
				}
			}
			return nil
		})
	xr, err := xel.NewReader(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	var audits, others int
	for ev, err := range xr.All() {
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := audit.FromEvent(ev, "f"); ok {
			audits++
		} else {
			others++
		}
	}
	if audits != 5 || others != 5 {
		t.Errorf("FromEvent accepted %d, rejected %d; want 5 and 5", audits, others)
	}
	recs, _, err := readAll(t, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 {
		t.Errorf("Reader returned %d records, want 5", len(recs))
	}
	for _, r := range recs {
		if r.ActionID != "BA" {
			t.Errorf("record %v is not an audit record", r)
		}
	}
}
