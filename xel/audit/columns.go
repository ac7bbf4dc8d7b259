package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/xel"
)

// colKind is how a column is converted and rendered.
type colKind uint8

const (
	colString colKind = iota
	colInt            // int16/int32/int64 columns
	colBool
	colBinary
	colTime
	colCode // action_id / class_type
	colGUID // connection_id (lower-case text)
	colDerived
)

// column is one output column of a Record: the fn_get_audit_file
// columns (in that function's order) plus the looked-up names and the
// xelwatch keys. fromEvent marks the columns read from audit_event fields.
type column struct {
	name      string
	kind      colKind
	fromEvent bool
	codeLen   int // colCode: 4 (action_id) or 2 (class_type)
	str       func(*Record) *string
	i16       func(*Record) *int16
	i32       func(*Record) *int32
	i64       func(*Record) *int64
	bl        func(*Record) *bool
	bin       func(*Record) *[]byte
	tm        func(*Record) *time.Time
}

func strCol(n string, f func(*Record) *string) column {
	return column{name: n, kind: colString, fromEvent: true, str: f}
}
func i16Col(n string, f func(*Record) *int16) column {
	return column{name: n, kind: colInt, fromEvent: true, i16: f}
}
func i32Col(n string, f func(*Record) *int32) column {
	return column{name: n, kind: colInt, fromEvent: true, i32: f}
}
func i64Col(n string, f func(*Record) *int64) column {
	return column{name: n, kind: colInt, fromEvent: true, i64: f}
}
func boolCol(n string, f func(*Record) *bool) column {
	return column{name: n, kind: colBool, fromEvent: true, bl: f}
}
func binCol(n string, f func(*Record) *[]byte) column {
	return column{name: n, kind: colBinary, fromEvent: true, bin: f}
}

// columns in output order (JSON keys, CSV header).
var columns = []column{
	{name: "event_time", kind: colTime, fromEvent: true, tm: func(r *Record) *time.Time { return &r.EventTime }},
	i32Col("sequence_number", func(r *Record) *int32 { return &r.SequenceNumber }),
	{name: "action_id", kind: colCode, fromEvent: true, codeLen: 4, str: func(r *Record) *string { return &r.ActionID }},
	{name: "action_name", kind: colString, str: func(r *Record) *string { return &r.ActionName }},
	boolCol("succeeded", func(r *Record) *bool { return &r.Succeeded }),
	binCol("permission_bitmask", func(r *Record) *[]byte { return &r.PermissionBitmask }),
	boolCol("is_column_permission", func(r *Record) *bool { return &r.IsColumnPermission }),
	i16Col("session_id", func(r *Record) *int16 { return &r.SessionID }),
	i32Col("server_principal_id", func(r *Record) *int32 { return &r.ServerPrincipalID }),
	i32Col("database_principal_id", func(r *Record) *int32 { return &r.DatabasePrincipalID }),
	i32Col("target_server_principal_id", func(r *Record) *int32 { return &r.TargetServerPrincipalID }),
	i32Col("target_database_principal_id", func(r *Record) *int32 { return &r.TargetDatabasePrincipalID }),
	i32Col("object_id", func(r *Record) *int32 { return &r.ObjectID }),
	{name: "class_type", kind: colCode, fromEvent: true, codeLen: 2, str: func(r *Record) *string { return &r.ClassType }},
	{name: "class_type_desc", kind: colString, str: func(r *Record) *string { return &r.ClassTypeDesc }},
	strCol("session_server_principal_name", func(r *Record) *string { return &r.SessionServerPrincipalName }),
	strCol("server_principal_name", func(r *Record) *string { return &r.ServerPrincipalName }),
	binCol("server_principal_sid", func(r *Record) *[]byte { return &r.ServerPrincipalSID }),
	strCol("database_principal_name", func(r *Record) *string { return &r.DatabasePrincipalName }),
	strCol("target_server_principal_name", func(r *Record) *string { return &r.TargetServerPrincipalName }),
	binCol("target_server_principal_sid", func(r *Record) *[]byte { return &r.TargetServerPrincipalSID }),
	strCol("target_database_principal_name", func(r *Record) *string { return &r.TargetDatabasePrincipalName }),
	strCol("server_instance_name", func(r *Record) *string { return &r.ServerInstanceName }),
	strCol("database_name", func(r *Record) *string { return &r.DatabaseName }),
	strCol("schema_name", func(r *Record) *string { return &r.SchemaName }),
	strCol("object_name", func(r *Record) *string { return &r.ObjectName }),
	strCol("statement", func(r *Record) *string { return &r.Statement }),
	strCol("additional_information", func(r *Record) *string { return &r.AdditionalInformation }),
	{name: "file_name", kind: colString, str: func(r *Record) *string { return &r.FileName }},
	{name: "audit_file_offset", kind: colInt, i64: func(r *Record) *int64 { return &r.AuditFileOffset }},
	i16Col("user_defined_event_id", func(r *Record) *int16 { return &r.UserDefinedEventID }),
	strCol("user_defined_information", func(r *Record) *string { return &r.UserDefinedInformation }),
	i32Col("audit_schema_version", func(r *Record) *int32 { return &r.AuditSchemaVersion }),
	binCol("sequence_group_id", func(r *Record) *[]byte { return &r.SequenceGroupID }),
	i64Col("transaction_id", func(r *Record) *int64 { return &r.TransactionID }),
	strCol("client_ip", func(r *Record) *string { return &r.ClientIP }),
	strCol("application_name", func(r *Record) *string { return &r.ApplicationName }),
	i64Col("duration_milliseconds", func(r *Record) *int64 { return &r.DurationMilliseconds }),
	i64Col("response_rows", func(r *Record) *int64 { return &r.ResponseRows }),
	i64Col("affected_rows", func(r *Record) *int64 { return &r.AffectedRows }),
	{name: "connection_id", kind: colGUID, fromEvent: true, str: func(r *Record) *string { return &r.ConnectionID }},
	strCol("data_sensitivity_information", func(r *Record) *string { return &r.DataSensitivityInformation }),
	strCol("host_name", func(r *Record) *string { return &r.HostName }),
	strCol("session_context", func(r *Record) *string { return &r.SessionContext }),
	i64Col("client_tls_version", func(r *Record) *int64 { return &r.ClientTLSVersion }),
	strCol("client_tls_version_name", func(r *Record) *string { return &r.ClientTLSVersionName }),
	i64Col("database_transaction_id", func(r *Record) *int64 { return &r.DatabaseTransactionID }),
	i64Col("ledger_start_sequence_number", func(r *Record) *int64 { return &r.LedgerStartSequenceNumber }),
	strCol("external_policy_permissions_checked", func(r *Record) *string { return &r.ExternalPolicyPermissionsChecked }),
	strCol("obo_middle_tier_app_id", func(r *Record) *string { return &r.OBOMiddleTierAppID }),
	boolCol("is_local_secondary_replica", func(r *Record) *bool { return &r.IsLocalSecondaryReplica }),
	{name: "event_index", kind: colDerived},
	{name: "statement_truncated", kind: colDerived},
	{name: "incomplete", kind: colDerived},
	{name: "part_count", kind: colDerived},
}

