package detect

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// Deferred evaluates records like its Engine but holds back the writes
// to the State until Commit: its own records see them at once, the State
// (other evaluators, other instances) only after Commit. A pipeline uses
// one Deferred per batch of records and commits after the batch's
// findings are safely recorded, so a batch that fails (storage down, a
// crash) leaves no trace in the State, and its retry evaluates it
// against exactly the State it first saw: it gives the same findings.
// Records whose findings were already recorded may be evaluated again
// after a failure too; causal evaluation (see the package documentation)
// makes them yield no finding an uninterrupted run would not.
//
// A Deferred is for one goroutine at a time; discard it (do not Commit)
// after a failed batch.
type Deferred struct {
	e  Engine
	ov *overlay
}

// Deferred returns an evaluator that buffers the state writes of e.
func (e *Engine) Deferred() *Deferred {
	ov := &overlay{base: e.state, keys: map[string]*pendingKey{}}
	d := &Deferred{e: *e, ov: ov}
	d.e.state = ov
	// The baselines' memo tells what the State holds: the batch's own,
	// so that a batch discarded after a failure leaves nothing in it.
	d.e.memo = newBasMemo()
	return d
}

// Evaluate is Engine.Evaluate with the writes held back.
func (d *Deferred) Evaluate(ctx context.Context, rec *audit.Record) ([]Finding, error) {
	return d.e.Evaluate(ctx, rec)
}

// Commit applies the held-back writes to the State, key by key: each
// key's updates are replayed, in order, on what the State holds then
// (another instance may have written meanwhile), under the State's own
// concurrency control. Keys whose entries the batch left unchanged are
// not written. After Commit (successful or not) the Deferred starts empty.
//
// What records decided is written first: the claims of windowed rules,
// then the AUTH-001/002 marks their holders left for AUTH-003; the
// windows and correlation entries after them (each group in the order
// the keys were first touched). A Commit that fails half-way may leave
// windows that later records of the batch pruned, but never without the
// decisions the batch made: a replay of the batch then finds each
// holder's claim and marks, and the blocker of each record a claim
// blocked, even where a pruned window no longer reaches the threshold
// (and while the decisions are incomplete, no window has been written,
// so the replay decides again exactly as the first evaluation did).
func (d *Deferred) Commit(ctx context.Context) error {
	ov := d.ov
	ov.mu.Lock()
	keys, order := ov.keys, ov.order
	ov.keys, ov.order = map[string]*pendingKey{}, nil
	ov.mu.Unlock()
	d.e.memo.clear() // it told what the overlay held

	for rank := range 3 {
		var todo []string
		for _, k := range order {
			pk := keys[k]
			if commitRank(k) != rank || len(pk.fns) == 0 || entriesEqual(pk.read, pk.cur) {
				continue
			}
			todo = append(todo, k)
		}
		if err := commitKeys(ctx, ov.base, keys, todo); err != nil {
			return fmt.Errorf("detect: commit state: %w", err)
		}
	}
	return nil
}

// commitKeys replays the held-back writes of todo (keys of one rank) on
// base: through UpdateMany when base is a BatchState (a remote store
// writes them in a few transactions), else one by one in todo's order.
// It returns the first error.
func commitKeys(ctx context.Context, base State, keys map[string]*pendingKey, todo []string) error {
	replay := func(k string) func([]Entry) []Entry {
		fns := keys[k].fns
		return func(cur []Entry) []Entry {
			for _, fn := range fns {
				cur = fn(cur)
			}
			return cur
		}
	}
	if bs, ok := base.(BatchState); ok && len(todo) > 1 {
		ups := make([]KeyUpdate, len(todo))
		for i, k := range todo {
			ups[i] = KeyUpdate{Key: k, Expires: keys[k].expires, Fn: replay(k)}
		}
		return bs.UpdateMany(ctx, ups)
	}
	for _, k := range todo {
		if _, err := base.Update(ctx, k, keys[k].expires, replay(k)); err != nil {
			return err
		}
	}
	return nil
}

// commitRank orders the keys of a Commit: claims, marks, the rest.
func commitRank(key string) int {
	switch {
	case strings.HasPrefix(key, claimPrefix):
		return 0
	case strings.HasPrefix(key, markPrefix):
		return 1
	}
	return 2
}

// Pending reports the keys with held-back writes.
func (d *Deferred) Pending() int {
	d.ov.mu.Lock()
	defer d.ov.mu.Unlock()
	n := 0
	for _, pk := range d.ov.keys {
		if len(pk.fns) > 0 && !entriesEqual(pk.read, pk.cur) {
			n++
		}
	}
	return n
}

// overlay is a State that reads through to base once per key and keeps
// its updates in memory.
type overlay struct {
	base  State
	mu    sync.Mutex
	keys  map[string]*pendingKey
	order []string
}

type pendingKey struct {
	read    []Entry // as base returned it
	cur     []Entry // after the updates
	expires time.Time
	fns     []func([]Entry) []Entry
}

func (o *overlay) load(ctx context.Context, key string) (*pendingKey, error) {
	o.mu.Lock()
	pk := o.keys[key]
	o.mu.Unlock()
	if pk != nil {
		return pk, nil
	}
	es, err := o.base.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	pk = &pendingKey{read: es, cur: es}
	o.mu.Lock()
	defer o.mu.Unlock()
	if prev := o.keys[key]; prev != nil {
		return prev, nil
	}
	o.keys[key] = pk
	o.order = append(o.order, key)
	return pk, nil
}

// Get implements State.
func (o *overlay) Get(ctx context.Context, key string) ([]Entry, error) {
	pk, err := o.load(ctx, key)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return pk.cur, nil
}

// Update implements State.
func (o *overlay) Update(ctx context.Context, key string, expires time.Time, fn func([]Entry) []Entry) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pk, err := o.load(ctx, key)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	next := fn(pk.cur)
	if len(next) > maxStateEntries {
		next = next[len(next)-maxStateEntries:]
	}
	pk.cur = next
	pk.fns = append(pk.fns, fn)
	if expires.After(pk.expires) {
		pk.expires = expires
	}
	return next, nil
}

// entriesEqual reports whether two entry lists hold the same entries.
func entriesEqual(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.ID != y.ID || x.Value != y.Value || !x.Time.Equal(y.Time) || x.Last != y.Last || (x.Evidence == nil) != (y.Evidence == nil) {
			return false
		}
		if x.Evidence != nil && x.Evidence != y.Evidence && !evidenceEqual(x.Evidence, y.Evidence) {
			return false
		}
	}
	return true
}

func evidenceEqual(a, b *Evidence) bool {
	x, y := *a, *b
	if !x.EventTime.Equal(y.EventTime) {
		return false
	}
	x.EventTime, y.EventTime = time.Time{}, time.Time{}
	return x == y
}
