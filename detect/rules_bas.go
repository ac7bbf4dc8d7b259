package detect

import (
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xelwatch/xelwatch/detect/tsql"
)

// Behavioural baselines (BAS-001..004): what is usual per server or
// principal, learned from the records and kept in the State, so that the
// first login of an unfamiliar principal, a principal's first connection
// from another network or application, the first backup to a destination
// never used, and a result far larger than the principal ever returned
// stand out. See the package documentation, "Baselines", for the model.

// Bounds and constants of the baselines.
const (
	// maxBaselineWindow bounds XELWATCH_BASELINE_WINDOW: baseline keys
	// expire that long after the last record that wrote them.
	maxBaselineWindow = 90 * 24 * time.Hour
	// maxBaselineValues bounds XELWATCH_BASELINE_MAX_VALUES.
	maxBaselineValues = 100
	// basBudget bounds the entries of a baseline key (within
	// maxStateEntries): every value kept keeps its newest sighting, and
	// the newest of the others fill the rest.
	basBudget = 240
	// basMinHistory is the least number of buckets BAS-004 compares with.
	basMinHistory = 3
	// maxBasMemo bounds the memo of an Engine or a Deferred.
	maxBasMemo = 4096
	// maxBasValue bounds a value kept (client network, application,
	// destination), in bytes.
	maxBasValue = 256
)

// Values of the special entries of a baseline key.
const (
	basStart = "start" // the first record the key kept: the learning period starts there
	basSeen  = "seen"  // the server key's refresh marker (its expiry moves with it)
)

// basActions are the records of an active principal: successful logins
// and statements.
var basActions = []string{"LGIS", "DBAS", "BCM", "RCM", "BST", "RST"}

// basActive reports whether the record shows its principal active:
// a successful login or authentication, or any statement record.
func basActive(ev *Event) bool {
	if ev.action == "LGIS" || ev.action == "DBAS" {
		return ev.Succeeded()
	}
	return true
}

