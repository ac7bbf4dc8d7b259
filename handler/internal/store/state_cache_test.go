package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestCacheSavesReads(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	s := NewState(f, nil)
	for i := range 5 {
		if _, err := s.Update(ctx, "fail|sql01|10.0.0.1", t0.Add(time.Hour), appendID(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(ctx, "fail|sql01|10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0", "1", "2", "3", "4"}; !slices.Equal(entryIDs(got), want) {
		t.Errorf("entries = %q, want %q", entryIDs(got), want)
	}
	// A new key is inserted without a read; every later update writes
	// under the ETag of the previous write; the Get is answered from it.
	if f.calls["get"] != 0 || f.calls["add"] != 1 || f.calls["update"] != 4 {
		t.Errorf("calls = %v, want get 0, add 1, update 4", f.calls)
	}
}

// TestUnseenExistingKey: a key another instance created is not lost by
// the insert-first guess: the insert fails, Update reads and merges.
func TestUnseenExistingKey(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	if _, err := NewState(f, nil).Update(ctx, "k|1", t0.Add(time.Hour), appendID("other")); err != nil {
		t.Fatal(err)
	}
	s := NewState(f, &StateOptions{MaxAttempts: 1})
	got, err := s.Update(ctx, "k|1", t0.Add(time.Hour), appendID("mine"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"other", "mine"}; !slices.Equal(entryIDs(got), want) {
		t.Errorf("Update returned %q, want %q", entryIDs(got), want)
	}
	got, _ = NewState(f, nil).Get(ctx, "k|1")
	if want := []string{"other", "mine"}; !slices.Equal(entryIDs(got), want) {
		t.Errorf("stored %q, want %q", entryIDs(got), want)
	}
}

// TestStaleCopyRereads: another instance changed the entity after this
// one cached it. The write under the old ETag fails, Update reads afresh
// and loses nothing, and the stale copy does not count as contention.
func TestStaleCopyRereads(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	a, b := NewState(f, &StateOptions{MaxAttempts: 1}), NewState(f, &StateOptions{MaxAttempts: 1})
	steps := []struct {
		s  *State
		id string
	}{{a, "a1"}, {b, "b1"}, {a, "a2"}, {b, "b2"}, {b, "b3"}, {a, "a3"}}
	for _, st := range steps {
		if _, err := st.s.Update(ctx, "k|1", t0.Add(time.Hour), appendID(st.id)); err != nil {
			t.Fatalf("Update %s: %v", st.id, err)
		}
	}
	f.calls = map[string]int{}
	got, err := NewState(f, nil).Get(ctx, "k|1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a1", "b1", "a2", "b2", "b3", "a3"}; !slices.Equal(entryIDs(got), want) {
		t.Errorf("entries = %q, want %q", entryIDs(got), want)
	}
}

// TestReadTTL: Get answers from the copy for ReadTTL, then reads again;
// the State's own writes are seen at once.
func TestReadTTL(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	clk := &clock{t: t0}
	a := NewState(f, &StateOptions{ReadTTL: time.Second, Now: clk.Now})
	b := NewState(f, nil)
	if got, _ := a.Get(ctx, "k|1"); got != nil {
		t.Fatalf("absent key = %v", got)
	}
	if _, err := b.Update(ctx, "k|1", t0.Add(time.Hour), appendID("b1")); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Get(ctx, "k|1"); got != nil {
		t.Errorf("within ReadTTL: %q, want the cached absence", entryIDs(got))
	}
	clk.Add(1500 * time.Millisecond)
	if got, _ := a.Get(ctx, "k|1"); !slices.Equal(entryIDs(got), []string{"b1"}) {
		t.Errorf("after ReadTTL: %q, want [b1]", entryIDs(got))
	}
	if _, err := a.Update(ctx, "k|1", t0.Add(time.Hour), appendID("a1")); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Get(ctx, "k|1"); !slices.Equal(entryIDs(got), []string{"b1", "a1"}) {
		t.Errorf("own write: %q, want [b1 a1]", entryIDs(got))
	}

	off := NewState(f, &StateOptions{ReadTTL: -1})
	_, _ = off.Get(ctx, "k|1")
	n := f.calls["get"]
	_, _ = off.Get(ctx, "k|1")
	if f.calls["get"] != n+1 {
		t.Errorf("ReadTTL < 0 still answered from the cache")
	}
}

func TestCacheBounded(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	s := NewState(f, &StateOptions{CacheBytes: 4 << 10})
	for i := range 200 {
		if _, err := s.Update(ctx, fmt.Sprintf("k|%d", i), t0.Add(time.Hour), appendID("x")); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		n, total := 0, 0
		for _, c := range s.cache {
			n++
			total += c.size
		}
		bytes := s.cacheBytes
		s.mu.Unlock()
		if total != bytes || bytes > 4<<10 {
			t.Fatalf("after %d keys: cache holds %d bytes (accounted %d) in %d keys, bound 4096", i+1, total, bytes, n)
		}
	}
}

// TestConcurrentCachedWriters: writers on two States (two instances) and
// several goroutines each, all on one key: no entry is lost.
func TestConcurrentCachedWriters(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	states := []*State{NewState(f, &StateOptions{MaxAttempts: 1000}), NewState(f, &StateOptions{MaxAttempts: 1000})}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, s := range states {
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range 10 {
					if _, err := s.Update(ctx, "race|k", t0.Add(time.Hour), appendID(fmt.Sprintf("%d-%d-%d", i, g, n))); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := NewState(f, nil).Get(ctx, "race|k")
	if err != nil {
		t.Fatal(err)
	}
	ids := entryIDs(got)
	slices.Sort(ids)
	if len(slices.Compact(ids)) != 60 {
		t.Errorf("%d distinct entries, want 60", len(ids))
	}
}

// TestPrefetchWarmsTheCache: the keys read ahead (present or absent) are
// answered from memory by the Gets that follow; keys already fresh are
// not read again; with the cache off nothing is read ahead.
func TestPrefetchWarmsTheCache(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	if _, err := NewState(f, nil).Update(ctx, "fail|sql01|10.0.0.1", t0.Add(time.Hour), appendID("a")); err != nil {
		t.Fatal(err)
	}
	s := NewState(f, nil)
	f.calls = map[string]int{}
	keys := []string{"fail|sql01|10.0.0.1", "fail|sql01|10.0.0.2", "spray|sql01|10.0.0.3"}
	if err := s.Prefetch(ctx, keys); err != nil {
		t.Fatal(err)
	}
	if f.calls["get"] != 3 {
		t.Fatalf("prefetch made %d reads, want 3", f.calls["get"])
	}
	for _, k := range keys {
		got, err := s.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if want := k == keys[0]; (len(got) == 1) != want {
			t.Errorf("Get(%s) = %v after the prefetch", k, got)
		}
	}
	if err := s.Prefetch(ctx, keys); err != nil {
		t.Fatal(err)
	}
	if f.calls["get"] != 3 {
		t.Errorf("reads = %d after Gets and a second prefetch of fresh keys, want still 3", f.calls["get"])
	}

	off := NewState(f, &StateOptions{ReadTTL: -1})
	f.calls = map[string]int{}
	if err := off.Prefetch(ctx, keys); err != nil || f.calls["get"] != 0 {
		t.Errorf("prefetch with the cache off: %v, %d reads", err, f.calls["get"])
	}
}

// TestPrefetchReadsAGroupAtOnce: the keys of one address wanted together
// are read with one range query — absent ones known absent, present ones
// with their entries and ETags (the next update needs no read) — while
// keys of no group are read by key, and a group larger than a page is
// completed key by key.
func TestPrefetchReadsAGroupAtOnce(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	other := NewState(f, nil)
	for _, k := range []string{"fail|sql01|203.0.113.7", "fired|auth-009|sql01|203.0.113.7|bob"} {
		if _, err := other.Update(ctx, k, t0.Add(time.Hour), appendID("earlier")); err != nil {
			t.Fatal(err)
		}
	}
	group := []string{"fail|sql01|203.0.113.7", "spray|sql01|203.0.113.7", "failp|sql01|203.0.113.7|bob",
		"crederr|sql01|203.0.113.7|bob", "fired|auth-009|sql01|203.0.113.7|bob"}
	fresh := append([]string{}, group...)
	for i := range 3 { // a new address: nothing stored
		fresh = append(fresh, fmt.Sprintf("fail|sql01|198.51.100.%d", i), fmt.Sprintf("spray|sql01|198.51.100.%d", i))
	}
	keys := append(fresh, "backup|sql01|db")
	s := NewState(f, nil)
	f.calls = map[string]int{}
	if err := s.Prefetch(ctx, keys); err != nil {
		t.Fatal(err)
	}
	if f.calls["list"] != 4 || f.calls["get"] != 1 {
		t.Fatalf("prefetch: %v, want 4 group reads and 1 read by key", f.calls)
	}
	for _, k := range keys {
		got, err := s.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		want := []string(nil)
		if k == group[0] || k == group[4] {
			want = []string{"earlier"}
		}
		if !slices.Equal(entryIDs(got), want) {
			t.Errorf("Get(%s) = %q, want %q", k, entryIDs(got), want)
		}
		if _, err := s.Update(ctx, k, t0.Add(time.Hour), appendID("now")); err != nil {
			t.Fatal(err)
		}
	}
	if f.calls["list"] != 4 || f.calls["get"] != 1 || f.calls["add"]+f.calls["update"] != len(keys) {
		t.Errorf("after Gets and Updates: %v, want no further read (ETags from the group read) and one write a key", f.calls)
	}

	// A group over a page: what the page did not hold is read by key.
	big := NewState(f, nil)
	var many []string
	for i := range groupPageSize + 8 {
		k := fmt.Sprintf("failp|sql01|192.0.2.1|user%02d", i)
		many = append(many, k)
		if _, err := other.Update(ctx, k, t0.Add(time.Hour), appendID(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	f.calls = map[string]int{}
	if err := big.Prefetch(ctx, many); err != nil {
		t.Fatal(err)
	}
	if f.calls["list"] != 1 || f.calls["get"] != 8 {
		t.Errorf("prefetch of a group of %d: %v, want 1 group read and 8 reads by key", len(many), f.calls)
	}
	for i, k := range many {
		if got, _ := big.Get(ctx, k); !slices.Equal(entryIDs(got), []string{fmt.Sprint(i)}) {
			t.Errorf("Get(%s) = %q", k, entryIDs(got))
		}
	}

	// A listed entity this State cannot use (no ETag) is read by key,
	// never taken for absent.
	f.noETag = true
	blind := NewState(f, nil)
	f.calls = map[string]int{}
	if err := blind.Prefetch(ctx, group); err != nil {
		t.Fatal(err)
	}
	if f.calls["list"] != 1 || f.calls["get"] != 5 {
		t.Errorf("prefetch with entities listed without ETags: %v, want 1 group read and the 5 keys read by key", f.calls)
	}
	if got, _ := blind.Get(ctx, group[0]); !slices.Equal(entryIDs(got), []string{"earlier", "now"}) {
		t.Errorf("Get(%s) = %q, want [earlier now]", group[0], entryIDs(got))
	}
}
