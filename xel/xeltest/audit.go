package xeltest

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
)

// Audit event identity (format notes §7). The UUID is from the
// Read-SqlXEvent documentation example; the package name "SecAudit" is
// believed, not confirmed.
const (
	AuditPackageName = "SecAudit"
	AuditEventName   = "audit_event"
	AuditEventUUID   = "c6479a6f-f1bd-4759-9881-fcb493821aff"
	// SplitChars is the size, in UTF-16 code units, of the pieces SQL
	// Server splits statement / additional_information into
	// (nvarchar(4000) columns).
	SplitChars = 4000
)

// AuditLayout selects the XE types of audit_event fields. The zero value
// is the layout inferred in the format notes §7: event_time filetime,
// action_id uint32, class_type uint16, booleans, binary_data for
// bitmask/SIDs/sequence_group_id, unicode_string for text, guid
// connection_id, int64 counters. The variants exist because the real
// layout is unverified.
type AuditLayout struct {
	// ActionIDType: TypeUint32 (default), TypeInt32, TypeUint64,
	// TypeUnicodeString or TypeAnsiString (the code as text, e.g. "BA  ").
	ActionIDType Type
	// ClassTypeType: TypeUint16 (default), TypeInt16, TypeUint32,
	// TypeUnicodeString or TypeAnsiString.
	ClassTypeType Type
	// CounterType for the bigint columns (transaction_id, duration_milliseconds,
	// response_rows, affected_rows, client_tls_version,
	// database_transaction_id, ledger_start_sequence_number):
	// TypeInt64 (default), TypeUint64, TypeInt32, TypeUnicodeString.
	CounterType Type
	// BoolType for succeeded, is_column_permission,
	// is_local_secondary_replica: TypeBoolean (default), TypeUint8, TypeInt32.
	BoolType Type
	// NoEventTime drops the event_time field (the event timestamp is
	// then the only time).
	NoEventTime bool
	// Omit drops these fields from the event type (older engines,
	// Azure-only columns).
	Omit []string
	// PackageName overrides AuditPackageName.
	PackageName string
}

// auditField is one column of fn_get_audit_file as an audit_event field.
type auditField struct {
	name string
	typ  Type
	kind string // "action", "class", "counter", "bool", "" (fixed type)
}

// auditFields lists the audit_event fields in the order the writer lays
// them out: the columns of sys.fn_get_audit_file except file_name and
// audit_file_offset (format notes §7).
var auditFields = []auditField{
	{"event_time", TypeFiletime, ""},
	{"sequence_number", TypeInt32, ""},
	{"action_id", TypeUint32, "action"},
	{"succeeded", TypeBoolean, "bool"},
	{"permission_bitmask", TypeBinary, ""},
	{"is_column_permission", TypeBoolean, "bool"},
	{"session_id", TypeInt16, ""},
	{"server_principal_id", TypeInt32, ""},
	{"database_principal_id", TypeInt32, ""},
	{"target_server_principal_id", TypeInt32, ""},
	{"target_database_principal_id", TypeInt32, ""},
	{"object_id", TypeInt32, ""},
	{"class_type", TypeUint16, "class"},
	{"session_server_principal_name", TypeUnicodeString, ""},
	{"server_principal_name", TypeUnicodeString, ""},
	{"server_principal_sid", TypeBinary, ""},
	{"database_principal_name", TypeUnicodeString, ""},
	{"target_server_principal_name", TypeUnicodeString, ""},
	{"target_server_principal_sid", TypeBinary, ""},
	{"target_database_principal_name", TypeUnicodeString, ""},
	{"server_instance_name", TypeUnicodeString, ""},
	{"database_name", TypeUnicodeString, ""},
	{"schema_name", TypeUnicodeString, ""},
	{"object_name", TypeUnicodeString, ""},
	{"statement", TypeUnicodeString, ""},
	{"additional_information", TypeUnicodeString, ""},
	{"user_defined_event_id", TypeInt16, ""},
	{"user_defined_information", TypeUnicodeString, ""},
	{"audit_schema_version", TypeInt32, ""},
	{"sequence_group_id", TypeBinary, ""},
	{"transaction_id", TypeInt64, "counter"},
	{"client_ip", TypeUnicodeString, ""},
	{"application_name", TypeUnicodeString, ""},
	{"duration_milliseconds", TypeInt64, "counter"},
	{"response_rows", TypeInt64, "counter"},
	{"affected_rows", TypeInt64, "counter"},
	{"connection_id", TypeGUID, ""},
	{"data_sensitivity_information", TypeUnicodeString, ""},
	{"host_name", TypeUnicodeString, ""},
	{"session_context", TypeUnicodeString, ""},
	{"client_tls_version", TypeInt64, "counter"},
	{"client_tls_version_name", TypeUnicodeString, ""},
	{"database_transaction_id", TypeInt64, "counter"},
	{"ledger_start_sequence_number", TypeInt64, "counter"},
	{"external_policy_permissions_checked", TypeUnicodeString, ""},
	{"obo_middle_tier_app_id", TypeUnicodeString, ""},
	{"is_local_secondary_replica", TypeBoolean, "bool"},
}

