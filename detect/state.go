package detect

import (
	"container/heap"
	"context"
	"strings"
	"sync"
	"time"
)

// maxStateEntries is the hard cap of entries per key, whatever the
// configuration says.
const maxStateEntries = 256

// memoryHorizon is the longest window the configuration accepts.
const memoryHorizon = 7 * 24 * time.Hour

// stateHorizon is the longest a key can expire after the event time of
// the record that wrote it: the baselines' window (at most
// maxBaselineWindow) or a rule's window.
const stateHorizon = maxBaselineWindow + memoryHorizon

// Entry is one remembered fact of a windowed or correlation rule.
type Entry struct {
	// ID identifies the record behind the entry as
	// "<file>@<audit_file_offset>#<event_index>" (of its first part), so
	// replaying a record never adds it twice, and it places the record in
	// its file: a record does not see the entries of records at or after
	// its own place in the same file (see the package documentation,
	// "Replays").
	ID    string    `json:"id"`
	Time  time.Time `json:"t"`           // event time
	Value string    `json:"v,omitempty"` // e.g. the principal that failed
	// Evidence is the record, for findings that span several records.
	Evidence *Evidence `json:"e,omitempty"`
	// Last is the place of the last part of a record SQL Server split
	// into several audit events: the decoder emits such a record when its
	// last part arrives, so that is its place in the file's processing
	// order. Zero (and absent from the JSON, which older entries lack
	// too) for a record in one part, whose place is in ID.
	Last Place `json:"l,omitzero"`
}

// Place is the position of an audit event in its file.
type Place struct {
	Offset int64 `json:"o"` // audit_file_offset: the event buffer
	Index  int   `json:"i"` // event_index within the buffer
}

func (p Place) before(q Place) bool {
	return p.Offset < q.Offset || p.Offset == q.Offset && p.Index < q.Index
}

// idPlace returns the place in file of the record whose entry id is id
// ("<file>@<offset>#<index>"), and false when id belongs to another file
// (or is not a record id). It does not allocate.
func idPlace(id, file string) (Place, bool) {
	n := len(file)
	if len(id) < n+4 || id[n] != '@' || id[:n] != file {
		return Place{}, false
	}
	var p Place
	i, digits := n+1, 0
	for ; i < len(id) && id[i] >= '0' && id[i] <= '9'; i++ {
		if digits++; digits > 18 {
			return Place{}, false
		}
		p.Offset = p.Offset*10 + int64(id[i]-'0')
	}
	if digits == 0 || i >= len(id) || id[i] != '#' {
		return Place{}, false
	}
	i, digits = i+1, 0
	for ; i < len(id) && id[i] >= '0' && id[i] <= '9'; i++ {
		if digits++; digits > 9 {
			return Place{}, false
		}
		p.Index = p.Index*10 + int(id[i]-'0')
	}
	if digits == 0 || i != len(id) {
		return Place{}, false
	}
	return p, true
}

// cmpEntry orders entries by event time, then by id and value: a total
// order that does not depend on when entries were added, so that what a
// bounded list keeps is a function of the entries it was given, whatever
// their arrival order (a replay changes nothing).
func cmpEntry(a, b Entry) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if a.ID != b.ID {
		if a.ID < b.ID {
			return -1
		}
		return 1
	}
	switch {
	case a.Value < b.Value:
		return -1
	case a.Value > b.Value:
		return 1
	}
	return 0
}

// State is the memory of windowed and correlation rules, keyed by
// strings such as "auth-fail|srv|10.0.0.5". Implementations must make
// Update atomic per key (optimistic concurrency is fine: fn may run more
// than once and must be pure), drop keys after their expiry, and bound
// what they keep.
type State interface {
	// Update replaces the entries under key by fn(current entries) and
	// returns the stored result. The key expires at expires (event time
	// plus the rule's window); a later Update extends it.
	Update(ctx context.Context, key string, expires time.Time, fn func([]Entry) []Entry) ([]Entry, error)
	// Get returns the entries under key (nil when absent or expired).
	Get(ctx context.Context, key string) ([]Entry, error)
}

// StateGroup returns the group of a state key, "" for none: the keys of
// one client address of one server (its failed-login windows — brute
// force, spray, repeats, credential, firewall and syntax errors — and the
// claims of the rules that count them), which one failed login reads
// and writes together. A table State may store a group's keys side by
// side and read them with one request. The group is a function of the
// key alone; a server or address holding '|' only moves its keys to
// another group.
func StateGroup(key string) string {
	kind, rest, ok := strings.Cut(key, "|")
	if !ok {
		return ""
	}
	switch kind {
	case "fail", "spray", "failp", "crederr", "fwerr", "synerr":
	case strings.TrimSuffix(claimPrefix, "|"):
		rule, r, ok := strings.Cut(rest, "|")
		if !ok || !(strings.HasPrefix(rule, "auth-") || rule == "exe-012") {
			return ""
		}
		rest = r
	default:
		return ""
	}
	srv, r, ok := strings.Cut(rest, "|")
	if !ok {
		return ""
	}
	addr, _, _ := strings.Cut(r, "|")
	return srv + "|" + addr
}