// basDay is the UTC day of t.
func basDay(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// basEntry is a baseline entry of the record (no evidence: baselines
// keep facts, not records).
func basEntry(ev *Event, value string) Entry {
	return Entry{ID: ev.ID(), Time: ev.Time(), Value: value, Last: lastPart(ev.rec)}
}

// basFile is the file of an entry id ("<file>@<offset>#<index>").
func basFile(id string) string {
	if i := strings.LastIndexByte(id, '@'); i >= 0 {
		return id[:i]
	}
	return id
}

// entryOrder is the place of an entry's record in its file's processing
// order.
func entryOrder(e *Entry) Place {
	if e.Last != (Place{}) {
		return e.Last
	}
	p, _ := idPlace(e.ID, basFile(e.ID))
	return p
}

// sameBucket reports whether two entries come from the same file and day.
func sameBucket(a, b *Entry) bool {
	return basDay(a.Time) == basDay(b.Time) && basFile(a.ID) == basFile(b.ID)
}

func isSpecial(e *Entry) bool { return e.Value == basStart || e.Value == basSeen }

// ownBucket reports whether e is of the record's file and day.
func (v view) ownBucket(e *Entry, day int64) bool {
	_, same := idPlace(e.ID, v.file)
	return same && basDay(e.Time) == day
}

// sighting looks value up in a key's entries: seen reports a sighting the
// record sees (not its own) within window of t, either side; stored that
// the key holds the sighting of the record's file and day at or before
// its place, so that the record has nothing to write.
func (v view) sighting(cur []Entry, value, self string, t time.Time, window time.Duration) (seen, stored bool) {
	day := basDay(t)
	for i := range cur {
		e := &cur[i]
		if e.Value != value {
			continue
		}
		if e.ID == self {
			stored = true
			continue
		}
		if !v.sees(e) {
			continue
		}
		if v.ownBucket(e, day) {
			stored = true
		}
		if d := e.Time.Sub(t); d <= window && d >= -window {
			seen = true
		}
	}
	return seen, stored
}

// learning reports whether the record is in the learning period of the
// key whose entries are cur, and whether the key has its start entry. A
// key without one starts with this record; a start the record does not
// see (a later record of its own file wrote it) counts as learning too,
// so that a replay never reports what the first pass did not.
func (m *matcher) learning(cur []Entry) (learning, hasStart bool) {
	for i := range cur {
		if cur[i].Value != basStart {
			continue
		}
		if !m.sees(&cur[i]) {
			return true, true
		}
		return m.rec.EventTime.Sub(cur[i].Time) < m.cfg.cfg.BaselineLearning, true
	}
	return m.cfg.cfg.BaselineLearning > 0, false
}

// mergeSightings adds sightings to cur: per value, file and day the one
// first in processing order is kept, so that a replay leaves the key as
// it was; start is added unless the key has one. Then the key is bounded
// (boundBas): the maxValues values seen most recently, each with its
// newest sighting, and the newest other sightings within basBudget. It
// reports whether the bound dropped entries.
func mergeSightings(cur, add []Entry, start *Entry, maxValues int) ([]Entry, bool) {
	next := make([]Entry, 0, len(cur)+len(add)+1)
	next = append(next, cur...)
	for _, a := range add {
		i := slices.IndexFunc(next, func(c Entry) bool { return c.Value == a.Value && sameBucket(&c, &a) })
		switch {
		case i < 0:
			next = append(next, a)
		case next[i].ID != a.ID && entryOrder(&a).before(entryOrder(&next[i])):
			next[i] = a
		}
	}
	next = withStart(next, start)
	return boundBas(next, func(e *Entry) string { return e.Value }, maxValues)
}

// withStart adds start to es unless es holds a start entry.
func withStart(es []Entry, start *Entry) []Entry {
	if start == nil || slices.ContainsFunc(es, func(e Entry) bool { return e.Value == basStart }) {
		return es
	}
	return append(es, *start)
}

// boundBas sorts es (cmpEntry) and keeps the special entries, the
// maxGroups groups with the newest entries, each with its newest entry,
// and of their other entries the newest that fit basBudget. The result
// depends only on the entries given, not on their order; dropped reports
// whether it is shorter.
func boundBas(es []Entry, group func(*Entry) string, maxGroups int) (out []Entry, dropped bool) {
	slices.SortFunc(es, cmpEntry)
	const (
		drop = iota
		pin
		extra
	)
	groups := map[string]bool{}
	mark := make([]uint8, len(es))
	kept := 0
	for i := len(es) - 1; i >= 0; i-- {
		e := &es[i]
		if isSpecial(e) {
			mark[i] = pin
			kept++
			continue
		}
		g := group(e)
		switch {
		case groups[g]:
			mark[i] = extra
		case len(groups) < maxGroups:
			groups[g] = true
			mark[i] = pin
			kept++
		}
	}
	for i := len(es) - 1; i >= 0; i-- {
		if mark[i] == extra {
			if kept < basBudget {
				kept++
			} else {
				mark[i] = drop
			}
		}
	}
	out = es[:0]
	for i := range es {
		if mark[i] != drop {
			out = append(out, es[i])
		}
	}
	return out, len(out) < len(mark)
}

// Client networks and applications. A value is derived from the part of
// the record that the memo keys on, so that one memo entry stands for
// one value.

// basIPPart is the network part of a client address: the first three
// octets of an IPv4 address, else the whole address.
func basIPPart(s string) string {
	s = strings.TrimSpace(s)
	dots, last := 0, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			dots++
			last = i
		case c < '0' || c > '9':
			return s
		}
	}
	if dots != 3 {
		return s
	}
	return s[:last]
}

// basIPValue is the value of a client network: IPv4 /24, IPv6 /48, any
// other client name as such (lower case).
func basIPValue(part string) string {
	if part == "" {
		return ""
	}
	if strings.Count(part, ".") == 2 && strings.Trim(part, "0123456789.") == "" {
		if a, err := netip.ParseAddr(part + ".0"); err == nil && a.Is4() {
			return "ip:" + a.String() + "/24"
		}
	}
	if a, err := netip.ParseAddr(part); err == nil {
		a = a.Unmap()
		if a.Is4() {
			return "ip:" + netip.PrefixFrom(a, 24).Masked().String()
		}
		return "ip:" + netip.PrefixFrom(a, 48).Masked().String()
	}
	return "ip:" + cut(strings.ToLower(part), maxBasValue)
}

