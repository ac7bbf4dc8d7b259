package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// Transaction limits of the service.
const (
	// MaxBatchOps is the most operations in one transaction.
	MaxBatchOps = 100
	// MaxBatchPayload is the budget for one transaction's request body;
	// the service limit is 4 MiB, the margin covers multipart framing we
	// estimate rather than measure.
	MaxBatchPayload = 4<<20 - 64<<10
	// opOverhead estimates one operation's multipart headers and request
	// line beyond its JSON body and (URL-escaped, so up to 3×) keys.
	opOverhead = 512
)

// opSize estimates the bytes one InsertReplace operation adds to a batch
// request body.
func opSize(e Entity) int {
	return len(e.JSON) + opOverhead + 3*(len(e.PartitionKey)+len(e.RowKey))
}

// Batches groups entities into transactions: one PartitionKey each, at
// most MaxBatchOps operations and MaxBatchPayload estimated bytes, and
// each RowKey at most once (a later entity with the same keys replaces an
// earlier one, as sequential upserts would). Partitions appear in order of
// first appearance; entities keep their order within a partition.
func Batches(entities []Entity) [][]Entity {
	type part struct {
		items []Entity
		index map[string]int
	}
	var order []string
	parts := map[string]*part{}
	for _, e := range entities {
		p := parts[e.PartitionKey]
		if p == nil {
			p = &part{index: map[string]int{}}
			parts[e.PartitionKey] = p
			order = append(order, e.PartitionKey)
		}
		if i, ok := p.index[e.RowKey]; ok {
			p.items[i] = e
			continue
		}
		p.index[e.RowKey] = len(p.items)
		p.items = append(p.items, e)
	}
	var out [][]Entity
	for _, pk := range order {
		items := parts[pk].items
		var cur []Entity
		size := 0
		for _, e := range items {
			n := opSize(e)
			if len(cur) > 0 && (len(cur) == MaxBatchOps || size+n > MaxBatchPayload) {
				out = append(out, cur)
				cur, size = nil, 0
			}
			cur = append(cur, e)
			size += n
		}
		if len(cur) > 0 {
			out = append(out, cur)
		}
	}
	return out
}

// BuildEntities builds the entities of recs (see BuildEntity) with one
// ingestion time; nil records are skipped.
func BuildEntities(server, database, blob string, ingestedAt time.Time, recs []*audit.Record) ([]Entity, error) {
	entities := make([]Entity, 0, len(recs))
	var lastFile, lastHash string
	for _, rec := range recs {
		if rec == nil {
			continue
		}
		file := rec.FileName
		if file == "" {
			file = blob
		}
		if file != lastFile || lastHash == "" {
			lastFile, lastHash = file, FileHash(file)
		}
		e, err := buildEntity(server, database, blob, lastHash, ingestedAt, rec, nil)
		if err != nil {
			return nil, err
		}
		entities = append(entities, e)
	}
	return entities, nil
}

// UpsertRecords writes one AuditEvents row per record, replacing rows with
// the same keys, and returns how many rows were written. server and
// database come from the blob path (the record's columns are the fallback
// when empty); blob is recorded with each row. Replaying the same records
// writes the same keys: the operation is idempotent.
//
// A record that cannot fit one entity (a reassembled statement of more
// than about 500,000 characters) is not cut: the other records are stored
// and the error then wraps ErrTooLarge and one *RecordError per such
// record, so the caller can mark the blob failed at that record's offset.
// On any other error the count says how many rows were stored (in whole
// transactions); run it again to finish.
func (s *Store) UpsertRecords(ctx context.Context, server, database, blob string, recs []*audit.Record) (int, error) {
	now := s.now()
	entities := make([]Entity, 0, len(recs))
	var tooLarge []error
	var lastFile, lastHash string
	for _, rec := range recs {
		if rec == nil {
			continue
		}
		file := rec.FileName
		if file == "" {
			file = blob
		}
		if file != lastFile || lastHash == "" {
			lastFile, lastHash = file, FileHash(file)
		}
		e, err := buildEntity(server, database, blob, lastHash, now, rec, nil)
		if err != nil {
			tooLarge = append(tooLarge, &RecordError{FileName: file, AuditFileOffset: rec.AuditFileOffset, EventIndex: rec.EventIndex, Err: err})
			continue
		}
		entities = append(entities, e)
	}
	n, err := s.UpsertEntities(ctx, entities)
	if err != nil {
		return n, err
	}
	if len(tooLarge) > 0 {
		return n, fmt.Errorf("store: upsert rows: %d of %d records too large to store: %w", len(tooLarge), len(recs), errors.Join(tooLarge...))
	}
	return n, nil
}

