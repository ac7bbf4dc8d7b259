package detect

import (
	"fmt"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/detect/tsql"
)

// auditChanges returns the parsed audit statements of the record that
// concern the object its class says (A: server audit; SA/DA: specs).
func auditChanges(ev *Event, objs ...tsql.AuditObject) []tsql.AuditChange {
	var out []tsql.AuditChange
	for _, a := range ev.Statement().Audits() {
		for _, o := range objs {
			if a.Object == o {
				out = append(out, a)
			}
		}
	}
	return out
}

func describeAudit(ev *Event, a *tsql.AuditChange, fallback string) string {
	if a == nil {
		verb := map[string]string{"AL": "ALTER", "DR": "DROP", "CR": "CREATE"}[ev.action]
		name := ev.Object()
		return strings.TrimSpace(verb + " " + fallback + " " + name)
	}
	return strings.ToUpper(a.Verb+" "+a.Object.String()) + " " + a.Name
}

func aud001(m *matcher, ev *Event) ([]hit, error) {
	switch {
	case ev.action == "AUSC":
		for _, a := range auditChanges(ev, tsql.ServerAudit) {
			if a.State == "off" {
				return []hit{{sev: Critical, why: fmt.Sprintf("audit session changed: %s set STATE = OFF by %s", describeAudit(ev, &a, ""), ev.Principal())}}, nil
			}
		}
		return nil, nil
	case (ev.action == "AL" || ev.action == "DR") && ev.class == "A":
	default:
		return nil, nil
	}
	if ev.action == "DR" {
		return []hit{{sev: Critical, why: fmt.Sprintf("DROP SERVER AUDIT %s by %s", ev.Object(), ev.Principal())}}, nil
	}
	as := auditChanges(ev, tsql.ServerAudit)
	if len(as) == 0 {
		return []hit{{why: fmt.Sprintf("ALTER SERVER AUDIT %s by %s (statement not readable)", ev.Object(), ev.Principal())}}, nil
	}
	for _, a := range as {
		if a.State == "off" || a.Verb == "drop" {
			return []hit{{sev: Critical, why: fmt.Sprintf("%s: STATE = OFF by %s", describeAudit(ev, &a, "SERVER AUDIT"), ev.Principal())}}, nil
		}
	}
	var changes []string
	for _, a := range as {
		changes = append(changes, auditChangeSummary(&a)...)
	}
	return []hit{{why: fmt.Sprintf("%s by %s: %s", describeAudit(ev, &as[0], "SERVER AUDIT"), ev.Principal(), strings.Join(changes, "; "))}}, nil
}

func auditChangeSummary(a *tsql.AuditChange) []string {
	var out []string
	if a.State != "" {
		out = append(out, "STATE = "+strings.ToUpper(a.State))
	}
	if a.Predicate != "" {
		out = append(out, "predicate WHERE "+a.Predicate)
	}
	if a.RemoveWhere {
		out = append(out, "REMOVE WHERE")
	}
	if a.NewName != "" {
		out = append(out, "renamed to "+a.NewName)
	}
	out = append(out, a.TargetChanged()...)
	for _, g := range a.DroppedGroups {
		out = append(out, "DROP ("+g+")")
	}
	for _, g := range a.AddedGroups {
		out = append(out, "ADD ("+g+")")
	}
	if len(out) == 0 {
		out = append(out, "changed")
	}
	return out
}

// criticalGroup reports groups whose removal blinds the backup and
// tamper detections.
func criticalGroup(g string) bool {
	g = strings.ToLower(strings.TrimSpace(g))
	return g == "backup_restore_group" || g == "audit_change_group" || strings.HasSuffix(g, "_login_group") || strings.HasSuffix(g, "database_authentication_group")
}

func aud002(m *matcher, ev *Event) ([]hit, error) {
	if (ev.action != "AL" && ev.action != "DR") || (ev.class != "SA" && ev.class != "DA") {
		return nil, nil
	}
	what := "SERVER AUDIT SPECIFICATION"
	if ev.class == "DA" {
		what = "DATABASE AUDIT SPECIFICATION"
	}
	if ev.action == "DR" {
		return []hit{{sev: Critical, why: fmt.Sprintf("DROP %s %s by %s", what, ev.Object(), ev.Principal())}}, nil
	}
	as := auditChanges(ev, tsql.ServerAuditSpecification, tsql.DatabaseAuditSpecification)
	if len(as) == 0 {
		return []hit{{why: fmt.Sprintf("ALTER %s %s by %s (statement not readable)", what, ev.Object(), ev.Principal())}}, nil
	}
	var crit, changes []string
	for _, a := range as {
		if a.State == "off" {
			crit = append(crit, "STATE = OFF")
		}
		for _, g := range a.DroppedGroups {
			if criticalGroup(g) {
				crit = append(crit, "DROP ("+strings.ToUpper(g)+")")
			}
		}
		changes = append(changes, auditChangeSummary(&a)...)
	}
	if len(crit) > 0 {
		return []hit{{sev: Critical, why: fmt.Sprintf("%s by %s: %s", describeAudit(ev, &as[0], what), ev.Principal(), strings.Join(crit, "; "))}}, nil
	}
	return []hit{{why: fmt.Sprintf("%s by %s: %s", describeAudit(ev, &as[0], what), ev.Principal(), strings.Join(changes, "; "))}}, nil
}

