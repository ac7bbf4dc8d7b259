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
	// Source is what the rule reads beyond audit records: empty for a
	// record rule, SourceAzure for a platform rule driven by Azure events
	// (Event Grid: Resource Manager operations, Blob storage), and
	// SourceAzure as well for a record rule that also correlates with them
	// (AUD-012). See PlatformCatalog.
	Source string `json:"source,omitempty"`
	// EventTypes are the Event Grid event types that can trigger the rule.
	EventTypes []string `json:"event_types,omitempty"`
	// Operations are the Resource Manager operation names (or, for
	// storage events, the API calls) the rule watches.
	Operations []string `json:"operations,omitempty"`
	// Roles are the Azure roles the rule needs: on the event source, to
	// create the Event Grid subscription, and for xelwatch's identity.
	Roles []string `json:"roles,omitempty"`
	// Baseline rules learn what is usual per server or principal and
	// keep it in the State (see rules_bas.go); they see every record of
	// their actions, past the statement prefilter.
	Baseline bool `json:"baseline,omitempty"`
}

// rule is a catalog entry: data, a match function and, for rules that
// read batch records, what their statements must show (see needs).
type rule struct {
	RuleInfo
	match func(m *matcher, e *Event) ([]hit, error)
	needs needs
}

// readsBatches reports whether r listens on a batch action.
func (r *rule) readsBatches() bool {
	if r.Baseline {
		return false // they read no statement: the prefilter is not theirs
	}
	return slices.ContainsFunc(r.Actions, func(a string) bool { return batchActions[a] })
}

// hit is one reason a rule matched a record.
type hit struct {
	why string
	sev Severity // 0: the rule's severity (a hit cannot lower a rule to Info)
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
		out[i].EventTypes = slices.Clone(r.EventTypes)
		out[i].Operations = slices.Clone(r.Operations)
		out[i].Roles = slices.Clone(r.Roles)
	}
	return out
}

