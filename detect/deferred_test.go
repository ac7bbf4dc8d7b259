package detect

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// recordingState logs the keys written.
type recordingState struct {
	State
	writes []string
}

func (r *recordingState) Update(ctx context.Context, key string, exp time.Time, fn func([]Entry) []Entry) ([]Entry, error) {
	r.writes = append(r.writes, key)
	return r.State.Update(ctx, key, exp, fn)
}

func TestDeferredHoldsWritesUntilCommit(t *testing.T) {
	ctx := context.Background()
	st := &recordingState{State: NewMemoryState()}
	e := mustEngine(t, testConfig(t), st)
	d := e.Deferred()
	story := attackStory()
	var got []string
	for i := range story {
		fs, err := d.Evaluate(ctx, &story[i])
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(fs)...)
	}
	// The batch sees its own writes: the whole story is found.
	if want := ids(run(t, testConfig(t), attackStory())); !slices.Equal(got, want) {
		t.Errorf("deferred findings = %q, want %q", got, want)
	}
	if len(st.writes) != 0 {
		t.Fatalf("state written before Commit: %q", st.writes)
	}
	pending := d.Pending()
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if len(st.writes) != pending || pending == 0 {
		t.Errorf("Commit wrote %d keys, want the %d pending, once each", len(st.writes), pending)
	}
	// Decisions first: claims, then the attack marks, then the rest.
	rank := func(k string) int { return commitRank(k) }
	if !slices.IsSortedFunc(st.writes, func(a, b string) int { return rank(a) - rank(b) }) || rank(st.writes[0]) != 0 {
		t.Errorf("commit order %q: want claims, then marks, then windows", st.writes)
	}
	// A second batch replaying the same records changes nothing: nothing
	// to write, and no new finding.
	st.writes = nil
	d = e.Deferred()
	story = attackStory()
	for i := range story {
		fs, err := d.Evaluate(ctx, &story[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids(fs) {
			if !slices.Contains(got, id) {
				t.Errorf("replay found new %s", id)
			}
		}
	}
	if err := d.Commit(ctx); err != nil || len(st.writes) != 0 {
		t.Errorf("replay committed %q (%v), want nothing", st.writes, err)
	}
}

// TestDeferredCommitOnNewerState: another instance claimed the throttle
// window while a batch held its own claim back; Commit re-applies the
// batch's update on what the State holds then and keeps the other claim,
// after the evaluator that made it has moved on to other records.
func TestDeferredCommitOnNewerState(t *testing.T) {
	ctx := context.Background()
	st := NewMemoryState()
	e := mustEngine(t, testConfig(t), st)
	d := e.Deferred()
	mine := rec("DBAF", "DB", "", failed, ip("203.0.113.50"))
	mine.FileName, mine.AuditFileOffset = "a.xel", 4096
	if fs, _ := d.Evaluate(ctx, &mine); len(summary(fs, "AUTH-004")) != 1 {
		t.Fatalf("batch findings %q, want AUTH-004", ids(fs))
	}
	other := rec("DBAF", "DB", "", failed, ip("203.0.113.50"), at(time.Minute))
	other.FileName, other.AuditFileOffset = "b.xel", 4096
	if fs, _ := e.Evaluate(ctx, &other); len(summary(fs, "AUTH-004")) != 1 {
		t.Fatalf("other instance findings %q, want AUTH-004", ids(fs))
	}
	for i := range 50 { // reuse the evaluator's scratch
		r := rec("DBAF", "DB", "", failed, ip("10.9.9.9"), at(time.Duration(i)*time.Second))
		r.FileName, r.AuditFileOffset = "c.xel", int64(4096*(i+1))
		if _, err := e.Evaluate(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var holders []string
	for k := range st.keys {
		if strings.HasPrefix(k, claimPrefix+"auth-004|") {
			for _, h := range st.keys[k].entries {
				holders = append(holders, h.ID)
			}
		}
	}
	if want := []string{recordID("b.xel", 4096, 0)}; !slices.Equal(holders, want) {
		t.Errorf("AUTH-004 holders after Commit = %q, want the other instance's %q", holders, want)
	}
}

// batchState is a BatchState over a MemoryState that records the keys of
// each UpdateMany and fails the one of failKey.
type batchState struct {
	*MemoryState
	failKey string
	calls   [][]string
}

func (b *batchState) UpdateMany(ctx context.Context, ups []KeyUpdate) error {
	var keys []string
	for _, u := range ups {
		keys = append(keys, u.Key)
	}
	b.calls = append(b.calls, keys)
	for _, u := range ups {
		if u.Key == b.failKey {
			return errors.New("table down for " + u.Key)
		}
		if _, err := b.MemoryState.Update(ctx, u.Key, u.Expires, u.Fn); err != nil {
			return err
		}
	}
	return nil
}

// TestDeferredBatchCommit: a BatchState gets the batch's writes in one
// UpdateMany per commit rank (claims, marks, the rest, in that order) and
// ends with the same state as a one-by-one commit; a failed key's error
// is the one returned.
func TestDeferredBatchCommit(t *testing.T) {
	ctx := context.Background()
	commit := func(st State) error {
		t.Helper()
		d := mustEngine(t, testConfig(t), st).Deferred()
		story := attackStory()
		for i := range story {
			if _, err := d.Evaluate(ctx, &story[i]); err != nil {
				t.Fatal(err)
			}
		}
		return d.Commit(ctx)
	}
	seq := &recordingState{State: NewMemoryState()}
	if err := commit(seq); err != nil {
		t.Fatal(err)
	}
	bat := &batchState{MemoryState: NewMemoryState()}
	if err := commit(bat); err != nil {
		t.Fatal(err)
	}
	var written []string
	for i, c := range bat.calls {
		written = append(written, c...)
		if i > 0 && commitRank(c[0]) <= commitRank(bat.calls[i-1][0]) {
			t.Errorf("UpdateMany %d (%q) after one of the same or a later rank", i, c)
		}
		for _, k := range c {
			if commitRank(k) != commitRank(c[0]) {
				t.Errorf("UpdateMany %d mixes ranks: %q", i, c)
			}
		}
	}
	if len(bat.calls) > 3 || len(written) < 4 || len(written) > len(seq.writes) {
		t.Fatalf("%d UpdateMany calls writing %d keys; one by one wrote %d", len(bat.calls), len(written), len(seq.writes))
	}
	for _, k := range seq.writes {
		want, _ := seq.State.Get(ctx, k)
		got, _ := bat.Get(ctx, k)
		if !slices.EqualFunc(got, want, func(a, b Entry) bool { return a.ID == b.ID && a.Value == b.Value && a.Time.Equal(b.Time) }) {
			t.Errorf("key %s: batched %v, one by one %v", k, got, want)
		}
	}

	// A failing key: its error comes back.
	bad := &batchState{MemoryState: NewMemoryState(), failKey: written[len(written)-1]}
	if err := commit(bad); err == nil || !strings.Contains(err.Error(), "table down for "+bad.failKey) {
		t.Errorf("commit with a failing key: %v", err)
	}
}

// prefetchState is a MemoryState that is a Prefetcher: it records the
// keys prefetched and the keys the evaluation then reads.
type prefetchState struct {
	*MemoryState
	mu         sync.Mutex
	prefetched []string
	read       []string
}

func (p *prefetchState) Prefetch(_ context.Context, keys []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prefetched = append(p.prefetched, keys...)
	return nil
}

func (p *prefetchState) Get(ctx context.Context, key string) ([]Entry, error) {
	p.mu.Lock()
	p.read = append(p.read, key)
	p.mu.Unlock()
	return p.MemoryState.Get(ctx, key)
}

// TestPrefetchIsADryRun: Prefetch hands the State the keys the batch's
// evaluation then reads, and changes nothing that evaluation finds.
func TestPrefetchIsADryRun(t *testing.T) {
	ctx := context.Background()
	story := attackStory()
	recs := make([]*audit.Record, len(story))
	for i := range story {
		recs[i] = &story[i]
	}
	st := &prefetchState{MemoryState: NewMemoryState()}
	e := mustEngine(t, testConfig(t), st)
	if err := e.Prefetch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if len(st.read) != 0 {
		t.Fatalf("the dry run read the real State: %q", st.read)
	}
	d := e.Deferred()
	var got []string
	for _, rec := range recs {
		fs, err := d.Evaluate(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(fs)...)
	}
	if want := ids(run(t, testConfig(t), attackStory())); !slices.Equal(got, want) {
		t.Errorf("findings after a prefetch = %q, want %q", got, want)
	}
	if len(st.read) == 0 {
		t.Fatal("the evaluation read no state: the test proves nothing")
	}
	for _, k := range st.read {
		if !slices.Contains(st.prefetched, k) {
			t.Errorf("key %q was read but not prefetched (prefetched %d keys)", k, len(st.prefetched))
		}
	}
}