func aud003(m *matcher, ev *Event) ([]hit, error) {
	if ev.action != "AL" || ev.class != "A" {
		return nil, nil
	}
	for _, a := range auditChanges(ev, tsql.ServerAudit) {
		if a.Predicate != "" {
			return []hit{{why: fmt.Sprintf("%s by %s adds the filter WHERE %s: matching records are silently not audited", describeAudit(ev, &a, ""), ev.Principal(), a.Predicate)}}, nil
		}
	}
	return nil, nil
}

func aud004(m *matcher, ev *Event) ([]hit, error) {
	if ev.action != "AL" || ev.class != "A" {
		return nil, nil
	}
	for _, a := range auditChanges(ev, tsql.ServerAudit) {
		if ch := a.TargetChanged(); len(ch) > 0 {
			note := ""
			if v, ok := a.Option("on_failure"); ok && v == "continue" {
				note = " (ON_FAILURE = CONTINUE: the server keeps running when the audit cannot write)"
			}
			return []hit{{why: fmt.Sprintf("%s by %s changes the audit target/behaviour: %s%s", describeAudit(ev, &a, ""), ev.Principal(), strings.Join(ch, ", "), note)}}, nil
		}
	}
	return nil, nil
}

func aud005(m *matcher, ev *Event) ([]hit, error) {
	if ev.action != "CR" {
		return nil, nil
	}
	what := map[string]string{"A": "SERVER AUDIT", "SA": "SERVER AUDIT SPECIFICATION", "DA": "DATABASE AUDIT SPECIFICATION", "DU": "DATABASE AUDIT"}[ev.class]
	if what == "" {
		return nil, nil
	}
	name := ev.Object()
	if as := ev.Statement().Audits(); len(as) > 0 && as[0].Name != "" {
		name = as[0].Name
	}
	return []hit{{why: fmt.Sprintf("CREATE %s %s by %s, who is not allow-listed", what, name, ev.Principal())}}, nil
}

// isTamper: an AUD-001/002/003 change that weakens auditing (anything but
// turning it on or adding groups).
func isTamper(ev *Event) bool {
	if ev.action != "AL" && ev.action != "DR" {
		return false
	}
	if ev.class != "A" && ev.class != "SA" && ev.class != "DA" {
		return false
	}
	if ev.action == "DR" {
		return true
	}
	as := ev.Statement().Audits()
	if len(as) == 0 {
		return true
	}
	for _, a := range as {
		weakening := a.State == "off" || len(a.DroppedGroups) > 0 || a.Predicate != "" || a.Target != "" || a.NewName != "" || len(a.TargetChanged()) > 0
		if weakening {
			return true
		}
	}
	return false
}

// isReenable: AUSC (the audit session started) or an ALTER that sets
// STATE = ON.
func isReenable(ev *Event) bool {
	if ev.action == "AUSC" {
		for _, a := range ev.Statement().Audits() {
			if a.State == "off" {
				return false
			}
		}
		return true
	}
	if ev.action == "AL" && (ev.class == "A" || ev.class == "SA" || ev.class == "DA") {
		for _, a := range ev.Statement().Audits() {
			if a.State == "on" {
				return true
			}
		}
	}
	return false
}