// AuditFieldNames returns the audit_event field names in layout order.
func AuditFieldNames() []string {
	out := make([]string, len(auditFields))
	for i, f := range auditFields {
		out[i] = f.name
	}
	return out
}

func (l AuditLayout) pick(f auditField) Type {
	switch f.kind {
	case "action":
		if l.ActionIDType != 0 {
			return l.ActionIDType
		}
	case "class":
		if l.ClassTypeType != 0 {
			return l.ClassTypeType
		}
	case "counter":
		if l.CounterType != 0 {
			return l.CounterType
		}
	case "bool":
		if l.BoolType != 0 {
			return l.BoolType
		}
	}
	return f.typ
}

func (l AuditLayout) omitted(name string) bool {
	if name == "event_time" && l.NoEventTime {
		return true
	}
	for _, o := range l.Omit {
		if o == name {
			return true
		}
	}
	return false
}

// AuditEventType returns the audit_event event type for a layout.
func AuditEventType(l AuditLayout) EventType {
	et := EventType{
		Name:        AuditEventName,
		Description: "Audit event",
		UUID:        auditUUID,
		Version:     1,
	}
	for _, f := range auditFields {
		if l.omitted(f.name) {
			continue
		}
		et.Fields = append(et.Fields, FieldType{Name: f.name, Type: l.pick(f)})
	}
	return et
}

// AuditPackage returns the SecAudit package holding audit_event.
func AuditPackage(l AuditLayout) Package {
	name := l.PackageName
	if name == "" {
		name = AuditPackageName
	}
	return Package{
		Name:        name,
		Description: "SQL Server Audit",
		ID:          MustGUID("f235d4a5-8ec3-4bd0-9b24-3aa7f34e0a3b"),
		Events:      []EventType{AuditEventType(l)},
	}
}

// AuditEvent is one audit record to write: every column of
// sys.fn_get_audit_file that is an event field. Codes are given as text
// ("BA", "LGIF", "DB") and written in the layout's type.
type AuditEvent struct {
	EventTime                        time.Time
	SequenceNumber                   int32 // 0 is written as 1
	ActionID                         string
	Succeeded                        bool
	PermissionBitmask                []byte
	IsColumnPermission               bool
	SessionID                        int16
	ServerPrincipalID                int32
	DatabasePrincipalID              int32
	TargetServerPrincipalID          int32
	TargetDatabasePrincipalID        int32
	ObjectID                         int32
	ClassType                        string
	SessionServerPrincipalName       string
	ServerPrincipalName              string
	ServerPrincipalSID               []byte
	DatabasePrincipalName            string
	TargetServerPrincipalName        string
	TargetServerPrincipalSID         []byte
	TargetDatabasePrincipalName      string
	ServerInstanceName               string
	DatabaseName                     string
	SchemaName                       string
	ObjectName                       string
	Statement                        string
	AdditionalInformation            string
	UserDefinedEventID               int16
	UserDefinedInformation           string
	AuditSchemaVersion               int32 // 0 is written as 1
	SequenceGroupID                  []byte
	TransactionID                    int64
	ClientIP                         string
	ApplicationName                  string
	DurationMilliseconds             int64
	ResponseRows                     int64
	AffectedRows                     int64
	ConnectionID                     GUID
	DataSensitivityInformation       string
	HostName                         string
	SessionContext                   string
	ClientTLSVersion                 int64
	ClientTLSVersionName             string
	DatabaseTransactionID            int64
	LedgerStartSequenceNumber        int64
	ExternalPolicyPermissionsChecked string
	OBOMiddleTierAppID               string
	IsLocalSecondaryReplica          bool
}