// BatchState is a State that can write the updates of several keys in
// a few round trips (a remote store's batch transactions). UpdateMany
// applies each update as Update would, under the same per-key
// concurrency control (fn may run more than once and must be pure); the
// keys are distinct. It returns the first error; after an error some of
// the updates may have been applied. A Deferred commits through it when
// its State is one.
type BatchState interface {
	State
	UpdateMany(ctx context.Context, updates []KeyUpdate) error
}

// KeyUpdate is one key's update for BatchState.UpdateMany.
type KeyUpdate struct {
	Key     string
	Expires time.Time
	Fn      func([]Entry) []Entry
}

// MemoryState is an in-memory State for tests and the CLI. It keeps at
// most maxKeys keys and about maxBytes bytes, evicting the keys that
// expire first, and forgets keys whose expiry is more than stateHorizon
// older than the newest expiry seen (no key expires further after its
// record, so only records older than that arriving later could still
// have used them).
type MemoryState struct {
	mu       sync.Mutex
	maxKeys  int
	maxBytes int64
	bytes    int64
	keys     map[string]*memItem
	byExp    expHeap
	latest   time.Time
}

type memItem struct {
	key     string
	expires time.Time
	entries []Entry
	size    int64
	index   int
}

// Default limits of NewMemoryState.
const (
	DefaultMemoryKeys  = 100000
	DefaultMemoryBytes = 64 << 20
)

// NewMemoryState returns an empty MemoryState with the default limits.
func NewMemoryState() *MemoryState {
	return NewMemoryStateLimits(DefaultMemoryKeys, DefaultMemoryBytes)
}

// NewMemoryStateLimits returns an empty MemoryState holding at most
// maxKeys keys and about maxBytes bytes (defaults for values <= 0).
func NewMemoryStateLimits(maxKeys int, maxBytes int64) *MemoryState {
	if maxKeys <= 0 {
		maxKeys = DefaultMemoryKeys
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMemoryBytes
	}
	return &MemoryState{maxKeys: maxKeys, maxBytes: maxBytes, keys: map[string]*memItem{}}
}

// itemSize estimates the bytes an item holds.
func itemSize(key string, es []Entry) int64 {
	n := int64(len(key)) + 128 // map slot, item, heap slot
	for _, e := range es {
		n += int64(len(e.ID)+len(e.Value)) + 64
		if ev := e.Evidence; ev != nil {
			n += int64(len(ev.ActionID)+len(ev.ClassType)+len(ev.Server)+len(ev.Database)+len(ev.Principal)+
				len(ev.ClientIP)+len(ev.Application)+len(ev.Statement)+len(ev.FileName)) + 200
		}
	}
	return n
}

// Update implements State.
func (m *MemoryState) Update(ctx context.Context, key string, expires time.Time, fn func([]Entry) []Entry) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if expires.After(m.latest) {
		m.latest = expires
	}
	it := m.keys[key]
	var cur []Entry
	if it != nil {
		cur = it.entries
	}
	next := fn(cur)
	if len(next) > maxStateEntries {
		next = next[len(next)-maxStateEntries:]
	}
	size := itemSize(key, next)
	if it == nil {
		it = &memItem{key: key, expires: expires, entries: next, size: size}
		m.keys[key] = it
		heap.Push(&m.byExp, it)
	} else {
		m.bytes -= it.size
		it.entries, it.size = next, size
		if expires.After(it.expires) {
			it.expires = expires
			heap.Fix(&m.byExp, it.index)
		}
	}
	m.bytes += size
	m.evict()
	return next, nil
}

func (m *MemoryState) evict() {
	horizon := m.latest.Add(-stateHorizon)
	for m.byExp.Len() > 0 {
		oldest := m.byExp[0]
		if len(m.keys) <= m.maxKeys && m.bytes <= m.maxBytes && !oldest.expires.Before(horizon) {
			return
		}
		heap.Pop(&m.byExp)
		delete(m.keys, oldest.key)
		m.bytes -= oldest.size
	}
}

// Get implements State.
func (m *MemoryState) Get(ctx context.Context, key string) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if it := m.keys[key]; it != nil {
		return it.entries, nil
	}
	return nil, nil
}

// Stats reports the keys, entries and estimated bytes held, for
// benchmarks and logs.
func (m *MemoryState) Stats() (keys, entries int, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, it := range m.keys {
		entries += len(it.entries)
	}
	return len(m.keys), entries, m.bytes
}

type expHeap []*memItem

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *expHeap) Push(x any) {
	it := x.(*memItem)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *expHeap) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return it
}