// basAppPart is an application name without its parenthesised details
// ("SQLAgent - TSQL JobStep (Job 0x… : Step 1)" is one application).
func basAppPart(s string) string {
	if i := strings.IndexByte(s, '('); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func basAppValue(part string) string {
	if part == "" {
		return ""
	}
	return "app:" + cut(strings.ToLower(part), maxBasValue)
}

// basDestValue is the value of a backup destination: a URL's scheme,
// host and container, a path's directory, a tape or device name; "" for
// an unknown destination (EXF-001 reports those).
func basDestValue(d tsql.Destination) string {
	v := strings.ToLower(strings.TrimSpace(d.Value))
	if v == "" {
		return ""
	}
	var s string
	switch {
	case d.Kind == tsql.DestUnknown:
		return ""
	case strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://"):
		scheme, rest, _ := strings.Cut(v, "://")
		if i := strings.IndexAny(rest, "?#"); i >= 0 {
			rest = rest[:i]
		}
		parts := strings.SplitN(rest, "/", 3)
		s = "url:" + scheme + "://" + parts[0]
		if len(parts) > 1 && parts[1] != "" {
			s += "/" + parts[1]
		}
	case d.Kind == tsql.DestDisk || d.Kind == tsql.DestFile:
		p := slashes(v)
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			p = p[:i]
		} else {
			p = "(default directory)"
		}
		s = "disk:" + p
	default:
		s = d.Kind.String() + ":" + v
	}
	return cut(s, maxBasValue)
}

// The memo: what the baselines recorded for a server, principal, client
// network, application, file and day. A record after the memo's in the
// same file finds in the State what the memo says (the sighting of its
// file and day, a row bucket at least as high), so it skips the State
// altogether: the common path costs one map lookup. An Engine keeps one
// memo; a Deferred its own, discarded with a failed batch.

type basKey struct {
	server, principal, ip, app, file string
	day                              int64
}

type basVal struct {
	at     [2]Place // BAS-001, BAS-002: the place of the first record evaluated
	ok     [2]bool
	peak   [2]int64 // BAS-004: the bucket peaks stored (response, affected rows)
	peakOK bool
}

// basSlot is a memo entry: its key (a hash collision is checked) and
// what was recorded.
type basSlot struct {
	key basKey
	val basVal
}

type basMemo struct {
	mu sync.Mutex
	m  map[uint64]*basSlot
}

func newBasMemo() *basMemo { return &basMemo{m: map[uint64]*basSlot{}} }

var basSeed = maphash.MakeSeed()

func basKeyOf(ev *Event) basKey {
	return basKey{server: ev.Server(), principal: ev.Principal(), ip: basIPPart(ev.ClientIP()),
		app: basAppPart(ev.Application()), file: ev.rec.FileName, day: basDay(ev.Time())}
}

// hash leaves the file out (long, and the same for long runs of
// records): records of two files evaluated alternately share a slot,
// and the key check tells them apart.
func (k *basKey) hash() uint64 {
	h := uint64(k.day)
	for _, s := range [...]string{k.server, k.principal, k.ip, k.app} {
		h = (h ^ maphash.String(basSeed, s)) * 0x9E3779B97F4A7C15
	}
	return h
}

// basProbe is the memo's record for the record being evaluated, looked
// up by the first baseline rule and used by the others (no pointers: the
// matcher is reset for every record).
type basProbe struct {
	val    basVal
	probed bool
	// dropped: a key's bound dropped entries while this record was
	// evaluated, perhaps its own: the memo notes nothing for it.
	dropped bool
}

// probe returns what the memo held for the record when first asked
// during this evaluation.
func (m *matcher) probe(ev *Event) *basVal {
	p := &m.bas
	if !p.probed {
		p.probed = true
		if b := m.memo; b != nil {
			k := basKeyOf(ev)
			h := k.hash()
			b.mu.Lock()
			if s := b.m[h]; s != nil && s.key == k {
				p.val = s.val
			}
			b.mu.Unlock()
		}
	}
	return &p.val
}

// done reports whether baseline i recorded the key at a place before
// order.
func (v *basVal) done(i int, order Place) bool { return v.ok[i] && v.at[i].before(order) }

// covers reports whether the stored bucket peaks are at least rows and
// rows are below floor (nothing to write, nothing to decide).
func (v *basVal) covers(rows [2]int64, floor int64) bool {
	return rows[0] < floor && rows[1] < floor && v.peakOK && rows[0] <= v.peak[0] && rows[1] <= v.peak[1]
}

// note records f for the record's key.
func (m *matcher) note(ev *Event, f func(*basVal)) {
	b := m.memo
	if b == nil || m.bas.dropped {
		return
	}
	k := basKeyOf(ev)
	h := k.hash()
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.m[h]
	if s == nil || s.key != k {
		if len(b.m) >= maxBasMemo {
			clear(b.m)
		}
		s = &basSlot{key: k}
		b.m[h] = s
	}
	f(&s.val)
}

