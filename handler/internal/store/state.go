package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/xelwatch/xelwatch/detect"
)

// Bounds of one state entity.
const (
	MaxStateEntries = 256       // entries kept per state key (the newest)
	MaxStateBytes   = 900 << 10 // JSON bytes of a key's entries (entity limit 1 MiB)
	stateChunkBytes = 30000     // bytes per string property (≤ 32K UTF-16 chars)
	stateKeyBytes   = 512       // bytes of the readable key kept for operators
)

// errContention is returned when Update lost the optimistic-concurrency
// race more times than StateOptions.MaxAttempts.
var errContention = errors.New("store: too many concurrent detection state updates")

// StateClient is the part of *aztables.Client a State uses.
type StateClient interface {
	GetEntity(ctx context.Context, partitionKey, rowKey string, options *aztables.GetEntityOptions) (aztables.GetEntityResponse, error)
	AddEntity(ctx context.Context, entity []byte, options *aztables.AddEntityOptions) (aztables.AddEntityResponse, error)
	UpdateEntity(ctx context.Context, entity []byte, options *aztables.UpdateEntityOptions) (aztables.UpdateEntityResponse, error)
	DeleteEntity(ctx context.Context, partitionKey, rowKey string, options *aztables.DeleteEntityOptions) (aztables.DeleteEntityResponse, error)
	NewListEntitiesPager(options *aztables.ListEntitiesOptions) *runtime.Pager[aztables.ListEntitiesResponse]
	SubmitTransaction(ctx context.Context, actions []aztables.TransactionAction, options *aztables.SubmitTransactionOptions) (aztables.TransactionResponse, error)
}

// StateOptions tune a State; nil means defaults.
type StateOptions struct {
	// MaxAttempts bounds the read-modify-write attempts of one Update
	// (default 30).
	MaxAttempts int
	// ReadTTL is how long Get may answer from what this State last read
	// or wrote under a key instead of asking the table (default
	// DefaultStateReadTTL; negative: always ask). Writes of this State are
	// seen at once; writes of other instances within ReadTTL.
	ReadTTL time.Duration
	// CacheBytes bounds the cache, counted in encoded entity bytes
	// (default DefaultStateCacheBytes; decoded entries take two to three times
	// that).
	CacheBytes int
	Now        func() time.Time
}

// Defaults of StateOptions.
const (
	DefaultStateReadTTL    = time.Second
	DefaultStateCacheBytes = 4 << 20
)

// State implements detect.State on a table.
//
// It remembers the entity it last read or wrote under each key, with its
// ETag. Update starts from that copy and writes it back under If-Match:
// if another writer changed the entity meanwhile, the write fails with
// 412 and Update reads afresh, so the cache saves the read without
// weakening the optimistic concurrency. Get answers from the copy while
// it is younger than ReadTTL.
type State struct {
	c           StateClient
	maxAttempts int
	readTTL     time.Duration
	now         func() time.Time

	mu         sync.Mutex
	cache      map[string]*cachedState // by RowKey (PartitionKey is part of the key hashed into it)
	cacheBytes int
	maxBytes   int
	pruneFrom  [2]*string // where PruneSome's scan continues (nil: the start)
}

// cachedState is the table's entity under a key as this State last saw it.
type cachedState struct {
	found       bool // false: the entity did not exist
	storedState      // etag, expires, entries
	at          time.Time
	size        int
}

var _ detect.State = (*State)(nil)

// NewState returns a State on the table client c (the table must exist;
// see EnsureStateTable).
func NewState(c StateClient, opts *StateOptions) *State {
	s := &State{c: c, maxAttempts: 30, readTTL: DefaultStateReadTTL, now: time.Now,
		cache: map[string]*cachedState{}, maxBytes: DefaultStateCacheBytes}
	if opts != nil {
		if opts.MaxAttempts > 0 {
			s.maxAttempts = opts.MaxAttempts
		}
		if opts.ReadTTL != 0 {
			s.readTTL = opts.ReadTTL
		}
		if opts.CacheBytes > 0 {
			s.maxBytes = opts.CacheBytes
		}
		if opts.Now != nil {
			s.now = opts.Now
		}
	}
	return s
}

