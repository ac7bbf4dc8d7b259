package detect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/xelwatch/xelwatch/detect/tsql"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// Bounds of a Finding (a queue message is at most 64 KiB).
const (
	MaxEvidence    = 10   // records per finding
	MaxExcerpt     = 512  // bytes of statement per record
	maxWhy         = 1024 // bytes of explanation
	maxField       = 256  // bytes of server, database, principal, ...
	stateExcerpt   = 200  // bytes of statement kept in State entries
	detectionIDLen = 32   // hex characters of the detection id
)

// RuleInfo describes one catalog rule.
type RuleInfo struct {
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Severity  Severity `json:"severity"`
	Technique string   `json:"technique"`
	// Groups are the audit action groups the audit specification must
	// contain for the rule to see its records.
	Groups []string `json:"groups"`
	// Actions are the action ids that can trigger the rule.
	Actions   []string `json:"actions"`
	Phase     int      `json:"phase"`
	Condition string   `json:"condition"`
	// Allow-list behaviour, as documented in docs/rules.md.
	ActorAllowList bool `json:"actor_allow_list,omitempty"`
	Maintenance    bool `json:"maintenance,omitempty"`
	Windowed       bool `json:"windowed,omitempty"`
}

// rule is a catalog entry: data plus a match function.
type rule struct {
	RuleInfo
	match func(m *matcher, e *Event) ([]hit, error)
}

// hit is one reason a rule matched a record.
type hit struct {
	why string
	sev Severity // 0: the rule's severity
	// earlier records that belong to the finding (correlations, windows)
	earlier []Evidence
	// key, when set, replaces the record identities in the detection id
	// (throttled rules: one id per key).
	key string
}

// Catalog returns the rules, in catalog order.
func Catalog() []RuleInfo {
	out := make([]RuleInfo, len(catalog))
	for i, r := range catalog {
		out[i] = r.RuleInfo
		out[i].Groups = slices.Clone(r.Groups)
		out[i].Actions = slices.Clone(r.Actions)
	}
	return out
}

