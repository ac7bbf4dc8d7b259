package audit

import (
	"strings"

	"github.com/xelwatch/xelwatch/xel"
)

// AuditEventName is the XE event that carries audit records.
const AuditEventName = "audit_event"

// IsAuditEvent reports whether ev is an audit record. The package name
// is not checked: it is believed to be "SecAudit" but unverified.
func IsAuditEvent(ev *xel.Event) bool { return ev != nil && ev.Name == AuditEventName }

// FromEvent maps one audit_event to a raw Record (no reassembly of split
// records): ok is false when ev is not an audit_event.
//
// Fields are matched by name (fn_get_audit_file column names; a field
// that differs only in case matches too) and converted from whichever
// type the file uses:
//   - action_id / class_type: integers whose little-endian bytes are the
//     ASCII code (538984770 → "BA"), strings (trimmed, upper-cased), or
//     numeric strings of such integers; integers that are not ASCII
//     pass through as decimal text;
//   - integer columns: any integer kind, boolean or numeric string;
//   - booleans: boolean, integer (non-zero) or "1"/"true";
//   - binary columns: binary, GUID, integer (8 bytes LE) or "0x…" text;
//   - connection_id: GUID, 16-byte binary or text, as lower-case text;
//   - event_time: filetime, integer FILETIME or text; when absent or
//     zero, the event's timestamp.
//
// Columns without a field stay at their zero value. ActionName and
// ClassTypeDesc come from the reference tables ("" for unknown codes).
// FileName is fileName; AuditFileOffset and EventIndex locate the event.
func FromEvent(ev *xel.Event, fileName string) (Record, bool) {
	return fromEvent(ev, fileName, nil)
}

// fieldPlan caches which column each field of an event type fills, so
// a Reader looks the names up once per event type, not once per event.
type fieldPlan struct {
	names []string
	cols  []*column // nil: the field is not a column
}

func (p *fieldPlan) matches(fs []xel.Field) bool {
	if len(fs) != len(p.names) {
		return false
	}
	for i := range fs {
		if fs[i].Name != p.names[i] {
			return false
		}
	}
	return true
}

func (p *fieldPlan) build(fs []xel.Field) {
	p.names, p.cols = p.names[:0], p.cols[:0]
	for i := range fs {
		p.names = append(p.names, fs[i].Name)
		p.cols = append(p.cols, columnFor(fs[i].Name))
	}
}

func columnFor(name string) *column {
	if c, ok := eventColumns[name]; ok {
		return c
	}
	return eventColumns[strings.ToLower(name)]
}

func fromEvent(ev *xel.Event, fileName string, p *fieldPlan) (Record, bool) {
	var r Record
	if !IsAuditEvent(ev) {
		return r, false
	}
	if p != nil {
		if !p.matches(ev.Fields) {
			p.build(ev.Fields)
		}
		for i, c := range p.cols {
			if c != nil {
				c.set(&r, ev.Fields[i].Value)
			}
		}
	} else {
		for i := range ev.Fields {
			if c := columnFor(ev.Fields[i].Name); c != nil {
				c.set(&r, ev.Fields[i].Value)
			}
		}
	}
	if r.EventTime.IsZero() || r.EventTime.Year() <= 1601 {
		r.EventTime = ev.Timestamp.UTC()
	}
	r.ActionName = ActionName(r.ActionID)
	r.ClassTypeDesc = ClassTypeDesc(r.ClassType)
	r.FileName = fileName
	r.AuditFileOffset = ev.Offset
	r.EventIndex = ev.Index
	return r, true
}