// remember caches what the table holds under rk; size is the entity's
// encoded size (what it costs to keep).
func (s *State) remember(rk string, found bool, st storedState, size int) {
	if found && st.etag == "" {
		s.forget(rk) // no ETag to write under: nothing worth keeping
		return
	}
	size += len(rk) + 64
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.cache[rk]; ok {
		s.cacheBytes -= old.size
		delete(s.cache, rk)
	}
	if size > s.maxBytes {
		return
	}
	for k, old := range s.cache { // random eviction: map order
		if s.cacheBytes+size <= s.maxBytes {
			break
		}
		s.cacheBytes -= old.size
		delete(s.cache, k)
	}
	s.cache[rk] = &cachedState{found: found, storedState: st, at: s.now(), size: size}
	s.cacheBytes += size
}

func (s *State) forget(rk string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.cache[rk]; ok {
		s.cacheBytes -= old.size
		delete(s.cache, rk)
	}
}

// recall returns the cachedState entity under rk, if any and, when maxAge > 0,
// younger than maxAge.
func (s *State) recall(rk string, maxAge time.Duration) (cachedState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[rk]
	if !ok || (maxAge > 0 && s.now().Sub(c.at) > maxAge) {
		return cachedState{}, false
	}
	return *c, true
}

// EnsureStateTable creates the detection state table unless it exists.
func EnsureStateTable(ctx context.Context, c *aztables.Client) error {
	_, err := c.CreateTable(ctx, nil)
	if err = classify(err); err != nil && !hasCode(err, aztables.TableAlreadyExists) {
		return fmt.Errorf("store: create state table: %w", err)
	}
	return nil
}

// maxStateKindUnits bounds the PartitionKey of a state entity.
const maxStateKindUnits = 64

// stateKeys maps a state key to PartitionKey (its first segment, the
// kind, escaped like every key component) and RowKey (a hash of the
// whole key, which may hold any character). The keys of a group
// (detect.StateGroup: one client address of one server) go side by side
// instead: PartitionKey "addr<n>" (one of stateAddrShards, from the
// group's hash) and RowKey "<group hash>-<key hash>", so that one range
// query reads the group (see groupRange).
func stateKeys(key string) (pk, rk string) {
	pk, rk, _ = stateLoc(key)
	return pk, rk
}

// stateAddrShards is how many partitions the groups spread over.
const stateAddrShards = 8

// stateLoc is stateKeys plus the RowKey prefix of the key's group ("" for
// a key of no group).
func stateLoc(key string) (pk, rk, group string) {
	sum := sha256.Sum256([]byte(key))
	if g := detect.StateGroup(key); g != "" {
		gs := sha256.Sum256([]byte(g))
		group = hex.EncodeToString(gs[:8])
		return "addr" + strconv.Itoa(int(gs[8])%stateAddrShards), group + "-" + hex.EncodeToString(sum[:20]), group
	}
	kind, _, _ := strings.Cut(key, string(KeySep))
	pk = limitUnits(EscapeKey(kind), maxStateKindUnits)
	if pk == "" {
		pk = "state"
	}
	return pk, hex.EncodeToString(sum[:20]), ""
}

// groupRange is the filter of the RowKeys of group in partition pk:
// "<group>-" up to, not including, "<group>." ('.' follows '-').
func groupRange(pk, group string) string {
	return fmt.Sprintf("PartitionKey eq '%s' and RowKey ge '%s-' and RowKey lt '%s.'", pk, group, group)
}

type storedState struct {
	etag    azcore.ETag
	expires time.Time
	entries []detect.Entry
}

// Get implements detect.State.
func (s *State) Get(ctx context.Context, key string) ([]detect.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pk, rk := stateKeys(key)
	if s.readTTL > 0 {
		if c, ok := s.recall(rk, s.readTTL); ok {
			return c.entries, nil
		}
	}
	st, found, err := s.read(ctx, pk, rk)
	if err != nil || !found {
		return nil, err
	}
	return st.entries, nil
}

// read gets the entity from the table and caches it.
func (s *State) read(ctx context.Context, pk, rk string) (storedState, bool, error) {
	resp, err := s.c.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		if err = classify(err); errors.Is(err, ErrNotFound) {
			s.remember(rk, false, storedState{}, 0)
			return storedState{}, false, nil
		}
		s.forget(rk)
		return storedState{}, false, fmt.Errorf("store: get state %s/%s: %w", pk, rk, err)
	}
	st, err := decodeState(resp.Value)
	if err != nil {
		s.forget(rk)
		return storedState{}, false, fmt.Errorf("store: state entity %s/%s: %w", pk, rk, err)
	}
	st.etag = resp.ETag
	s.remember(rk, true, st, len(resp.Value))
	return st, true, nil
}