func ruleByID(id string) *rule {
	for _, r := range catalog {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// Engine evaluates records against the catalog. It is safe for concurrent
// use when its State is.
type Engine struct {
	cfg      *compiled
	state    State
	byAction map[string][]*rule
	anyRules []*rule // rules of every action (Actions "*"): EVA-001
	severity map[string]Severity
}

// New validates cfg and returns an Engine using st for windowed rules.
func New(cfg Config, st State) (*Engine, error) {
	if st == nil {
		return nil, errors.New("detect: nil State")
	}
	k, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: k, state: st, byAction: map[string][]*rule{}, severity: map[string]Severity{}}
	for _, r := range catalog {
		if k.disabled[r.ID] {
			continue
		}
		sev := r.Severity
		if s, ok := k.severity[r.ID]; ok {
			sev = s
		}
		e.severity[r.ID] = sev
		for _, a := range r.Actions {
			if a == anyAction {
				e.anyRules = append(e.anyRules, r)
				continue
			}
			e.byAction[a] = append(e.byAction[a], r)
		}
	}
	return e, nil
}

// Evaluate runs every enabled rule that can match rec and returns the
// findings (nil when none). Errors come from the State; findings produced
// before an error are returned with it.
func (e *Engine) Evaluate(ctx context.Context, rec *audit.Record) ([]Finding, error) {
	action := upperTrim(rec.ActionID)
	rules := e.byAction[action]
	// Rules of every action look only at long statements: a cheap test
	// (bytes are never fewer than UTF-16 units) keeps them off the hot
	// path.
	var anyRules []*rule
	if len(rec.Statement) >= e.cfg.cfg.OversizedStatementChars || !rec.Elided.IsZero() {
		anyRules = e.anyRules
	}
	if len(rules) == 0 && len(anyRules) == 0 {
		return nil, nil
	}
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	sc.ev = Event{rec: rec, action: action, class: upperTrim(rec.ClassType)}
	sc.ev.buf = &sc.st
	if batchActions[action] && sc.ev.hints() == 0 {
		// Batch and RPC records matter only through their statement, and
		// nothing in this one can interest a rule.
		if len(anyRules) == 0 {
			return nil, nil
		}
		rules = nil
	}
	sc.m = matcher{ctx: ctx, cfg: e.cfg, state: e.state}
	ev, m := &sc.ev, &sc.m
	var out []Finding
	var errs []error
	for _, list := range [2][]*rule{rules, anyRules} {
		for _, r := range list {
			m.rule = r
			hits, err := r.match(m, ev)
			if err != nil {
				errs = append(errs, fmt.Errorf("detect: %s: %w", r.ID, err))
			}
			if len(hits) == 0 {
				continue
			}
			if m.suppressed(ev) {
				continue
			}
			for _, h := range hits {
				out = append(out, e.finding(r, ev, h))
			}
		}
	}
	return out, errors.Join(errs...)
}

func (e *Engine) finding(r *rule, ev *Event, h hit) Finding {
	sev := e.severity[r.ID]
	if h.sev != 0 {
		sev = h.sev
		// An override lowers or raises the whole rule: keep the
		// escalation relative to the rule's catalog severity.
		if o, ok := e.cfg.severity[r.ID]; ok {
			sev = clampSeverity(o + (h.sev - r.Severity))
		}
	}
	recs := make([]Evidence, 0, min(len(h.earlier)+1, MaxEvidence))
	earlier := h.earlier
	if len(earlier) > MaxEvidence-1 {
		earlier = earlier[len(earlier)-(MaxEvidence-1):]
	}
	recs = append(recs, earlier...)
	recs = append(recs, evidence(ev, MaxExcerpt))
	f := Finding{
		Rule:      r.ID,
		Title:     r.Title,
		Severity:  sev,
		Technique: r.Technique,
		Why:       cut(h.why, maxWhy),
		Time:      ev.Time(),
		Server:    cut(ev.Server(), maxField),
		Database:  cut(ev.Database(), maxField),
		Principal: cut(ev.Principal(), maxField),
		Records:   recs,
	}
	f.DetectionID = detectionID(r.ID, h.key, recs)
	return f
}

func clampSeverity(s Severity) Severity {
	return max(Low, min(Critical, s))
}

// detectionID hashes the rule id with the dedup key, or with the sorted
// identities of the evidence records.
func detectionID(ruleID, key string, recs []Evidence) string {
	h := sha256.New()
	h.Write([]byte(ruleID))
	h.Write([]byte{0})
	if key != "" {
		h.Write([]byte("key:"))
		h.Write([]byte(key))
	} else {
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = recordID(r.FileName, r.AuditFileOffset, r.EventIndex)
		}
		sort.Strings(ids)
		for _, id := range ids {
			h.Write([]byte(id))
			h.Write([]byte{0})
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:detectionIDLen]
}

func evidence(ev *Event, n int) Evidence {
	r := ev.rec
	return Evidence{
		EventTime:       r.EventTime,
		ActionID:        ev.action,
		ClassType:       ev.class,
		Succeeded:       r.Succeeded,
		Server:          cut(r.ServerInstanceName, maxField),
		Database:        cut(r.DatabaseName, maxField),
		Principal:       cut(ev.Principal(), maxField),
		ClientIP:        cut(r.ClientIP, maxField),
		Application:     cut(r.ApplicationName, maxField),
		Statement:       excerpt(r.Statement, n),
		FileName:        cut(r.FileName, 1024),
		AuditFileOffset: r.AuditFileOffset,
		EventIndex:      r.EventIndex,
	}
}

// batchActions are the records that rules read only through their
// statement (no object name or class matters): with no statement hint,
// no rule can match them.
var batchActions = map[string]bool{"BCM": true, "RCM": true, "BST": true, "RST": true}

// scratch holds the per-call Event and matcher; pooled because match
// functions are called through function values, which makes them escape.
type scratch struct {
	ev Event
	m  matcher
	st tsql.Statement
}

func (sc *scratch) release() {
	toks := sc.st.Tokens
	clear(toks)
	if cap(toks) > 4096 {
		toks = nil
	}
	*sc = scratch{}
	sc.st.Tokens = toks[:0]
	scratchPool.Put(sc)
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// matcher gives match functions the configuration and the state.
type matcher struct {
	ctx   context.Context
	cfg   *compiled
	state State
	rule  *rule
}

func (m *matcher) perRule() *ruleAllow { return m.cfg.perRule[m.rule.ID] }

// actorAllowed reports whether the principal is allow-listed and, when
// application or client IP lists exist, the application and IP too.
// Lists from the rules file for this rule are added to the global ones.
func (m *matcher) actorAllowed(ev *Event) bool {
	pr := m.perRule()
	if !(m.cfg.principals.has(ev.Principal()) || (pr != nil && pr.principals.has(ev.Principal()))) {
		return false
	}
	appsEmpty := m.cfg.applications.empty() && (pr == nil || pr.applications.empty())
	if !appsEmpty && !(m.cfg.applications.has(ev.Application()) || (pr != nil && pr.applications.has(ev.Application()))) {
		return false
	}
	ipsEmpty := len(m.cfg.clientIPs) == 0 && (pr == nil || len(pr.clientIPs) == 0)
	if !ipsEmpty && !(m.cfg.clientIPs.has(ev.ClientIP()) || (pr != nil && pr.clientIPs.has(ev.ClientIP()))) {
		return false
	}
	return true
}

// suppressed applies the allow-lists common to all rules.
func (m *matcher) suppressed(ev *Event) bool {
	pr := m.perRule()
	actor := m.rule.ActorAllowList || (pr != nil && !pr.principals.empty())
	if actor && m.actorAllowed(ev) {
		return true
	}
	if m.rule.Maintenance && m.inMaintenance(ev.Time()) && m.actorAllowedLoose(ev) {
		return true
	}
	return false
}

// actorAllowedLoose: in a maintenance window, an allow-listed principal
// is enough (or any principal when no principal list is configured).
func (m *matcher) actorAllowedLoose(ev *Event) bool {
	if m.cfg.principals.empty() {
		return true
	}
	return m.cfg.principals.has(ev.Principal())
}

func (m *matcher) inMaintenance(t time.Time) bool {
	for _, w := range m.cfg.windows {
		if w.contains(t) {
			return true
		}
	}
	return false
}

// destAllowed checks a backup destination against the global and per-rule
// destination allow-lists.
func (m *matcher) destAllowed(d tsql.Destination) bool {
	if m.cfg.destinations.has(d) {
		return true
	}
	pr := m.perRule()
	return pr != nil && pr.destinations.has(d)
}

func (m *matcher) refAllowed(ref string) bool {
	if m.cfg.destinations.hasRef(ref) {
		return true
	}
	pr := m.perRule()
	return pr != nil && pr.destinations.hasRef(ref)
}

// entryFor builds the State entry of a record.
func entryFor(ev *Event, value string) Entry {
	evd := evidence(ev, stateExcerpt)
	return Entry{ID: ev.ID(), Time: ev.Time(), Value: value, Evidence: &evd}
}

// observe adds entry to the window under key (once per record id), drops
// entries older than window before the newest one, keeps at most max, and
// returns the entries within window of the record's time.
func (m *matcher) observe(key string, en Entry, window time.Duration, max int) ([]Entry, error) {
	fn := func(cur []Entry) []Entry {
		next := make([]Entry, 0, len(cur)+1)
		newest := en.Time
		for _, c := range cur {
			if c.Time.After(newest) {
				newest = c.Time
			}
		}
		dup := false
		for _, c := range cur {
			if c.ID == en.ID {
				dup = true
			}
			if !c.Time.Before(newest.Add(-window)) {
				next = append(next, c)
			}
		}
		if !dup && !en.Time.Before(newest.Add(-window)) {
			next = append(next, en)
		}
		slices.SortStableFunc(next, byTime)
		if len(next) > max {
			next = next[len(next)-max:]
		}
		return next
	}
	all, err := m.state.Update(m.ctx, key, en.Time.Add(window), fn)
	if err != nil {
		return nil, err
	}
	var in []Entry
	for _, c := range all {
		if !c.Time.Before(en.Time.Add(-window)) && !c.Time.After(en.Time) {
			in = append(in, c)
		}
	}
	return in, nil
}

// claim makes en the holder of key for window unless another unexpired
// holder exists; it returns the holder. Replays of the holder's record
// get the holder back, so they produce the same finding again.
func (m *matcher) claim(key string, en Entry, window time.Duration) (Entry, error) {
	fn := func(cur []Entry) []Entry {
		if len(cur) > 0 && cur[0].ID != en.ID && en.Time.Sub(cur[0].Time) < window && cur[0].Time.Sub(en.Time) < window {
			return cur
		}
		if len(cur) > 0 && cur[0].ID == en.ID {
			return cur
		}
		return []Entry{en}
	}
	got, err := m.state.Update(m.ctx, key, en.Time.Add(window), fn)
	if err != nil || len(got) == 0 {
		return Entry{}, err
	}
	return got[0], nil
}

// lookup returns entries under key whose time is within [from, to].
func (m *matcher) lookup(key string, from, to time.Time) ([]Entry, error) {
	all, err := m.state.Get(m.ctx, key)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, c := range all {
		if !c.Time.Before(from) && !c.Time.After(to) {
			out = append(out, c)
		}
	}
	return out, nil
}

func byTime(a, b Entry) int { return a.Time.Compare(b.Time) }

func evidences(es []Entry) []Evidence {
	out := make([]Evidence, 0, len(es))
	for _, e := range es {
		if e.Evidence != nil {
			out = append(out, *e.Evidence)
		}
	}
	return out
}

// lowerKey joins parts with '|' and lower-cases ASCII, in one allocation.
func lowerKey(parts ...string) string {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, '|')
		}
		for j := 0; j < len(p); j++ {
			c := p[j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
		}
	}
	return string(b)
}