// RecordError is a record UpsertRecords could not store.
type RecordError struct {
	FileName        string
	AuditFileOffset int64
	EventIndex      int
	Err             error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record at %s offset %d index %d: %v", e.FileName, e.AuditFileOffset, e.EventIndex, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// DefaultParallelism is how many transactions UpsertRecords keeps in
// flight at once.
const DefaultParallelism = 4

// maxInFlight bounds the request bodies of concurrent transactions, so
// that large rows do not multiply memory by the parallelism; memUnit is
// the granularity of that bound.
const (
	maxInFlight = 8 << 20
	memUnit     = 64 << 10
)

// SetParallelism sets how many transactions UpsertRecords and
// UpsertEntities keep in flight (n < 1 means 1). Call it before the Store
// is shared.
func (s *Store) SetParallelism(n int) {
	s.parallel = max(n, 1)
}

// UpsertEntities writes prepared entities with InsertReplace transactions
// (see Batches), up to the Store's parallelism at a time, and returns how
// many were written. The batches are disjoint, so their order does not
// matter; the first failure cancels the batches not yet sent.
func (s *Store) UpsertEntities(ctx context.Context, entities []Entity) (int, error) {
	return s.upsertInto(ctx, s.events, "rows", entities)
}

// upsertInto is UpsertEntities into table c; what names the entities in
// errors.
func (s *Store) upsertInto(ctx context.Context, c *aztables.Client, what string, entities []Entity) (int, error) {
	batches := Batches(entities)
	if len(batches) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		written  atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	fail := func(err error) {
		once.Do(func() {
			firstErr = err
			cancel()
		})
	}
	// Two bounds on what is in flight: DefaultParallelism transactions,
	// and maxInFlight bytes of request bodies (the SDK holds a few copies
	// of each body), taken in memUnit tokens. Only this loop acquires, so
	// partial acquisition cannot deadlock.
	sem := make(chan struct{}, max(s.parallel, 1))
	mem := make(chan struct{}, maxInFlight/memUnit)
	acquire := func(n int) bool {
		for range n {
			select {
			case mem <- struct{}{}:
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
loop:
	for _, batch := range batches {
		units := 0
		for _, e := range batch {
			units += opSize(e)
		}
		units = min(max(units/memUnit, 1), cap(mem))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		if !acquire(units) {
			// Canceled: tokens taken for this batch are simply
			// dropped with the channels of this call.
			break loop
		}
		wg.Go(func() {
			defer func() {
				for range units {
					<-mem
				}
				<-sem
			}()
			if err := submit(ctx, c, what, batch); err != nil {
				fail(err)
				return
			}
			written.Add(int64(len(batch)))
		})
	}
	wg.Wait()
	total := 0
	for _, b := range batches {
		total += len(b)
	}
	if firstErr == nil && int(written.Load()) < total && ctx.Err() != nil {
		// The caller's context ended before every batch was sent.
		firstErr = fmt.Errorf("store: upsert rows: %w", context.Cause(ctx))
	}
	return int(written.Load()), firstErr
}

// submit sends one batch as an InsertReplace transaction.
func submit(ctx context.Context, c *aztables.Client, what string, batch []Entity) error {
	actions := make([]aztables.TransactionAction, len(batch))
	for i, e := range batch {
		actions[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: e.JSON}
	}
	if _, err := c.SubmitTransaction(ctx, actions, nil); err != nil {
		return fmt.Errorf("store: upsert %d %s in partition %s: %w", len(batch), what, batch[0].PartitionKey, classify(err))
	}
	return nil
}