// recorded notes that baseline i recorded the record's key at order.
func (m *matcher) recorded(ev *Event, i int, order Place) {
	m.note(ev, func(v *basVal) {
		if !v.ok[i] || order.before(v.at[i]) {
			v.at[i], v.ok[i] = order, true
		}
	})
}

// basUpdate writes a baseline key. When the key's bound dropped entries,
// the memo may vouch for one of them: it is cleared, and notes nothing
// of this record (whose own entry may be the one dropped), so that what a
// record decides never depends on whether its tuple is in the memo.
func (m *matcher) basUpdate(key string, expires time.Time, fn func([]Entry) ([]Entry, bool)) error {
	dropped := false
	_, err := m.state.Update(m.ctx, key, expires, func(cur []Entry) []Entry {
		next, d := fn(cur)
		dropped = d
		return next
	})
	if dropped {
		m.memo.clear()
		m.bas.dropped = true
	}
	return err
}

func (b *basMemo) clear() {
	if b == nil {
		return
	}
	b.mu.Lock()
	clear(b.m)
	b.mu.Unlock()
}

// basRefresh is how often the server key's marker is rewritten, so that
// the key (which otherwise changes only when it is created) does not
// expire while the server is active.
func basRefresh(window time.Duration) time.Duration { return min(24*time.Hour, window/4) }

// serverLearning reports whether the record is in the learning period of
// its server (BAS-001), creating the server's key with the first record
// and refreshing its marker.
func (m *matcher) serverLearning(ev *Event) (bool, error) {
	c := &m.cfg.cfg
	key := lowerKey("base-srv", ev.Server())
	cur, err := m.state.Get(m.ctx, key)
	if err != nil {
		return false, err
	}
	learning, hasStart := m.learning(cur)
	t := ev.Time()
	refresh := !hasStart
	if hasStart {
		i := slices.IndexFunc(cur, func(e Entry) bool { return e.Value == basSeen })
		refresh = i < 0 || t.Sub(cur[i].Time) >= basRefresh(c.BaselineWindow)
	}
	if !refresh {
		return learning, nil
	}
	start, seen := basEntry(ev, basStart), basEntry(ev, basSeen)
	_, err = m.state.Update(m.ctx, key, t.Add(c.BaselineWindow), func(cur []Entry) []Entry {
		next := make([]Entry, 0, 2)
		for _, e := range cur {
			switch {
			case e.Value == basStart:
				next = append(next, e)
			case e.Value == basSeen && cmpEntry(e, seen) > 0:
				seen = e
			}
		}
		next = withStart(next, &start)
		next = append(next, seen)
		slices.SortFunc(next, cmpEntry)
		return next
	})
	return learning, err
}

func bas001(m *matcher, ev *Event) ([]hit, error) {
	p := ev.Principal()
	if p == "" || !basActive(ev) {
		return nil, nil
	}
	v := m.view()
	if m.probe(ev).done(0, v.order) {
		return nil, nil
	}
	c := &m.cfg.cfg
	learning, err := m.serverLearning(ev)
	if err != nil {
		return nil, err
	}
	key := lowerKey("base-prin", ev.Server(), p)
	cur, err := m.state.Get(m.ctx, key)
	if err != nil {
		return nil, err
	}
	t := ev.Time()
	seen, stored := v.sighting(cur, "p", ev.ID(), t, c.BaselineWindow)
	if !stored {
		en := basEntry(ev, "p")
		if err := m.basUpdate(key, t.Add(c.BaselineWindow), func(cur []Entry) ([]Entry, bool) {
			return mergeSightings(cur, []Entry{en}, nil, 1)
		}); err != nil {
			return nil, err
		}
	}
	m.recorded(ev, 0, v.order)
	if seen || learning {
		return nil, nil
	}
	return []hit{{why: fmt.Sprintf("principal %s not seen on server %s within %s (%s from %s, application %q)",
		p, ev.Server(), basDays(c.BaselineWindow), ev.action, orUnknown(ev.ClientIP()), ev.Application())}}, nil
}