// eventColumns maps audit_event field names to their column.
var eventColumns = func() map[string]*column {
	m := map[string]*column{}
	for i := range columns {
		if columns[i].fromEvent {
			m[columns[i].name] = &columns[i]
		}
	}
	return m
}()

// set stores v into the column of r, converting between the type
// variants (see FromEvent).
func (c *column) set(r *Record, v xel.Value) {
	switch c.kind {
	case colString:
		*c.str(r) = valString(v)
	case colInt:
		n, _ := valInt(v)
		switch {
		case c.i16 != nil:
			*c.i16(r) = int16(n)
		case c.i32 != nil:
			*c.i32(r) = int32(n)
		default:
			*c.i64(r) = n
		}
	case colBool:
		*c.bl(r) = valBool(v)
	case colBinary:
		*c.bin(r) = valBytes(v)
	case colTime:
		*c.tm(r) = valTime(v)
	case colCode:
		*c.str(r) = valCode(v, c.codeLen)
	case colGUID:
		*c.str(r) = valGUID(v)
	}
}

func valString(v xel.Value) string {
	if v.Kind == xel.KindNull {
		return ""
	}
	return v.Text()
}

// valInt converts any integer kind, a boolean, a float or a numeric
// string (decimal, or 0x hex) to an int64.
func valInt(v xel.Value) (int64, bool) {
	switch v.Kind {
	case xel.KindInt, xel.KindUint, xel.KindBool, xel.KindMap, xel.KindPointer, xel.KindFloat32, xel.KindFloat64:
		return v.Int(), true
	case xel.KindString:
		return parseInt(strings.TrimSpace(v.Text()))
	}
	return 0, false
}

func parseInt(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return int64(n), true
	}
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		if n, err := strconv.ParseUint(s[2:], 16, 64); err == nil {
			return int64(n), true
		}
	}
	return 0, false
}

func valBool(v xel.Value) bool {
	switch v.Kind {
	case xel.KindBool, xel.KindInt, xel.KindUint, xel.KindMap:
		return v.Uint() != 0
	case xel.KindString:
		switch strings.ToLower(strings.TrimSpace(v.Text())) {
		case "1", "true", "yes", "y", "t":
			return true
		}
	}
	return false
}