// maxPrefetchKeys bounds the keys one Prefetch reads.
const maxPrefetchKeys = 2048

// groupPageSize bounds the entities one group read returns: a group
// holds a few keys per principal tried from its address.
const groupPageSize = 32

// Prefetch makes State a detect.Prefetcher: it reads the keys it has no
// fresh copy of (younger than the read TTL) into its cache,
// stateCommitParallelism requests at a time, so that the Gets of the
// evaluation that follows are answered from memory instead of one round
// trip after another. The keys of one group (detect.StateGroup) wanted
// together are read with one range query of the group's RowKeys: a
// failed login from a new address costs one request, not five. A group
// larger than one page of groupPageSize is read key by key for the keys
// the page did not hold. What a Get then returns is what it would have
// returned anyway within the read TTL. It stops at the first error and
// returns it; the caller may ignore it (a key that failed is read again
// when it is needed). With the cache off (a negative read TTL) it does
// nothing.
func (s *State) Prefetch(ctx context.Context, keys []string) error {
	if s.readTTL <= 0 {
		return nil
	}
	keys = keys[:min(len(keys), maxPrefetchKeys)]
	type read struct {
		pk, group string
		rks       []string // group reads: the keys wanted
	}
	var reads []*read
	groups := map[string]*read{}
	for _, key := range keys {
		pk, rk, group := stateLoc(key)
		if _, ok := s.recall(rk, s.readTTL); ok {
			continue
		}
		if group == "" {
			reads = append(reads, &read{pk: pk, rks: []string{rk}})
			continue
		}
		r := groups[group]
		if r == nil {
			r = &read{pk: pk, group: group}
			groups[group] = r
			reads = append(reads, r)
		}
		if !slices.Contains(r.rks, rk) {
			r.rks = append(r.rks, rk)
		}
	}
	return bounded(ctx, len(reads), func(ctx context.Context, i int) error {
		r := reads[i]
		if len(r.rks) == 1 {
			_, _, err := s.read(ctx, r.pk, r.rks[0])
			return err
		}
		return s.readGroup(ctx, r.pk, r.group, r.rks)
	})
}

// readGroup reads the first page of group's entities in partition pk
// into the cache; the wanted keys (rks) it did not hold are absent when
// the page was the whole group, else read one by one.
func (s *State) readGroup(ctx context.Context, pk, group string, rks []string) error {
	filter, top := groupRange(pk, group), int32(groupPageSize)
	page, err := s.c.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: &top}).NextPage(ctx)
	if err != nil {
		return fmt.Errorf("store: read state group %s/%s: %w", pk, group, classify(err))
	}
	// listed: the RowKeys the page held; a key listed but not readable
	// here is read by key below. An entity without a readable RowKey
	// makes nothing known absent.
	listed, seen := map[string]bool{}, map[string]bool{}
	known := true
	for _, b := range page.Entities {
		var e struct {
			RowKey string
			ETag   string `json:"odata.etag"`
		}
		if json.Unmarshal(b, &e) != nil || e.RowKey == "" {
			known = false
			continue
		}
		listed[e.RowKey] = true
		st, err := decodeState(b)
		if err != nil || e.ETag == "" {
			continue
		}
		st.etag = azcore.ETag(e.ETag)
		s.remember(e.RowKey, true, st, len(b))
		seen[e.RowKey] = true
	}
	whole := known && len(page.Entities) < groupPageSize &&
		(page.NextPartitionKey == nil || *page.NextPartitionKey == "") && (page.NextRowKey == nil || *page.NextRowKey == "")
	for _, rk := range rks {
		switch {
		case seen[rk]:
		case whole && !listed[rk]:
			s.remember(rk, false, storedState{}, 0)
		default:
			if _, _, err := s.read(ctx, pk, rk); err != nil {
				return err
			}
		}
	}
	return nil
}

var _ detect.Prefetcher = (*State)(nil)

// stateCommitParallelism bounds the concurrent requests of one
// UpdateMany or Prefetch: like the row upserts, a few requests in flight
// hide the round trip without crowding one table partition.
const stateCommitParallelism = 8