func bas002(m *matcher, ev *Event) ([]hit, error) {
	p := ev.Principal()
	if p == "" || !basActive(ev) {
		return nil, nil
	}
	v := m.view()
	if m.probe(ev).done(1, v.order) {
		return nil, nil
	}
	c := &m.cfg.cfg
	values := []string{basIPValue(basIPPart(ev.ClientIP())), basAppValue(basAppPart(ev.Application()))}
	values = slices.DeleteFunc(values, func(s string) bool { return s == "" })
	if len(values) == 0 {
		return nil, nil
	}
	key := lowerKey("base-cli", ev.Server(), p)
	fresh, learning, err := m.observeValues(key, ev, values)
	if err != nil {
		return nil, err
	}
	m.recorded(ev, 1, v.order)
	if learning || len(fresh) == 0 {
		return nil, nil
	}
	var what []string
	for _, f := range fresh {
		kind, val, _ := strings.Cut(f, ":")
		if kind == "ip" {
			what = append(what, "client network "+val+" (address "+ev.ClientIP()+")")
		} else {
			what = append(what, fmt.Sprintf("application %q", ev.Application()))
		}
	}
	return []hit{{why: fmt.Sprintf("%s used %s, not seen for this principal on server %s within %s (%s)",
		p, strings.Join(what, " and "), ev.Server(), basDays(c.BaselineWindow), ev.action)}}, nil
}

// observeValues records the values of the record under key (with the
// key's start) and returns those the record had not seen within the
// window, and whether it is in the key's learning period.
func (m *matcher) observeValues(key string, ev *Event, values []string) ([]string, bool, error) {
	c := &m.cfg.cfg
	cur, err := m.state.Get(m.ctx, key)
	if err != nil {
		return nil, false, err
	}
	v := m.view()
	learning, hasStart := m.learning(cur)
	t := ev.Time()
	var add []Entry
	var fresh []string
	for _, val := range values {
		seen, stored := v.sighting(cur, val, ev.ID(), t, c.BaselineWindow)
		if !stored {
			add = append(add, basEntry(ev, val))
		}
		if !seen {
			fresh = append(fresh, val)
		}
	}
	if len(add) > 0 || !hasStart {
		start := basEntry(ev, basStart)
		if err := m.basUpdate(key, t.Add(c.BaselineWindow), func(cur []Entry) ([]Entry, bool) {
			return mergeSightings(cur, add, &start, c.BaselineMaxValues)
		}); err != nil {
			return nil, false, err
		}
	}
	return fresh, learning, nil
}

func bas003(m *matcher, ev *Event) ([]hit, error) {
	if !ev.Succeeded() || !isDatabaseBackup(ev) {
		return nil, nil
	}
	b := backupOf(ev)
	if b == nil {
		return nil, nil
	}
	pr := m.perRule()
	var values []string
	for _, d := range b.Destinations {
		if pr != nil && pr.destinations.has(d) {
			continue
		}
		if s := basDestValue(d); s != "" && !slices.Contains(values, s) && len(values) < 16 {
			values = append(values, s)
		}
	}
	if len(values) == 0 {
		return nil, nil
	}
	fresh, learning, err := m.observeValues(lowerKey("base-dest", ev.Server()), ev, values)
	if err != nil || learning || len(fresh) == 0 {
		return nil, err
	}
	for i, f := range fresh {
		_, fresh[i], _ = strings.Cut(f, ":")
		if strings.HasPrefix(f, "disk:") {
			fresh[i] = "directory " + fresh[i]
		}
	}
	return []hit{{why: fmt.Sprintf("%s by %s to %s: no backup of server %s used this destination within %s",
		describeBackup(ev, b), ev.Principal(), strings.Join(fresh, ", "), ev.Server(), basDays(m.cfg.cfg.BaselineWindow))}}, nil
}

// Row volume (BAS-004). A principal's history is, per audit file and day,
// the largest response_rows and affected_rows of its statements (a
// bucket). A peak is idempotent: recording a record again leaves it as it
// was, whatever the order, so a replay cannot count a record twice; and a
// record writes only when it raises its bucket's peak (a few times per
// file and day). A record is compared with the buckets it sees other than
// its own file and day's, within the window.

const basKinds = "ra" // response rows, affected rows