// ActionIDInt packs a code into the uint32 stored in .xel files: the
// little-endian bytes are the ASCII code right-padded with spaces
// ("BA" → 0x20204142 = 538984770).
func ActionIDInt(code string) uint32 { return uint32(packCode(code, 4)) }

// ClassTypeInt packs a class code into its uint16 ("DB" → 16964, "A" → 8257).
func ClassTypeInt(code string) uint16 { return uint16(packCode(code, 2)) }

func packCode(code string, n int) uint64 {
	var v uint64
	for i := range n {
		c := byte(' ')
		if i < len(code) {
			c = code[i]
		}
		v |= uint64(c) << (8 * i)
	}
	return v
}

func padCode(code string, n int) string {
	for len(code) < n {
		code += " "
	}
	return code
}

// fields returns the event fields of an audit record for a layout.
func (a *AuditEvent) fields(l AuditLayout) map[string]any {
	seq := a.SequenceNumber
	if seq == 0 {
		seq = 1
	}
	ver := a.AuditSchemaVersion
	if ver == 0 {
		ver = 1
	}
	m := map[string]any{
		"event_time":                          a.EventTime,
		"sequence_number":                     seq,
		"succeeded":                           a.Succeeded,
		"permission_bitmask":                  a.PermissionBitmask,
		"is_column_permission":                a.IsColumnPermission,
		"session_id":                          a.SessionID,
		"server_principal_id":                 a.ServerPrincipalID,
		"database_principal_id":               a.DatabasePrincipalID,
		"target_server_principal_id":          a.TargetServerPrincipalID,
		"target_database_principal_id":        a.TargetDatabasePrincipalID,
		"object_id":                           a.ObjectID,
		"session_server_principal_name":       a.SessionServerPrincipalName,
		"server_principal_name":               a.ServerPrincipalName,
		"server_principal_sid":                a.ServerPrincipalSID,
		"database_principal_name":             a.DatabasePrincipalName,
		"target_server_principal_name":        a.TargetServerPrincipalName,
		"target_server_principal_sid":         a.TargetServerPrincipalSID,
		"target_database_principal_name":      a.TargetDatabasePrincipalName,
		"server_instance_name":                a.ServerInstanceName,
		"database_name":                       a.DatabaseName,
		"schema_name":                         a.SchemaName,
		"object_name":                         a.ObjectName,
		"statement":                           a.Statement,
		"additional_information":              a.AdditionalInformation,
		"user_defined_event_id":               a.UserDefinedEventID,
		"user_defined_information":            a.UserDefinedInformation,
		"audit_schema_version":                ver,
		"sequence_group_id":                   a.SequenceGroupID,
		"client_ip":                           a.ClientIP,
		"application_name":                    a.ApplicationName,
		"connection_id":                       a.ConnectionID,
		"data_sensitivity_information":        a.DataSensitivityInformation,
		"host_name":                           a.HostName,
		"session_context":                     a.SessionContext,
		"client_tls_version_name":             a.ClientTLSVersionName,
		"external_policy_permissions_checked": a.ExternalPolicyPermissionsChecked,
		"obo_middle_tier_app_id":              a.OBOMiddleTierAppID,
		"is_local_secondary_replica":          a.IsLocalSecondaryReplica,
	}
	if a.ConnectionID == (GUID{}) {
		m["connection_id"] = nil // zero-length value
	}
	counters := map[string]int64{
		"transaction_id":               a.TransactionID,
		"duration_milliseconds":        a.DurationMilliseconds,
		"response_rows":                a.ResponseRows,
		"affected_rows":                a.AffectedRows,
		"client_tls_version":           a.ClientTLSVersion,
		"database_transaction_id":      a.DatabaseTransactionID,
		"ledger_start_sequence_number": a.LedgerStartSequenceNumber,
	}
	for _, f := range auditFields {
		t := l.pick(f)
		switch f.kind {
		case "action":
			m[f.name] = codeValue(a.ActionID, 4, t)
		case "class":
			m[f.name] = codeValue(a.ClassType, 2, t)
		case "counter":
			v := counters[f.name]
			if t == TypeUnicodeString || t == TypeAnsiString {
				m[f.name] = strconv.FormatInt(v, 10)
			} else {
				m[f.name] = v
			}
		case "bool":
			if t != TypeBoolean {
				b := m[f.name].(bool)
				if b {
					m[f.name] = 1
				} else {
					m[f.name] = 0
				}
			}
		}
	}
	for _, f := range auditFields {
		if l.omitted(f.name) {
			delete(m, f.name)
		}
	}
	return m
}