// valBytes returns a copy of binary data; GUIDs give their 16 bytes,
// integers their 8 little-endian bytes, "0x..." strings the decoded hex.
func valBytes(v xel.Value) []byte {
	switch v.Kind {
	case xel.KindNull:
		return nil
	case xel.KindBinary, xel.KindGUID:
		b := v.Bytes()
		if len(b) == 0 {
			return nil
		}
		return bytes.Clone(b)
	case xel.KindInt, xel.KindUint:
		return binary.LittleEndian.AppendUint64(nil, v.Uint())
	case xel.KindString:
		s := strings.TrimSpace(v.Text())
		if len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X") {
			if b, err := hex.DecodeString(s[2:]); err == nil {
				return b
			}
		}
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	return bytes.Clone(v.Bytes())
}

// valTime converts a filetime, an integer FILETIME or a textual time;
// the zero time when absent or unparseable (FromEvent then uses the
// event timestamp).
func valTime(v xel.Value) time.Time {
	switch v.Kind {
	case xel.KindTime:
		return v.Time()
	case xel.KindInt, xel.KindUint:
		ft := v.Uint()
		if ft == 0 || ft > 1<<62 {
			return time.Time{}
		}
		return filetimeToTime(ft)
	case xel.KindString:
		s := strings.TrimSpace(v.Text())
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.9999999", "2006-01-02T15:04:05.9999999", "2006-01-02 15:04:05.9999999 -07:00"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC()
			}
		}
	}
	return time.Time{}
}

const filetimeEpochDelta = 116444736000000000

func filetimeToTime(ft uint64) time.Time {
	d := int64(ft) - filetimeEpochDelta
	sec, rem := d/10_000_000, d%10_000_000
	if rem < 0 {
		sec--
		rem += 10_000_000
	}
	return time.Unix(sec, rem*100).UTC()
}

// valCode turns an action_id / class_type value into its trimmed,
// upper-case code. Integers are the code's ASCII bytes, little-endian,
// space-padded (538984770 → "BA"); strings are trimmed ("BA  " → "BA");
// numeric strings are decoded like integers when they spell a code; a
// map field's text is used when it is a known code or action name.
// Integers that do not spell printable ASCII pass through as decimal
// text so that unknown values are never lost.
func valCode(v xel.Value, n int) string {
	switch v.Kind {
	case xel.KindNull:
		return ""
	case xel.KindMap:
		t := normCode(v.Text())
		if n == 4 {
			if _, ok := actionByID[t]; ok {
				return t
			}
			if id, ok := actionByName[t]; ok {
				return id
			}
		} else if _, ok := classByCode[t]; ok {
			return t
		}
		return unpackCode(v.Uint(), n)
	case xel.KindInt, xel.KindUint, xel.KindBool:
		return unpackCode(v.Uint(), n)
	case xel.KindString:
		s := normCode(v.Text())
		if s != "" && isDigits(s) && len(s) > n {
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				if c, ok := spellCode(u, n); ok {
					return c
				}
			}
		}
		return s
	}
	return normCode(v.Text())
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// spellCode decodes the n low bytes of u as a space/NUL padded ASCII
// code; ok is false when a byte is not printable ASCII or bytes beyond
// n are set.
func spellCode(u uint64, n int) (string, bool) {
	if n < 8 && u>>(8*uint(n)) != 0 {
		return "", false
	}
	var b [8]byte
	for i := range n {
		c := byte(u >> (8 * i))
		if c != 0 && (c < 0x20 || c > 0x7E) {
			return "", false
		}
		b[i] = c
	}
	s := normCode(string(b[:n]))
	if s == "" {
		return "", false
	}
	return s, true
}

func unpackCode(u uint64, n int) string {
	if u == 0 {
		return ""
	}
	// Sign-extended int16/int32 storage of a code never happens (ASCII
	// is below 0x80), but a negative value must not lose its digits.
	if c, ok := spellCode(u, n); ok {
		return c
	}
	if c, ok := spellCode(u&(1<<(8*uint(n))-1), n); ok && u>>(8*uint(n)) == 1<<(64-8*uint(n))-1 {
		return c
	}
	return strconv.FormatUint(u, 10)
}

// valGUID renders a GUID column as lower-case text; "" for a zero or
// absent GUID.
func valGUID(v xel.Value) string {
	switch v.Kind {
	case xel.KindGUID:
		g := v.GUID()
		if g == (xel.GUID{}) {
			return ""
		}
		return g.String()
	case xel.KindBinary:
		b := v.Bytes()
		if len(b) == 16 {
			var g xel.GUID
			copy(g[:], b)
			if g == (xel.GUID{}) {
				return ""
			}
			return g.String()
		}
		return valString(v)
	case xel.KindString:
		return strings.ToLower(strings.Trim(strings.TrimSpace(v.Text()), "{}"))
	}
	return valString(v)
}

// utf16Len returns the length of s in UTF-16 code units (invalid UTF-8
// bytes count one each, as U+FFFD).
func utf16Len(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