// aud006 reports one finding per backup (or staged credential) record
// that an audit change preceded, or a re-enable of the audit followed,
// within the correlation window, whichever record of the pair is
// evaluated last. The detection id is keyed on the backup record alone,
// so the pairing found first, and any later one, give the same id. The
// finding names the latest audit change before the backup (the earliest
// re-enable after it), preferring one by the backup's own session
// principal: critical when the principals match, high otherwise.
func aud006(m *matcher, ev *Event) ([]hit, error) {
	w := m.cfg.cfg.CorrelationWindow
	srv := ev.Server()
	t := ev.Time()
	me := ev.SessionPrincipal()
	var hits []hit
	switch {
	case isTamper(ev):
		if _, err := m.observe(lowerKey("tamper", srv), entryFor(ev, me), w, 16); err != nil {
			return nil, err
		}
		// Backups already seen that happened after this change, unless
		// another change already paired them (their finding exists).
		later, err := m.lookup(lowerKey("backup", srv), t, t.Add(w))
		if err != nil || len(later) == 0 {
			return nil, err
		}
		tampers, err := m.lookup(lowerKey("tamper", srv), t.Add(-w), t.Add(w))
		if err != nil {
			return nil, err
		}
		for _, b := range later {
			if paired(tampers, ev.ID(), b.Time.Add(-w), b.Time) {
				continue
			}
			hits = append(hits, pairHit(b.ID, b, strings.EqualFold(b.Value, me), fmt.Sprintf("audit weakened by %s at %s, then %s by %s at %s (within %s)", me, t.Format("15:04:05Z"), backupWhat(b), b.Value, b.Time.Format("15:04:05Z"), w)))
		}
	case ev.action == "BA" || ev.action == "BAL" || m.stagedCredential(ev) != nil:
		if _, err := m.observe(lowerKey("backup", srv), entryFor(ev, me), w, 16); err != nil {
			return nil, err
		}
		// Backups that are not fully allow-listed are also remembered for
		// the backup-then-re-enable pattern, which routine backups before
		// a service restart must not trigger.
		approved := (ev.action == "BA" || ev.action == "BAL") && len(m.foreignDestinations(backupOf(ev))) == 0 && m.actorAllowed(ev)
		if !approved {
			if _, err := m.observe(lowerKey("backupx", srv), entryFor(ev, me), w, 16); err != nil {
				return nil, err
			}
		}
		what := "backup"
		if ev.action == "CR" || ev.action == "AL" {
			what = "credential"
		}
		before, err := m.lookup(lowerKey("tamper", srv), t.Add(-w), t)
		if err != nil {
			return nil, err
		}
		if a, same, ok := pick(before, me, true); ok {
			return []hit{pairHit(ev.ID(), a, same, fmt.Sprintf("audit weakened by %s at %s, then %s by %s at %s (within %s)", a.Value, a.Time.Format("15:04:05Z"), what, me, t.Format("15:04:05Z"), w))}, nil
		}
		if approved {
			return nil, nil
		}
		after, err := m.lookup(lowerKey("auditon", srv), t, t.Add(w))
		if err != nil {
			return nil, err
		}
		if a, same, ok := pick(after, me, false); ok {
			return []hit{pairHit(ev.ID(), a, same, fmt.Sprintf("%s by %s at %s, then audit re-enabled by %s at %s (within %s)", what, me, t.Format("15:04:05Z"), a.Value, a.Time.Format("15:04:05Z"), w))}, nil
		}
		return nil, nil
	}
	if isReenable(ev) {
		if _, err := m.observe(lowerKey("auditon", srv), entryFor(ev, me), w, 16); err != nil {
			return nil, err
		}
		// Backups not allow-listed before the re-enable, unless an audit
		// change before them or another re-enable after them already
		// paired them (their finding exists).
		before, err := m.lookup(lowerKey("backupx", srv), t.Add(-w), t)
		if err != nil || len(before) == 0 {
			return nil, err
		}
		tampers, err := m.lookup(lowerKey("tamper", srv), t.Add(-2*w), t)
		if err != nil {
			return nil, err
		}
		ons, err := m.lookup(lowerKey("auditon", srv), t.Add(-w), t.Add(w))
		if err != nil {
			return nil, err
		}
		for _, b := range before {
			if paired(tampers, ev.ID(), b.Time.Add(-w), b.Time) || paired(ons, ev.ID(), b.Time, b.Time.Add(w)) {
				continue
			}
			hits = append(hits, pairHit(b.ID, b, strings.EqualFold(b.Value, me), fmt.Sprintf("%s by %s at %s, then audit re-enabled by %s at %s (within %s)", backupWhat(b), b.Value, b.Time.Format("15:04:05Z"), me, t.Format("15:04:05Z"), w)))
		}
	}
	return hits, nil
}

// paired reports whether es holds an entry of a record other than self
// within [from, to].
func paired(es []Entry, self string, from, to time.Time) bool {
	for i := range es {
		if e := &es[i]; e.ID != self && !e.Time.Before(from) && !e.Time.After(to) {
			return true
		}
	}
	return false
}

// pairHit is the AUD-006 finding of the backup (or credential) record
// backupID, paired with the record of entry other; its id is keyed on the
// backup record alone.
func pairHit(backupID string, other Entry, samePrincipal bool, why string) hit {
	sev := High
	if samePrincipal {
		sev = Critical
	}
	return hit{sev: sev, earlier: evidences([]Entry{other}), key: "backup:" + backupID, why: why}
}

// backupWhat names a backup-side entry by its action.
func backupWhat(b Entry) string {
	if b.Evidence != nil && (b.Evidence.ActionID == "CR" || b.Evidence.ActionID == "AL") {
		return "credential"
	}
	return "backup"
}

// pick chooses the entry an AUD-006 finding names among es (sorted by
// time): the latest (or, with latest false, the earliest) by the session
// principal me, else the latest (earliest) of all.
func pick(es []Entry, me string, latest bool) (Entry, bool, bool) {
	best, bestSame := -1, -1
	for i := range es {
		j := i
		if latest {
			j = len(es) - 1 - i
		}
		if best < 0 {
			best = j
		}
		if bestSame < 0 && strings.EqualFold(es[j].Value, me) {
			bestSame = j
		}
	}
	switch {
	case bestSame >= 0:
		return es[bestSame], true, true
	case best >= 0:
		return es[best], false, true
	}
	return Entry{}, false, false
}

func aud007(m *matcher, ev *Event) ([]hit, error) {
	if ev.action != "AUSF" {
		return nil, nil
	}
	return []hit{{why: "audit failure (AUSF): the audit could not write its records; events may be missing from here on"}}, nil
}
