package detect

import (
	"strconv"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/detect/tsql"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// Event wraps one audit record with typed accessors and a lazily parsed
// statement. It is valid for one Evaluate call.
type Event struct {
	rec      *audit.Record
	action   string
	class    string
	stmt     *tsql.Statement
	hintBits uint16
	hinted   bool
	id       string
}

func newEvent(r *audit.Record) Event {
	return Event{rec: r, action: upperTrim(r.ActionID), class: upperTrim(r.ClassType)}
}

func upperTrim(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			return strings.ToUpper(s)
		}
	}
	return s
}

// Record returns the underlying record.
func (e *Event) Record() *audit.Record { return e.rec }

// ActionID is the trimmed upper-case action code ("BA").
func (e *Event) ActionID() string { return e.action }

// ClassType is the trimmed upper-case class code ("DB").
func (e *Event) ClassType() string { return e.class }

// Time is the event time (UTC).
func (e *Event) Time() time.Time { return e.rec.EventTime }

// Succeeded reports the record's succeeded column.
func (e *Event) Succeeded() bool { return e.rec.Succeeded }

// Server is the server instance name.
func (e *Event) Server() string { return e.rec.ServerInstanceName }

// Database is the database name.
func (e *Event) Database() string { return e.rec.DatabaseName }

// Principal is the server principal that acted (server_principal_name,
// or session_server_principal_name when empty).
func (e *Event) Principal() string {
	if e.rec.ServerPrincipalName != "" {
		return e.rec.ServerPrincipalName
	}
	return e.rec.SessionServerPrincipalName
}

// SessionPrincipal is the login of the session (the original login under
// EXECUTE AS), falling back to Principal.
func (e *Event) SessionPrincipal() string {
	if e.rec.SessionServerPrincipalName != "" {
		return e.rec.SessionServerPrincipalName
	}
	return e.rec.ServerPrincipalName
}

// ClientIP is the client address.
func (e *Event) ClientIP() string { return e.rec.ClientIP }

// Application is the application name.
func (e *Event) Application() string { return e.rec.ApplicationName }

// Object is the object name, lower case.
func (e *Event) Object() string { return strings.ToLower(e.rec.ObjectName) }

// RawStatement is the statement as recorded.
func (e *Event) RawStatement() string { return e.rec.Statement }

// Statement returns the parsed statement (parsed on first use).
func (e *Event) Statement() *tsql.Statement {
	if e.stmt == nil {
		e.stmt = tsql.Parse(e.rec.Statement)
	}
	return e.stmt
}

// ID identifies the record: file name, audit file offset, event index.
func (e *Event) ID() string {
	if e.id == "" {
		e.id = recordID(e.rec.FileName, e.rec.AuditFileOffset, e.rec.EventIndex)
	}
	return e.id
}

func recordID(file string, off int64, idx int) string {
	return file + "@" + strconv.FormatInt(off, 10) + "#" + strconv.Itoa(idx)
}

// Statement hints: cheap signals computed in one pass over the raw text
// that decide whether statement rules need the parser at all.
const (
	hintProc    uint16 = 1 << iota // "xp_", "sp_", "p_" or "'_": procedure names, possibly split
	hintURL                        // "://"
	hintUNC                        // "\\"
	hintChar                       // "char("
	hintHex                        // "0x"
	hintDrop                       // "drop", "truncate"
	hintAlter                      // "alter", "create", "add member"
	hintExecute                    // "execute as"
)

var hintBytes = func() (t [256]bool) {
	for _, c := range "_:\\cCxXdDtTaAeE" {
		t[c] = true
	}
	return t
}()

// hints scans the raw statement once.
func (e *Event) hints() uint16 {
	if e.hinted {
		return e.hintBits
	}
	e.hinted = true
	s := e.rec.Statement
	if len(s) > tsql.MaxStatement {
		s = s[:tsql.MaxStatement]
	}
	var h uint16
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !hintBytes[c] {
			continue
		}
		switch c {
		case '_':
			if i > 0 {
				if p := s[i-1] | 0x20; p == 'p' || s[i-1] == '\'' {
					h |= hintProc
				}
			}
		case ':':
			if i+2 < len(s) && s[i+1] == '/' && s[i+2] == '/' {
				h |= hintURL
			}
		case '\\':
			if i+1 < len(s) && s[i+1] == '\\' {
				h |= hintUNC
			}
		case 'c', 'C':
			if hasFold(s[i:], "char(") {
				h |= hintChar
			} else if hasFold(s[i:], "create") {
				h |= hintAlter
			}
		case 'x', 'X':
			if i > 0 && s[i-1] == '0' {
				h |= hintHex
			}
		case 'd', 'D':
			if hasFold(s[i:], "drop") {
				h |= hintDrop
			}
		case 't', 'T':
			if hasFold(s[i:], "truncate") {
				h |= hintDrop
			}
		case 'a', 'A':
			if hasFold(s[i:], "alter") || hasFold(s[i:], "add member") {
				h |= hintAlter
			}
		case 'e', 'E':
			if hasFold(s[i:], "execute as") || hasFold(s[i:], "exec as") {
				h |= hintExecute
			}
		}
	}
	e.hintBits = h
	return h
}

// hasFold reports whether s starts with the lower-case ASCII word w,
// ignoring case.
func hasFold(s, w string) bool {
	if len(s) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if s[i]|0x20 != w[i] && s[i] != w[i] {
			return false
		}
	}
	return true
}

// excerpt returns the statement with secrets redacted, cut to n bytes at
// a UTF-8 boundary (with "…" when cut).
func excerpt(s string, n int) string {
	if s == "" {
		return ""
	}
	if len(s) > 4*n {
		s = s[:4*n]
	}
	s = tsql.Redact(s)
	return cut(s, n)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len("…")
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