func ruleByID(id string) *rule {
	for _, r := range catalog {
		if r.ID == id {
			return r
		}
	}
	for _, r := range platform {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// Engine evaluates records against the catalog. It is safe for concurrent
// use when its State is.
type Engine struct {
	cfg       *compiled
	state     State
	byAction  map[string][]*rule
	anyRules  []*rule            // rules of every action (Actions "*"): EVA-001
	baseRules map[string][]*rule // baseline rules by action: past the prefilter
	memo      *basMemo           // what the baselines recorded (rules_bas.go)
	pf        *prefilter         // of batch records, from the catalog's needs
	severity  map[string]Severity
	ext       []Extension // rules outside the catalog (extension.go)
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
	// The prefilter is built from every rule, enabled or not: a hint
	// bit is shared by several rules, and disabling one must not change
	// what the others see.
	e := &Engine{cfg: k, state: st, byAction: map[string][]*rule{}, baseRules: map[string][]*rule{}, memo: newBasMemo(),
		severity: map[string]Severity{}, pf: newPrefilter(catalog)}
	for _, r := range slices.Concat(catalog, platformRecordRules()) {
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
			if r.Baseline {
				e.baseRules[a] = append(e.baseRules[a], r)
				continue
			}
			e.byAction[a] = append(e.byAction[a], r)
		}
	}
	return e, nil
}

// evaluate runs every enabled catalog rule that can match rec (Evaluate
// adds the extensions' findings).
func (e *Engine) evaluate(ctx context.Context, rec *audit.Record) ([]Finding, error) {
	action := upperTrim(rec.ActionID)
	rules := e.byAction[action]
	// Rules of every action look only at long statements: a cheap test
	// (bytes are never fewer than UTF-16 units) keeps them off the hot
	// path.
	var anyRules []*rule
	if len(rec.Statement) >= e.cfg.cfg.OversizedStatementChars || !rec.Elided.IsZero() {
		anyRules = e.anyRules
	}
	base := e.baseRules[action]
	if len(rules) == 0 && len(anyRules) == 0 && len(base) == 0 {
		return nil, nil
	}
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	sc.ev = Event{rec: rec, action: action, class: upperTrim(rec.ClassType), pf: e.pf}
	sc.ev.buf = &sc.st
	if batchActions[action] && sc.ev.hints()&e.pf.mask == 0 && !(e.pf.errors && rec.AdditionalInformation != "" && hasErrorInfo(rec.AdditionalInformation)) {
		// Batch and RPC records matter only through their statement (or
		// the error they carry), and nothing in this one can interest a
		// rule.
		if len(anyRules) == 0 && len(base) == 0 {
			return nil, nil
		}
		rules = nil
	}
	sc.m = matcher{ctx: ctx, cfg: e.cfg, state: e.state, rec: rec, memo: e.memo}
	ev, m := &sc.ev, &sc.m
	var out []Finding
	var errs []error
	for _, list := range [3][]*rule{rules, anyRules, base} {
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
			sev = o.shift(h.sev.rank() - r.Severity.rank())
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
// statement (no object name or class matters): with no statement hint
// that some rule declares (rule.needs), no rule can match them.
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
	rec   *audit.Record // the record being evaluated
	memo  *basMemo      // the engine's (a Deferred's own)
	bas   basProbe      // the memo's record for this record, looked up once
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
	return Entry{ID: ev.ID(), Time: ev.Time(), Value: value, Evidence: &evd, Last: lastPart(ev.rec)}
}

// lastPart is the place of the last part of a split record (zero for a
// record in one part).
func lastPart(r *audit.Record) Place {
	if n := len(r.Parts); n > 1 {
		return Place{Offset: r.Parts[n-1].AuditFileOffset, Index: r.Parts[n-1].EventIndex}
	}
	return Place{}
}

// view is where the record being evaluated lies in its file, for sees.
// It is a value, so that the update functions given to the State (which
// a Deferred runs again at Commit, after Evaluate returned) can keep it.
type view struct {
	file  string
	self  Place // the record's first part: its id
	order Place // its place in the file's processing order
}

func (m *matcher) view() view {
	r := m.rec
	v := view{file: r.FileName, self: Place{Offset: r.AuditFileOffset, Index: r.EventIndex}}
	v.order = lastPart(r)
	if v.order == (Place{}) {
		v.order = v.self
	}
	return v
}

// sees reports whether the record being evaluated may use e: evaluation
// is causal within a file. An entry of a record of the same file whose
// place is at or after this record's (written by an earlier pass over
// the file that was interrupted and is being replayed, or by a record
// evaluated ahead of its place) is hidden, so that a replay sees what
// the first evaluation saw. The record's own entry, and entries of other
// files, are seen.
func (m *matcher) sees(e *Entry) bool { return m.view().sees(e) }

func (v view) sees(e *Entry) bool {
	p, ok := idPlace(e.ID, v.file)
	if !ok || p == v.self {
		return true // another file's, or its own
	}
	if e.Last != (Place{}) {
		p = e.Last
	}
	return p.before(v.order)
}

// merge adds entries to cur (an entry of the same record, and for marks
// the same value, replaces the one there), drops entries older than
// window before the newest one, and keeps the newest max by cmpEntry. The
// result depends only on the entries given, not on their order, so a
// replayed record leaves the list as it was.
func merge(cur []Entry, window time.Duration, max int, byValue bool, add ...Entry) []Entry {
	var newest time.Time
	for _, e := range cur {
		if e.Time.After(newest) {
			newest = e.Time
		}
	}
	for _, e := range add {
		if e.Time.After(newest) {
			newest = e.Time
		}
	}
	oldest := newest.Add(-window)
	next := make([]Entry, 0, len(cur)+len(add))
	for _, c := range cur {
		if c.Time.Before(oldest) || slices.ContainsFunc(add, func(a Entry) bool { return a.ID == c.ID && (!byValue || a.Value == c.Value) }) {
			continue
		}
		next = append(next, c)
	}
	for _, a := range add {
		if !a.Time.Before(oldest) {
			next = append(next, a)
		}
	}
	slices.SortFunc(next, cmpEntry)
	if len(next) > max {
		next = next[len(next)-max:]
	}
	return next
}

// observe adds entry to the window under key (once per record id), drops
// entries older than window before the newest one, keeps at most max, and
// returns the entries within window of the record's time that the record
// sees (its own included).
func (m *matcher) observe(key string, en Entry, window time.Duration, max int) ([]Entry, error) {
	all, err := m.state.Update(m.ctx, key, en.Time.Add(window), func(cur []Entry) []Entry {
		return merge(cur, window, max, false, en)
	})
	if err != nil {
		return nil, err
	}
	var in []Entry
	for i := range all {
		c := &all[i]
		if !c.Time.Before(en.Time.Add(-window)) && !c.Time.After(en.Time) && m.sees(c) {
			in = append(in, *c)
		}
	}
	return in, nil
}

// maxHolders bounds the claims remembered per key. A claim is kept after
// its window so that a replay of a record it blocked is blocked again
// (see claim): a replay of the records before a claim is exact as long as
// fewer than maxHolders later claims were made on the same key.
const maxHolders = 64

// claim makes en a holder of key unless a holder the record sees lies
// within window of it (before or after); it reports whether en holds the
// key. Holders are kept (without evidence, at most maxHolders), so a
// replay of a holder's record finds itself and produces the same finding
// again, and a replay of a record that was blocked finds its blocker
// again.
func (m *matcher) claim(key string, en Entry, window time.Duration) (bool, error) {
	v := m.view()
	verdict := func(cur []Entry) (holds, blocked bool) {
		for i := range cur {
			h := &cur[i]
			if h.ID == en.ID {
				return true, false
			}
			if d := en.Time.Sub(h.Time); d < window && d > -window && v.sees(h) {
				blocked = true
			}
		}
		return false, blocked
	}
	cur, err := m.state.Get(m.ctx, key)
	if err != nil {
		return false, err
	}
	if holds, blocked := verdict(cur); holds || blocked {
		return holds, nil
	}
	h := en
	h.Evidence = nil
	won := false
	_, err = m.state.Update(m.ctx, key, en.Time.Add(window), func(cur []Entry) []Entry {
		holds, blocked := verdict(cur)
		won = holds || !blocked
		if holds || blocked {
			return cur
		}
		return merge(cur, memoryHorizon, maxHolders, false, h)
	})
	if err != nil {
		return false, err
	}
	return won, nil
}

// lookup returns the entries under key whose time is within [from, to]
// and that the record sees.
func (m *matcher) lookup(key string, from, to time.Time) ([]Entry, error) {
	all, err := m.state.Get(m.ctx, key)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for i := range all {
		c := &all[i]
		if !c.Time.Before(from) && !c.Time.After(to) && m.sees(c) {
			out = append(out, *c)
		}
	}
	return out, nil
}

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
