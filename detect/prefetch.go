package detect

import (
	"context"
	"sync"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// Prefetcher is a State that can read many keys at once ahead of their
// use (a remote store: store.State reads them concurrently into its
// cache). It is an optimisation only: what a later Get returns is what
// it would have returned anyway, within the State's own read freshness.
type Prefetcher interface {
	Prefetch(ctx context.Context, keys []string) error
}

// Prefetch reads ahead the state keys that evaluating recs (in order)
// will look at, when the Engine's State is a Prefetcher; otherwise it
// does nothing. The keys are found by a dry run: the records are
// evaluated on a copy of the Engine whose State records the keys and
// holds nothing, whose baseline memo is its own and whose extensions are
// left out, so the run changes nothing the real evaluation sees. A key
// the dry run misses (one that only a stored entry leads to) is read
// when it is needed, as without a prefetch. Errors of the prefetch are
// the State's to report; the evaluation reads again what failed.
func (e *Engine) Prefetch(ctx context.Context, recs []*audit.Record) error {
	pf, ok := e.state.(Prefetcher)
	if !ok || len(recs) == 0 {
		return nil
	}
	keys := e.stateKeys(ctx, recs)
	if len(keys) == 0 {
		return nil
	}
	return pf.Prefetch(ctx, keys)
}

// stateKeys is the dry run of Prefetch: the keys read or written while
// evaluating recs on an empty, throw-away State, in first-use order.
func (e *Engine) stateKeys(ctx context.Context, recs []*audit.Record) []string {
	kr := &keyRecorder{seen: map[string]bool{}}
	dry := *e
	dry.state, dry.memo, dry.ext = kr, newBasMemo(), nil
	d := dry.Deferred() // the batch's own writes stay in its overlay
	for _, rec := range recs {
		if ctx.Err() != nil {
			break
		}
		_, _ = d.Evaluate(ctx, rec) // findings and errors of the dry run are not wanted
	}
	return kr.keys
}

// keyRecorder is a State that holds nothing and remembers which keys
// were asked for.
type keyRecorder struct {
	mu   sync.Mutex
	seen map[string]bool
	keys []string
}

func (k *keyRecorder) note(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.seen[key] {
		k.seen[key] = true
		k.keys = append(k.keys, key)
	}
}

func (k *keyRecorder) Get(_ context.Context, key string) ([]Entry, error) {
	k.note(key)
	return nil, nil
}

func (k *keyRecorder) Update(_ context.Context, key string, _ time.Time, fn func([]Entry) []Entry) ([]Entry, error) {
	k.note(key)
	return fn(nil), nil
}