func codeValue(code string, n int, t Type) any {
	switch t {
	case TypeUnicodeString, TypeAnsiString:
		return padCode(code, n)
	}
	return packCode(code, n)
}

var auditUUID = MustGUID(AuditEventUUID)

// auditPackage finds the package defining audit_event (by UUID).
func (w *Writer) auditPackage() (*pkgState, AuditLayout, error) {
	if w.audit != nil {
		return w.audit, w.auditLayout, nil
	}
	for _, p := range w.pkgs {
		if i, ok := p.events[AuditEventName]; ok && p.Events[i].UUID == auditUUID {
			w.audit, w.auditLayout = p, w.layoutOf(p)
			return p, w.auditLayout, nil
		}
	}
	return nil, AuditLayout{}, fmt.Errorf("xeltest: no package defines %s", AuditEventName)
}

// layoutOf recovers the layout of a package's audit_event from its
// field types.
func (w *Writer) layoutOf(p *pkgState) AuditLayout {
	var l AuditLayout
	et := p.Events[p.events[AuditEventName]]
	have := map[string]Type{}
	for _, f := range et.Fields {
		have[f.Name] = f.Type
	}
	for _, f := range auditFields {
		t, ok := have[f.name]
		if !ok {
			l.Omit = append(l.Omit, f.name)
			continue
		}
		switch f.kind {
		case "action":
			l.ActionIDType = t
		case "class":
			l.ClassTypeType = t
		case "counter":
			l.CounterType = t
		case "bool":
			l.BoolType = t
		}
	}
	return l
}

// WriteAudit writes one audit record as SQL Server does: when statement
// or additional_information is longer than SplitChars UTF-16 code units
// it is split into records with sequence_number 1..n (SplitStatement),
// all written to the same partition (round robin per record).
func (w *Writer) WriteAudit(a AuditEvent) error {
	p := w.next
	w.next = (w.next + 1) % len(w.parts)
	return w.WriteAuditParts(p, SplitStatement(a, SplitChars)...)
}

// WriteAuditParts writes the given records verbatim, in order, to one
// partition (no splitting). Use it to build odd files: orphan
// continuations, gaps, interleaved sessions.
func (w *Writer) WriteAuditParts(part int, parts ...AuditEvent) error {
	p, l, err := w.auditPackage()
	if err != nil {
		return err
	}
	for i := range parts {
		e := Event{
			PackageIndex: p.Index,
			Package:      p.Name,
			Name:         AuditEventName,
			Time:         parts[i].EventTime,
			Fields:       parts[i].fields(l),
		}
		if err := w.WriteEventTo(part, e); err != nil {
			return err
		}
	}
	return nil
}

// SplitStatement splits a record whose statement or
// additional_information is longer than n UTF-16 code units into records
// with sequence_number 1..k, each carrying the next n-unit piece of both
// texts (empty once a text is exhausted) and every other column
// unchanged. A surrogate pair is never cut: such a piece is one unit
// shorter. Records that fit are returned as they are (sequence_number 1).
func SplitStatement(a AuditEvent, n int) []AuditEvent {
	if n <= 1 {
		n = SplitChars
	}
	st := utf16.Encode([]rune(a.Statement))
	ai := utf16.Encode([]rune(a.AdditionalInformation))
	if len(st) <= n && len(ai) <= n {
		if a.SequenceNumber == 0 {
			a.SequenceNumber = 1
		}
		return []AuditEvent{a}
	}
	var out []AuditEvent
	for seq := int32(1); len(st) > 0 || len(ai) > 0; seq++ {
		p := a
		p.SequenceNumber = seq
		var s, x []uint16
		s, st = cut(st, n)
		x, ai = cut(ai, n)
		p.Statement = string(utf16.Decode(s))
		p.AdditionalInformation = string(utf16.Decode(x))
		out = append(out, p)
	}
	return out
}

func cut(u []uint16, n int) (head, tail []uint16) {
	if len(u) <= n {
		return u, nil
	}
	if utf16.IsSurrogate(rune(u[n-1])) && u[n-1] < 0xDC00 {
		n--
	}
	return u[:n], u[n:]
}
