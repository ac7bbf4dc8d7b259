package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/azclient"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
)

func updates(id string, keys ...string) []detect.KeyUpdate {
	ups := make([]detect.KeyUpdate, len(keys))
	for i, k := range keys {
		ups[i] = detect.KeyUpdate{Key: k, Expires: t0.Add(time.Hour), Fn: appendID(id)}
	}
	return ups
}

func mustIDs(t *testing.T, s *State, key string) []string {
	t.Helper()
	got, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return entryIDs(got)
}

// TestUpdateManyOneTransactionPerPartition: the keys of one kind go in
// one transaction (100 at most), each kind in its own; nothing is read
// first and nothing is written key by key.
func TestUpdateManyOneTransactionPerPartition(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	s := NewState(f, nil)
	var keys []string
	for i := range 130 {
		keys = append(keys, fmt.Sprintf("fail|10.0.0.%d", i))
	}
	keys = append(keys, "spray|10.0.0.1", "spray|10.0.0.2")
	if err := s.UpdateMany(ctx, updates("r1", keys...)); err != nil {
		t.Fatal(err)
	}
	if f.calls["batch"] != 3 || f.calls["get"]+f.calls["add"]+f.calls["update"] != 0 {
		t.Errorf("calls %v, want 3 batches (fail: 100 + 30, spray: 2) and nothing else", f.calls)
	}
	fresh := NewState(f, nil)
	for _, k := range keys {
		if got := mustIDs(t, fresh, k); !slices.Equal(got, []string{"r1"}) {
			t.Fatalf("%s: %q, want [r1]", k, got)
		}
	}
}

