package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestPruneSomeBounded: a bounded prune deletes at most limit-1 entities
// per call (one request is the listing), continues the scan where the
// previous call stopped, and drains a backlog over several calls while
// keeping live entities. Then the scan starts over and finds what
// expired behind it.
func TestPruneSomeBounded(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	s := NewState(f, nil)
	for i := range 10 {
		if _, err := s.Update(ctx, fmt.Sprintf("old|%02d", i), t0, appendID("x")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := s.Update(ctx, fmt.Sprintf("live|%d", i), t0.Add(48*time.Hour), appendID("x")); err != nil {
			t.Fatal(err)
		}
	}
	const limit = 4
	total, calls := 0, 0
	for more := true; more; {
		before := f.calls["delete"] + f.calls["list"]
		n, m, err := s.PruneSome(ctx, t0.Add(time.Hour), limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.calls["delete"] + f.calls["list"] - before; got > limit {
			t.Fatalf("call %d made %d requests, limit %d", calls, got, limit)
		}
		total += n
		more = m
		if calls++; calls > 10 {
			t.Fatal("the backlog is never drained")
		}
	}
	if total != 10 || len(f.rows) != 3 {
		t.Fatalf("deleted %d in %d calls, %d rows left; want 10 and the 3 live ones", total, calls, len(f.rows))
	}
	// The live keys expire; the next scan starts from the beginning.
	n, more, err := s.PruneSome(ctx, t0.Add(72*time.Hour), limit)
	if err != nil || n != 3 || more {
		t.Errorf("second pass: %d deleted, more %v, err %v; want all 3", n, more, err)
	}
}

// TestPruneKeepsRefreshedEntity: another instance refreshes an expired key
// between the prune's listing and its delete; the delete is conditional
// on the listed ETag, so it fails and the refreshed entries stay.
func TestPruneKeepsRefreshedEntity(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	pruner, other := NewState(f, nil), NewState(f, nil)
	if _, err := other.Update(ctx, "fail|k", t0, appendID("old")); err != nil {
		t.Fatal(err)
	}
	f.onDelete = func(string, string) {
		f.onDelete = nil
		if _, err := other.Update(ctx, "fail|k", t0.Add(48*time.Hour), appendID("new")); err != nil {
			t.Error(err)
		}
	}
	n, _, err := pruner.PruneSome(ctx, t0.Add(time.Hour), 100)
	if err != nil || n != 0 {
		t.Fatalf("pruned %d (err %v), want 0: the entity was refreshed", n, err)
	}
	got, err := NewState(f, nil).Get(ctx, "fail|k")
	if err != nil || !slices.Equal(entryIDs(got), []string{"old", "new"}) {
		t.Errorf("after prune: %q, %v; want the refreshed entries", entryIDs(got), err)
	}
}

// TestPruneNeedsETag: an entity listed without an ETag is not deleted
// blindly (the old code deleted it unconditionally, which could drop an
// update another instance had just made).
func TestPruneNeedsETag(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	s := NewState(f, nil)
	if _, err := s.Update(ctx, "fail|k", t0, appendID("x")); err != nil {
		t.Fatal(err)
	}
	f.noETag = true
	if n, err := s.Prune(ctx, t0.Add(time.Hour)); err != nil || n != 0 || len(f.rows) != 1 || f.calls["delete"] != 0 {
		t.Errorf("pruned %d (err %v), %d deletes, %d rows left; want no unconditional delete", n, err, f.calls["delete"], len(f.rows))
	}
}