func bucketPeak(e *Entry) int64 {
	n, err := strconv.ParseInt(e.Value[1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func isBucket(e *Entry, kind byte) bool {
	return len(e.Value) > 1 && e.Value[0] == kind && e.Value[1] >= '0' && e.Value[1] <= '9'
}

// mergeBuckets raises the buckets of add (one per kind) to their peaks,
// adds start unless the key has one, and keeps the newest buckets
// (boundBas).
func mergeBuckets(cur, add []Entry, start *Entry) ([]Entry, bool) {
	next := make([]Entry, 0, len(cur)+len(add)+1)
	next = append(next, cur...)
	for _, a := range add {
		i := slices.IndexFunc(next, func(c Entry) bool { return isBucket(&c, a.Value[0]) && sameBucket(&c, &a) })
		switch {
		case i < 0:
			next = append(next, a)
		case bucketPeak(&a) > bucketPeak(&next[i]):
			next[i] = a
		}
	}
	next = withStart(next, start)
	return boundBas(next, func(e *Entry) string { return e.Value[:1] }, len(basKinds))
}

func bas004(m *matcher, ev *Event) ([]hit, error) {
	p := ev.Principal()
	r := ev.rec
	rows := [2]int64{max(r.ResponseRows, 0), max(r.AffectedRows, 0)}
	if p == "" || rows == [2]int64{} {
		return nil, nil
	}
	c := &m.cfg.cfg
	if m.probe(ev).covers(rows, c.BaselineRowsFloor) {
		return nil, nil
	}
	key := lowerKey("base-rows", ev.Server(), p)
	cur, err := m.state.Get(m.ctx, key)
	if err != nil {
		return nil, err
	}
	v := m.view()
	learning, hasStart := m.learning(cur)
	t, day := ev.Time(), basDay(ev.Time())
	var add []Entry
	var peaks [2]int64
	var out []string
	for k := range basKinds {
		kind := basKinds[k]
		peak := int64(-1)
		var hist []int64
		for i := range cur {
			e := &cur[i]
			if !isBucket(e, kind) {
				continue
			}
			if v.ownBucket(e, day) {
				peak = max(peak, bucketPeak(e))
				continue
			}
			if d := e.Time.Sub(t); d <= c.BaselineWindow && d >= -c.BaselineWindow && m.sees(e) {
				hist = append(hist, bucketPeak(e))
			}
		}
		if rows[k] > peak && rows[k] > 0 {
			add = append(add, basEntry(ev, string(kind)+strconv.FormatInt(rows[k], 10)))
		}
		peaks[k] = max(peak, rows[k])
		if rows[k] >= c.BaselineRowsFloor && !learning && len(hist) >= basMinHistory {
			if why, ok := rowsAnomaly(rows[k], hist, c.BaselineRowsK, c.BaselineRowsFloor); ok {
				name := "response_rows"
				if kind == 'a' {
					name = "affected_rows"
				}
				out = append(out, name+" "+why)
			}
		}
	}
	if len(add) > 0 || !hasStart {
		start := basEntry(ev, basStart)
		if err := m.basUpdate(key, t.Add(c.BaselineWindow), func(cur []Entry) ([]Entry, bool) {
			return mergeBuckets(cur, add, &start)
		}); err != nil {
			return nil, err
		}
	}
	m.note(ev, func(b *basVal) {
		b.peak[0], b.peak[1] = max(b.peak[0], peaks[0]), max(b.peak[1], peaks[1])
		b.peakOK = true
	})
	if len(out) == 0 {
		return nil, nil
	}
	return []hit{{why: fmt.Sprintf("%s by %s on server %s (%s)", strings.Join(out, "; "), p, ev.Server(), cut(strings.Join(strings.Fields(excerpt(r.Statement, 120)), " "), 120))}}, nil
}

// rowsAnomaly compares n with the peaks of a principal's history: it is
// an anomaly above the floor, the largest peak and mean + k·σ of the
// peaks (in the order given, which the State keeps sorted).
func rowsAnomaly(n int64, hist []int64, k float64, floor int64) (string, bool) {
	var sum, largest float64
	for _, h := range hist {
		sum += float64(h)
		largest = max(largest, float64(h))
	}
	mean := sum / float64(len(hist))
	var m2 float64
	for _, h := range hist {
		d := float64(h) - mean
		m2 += d * d
	}
	sd := math.Sqrt(m2 / float64(len(hist)))
	limit := max(float64(floor), largest, mean+k*sd)
	if float64(n) <= limit || n < floor {
		return "", false
	}
	return fmt.Sprintf("%d above the principal's baseline (%d file-days, largest %.0f, mean %.0f + %g·σ %.0f = %.0f)",
		n, len(hist), largest, mean, k, sd, mean+k*sd), true
}

// basDays renders a window in days when it is whole days.
func basDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	return d.String()
}
