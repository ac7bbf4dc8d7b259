package tsql

import "strings"

// AuditObject is the kind of audit object a statement changes.
type AuditObject uint8

// Audit objects.
const (
	ServerAudit AuditObject = iota + 1
	ServerAuditSpecification
	DatabaseAuditSpecification
	// DatabaseAudit is Azure SQL Database's "database audit" (class DU);
	// it is configured through the control plane, not T-SQL, so the
	// parser never returns it, but records carry it.
	DatabaseAudit
)

var auditObjectNames = [...]string{"", "server audit", "server audit specification", "database audit specification", "database audit"}

func (o AuditObject) String() string {
	if int(o) < len(auditObjectNames) && o > 0 {
		return auditObjectNames[o]
	}
	return "audit object"
}

// AuditChange is one CREATE/ALTER/DROP SERVER AUDIT [SPECIFICATION] or
// DATABASE AUDIT SPECIFICATION statement.
type AuditChange struct {
	Verb   string // "create", "alter" or "drop"
	Object AuditObject
	Name   string
	// State is "on", "off" or "" when the statement does not set it.
	State string
	// Audit is the FOR SERVER AUDIT name of a specification.
	Audit string
	// AddedGroups and DroppedGroups are the ADD (...) / DROP (...) items,
	// lower case (action groups, or "select on object::t by public").
	AddedGroups   []string
	DroppedGroups []string
	// Predicate is the WHERE clause (normalized, bounded), RemoveWhere is
	// set by REMOVE WHERE.
	Predicate   string
	RemoveWhere bool
	// Target is the TO clause: "file", "url", "application_log",
	// "security_log", "external_monitor".
	Target string
	// Options holds the target options (FILEPATH, MAXSIZE,
	// MAX_ROLLOVER_FILES, MAX_FILES, RESERVE_DISK_SPACE) and WITH options
	// (QUEUE_DELAY, ON_FAILURE, STATE, AUDIT_GUID, OPERATOR_AUDIT).
	Options []Option
	NewName string // MODIFY NAME =
}

// Option returns the value of an option (lower-case name).
func (a *AuditChange) Option(name string) (string, bool) { return optionValue(a.Options, name) }

// TargetChanged reports the target-related settings the statement sets
// (TO, FILEPATH, MAX_ROLLOVER_FILES, MAX_FILES, MAXSIZE, ON_FAILURE,
// QUEUE_DELAY, RESERVE_DISK_SPACE), as "name=value" strings.
func (a *AuditChange) TargetChanged() []string {
	var out []string
	if a.Target != "" {
		out = append(out, "to="+a.Target)
	}
	for _, o := range a.Options {
		switch o.Name {
		case "filepath", "max_rollover_files", "max_files", "maxsize", "on_failure", "queue_delay", "reserve_disk_space":
			out = append(out, o.Name+"="+o.Value)
		}
	}
	return out
}

// ParseAudits parses every audit statement in s.
func ParseAudits(s string) []AuditChange {
	toks, trunc := Lex(s)
	return parseAudits(toks, trunc)
}

func parseAudits(toks []Token, _ bool) []AuditChange {
	var out []AuditChange
	for i := 0; i < len(toks) && len(out) < 16; i++ {
		t := toks[i]
		if !(t.Is("create") || t.Is("alter") || t.Is("drop")) {
			continue
		}
		if i > 0 && !(toks[i-1].IsPunct(";") || toks[i-1].Kind == Word || toks[i-1].IsPunct(")") || toks[i-1].Kind == Number || toks[i-1].Kind == String) {
			continue
		}
		var obj AuditObject
		n := 0
		switch {
		case indexSeq(toks[i+1:], 0, "server", "audit", "specification") == 0:
			obj, n = ServerAuditSpecification, 3
		case indexSeq(toks[i+1:], 0, "server", "audit") == 0:
			obj, n = ServerAudit, 2
		case indexSeq(toks[i+1:], 0, "database", "audit", "specification") == 0:
			obj, n = DatabaseAuditSpecification, 3
		default:
			continue
		}
		c := &cursor{toks: toks, i: i + 1 + n}
		a := AuditChange{Verb: t.Text, Object: obj, Name: c.name()}
		a.parseClauses(c)
		out = append(out, a)
		i = c.i - 1
	}
	return out
}

func (a *AuditChange) parseClauses(c *cursor) {
	for !c.endOfStatement() {
		t := c.peek()
		switch {
		case t.IsPunct(","):
			c.next()
		case t.Is("for") && c.peekAt(1).Is("server") && c.peekAt(2).Is("audit"):
			c.i += 3
			a.Audit = c.name()
		case t.Is("to"):
			c.next()
			a.Target = c.next().Text
			if c.peek().IsPunct("(") {
				a.addOptions(c.group())
			}
		case t.Is("with"):
			c.next()
			if c.peek().IsPunct("(") {
				a.addOptions(c.group())
			}
		case t.Is("where"):
			c.next()
			start := c.i
			for !c.endOfStatement() {
				if u := c.peek(); u.Kind == Word && !u.Quoted && isStatementStart(u.Text) && u.Text != "set" {
					break
				}
				c.next()
			}
			a.Predicate = bounded(Render(c.toks[start:c.i]), 512)
			if a.Predicate == "" {
				a.Predicate = "(cut)"
			}
		case t.Is("remove") && c.peekAt(1).Is("where"):
			c.i += 2
			a.RemoveWhere = true
		case t.Is("modify") && c.peekAt(1).Is("name"):
			c.i += 2
			c.acceptPunct("=")
			a.NewName = c.name()
		case (t.Is("add") || t.Is("drop")) && c.peekAt(1).IsPunct("("):
			c.next()
			g := groupText(c.group())
			if t.Text == "add" {
				if len(a.AddedGroups) < 64 {
					a.AddedGroups = append(a.AddedGroups, g)
				}
			} else if len(a.DroppedGroups) < 64 {
				a.DroppedGroups = append(a.DroppedGroups, g)
			}
		case t.Kind == Word && isStatementStart(t.Text):
			return
		default:
			c.next()
		}
	}
}

func groupText(toks []Token) string {
	return bounded(strings.TrimSpace(Render(toks)), 256)
}

func (a *AuditChange) addOptions(toks []Token) {
	for _, part := range splitTop(toks) {
		if len(part) == 0 || len(a.Options) >= 32 {
			continue
		}
		o := parseOption(part)
		if o.Name == "state" {
			a.State = strings.ToLower(o.Value)
		}
		if o.Name == "on_failure" {
			o.Value = strings.ToLower(o.Value)
		}
		a.Options = append(a.Options, o)
	}
}