// Update implements detect.State: take the cachedState copy (or, for a key
// not seen yet, assume it absent), apply fn, write back under the ETag
// (insert when absent); on 412/409 read afresh and retry.
func (s *State) Update(ctx context.Context, key string, expires time.Time, fn func([]detect.Entry) []detect.Entry) ([]detect.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pk, rk := stateKeys(key)
	c, fromCache := s.recall(rk, 0)
	if !fromCache {
		// A key this State has not seen is usually new (a new client
		// address, a new claim): try the insert first. If the key
		// exists, the insert fails with 409 and the loop reads it,
		// one request more than reading first; if not, one less.
		c, fromCache = cachedState{}, true
	}
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		if attempt > 0 && !fromCache {
			if err := stateBackoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		var (
			cur   storedState
			found bool
			err   error
		)
		if fromCache {
			cur, found = c.storedState, c.found
		} else if cur, found, err = s.read(ctx, pk, rk); err != nil {
			return nil, err
		}
		stale := fromCache // a conflict on a cachedState copy or a guess is not contention
		fromCache = false
		next := boundEntries(fn(cur.entries))
		exp := expires
		if cur.expires.After(exp) {
			exp = cur.expires
		}
		body, err := encodeState(pk, rk, key, exp, next)
		if err != nil {
			return nil, err
		}
		var etag azcore.ETag
		if !found {
			var resp aztables.AddEntityResponse
			resp, err = s.c.AddEntity(ctx, body, nil)
			etag = resp.ETag
		} else {
			var resp aztables.UpdateEntityResponse
			resp, err = s.c.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: &cur.etag, UpdateMode: aztables.UpdateModeReplace})
			etag = resp.ETag
		}
		if err == nil {
			s.remember(rk, true, storedState{etag: etag, expires: exp, entries: next}, len(body))
			return next, nil
		}
		s.forget(rk)
		err = classify(err)
		switch {
		case !found && errors.Is(err, ErrConflict):
			// another writer inserted it first
		case found && errors.Is(err, ErrConflict):
			// changed since we read it
		case found && errors.Is(err, ErrNotFound):
			// pruned since we read it
		case !found:
			return nil, fmt.Errorf("store: add state %s/%s: %w", pk, rk, err)
		default:
			return nil, fmt.Errorf("store: update state %s/%s: %w", pk, rk, err)
		}
		if stale {
			attempt-- // the cachedState copy was out of date: not a lost race
		}
	}
	return nil, fmt.Errorf("store: update state %s/%s: %w", pk, rk, errContention)
}

