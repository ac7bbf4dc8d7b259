package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestBatches(t *testing.T) {
	ent := func(pk, rk string, size int) Entity {
		return Entity{PartitionKey: pk, RowKey: rk, JSON: []byte(strings.Repeat("x", size))}
	}
	many := func(pk string, n, size int) []Entity {
		out := make([]Entity, n)
		for i := range out {
			out[i] = ent(pk, fmt.Sprintf("r%05d", i), size)
		}
		return out
	}
	tests := []struct {
		name  string
		in    []Entity
		sizes []int // operations per batch, in order
	}{
		{"empty", nil, nil},
		{"one", many("a", 1, 10), []int{1}},
		{"exactly 100", many("a", 100, 10), []int{100}},
		{"250 in one partition", many("a", 250, 10), []int{100, 100, 50}},
		{"two partitions interleaved", interleave(many("a", 150, 10), many("b", 30, 10)), []int{100, 50, 30}},
		{"payload bound", many("a", 10, 1<<20-1000), []int{3, 3, 3, 1}},
		{"duplicate row keys collapse", append(many("a", 5, 10), many("a", 5, 10)...), []int{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Batches(tt.in)
			var sizes []int
			for _, b := range got {
				sizes = append(sizes, len(b))
				payload := 0
				seen := map[string]bool{}
				for _, e := range b {
					if e.PartitionKey != b[0].PartitionKey {
						t.Fatalf("batch mixes partitions %q and %q", b[0].PartitionKey, e.PartitionKey)
					}
					if seen[e.RowKey] {
						t.Fatalf("batch repeats row key %q", e.RowKey)
					}
					seen[e.RowKey] = true
					payload += opSize(e)
				}
				if len(b) > MaxBatchOps || payload > MaxBatchPayload {
					t.Fatalf("batch of %d ops, %d bytes over the limits", len(b), payload)
				}
			}
			if fmt.Sprint(sizes) != fmt.Sprint(tt.sizes) {
				t.Fatalf("batch sizes %v, want %v", sizes, tt.sizes)
			}
		})
	}
}

func TestBatchesKeepsLastDuplicate(t *testing.T) {
	in := []Entity{
		{PartitionKey: "a", RowKey: "1", JSON: []byte("old")},
		{PartitionKey: "a", RowKey: "2", JSON: []byte("two")},
		{PartitionKey: "a", RowKey: "1", JSON: []byte("new")},
	}
	got := Batches(in)
	if len(got) != 1 || len(got[0]) != 2 {
		t.Fatalf("got %v", got)
	}
	if string(got[0][0].JSON) != "new" || string(got[0][1].JSON) != "two" {
		t.Fatalf("got %q, %q; want new, two", got[0][0].JSON, got[0][1].JSON)
	}
}

func interleave(a, b []Entity) []Entity {
	var out []Entity
	for len(a) > 0 || len(b) > 0 {
		if len(a) > 0 {
			out, a = append(out, a[0]), a[1:]
		}
		if len(b) > 0 {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

func TestUpsertEntitiesCanceled(t *testing.T) {
	// No server behind the endpoint: a canceled context must fail fast
	// without sending and report no rows.
	svc, err := NewServiceClientFromConnectionString("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
		"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
		"TableEndpoint=http://127.0.0.1:1/devstoreaccount1;")
	if err != nil {
		t.Fatal(err)
	}
	s := New(svc, Names{})
	ents, err := BuildEntities("s", "d", "b", time.Now(), testRecords("f", time.Unix(1e9, 0), 350))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	n, err := s.UpsertEntities(ctx, ents)
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Fatalf("UpsertEntities = %d, %v; want 0, context.Canceled", n, err)
	}
	if IsTransient(err) {
		t.Fatalf("cancellation reported as transient")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s", d)
	}
	if n, err := s.UpsertEntities(context.Background(), nil); n != 0 || err != nil {
		t.Fatalf("empty upsert = %d, %v", n, err)
	}
}

func TestAzuriteUpsertLargeRows(t *testing.T) {
	// Rows of ~900 KB: the in-flight byte bound must let each batch
	// through even though one batch exceeds a fair share of it.
	s := newTestStore(t)
	recs := testRecords("f.xel", time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC), 24)
	for _, r := range recs {
		r.Statement = strings.Repeat("ab", 225_000)
	}
	n, err := s.UpsertRecords(context.Background(), "s", "d", "b", recs)
	if err != nil || n != len(recs) {
		t.Fatalf("UpsertRecords = %d, %v; want %d", n, err, len(recs))
	}
}

// TestBatchesKeepsContinuationsWithTheirRow: a record's row and its
// continuation entities go into one transaction when they fit one, rather
// than straddle two (a row whose continuation transaction failed would be
// read back with its first piece only). Before, 99 rows and a row with 3
// continuation entities were cut after the 100th operation.
func TestBatchesKeepsContinuationsWithTheirRow(t *testing.T) {
	var in []Entity
	for i := range 99 {
		in = append(in, Entity{PartitionKey: "p", RowKey: fmt.Sprintf("r%03d", i), JSON: []byte("{}"), rec: i + 1, main: true})
	}
	big := fmt.Sprintf("r%03d", 99)
	in = append(in, Entity{PartitionKey: "p", RowKey: big, JSON: []byte("{}"), rec: 100, main: true})
	for c := 1; c <= 3; c++ {
		in = append(in, Entity{PartitionKey: "p", RowKey: chunkRowKey(big, "statement", c), JSON: []byte("{}"), rec: 100})
	}
	in = append(in, Entity{PartitionKey: "p", RowKey: "r100", JSON: []byte("{}"), rec: 101, main: true})
	got := Batches(in)
	var sizes []int
	for _, b := range got {
		sizes = append(sizes, len(b))
	}
	if fmt.Sprint(sizes) != "[99 5]" {
		t.Fatalf("batch sizes %v, want [99 5]: the row and its 3 continuation entities together", sizes)
	}
	if got[1][0].RowKey != big {
		t.Fatalf("second transaction starts with %s, want the row %s", got[1][0].RowKey, big)
	}
	// A record larger than one transaction is still split, in order.
	var huge []Entity
	huge = append(huge, Entity{PartitionKey: "p", RowKey: "r", JSON: []byte("{}"), rec: 1, main: true})
	for c := 1; c <= 150; c++ {
		huge = append(huge, Entity{PartitionKey: "p", RowKey: chunkRowKey("r", "statement", c), JSON: []byte("{}"), rec: 1})
	}
	sizes = sizes[:0]
	for _, b := range Batches(huge) {
		sizes = append(sizes, len(b))
	}
	if fmt.Sprint(sizes) != "[100 51]" {
		t.Fatalf("batch sizes of a 151-entity record %v, want [100 51]", sizes)
	}
}
