package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// Benchmarks. Pure:
//
//	go test ./handler/internal/store -run '^$' -bench 'BuildEntity|Batches' -benchmem
//
// Against Azurite (source /tmp/xw-azurite.env or run under .ci/run):
//
//	go test ./handler/internal/store -run '^$' -bench Upsert -benchtime 5x
//
// BenchmarkUpsert/store is UpsertRecords (DefaultParallelism transactions
// in flight), /store-sequential the same one transaction at a time, and
// /raw submits the same prebuilt entities with bare sequential aztables
// InsertReplace transactions: store-sequential/raw in rows/s is the cost
// of building entities and batching, store/raw the gain of parallelism.

func benchRecords(n int) []*audit.Record {
	recs := testRecords("srv1/db1/SqlDbAuditing_ServerAudit/2026-11-21/20_10_00_000_0.xel",
		time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC), n)
	for i, r := range recs {
		r.EventTime = r.EventTime.Add(-time.Duration(i) * 36 * time.Second) // ~1 s apart: one or two partitions
		r.Statement = strings.Repeat("SELECT name FROM sys.databases WHERE database_id > 4; ", 4)
	}
	return recs
}

func BenchmarkBuildEntity(b *testing.B) {
	rec := benchRecords(1)[0]
	e, err := BuildEntity("srv1", "db1", "blob", time.Now(), rec)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(e.JSON)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		e, err := buildEntity("srv1", "db1", "blob", "0123456789abcdef", time.Now(), rec, buf, layout{})
		if err != nil {
			b.Fatal(err)
		}
		buf = e.JSON[:0]
	}
}

func BenchmarkBatches(b *testing.B) {
	ents, err := BuildEntities("srv1", "db1", "blob", time.Now(), benchRecords(1000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(Batches(ents)) == 0 {
			b.Fatal("no batches")
		}
	}
}

func BenchmarkUpsert(b *testing.B) {
	const n = 1000
	recs := benchRecords(n)
	ctx := context.Background()
	// Each variant gets a fresh table: the emulator slows down as a table
	// grows, so sharing one would favour whichever runs first.
	upsert := func(par int) func(b *testing.B) {
		return func(b *testing.B) {
			s := newTestStore(b)
			s.SetParallelism(par)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.UpsertRecords(ctx, "srv1", "db1", "blob", recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		}
	}
	b.Run("store", upsert(DefaultParallelism))
	b.Run("store-sequential", upsert(1))
	b.Run("raw", func(b *testing.B) {
		s := newTestStore(b)
		ents, err := BuildEntities("srv1", "db1", "blob", time.Now(), recs)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			var actions []aztables.TransactionAction
			flush := func() {
				if len(actions) == 0 {
					return
				}
				if _, err := s.EventsClient().SubmitTransaction(ctx, actions, nil); err != nil {
					b.Fatal(err)
				}
				actions = actions[:0]
			}
			pk := ""
			for _, e := range ents {
				if e.PartitionKey != pk || len(actions) == MaxBatchOps {
					flush()
					pk = e.PartitionKey
				}
				actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: e.JSON})
			}
			flush()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
