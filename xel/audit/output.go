package audit

import (
	"strconv"
	"time"

	"github.com/xelwatch/xelwatch/xel/jsonx"
)

// TimeLayout is the text form of event_time in JSON and CSV: RFC 3339,
// UTC, 7 decimals (100 ns, datetime2(7)).
const TimeLayout = "2006-01-02T15:04:05.0000000Z07:00"

// Columns returns the output column names of a Record in order: the
// sys.fn_get_audit_file columns, with action_name after action_id and
// class_type_desc after class_type, then event_index,
// statement_truncated, incomplete and part_count.
func Columns() []string {
	out := make([]string, len(columns))
	for i, c := range columns {
		out[i] = c.name
	}
	return out
}

// CSVHeader returns the CSV header row (same as Columns).
func CSVHeader() []string { return Columns() }

// AppendCSV appends the record's CSV fields (in CSVHeader order) to dst,
// for encoding/csv: times in TimeLayout, binary as "0x" + upper-case hex
// ("" when empty), booleans as 1/0, strings as they are.
func (r *Record) AppendCSV(dst []string) []string {
	var buf []byte
	for i := range columns {
		buf = r.appendColumn(buf[:0], &columns[i], false)
		dst = append(dst, string(buf))
	}
	return dst
}

// AppendJSON appends the record as one JSON object: keys in Columns
// order (snake_case, the fn_get_audit_file column names), event_time in
// TimeLayout, binary as "0x…" hex strings ("" when empty), integers as
// numbers, booleans as true/false. Parts are not included (part_count
// says how many there were).
func (r *Record) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i := range columns {
		c := &columns[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, c.name...)
		dst = append(dst, '"', ':')
		dst = r.appendColumn(dst, c, true)
	}
	return append(dst, '}')
}

func (r *Record) appendColumn(dst []byte, c *column, js bool) []byte {
	switch c.kind {
	case colString, colCode, colGUID:
		if js {
			return jsonx.AppendString(dst, *c.str(r), jsonEscaping)
		}
		return append(dst, *c.str(r)...)
	case colInt:
		var n int64
		switch {
		case c.i16 != nil:
			n = int64(*c.i16(r))
		case c.i32 != nil:
			n = int64(*c.i32(r))
		default:
			n = *c.i64(r)
		}
		return strconv.AppendInt(dst, n, 10)
	case colBool:
		return appendBool(dst, *c.bl(r), js)
	case colBinary:
		b := *c.bin(r)
		if js {
			dst = append(dst, '"')
		}
		if len(b) > 0 {
			dst = append(dst, '0', 'x')
			for _, x := range b {
				dst = append(dst, hexUpper[x>>4], hexUpper[x&15])
			}
		}
		if js {
			dst = append(dst, '"')
		}
		return dst
	case colTime:
		if js {
			dst = append(dst, '"')
		}
		if t := *c.tm(r); !t.IsZero() {
			dst = t.UTC().AppendFormat(dst, TimeLayout)
		}
		if js {
			dst = append(dst, '"')
		}
		return dst
	case colDerived:
		switch c.name {
		case "event_index":
			return strconv.AppendInt(dst, int64(r.EventIndex), 10)
		case "statement_truncated":
			return appendBool(dst, r.StatementTruncated, js)
		case "incomplete":
			return appendBool(dst, r.Incomplete, js)
		case "part_count":
			return strconv.AppendInt(dst, int64(r.NumParts()), 10)
		}
	}
	return dst
}

func appendBool(dst []byte, b, js bool) []byte {
	switch {
	case js && b:
		return append(dst, "true"...)
	case js:
		return append(dst, "false"...)
	case b:
		return append(dst, '1')
	}
	return append(dst, '0')
}

const hexUpper = "0123456789ABCDEF"

// jsonEscaping is how AppendJSON escapes a string: '"', '\\' and the C0
// controls escaped (backspace and form feed as \u0008 and \u000c), an
// invalid UTF-8 byte as the escape \ufffd, U+2028/U+2029 escaped, HTML
// characters as they are.
const jsonEscaping = jsonx.LineSeparators | jsonx.InvalidAsEscape | jsonx.HexBF

// String returns a short description of the record for logs and test
// failures: time, action, class, principal, object.
func (r *Record) String() string {
	b := r.EventTime.UTC().AppendFormat(nil, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, r.ActionID...)
	b = append(b, '/')
	b = append(b, r.ClassType...)
	b = append(b, ' ')
	b = append(b, r.ServerPrincipalName...)
	b = append(b, ' ')
	b = append(b, r.DatabaseName...)
	b = append(b, '.')
	b = append(b, r.SchemaName...)
	b = append(b, '.')
	b = append(b, r.ObjectName...)
	b = append(b, " @"...)
	b = strconv.AppendInt(b, r.AuditFileOffset, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(r.EventIndex), 10)
	return string(b)
}