func stateBackoff(ctx context.Context, attempt int) error {
	d := time.Duration(min(attempt, 6)) * 10 * time.Millisecond
	d += time.Duration(rand.Int64N(int64(10 * time.Millisecond)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// boundEntries keeps the newest entries that fit MaxStateEntries and
// MaxStateBytes.
func boundEntries(es []detect.Entry) []detect.Entry {
	if len(es) > MaxStateEntries {
		es = es[len(es)-MaxStateEntries:]
	}
	for len(es) > 0 {
		b, err := json.Marshal(es)
		if err != nil || len(b) <= MaxStateBytes {
			return es
		}
		es = es[max(1, len(es)/4):]
	}
	return es
}

// encodeState builds the entity JSON.
func encodeState(pk, rk, key string, expires time.Time, es []detect.Entry) ([]byte, error) {
	data, err := json.Marshal(es)
	if err != nil {
		return nil, fmt.Errorf("store: encode state entries: %w", err)
	}
	ent := map[string]any{
		"PartitionKey":       pk,
		"RowKey":             rk,
		"Key":                cutUTF8(key, stateKeyBytes),
		"Expires":            expires.UTC().Format(time.RFC3339Nano),
		"Expires@odata.type": "Edm.DateTime",
		"Count":              int32(len(es)),
	}
	chunks := 0
	for len(data) > 0 {
		n := min(stateChunkBytes, len(data))
		for n < len(data) && n > 0 && data[n]&0xC0 == 0x80 {
			n-- // never split a UTF-8 sequence
		}
		ent["E"+strconv.Itoa(chunks)] = string(data[:n])
		data = data[n:]
		chunks++
	}
	ent["Chunks"] = int32(chunks)
	return json.Marshal(ent)
}

func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// decodeState reads an entity written by encodeState.
func decodeState(b []byte) (storedState, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return storedState{}, err
	}
	var st storedState
	if v, ok := raw["Expires"]; ok {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			st.expires, _ = time.Parse(time.RFC3339Nano, s)
		}
	}
	var chunks int
	if v, ok := raw["Chunks"]; ok {
		if err := json.Unmarshal(v, &chunks); err != nil {
			return storedState{}, fmt.Errorf("chunks: %w", err)
		}
	}
	if chunks < 0 || chunks > MaxStateBytes/stateChunkBytes+2 {
		return storedState{}, fmt.Errorf("implausible chunk count %d", chunks)
	}
	var data strings.Builder
	for i := range chunks {
		var s string
		if err := json.Unmarshal(raw["E"+strconv.Itoa(i)], &s); err != nil {
			return storedState{}, fmt.Errorf("chunk %d: %w", i, err)
		}
		data.WriteString(s)
	}
	if data.Len() > 0 {
		if err := json.Unmarshal([]byte(data.String()), &st.entries); err != nil {
			return storedState{}, fmt.Errorf("entries: %w", err)
		}
	}
	return st, nil
}

// Prune deletes the entities that expired before t (use the wall clock
// minus a grace period longer than the latest expected file), each under
// its ETag so a concurrent update wins. It returns how many it deleted.
func (s *State) Prune(ctx context.Context, t time.Time) (int, error) {
	n, _, err := s.PruneSome(ctx, t, 0)
	return n, err
}

// PruneSome is Prune bounded to limit requests, list pages and deletes
// together (0: no bound), for a scheduled run over a table of any size: it
// continues the table scan where the previous bounded call of this State
// stopped (Expires is not a key, so the service scans every entity, and
// may return empty pages on a large table) and starts over once it reached
// the end. more reports that it stopped at the bound.
//
// Every delete is conditional on the ETag the scan returned: an entity
// another instance refreshed since then fails with 412 and stays, and an
// Update that finds its cachedState entity pruned (404) reads afresh. An entity
// listed without an ETag is left alone rather than deleted blindly.
func (s *State) PruneSome(ctx context.Context, t time.Time, limit int) (deleted int, more bool, err error) {
	filter := fmt.Sprintf("Expires lt datetime'%s'", t.UTC().Format("2006-01-02T15:04:05Z"))
	sel := "PartitionKey,RowKey,Expires"
	opts := &aztables.ListEntitiesOptions{Filter: &filter, Select: &sel}
	if limit == 1 {
		limit = 2 // one list and one delete: the least that makes progress
	}
	s.mu.Lock()
	opts.NextPartitionKey, opts.NextRowKey = s.pruneFrom[0], s.pruneFrom[1]
	s.mu.Unlock()
	requests := 0
	spent := func() bool { return limit > 0 && requests >= limit }
	for {
		requests++ // the list
		if limit > 0 {
			// A page never holds more entities than deletes are left.
			top := int32(max(1, min(limit-requests, 1000)))
			opts.Top = &top
		}
		page, err := s.c.NewListEntitiesPager(opts).NextPage(ctx)
		if err != nil {
			return deleted, false, fmt.Errorf("store: list expired state: %w", classify(err))
		}
		for _, b := range page.Entities {
			if spent() {
				// Only when the server returned more than Top: this
				// page is read again by the next call.
				return deleted, true, nil
			}
			var e struct {
				PartitionKey, RowKey string
				ETag                 string `json:"odata.etag"`
			}
			if err := json.Unmarshal(b, &e); err != nil {
				return deleted, false, fmt.Errorf("store: list expired state: %w", err)
			}
			if e.ETag == "" {
				continue
			}
			requests++
			etag := azcore.ETag(e.ETag)
			s.forget(e.RowKey)
			_, err := s.c.DeleteEntity(ctx, e.PartitionKey, e.RowKey, &aztables.DeleteEntityOptions{IfMatch: &etag})
			err = classify(err)
			if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
				return deleted, false, fmt.Errorf("store: delete state %s/%s: %w", e.PartitionKey, e.RowKey, err)
			}
			if err == nil {
				deleted++
			}
		}
		// The page is done: the next call continues after it.
		end := (page.NextPartitionKey == nil || *page.NextPartitionKey == "") && (page.NextRowKey == nil || *page.NextRowKey == "")
		if end {
			page.NextPartitionKey, page.NextRowKey = nil, nil
		}
		s.mu.Lock()
		s.pruneFrom = [2]*string{page.NextPartitionKey, page.NextRowKey}
		s.mu.Unlock()
		if end {
			return deleted, false, nil
		}
		if spent() {
			return deleted, true, nil
		}
		opts.NextPartitionKey, opts.NextRowKey = page.NextPartitionKey, page.NextRowKey
	}
}

// hasCode reports whether err is a service error with code.
func hasCode(err error, code aztables.TableErrorCode) bool {
	var se *ServiceError
	return errors.As(err, &se) && se.ErrorCode == string(code)
}
