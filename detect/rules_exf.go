package detect

import (
	"fmt"
	"strings"

	"github.com/xelwatch/xelwatch/detect/tsql"
)

const (
	grpBackup   = "BACKUP_RESTORE_GROUP"
	grpAudit    = "AUDIT_CHANGE_GROUP"
	grpSrvObj   = "SERVER_OBJECT_CHANGE_GROUP"
	grpDBObj    = "DATABASE_OBJECT_CHANGE_GROUP"
	grpBatch    = "BATCH_COMPLETED_GROUP"
	grpSchemaAx = "SCHEMA_OBJECT_ACCESS_GROUP"
)

// stmtActions are the records whose statement can show a procedure call
// or an ad-hoc command.
var stmtActions = []string{"EX", "BCM", "RCM", "BST", "RST"}

// backupOf returns the parsed BACKUP/RESTORE of the record (nil when the
// statement holds none).
func backupOf(ev *Event) *tsql.Backup { return ev.Statement().Backup() }

// isDatabaseBackup: BA/BAL on a database (not key material).
func isDatabaseBackup(ev *Event) bool {
	if ev.action != "BA" && ev.action != "BAL" {
		return false
	}
	switch ev.class {
	case "", "DB":
	default:
		return false
	}
	b := backupOf(ev)
	return b == nil || (!b.Restore && !b.Object.IsKey())
}

// foreignDestinations lists the destinations that are not allow-listed;
// unknown destinations are reported as such.
func (m *matcher) foreignDestinations(b *tsql.Backup) []string {
	if b == nil {
		return []string{"unknown location (no BACKUP statement in the record)"}
	}
	var out []string
	for _, d := range b.Destinations {
		if d.Kind == tsql.DestUnknown {
			s := "unknown location"
			if d.Value != "" {
				s += " (variable " + d.Value + ")"
			}
			out = append(out, s)
			continue
		}
		if !m.destAllowed(d) {
			out = append(out, d.Kind.String()+" "+d.Value)
		}
	}
	if len(b.Destinations) == 0 || (b.Truncated && len(out) == 0) {
		out = append(out, "unknown location (statement truncated)")
	}
	return out
}

// azureCut is the length (UTF-16 code units) at which Azure SQL Database
// truncates statement; SQL Server splits longer statements instead, and
// the audit reader reassembles them (Parts is then set).
const azureCut = 4000

// possiblyCut reports whether the record's statement may have been
// truncated by the service: exactly azureCut UTF-16 units, not
// reassembled. What followed the cut (another MIRROR TO, another URL
// stripe) is unknown.
func possiblyCut(ev *Event) bool {
	s := ev.rec.Statement
	if len(s) < azureCut || len(s) > 4*azureCut || ev.rec.Parts != nil {
		return false
	}
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n == azureCut
}

// foreignOrCut adds the truncation doubt to foreignDestinations.
func (m *matcher) foreignOrCut(ev *Event, b *tsql.Backup) []string {
	bad := m.foreignDestinations(b)
	if len(bad) == 0 && possiblyCut(ev) {
		bad = append(bad, "unknown location (statement cut at 4000 characters: later destinations are not visible)")
	}
	return bad
}

func describeBackup(ev *Event, b *tsql.Backup) string {
	verb := "BACKUP"
	if b != nil && b.Restore {
		verb = "RESTORE"
	}
	obj := "DATABASE"
	if b != nil {
		obj = strings.ToUpper(b.Object.String())
	} else if ev.action == "BAL" {
		obj = "LOG"
	}
	name := ev.Database()
	if b != nil && b.Name != "" {
		name = b.Name
	}
	if name == "" {
		return verb + " " + obj
	}
	return verb + " " + obj + " " + name
}

func exf001(m *matcher, ev *Event) ([]hit, error) {
	if !ev.Succeeded() || !isDatabaseBackup(ev) {
		return nil, nil
	}
	b := backupOf(ev)
	bad := m.foreignOrCut(ev, b)
	if len(bad) == 0 {
		return nil, nil
	}
	return []hit{{why: fmt.Sprintf("%s by %s to %s: destination not in the backup allow-list", describeBackup(ev, b), ev.Principal(), strings.Join(bad, ", "))}}, nil
}

// copyOnlyForeignActor reports whether the record is a COPY_ONLY database
// backup whose principal/application/client IP is not allow-listed.
func (m *matcher) copyOnlyForeignActor(ev *Event) bool {
	if !isDatabaseBackup(ev) {
		return false
	}
	b := backupOf(ev)
	return b != nil && b.Has("copy_only") && !m.actorAllowed(ev)
}

func exf002(m *matcher, ev *Event) ([]hit, error) {
	if !isDatabaseBackup(ev) {
		return nil, nil
	}
	b := backupOf(ev)
	if b == nil || !b.Has("copy_only") {
		return nil, nil
	}
	status := ""
	if !ev.Succeeded() {
		status = " (failed)"
	}
	return []hit{{why: fmt.Sprintf("%s WITH COPY_ONLY%s by principal %q, application %q, client %s: actor not allow-listed", describeBackup(ev, b), status, ev.Principal(), ev.Application(), orUnknown(ev.ClientIP()))}}, nil
}