// TestUpdateManyRefusedFallsBack: a transaction refused because another
// instance wrote one of its keys (changed since this State's copy: 412;
// inserted although assumed absent: 409) writes nothing, and each of its
// keys then goes through Update: no write of either instance is lost.
func TestUpdateManyRefusedFallsBack(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	a, b := NewState(f, nil), NewState(f, nil)
	if err := a.UpdateMany(ctx, updates("a1", "k|changed", "k|other")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "k|changed"); err != nil { // a's copy, with its ETag
		t.Fatal(err)
	}
	if _, err := b.Update(ctx, "k|changed", t0.Add(time.Hour), appendID("b1")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Update(ctx, "k|inserted", t0.Add(time.Hour), appendID("b1")); err != nil {
		t.Fatal(err)
	}
	if err := a.UpdateMany(ctx, updates("a2", "k|changed", "k|other", "k|inserted")); err != nil {
		t.Fatal(err)
	}
	fresh := NewState(f, nil)
	for key, want := range map[string][]string{
		"k|changed":  {"a1", "b1", "a2"},
		"k|other":    {"a1", "a2"},
		"k|inserted": {"b1", "a2"},
	} {
		if got := mustIDs(t, fresh, key); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
}

// TestDeferredCommitsInBatches: an engine's deferred writes reach a
// table State as batch transactions.
func TestDeferredCommitsInBatches(t *testing.T) {
	ctx := context.Background()
	f := newFakeTable()
	e, err := detect.New(detect.DefaultConfig(), NewState(f, nil))
	if err != nil {
		t.Fatal(err)
	}
	d := e.Deferred()
	for i := range 20 {
		rec := recordFor("LGIF", "LX", "", time.Duration(i)*time.Second, int64(i))
		rec.Succeeded, rec.ClientIP = false, fmt.Sprintf("203.0.113.%d", i)
		rec.AdditionalInformation = "<action_info><error_code>18456</error_code><error_state>8</error_state></action_info>"
		if _, err := d.Evaluate(ctx, &rec); err != nil {
			t.Fatal(err)
		}
	}
	n := d.Pending()
	if n < 40 {
		t.Fatalf("%d keys pending, want at least two per failed login", n)
	}
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if f.calls["add"]+f.calls["update"] != 0 || f.calls["batch"] == 0 || 4*f.calls["batch"] > n {
		t.Errorf("calls %v for %d keys: want the writes in a few batches (one per partition and rank)", f.calls, n)
	}
}

func TestBatchETags(t *testing.T) {
	body := "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n" +
		"--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
		"HTTP/1.1 204 No Content\r\nETag: W/\"datetime'2026-12-04T05%3A00%3A00.1Z'\"\r\n\r\n\r\n" +
		"--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
		"HTTP/1.1 201 Created\r\nETag: W/\"datetime'2026-12-04T05%3A00%3A00.2Z'\"\r\nContent-Type: application/json\r\n\r\n{}\r\n" +
		"--changesetresponse_2--\r\n--batchresponse_1--\r\n"
	got, err := batchETags([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != `W/"datetime'2026-12-04T05%3A00%3A00.1Z'"` || got[1] != `W/"datetime'2026-12-04T05%3A00%3A00.2Z'"` {
		t.Errorf("ETags %q", got)
	}
	failed := strings.Replace(body, "HTTP/1.1 201 Created", "HTTP/1.1 409 Conflict", 1)
	for name, b := range map[string]string{"empty": "", "no boundary": "HTTP/1.1 200 OK\r\n", "truncated": body[:120], "failed operation": failed} {
		if got, err := batchETags([]byte(b)); err == nil {
			t.Errorf("%s: ETags %q, want an error", name, got)
		}
	}
}

// TestUpdateManyAzurite: instances writing the same keys in batches at
// once lose no entry, and a State's next batch of keys it wrote needs no
// read (the ETags come from the transaction's response).
func TestUpdateManyAzurite(t *testing.T) {
	ctx := context.Background()
	table := azuriteStateTable(t, "batchstate")
	keys := []string{"race|a", "race|b", "race|c", "other|a"}

	const writers, rounds = 3, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for w := range writers {
		s := NewState(table, &StateOptions{MaxAttempts: 200})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				if err := s.UpdateMany(ctx, updates(fmt.Sprintf("w%d-%d", w, r), keys...)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("UpdateMany: %v", err)
	}
	fresh := NewState(table, nil)
	for _, k := range keys {
		ids := mustIDs(t, fresh, k)
		slices.Sort(ids)
		if len(slices.Compact(ids)) != writers*rounds {
			t.Errorf("%s: %d distinct entries, want %d", k, len(ids), writers*rounds)
		}
	}

	counting := &countingClient{Client: table}
	s := NewState(counting, nil)
	mine := []string{"mine|1", "mine|2", "mine|3"}
	for r := range 3 {
		if err := s.UpdateMany(ctx, updates(fmt.Sprintf("r%d", r), mine...)); err != nil {
			t.Fatal(err)
		}
	}
	if counting.gets != 0 || counting.batches != 3 {
		t.Errorf("%d reads and %d batches for three batches of keys only this State writes, want 0 and 3", counting.gets, counting.batches)
	}
	for _, k := range mine {
		if got := mustIDs(t, fresh, k); !slices.Equal(got, []string{"r0", "r1", "r2"}) {
			t.Errorf("%s: %q, want [r0 r1 r2]", k, got)
		}
	}
}

// TestGroupReadAzurite: the group read's range filter on the service
// finds an address's keys (and only them), with ETags good for the next
// conditional write.
func TestGroupReadAzurite(t *testing.T) {
	ctx := context.Background()
	table := azuriteStateTable(t, "groupstate")
	group := []string{"fail|sql01|203.0.113.7", "spray|sql01|203.0.113.7", "failp|sql01|203.0.113.7|bob", "fired|auth-009|sql01|203.0.113.7|bob"}
	neighbours := []string{"fail|sql01|203.0.113.70", "fail|sql01|203.0.113.8", "failp|sql01|203.0.113.7x|bob"}
	if err := NewState(table, nil).UpdateMany(ctx, updates("w1", append(group[:2:2], neighbours...)...)); err != nil {
		t.Fatal(err)
	}
	counting := &countingClient{Client: table}
	s := NewState(counting, nil)
	if err := s.Prefetch(ctx, group); err != nil {
		t.Fatal(err)
	}
	if counting.gets != 0 {
		t.Errorf("%d reads by key after the group read, want 0", counting.gets)
	}
	for i, k := range group {
		want := []string(nil)
		if i < 2 {
			want = []string{"w1"}
		}
		if got := mustIDs(t, s, k); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if err := s.UpdateMany(ctx, updates("w2", group...)); err != nil {
		t.Fatal(err)
	}
	if counting.gets != 0 || counting.batches != 1 {
		t.Errorf("%d reads and %d batches to update the group, want 0 and 1", counting.gets, counting.batches)
	}
	fresh := NewState(table, nil)
	for i, k := range group {
		want := []string{"w2"}
		if i < 2 {
			want = []string{"w1", "w2"}
		}
		if got := mustIDs(t, fresh, k); !slices.Equal(got, want) {
			t.Errorf("after the update %s: %q, want %q", k, got, want)
		}
	}
}

// azuriteStateTable creates a state table on Azurite, with a client built
// as the app builds it (its transactions' responses are kept for their
// ETags), deleted after the test.
func azuriteStateTable(t *testing.T, prefix string) *aztables.Client {
	t.Helper()
	svc, err := azclient.Tables(azclient.Account{Name: "test", ConnectionString: azuritetest.ConnString(t)})
	if err != nil {
		t.Fatal(err)
	}
	table := svc.NewClient(azuritetest.Name(prefix))
	if err := EnsureStateTable(context.Background(), table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = table.Delete(context.Background(), nil) })
	return table
}

type countingClient struct {
	*aztables.Client
	mu            sync.Mutex
	gets, batches int
}

func (c *countingClient) GetEntity(ctx context.Context, pk, rk string, o *aztables.GetEntityOptions) (aztables.GetEntityResponse, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Client.GetEntity(ctx, pk, rk, o)
}

func (c *countingClient) SubmitTransaction(ctx context.Context, a []aztables.TransactionAction, o *aztables.SubmitTransactionOptions) (aztables.TransactionResponse, error) {
	c.mu.Lock()
	c.batches++
	c.mu.Unlock()
	return c.Client.SubmitTransaction(ctx, a, o)
}
