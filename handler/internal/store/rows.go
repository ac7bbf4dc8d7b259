package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
// first appearance; entities keep their order within a partition. A
// record's row and the continuation entities that follow it go into one
// transaction whenever they fit one (a new transaction starts rather
// than split them).
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
		for len(items) > 0 {
			// A record's row and its continuation entities (which
			// follow it) go into one transaction whenever they fit one:
			// start a new transaction rather than split them.
			g, gsize := recordGroup(items)
			if len(cur) > 0 && (len(cur)+g > MaxBatchOps || size+gsize > MaxBatchPayload) &&
				g <= MaxBatchOps && gsize <= MaxBatchPayload {
				out = append(out, cur)
				cur, size = nil, 0
			}
			for _, e := range items[:g] {
				n := opSize(e)
				if len(cur) > 0 && (len(cur) == MaxBatchOps || size+n > MaxBatchPayload) {
					out = append(out, cur)
					cur, size = nil, 0
				}
				cur = append(cur, e)
				size += n
			}
			items = items[g:]
		}
		if len(cur) > 0 {
			out = append(out, cur)
		}
	}
	return out
}

// recordGroup returns how many entities at the start of items belong to
// one record (a row and the continuation entities that follow it) and
// their estimated size; an entity that is no record's row is a group of
// its own.
func recordGroup(items []Entity) (n, size int) {
	n, size = 1, opSize(items[0])
	if !items[0].main {
		return n, size
	}
	for n < len(items) && !items[n].main && items[n].rec == items[0].rec && strings.HasPrefix(items[n].RowKey, items[0].RowKey+chunkKeySep) {
		size += opSize(items[n])
		n++
	}
	return n, size
}

// BuildEntities builds the entities of recs (see BuildRecord) with one
// ingestion time: each record's row, then its continuation entities; nil
// records are skipped.
func BuildEntities(server, database, blob string, ingestedAt time.Time, recs []*audit.Record) ([]Entity, error) {
	entities := make([]Entity, 0, len(recs))
	hashes := fileHashes{blob: blob}
	for _, rec := range recs {
		if rec == nil {
			continue
		}
		_, hash := hashes.of(rec)
		ents, _ := buildRecord(server, database, blob, hash, ingestedAt, rec)
		entities = append(entities, ents...)
	}
	return entities, nil
}

// UpsertRecords writes one AuditEvents row per record, replacing rows with
// the same keys, and returns how many rows were written. server comes
// from the blob path (the record's server_instance_name when empty); the
// row is filed under the record's database_name, database (from the blob
// path) when the record names none (eventFiling); blob is recorded with
// each row. Rows spread over EventShards partitions per database-hour,
// and transactions of different partitions run concurrently. Replaying the same records
// writes the same keys: the operation is idempotent.
//
// No record can fail the call by its size or its content: see
// UpsertRecordsReport. An error is a failure of the service (throttling,
// outage, authorization): the count says how many rows were stored (in
// whole transactions); run it again to finish.
func (s *Store) UpsertRecords(ctx context.Context, server, database, blob string, recs []*audit.Record) (int, error) {
	rep, err := s.UpsertRecordsReport(ctx, server, database, blob, recs)
	return rep.Rows, err
}

// RowIssue is a record stored reduced, or not at all.
type RowIssue struct {
	FileName        string
	AuditFileOffset int64
	EventIndex      int
	PartitionKey    string
	RowKey          string
	Reason          string // as in xw_degraded, or why nothing could be stored
}

// UpsertReport says what UpsertRecordsReport stored.
type UpsertReport struct {
	Rows     int        // rows stored, whole or reduced
	Degraded []RowIssue // rows stored reduced (their xw_degraded says why)
	Dropped  []RowIssue // records the service refused even reduced: not stored
}

// UpsertRecordsReport is UpsertRecords with the rows it had to reduce.
//
// A record too large for one entity is stored whole across its row and
// continuation entities (BuildRecord). An entity the service refuses for
// good (400: too large, a bad property value or key; 413) is a permanent
// outcome for its record, never an error: the other entities of the
// transaction are sent again without it, and once every transaction is
// done the record's row is replaced by a reduced one flagged in
// xw_degraded (Degraded). A record whose reduced row is refused too is
// reported in Dropped. Only failures of the service itself return an
// error.
func (s *Store) UpsertRecordsReport(ctx context.Context, server, database, blob string, recs []*audit.Record) (UpsertReport, error) {
	now := s.now()
	type item struct {
		rec        *audit.Record
		file, hash string
	}
	items := make([]item, 0, len(recs))
	entities := make([]Entity, 0, len(recs))
	var rep UpsertReport
	degraded := map[int]RowIssue{} // by Entity.rec
	hashes := fileHashes{blob: blob}
	for _, rec := range recs {
		if rec == nil {
			continue
		}
		file, hash := hashes.of(rec)
		ents, why := buildRecord(server, database, blob, hash, now, rec)
		items = append(items, item{rec: rec, file: file, hash: hash})
		for i := range ents {
			ents[i].rec = len(items)
		}
		if why != "" {
			degraded[len(items)] = rowIssue(rec, file, ents[0], why)
		}
		entities = append(entities, ents...)
	}
	ref := &refusals{m: map[int]error{}}
	if _, err := s.upsertInto(ctx, s.events, "rows", entities, ref); err != nil {
		return rep, err
	}
	for _, k := range ref.sorted() {
		it := items[k-1]
		reason := refusalText(ref.m[k])
		ents, why := buildMinimal(server, database, blob, it.hash, now, it.rec, reason)
		err := submit(ctx, s.events, "reduced row", ents)
		switch {
		case err == nil:
			degraded[k] = rowIssue(it.rec, it.file, ents[0], why)
		case refusedEntity(err):
			delete(degraded, k)
			rep.Dropped = append(rep.Dropped, rowIssue(it.rec, it.file, ents[0], reason+"; reduced row: "+refusalText(err)))
		default:
			return rep, err
		}
	}
	for k := 1; k <= len(items); k++ {
		if is, ok := degraded[k]; ok {
			rep.Degraded = append(rep.Degraded, is)
		}
	}
	rep.Rows = len(items) - len(rep.Dropped)
	return rep, nil
}