func exf004(m *matcher, ev *Event) ([]hit, error) {
	if ev.action != "BA" {
		return nil, nil
	}
	b := backupOf(ev)
	key := ev.class == "CR" || ev.class == "MK" || ev.class == "SK"
	if b != nil && b.Object.IsKey() {
		key = true
	}
	if !key {
		return nil, nil
	}
	bad := m.foreignDestinations(b)
	if len(bad) == 0 && m.actorAllowed(ev) {
		return nil, nil
	}
	what := "key material (class " + ev.class + ")"
	if b != nil {
		what = strings.ToUpper(b.Object.String())
		if b.Name != "" {
			what += " " + b.Name
		}
	}
	dest := "allow-listed destination, principal not allow-listed"
	if len(bad) > 0 {
		dest = strings.Join(bad, ", ")
	}
	return []hit{{why: fmt.Sprintf("BACKUP %s by %s to %s: encryption keys allow offline restore of TDE-protected backups", what, ev.Principal(), dest)}}, nil
}

// stagedCredential returns the credential of a CR/AL record on class
// CD/DC that points at blob storage or uses a SAS, unless its URL is an
// allow-listed destination.
func (m *matcher) stagedCredential(ev *Event) *tsql.Credential {
	if (ev.action != "CR" && ev.action != "AL") || (ev.class != "CD" && ev.class != "DC") {
		return nil
	}
	c := ev.Statement().Credential()
	if c == nil {
		return nil
	}
	name := strings.ToLower(c.Name)
	blob := strings.Contains(name, ".blob.core.") || strings.HasPrefix(name, "https://")
	sas := strings.EqualFold(strings.TrimSpace(c.Identity), "shared access signature")
	if !blob && !sas {
		return nil
	}
	if blob && m.destAllowed(tsql.Destination{Kind: tsql.DestURL, Value: c.Name}) {
		return nil
	}
	return c
}

func credKey(ev *Event) string { return lowerKey("cred", ev.Server(), ev.SessionPrincipal()) }

func exf005(m *matcher, ev *Event) ([]hit, error) {
	if c := m.stagedCredential(ev); c != nil {
		w := m.cfg.cfg.CorrelationWindow
		if _, err := m.observe(credKey(ev), entryFor(ev, c.Name), w, 8); err != nil {
			return nil, err
		}
		return []hit{{why: fmt.Sprintf("%s CREDENTIAL %s with identity %q by %s: a credential for URL backups to storage outside the allow-list", strings.ToUpper(c.Verb), c.Name, c.Identity, ev.Principal())}}, nil
	}
	// Correlation: a backup EXF-001/002 would report, by the principal who
	// staged a credential within the window.
	if ev.action != "BA" && ev.action != "BAL" {
		return nil, nil
	}
	foreign := ev.Succeeded() && isDatabaseBackup(ev) && len(m.foreignDestinations(backupOf(ev))) > 0
	if !foreign && !m.copyOnlyForeignActor(ev) {
		return nil, nil
	}
	w := m.cfg.cfg.CorrelationWindow
	creds, err := m.lookup(credKey(ev), ev.Time().Add(-w), ev.Time())
	if err != nil || len(creds) == 0 {
		return nil, err
	}
	// One finding per backup (its id is keyed on the backup record, not
	// on the credential named), naming the latest credential staged.
	last := creds[len(creds)-1]
	return []hit{{sev: High, key: "backup:" + ev.ID(), earlier: evidences(creds[len(creds)-1:]),
		why: fmt.Sprintf("credential %s staged by %s at %s, then %s by the same principal within %s", last.Value, ev.SessionPrincipal(), last.Time.Format("15:04:05Z"), describeBackup(ev, backupOf(ev)), w)}}, nil
}

func exf006(m *matcher, ev *Event) ([]hit, error) {
	if ev.Succeeded() || !isDatabaseBackup(ev) {
		return nil, nil
	}
	b := backupOf(ev)
	bad := m.foreignOrCut(ev, b)
	if len(bad) == 0 {
		return nil, nil
	}
	return []hit{{why: fmt.Sprintf("failed %s by %s to %s: destination not in the backup allow-list", describeBackup(ev, b), ev.Principal(), strings.Join(bad, ", "))}}, nil
}

func exf007(m *matcher, ev *Event) ([]hit, error) {
	if ev.action != "RS" || (ev.class != "DB" && ev.class != "") {
		return nil, nil
	}
	b := backupOf(ev)
	if b == nil || !b.Restore || (b.Object != tsql.ObjectDatabase && b.Object != tsql.ObjectLog) {
		return nil, nil
	}
	var reasons []string
	if !b.NoTarget {
		if bad := m.foreignDestinations(b); len(bad) > 0 {
			reasons = append(reasons, "from "+strings.Join(bad, ", ")+" (not allow-listed)")
		}
	}
	if b.Has("replace") {
		reasons = append(reasons, "WITH REPLACE over an existing database")
	}
	if len(reasons) == 0 {
		return nil, nil
	}
	return []hit{{why: fmt.Sprintf("%s by %s %s", describeBackup(ev, b), ev.Principal(), strings.Join(reasons, "; "))}}, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
