package detect

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
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