func rowIssue(rec *audit.Record, file string, row Entity, reason string) RowIssue {
	return RowIssue{FileName: file, AuditFileOffset: rec.AuditFileOffset, EventIndex: rec.EventIndex,
		PartitionKey: row.PartitionKey, RowKey: row.RowKey, Reason: reason}
}

// refusals are the records whose entity the service refused for good, by
// 1 + index (Entity.rec), with the refusal.
type refusals struct {
	mu sync.Mutex
	m  map[int]error
}

func (r *refusals) add(rec int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[rec]; !ok {
		r.m[rec] = err
	}
}

// filter returns batch without the entities of refused records.
func (r *refusals) filter(batch []Entity) []Entity {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) == 0 {
		return batch
	}
	out := make([]Entity, 0, len(batch))
	for _, e := range batch {
		if _, ok := r.m[e.rec]; !ok || e.rec == 0 {
			out = append(out, e)
		}
	}
	return out
}

func (r *refusals) sorted() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int, 0, len(r.m))
	for k := range r.m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// refusedEntity reports whether err is the service refusing an entity for
// good rather than failing: 400 (entity or property value too large, too
// many properties, a bad value or key) or 413 (request too large).
func refusedEntity(err error) bool {
	if err == nil || IsTransient(err) {
		return false
	}
	var se *ServiceError
	if !errors.As(err, &se) {
		return false
	}
	return se.StatusCode == http.StatusBadRequest || se.StatusCode == http.StatusRequestEntityTooLarge
}

// refusalText is the refusal for xw_degraded: status and code only.
func refusalText(err error) string {
	var se *ServiceError
	if errors.As(err, &se) {
		s := "status " + strconv.Itoa(se.StatusCode)
		if se.ErrorCode != "" {
			s += " " + prefixUnits(se.ErrorCode, 64)
		}
		return s
	}
	return prefixUnits(err.Error(), 256)
}

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
	return s.upsertInto(ctx, s.events, "rows", entities, nil)
}

// upsertInto is UpsertEntities into table c; what names the entities in
// errors. With ref, an entity of a record that the service refuses for
// good is recorded there and its transaction sent again without that
// record's entities (see submitBatch); without, it fails the call.
func (s *Store) upsertInto(ctx context.Context, c *aztables.Client, what string, entities []Entity, ref *refusals) (int, error) {
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
			n, err := submitBatch(ctx, c, what, batch, ref)
			if err != nil {
				fail(err)
				return
			}
			written.Add(int64(n))
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

// submitBatch sends one batch and returns how many entities it wrote.
// With ref, an entity the service refuses for good (refusedEntity) is
// recorded in ref and the batch is sent again without the entities of its
// record: the failing operation is the one the service names, or, when
// it names none, the batch is halved until a single entity fails.
func submitBatch(ctx context.Context, c *aztables.Client, what string, batch []Entity, ref *refusals) (int, error) {
	if ref == nil {
		if err := submit(ctx, c, what, batch); err != nil {
			return 0, err
		}
		return len(batch), nil
	}
	for {
		batch = ref.filter(batch)
		if len(batch) == 0 {
			return 0, nil
		}
		err := submit(ctx, c, what, batch)
		if err == nil {
			return len(batch), nil
		}
		if !refusedEntity(err) {
			return 0, err
		}
		var se *ServiceError
		if errors.As(err, &se) && se.Index >= 0 && se.Index < len(batch) && batch[se.Index].rec > 0 {
			ref.add(batch[se.Index].rec, err)
			continue
		}
		if len(batch) == 1 {
			if batch[0].rec == 0 {
				return 0, err
			}
			ref.add(batch[0].rec, err)
			return 0, nil
		}
		h := len(batch) / 2
		n1, err := submitBatch(ctx, c, what, batch[:h], ref)
		if err != nil {
			return n1, err
		}
		n2, err := submitBatch(ctx, c, what, batch[h:], ref)
		return n1 + n2, err
	}
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

// fileHashes gives each record's file (the blob when the record names
// none) and FileHash of it, hashing once per run of records of one file.
type fileHashes struct{ blob, file, hash string }

func (h *fileHashes) of(rec *audit.Record) (file, hash string) {
	file = rec.FileName
	if file == "" {
		file = h.blob
	}
	if file != h.file || h.hash == "" {
		h.file, h.hash = file, FileHash(file)
	}
	return file, h.hash
}
