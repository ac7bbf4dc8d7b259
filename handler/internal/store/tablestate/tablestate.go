package tablestate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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
	MaxEntries     = 256       // entries kept per key (the newest)
	MaxEntityBytes = 900 << 10 // JSON bytes of the entries (entity limit 1 MiB)
	chunkBytes     = 30000     // bytes per string property (≤ 32K UTF-16 chars)
	maxKeyProperty = 512       // bytes of the readable key kept for operators
)

// ErrContention is returned when Update lost the optimistic-concurrency
// race more times than Options.MaxAttempts.
var ErrContention = errors.New("tablestate: too many concurrent updates")

// Client is the part of *aztables.Client the store uses.
type Client interface {
	GetEntity(ctx context.Context, partitionKey, rowKey string, options *aztables.GetEntityOptions) (aztables.GetEntityResponse, error)
	AddEntity(ctx context.Context, entity []byte, options *aztables.AddEntityOptions) (aztables.AddEntityResponse, error)
	UpdateEntity(ctx context.Context, entity []byte, options *aztables.UpdateEntityOptions) (aztables.UpdateEntityResponse, error)
	DeleteEntity(ctx context.Context, partitionKey, rowKey string, options *aztables.DeleteEntityOptions) (aztables.DeleteEntityResponse, error)
	NewListEntitiesPager(options *aztables.ListEntitiesOptions) *runtime.Pager[aztables.ListEntitiesResponse]
}

// Options tune a State; nil means defaults.
type Options struct {
	// MaxAttempts bounds the read-modify-write attempts of one Update
	// (default 30).
	MaxAttempts int
	// ReadTTL is how long Get may answer from what this State last read
	// or wrote under a key instead of asking the table (default
	// DefaultReadTTL; negative: always ask). Writes of this State are
	// seen at once; writes of other instances within ReadTTL.
	ReadTTL time.Duration
	// CacheBytes bounds the cache, counted in encoded entity bytes
	// (default DefaultCacheBytes; decoded entries take two to three times
	// that).
	CacheBytes int
	Now        func() time.Time
}

// Defaults of Options.
const (
	DefaultReadTTL    = time.Second
	DefaultCacheBytes = 4 << 20
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
	c           Client
	maxAttempts int
	readTTL     time.Duration
	now         func() time.Time

	mu         sync.Mutex
	cache      map[string]*cached // by RowKey (PartitionKey is part of the key hashed into it)
	cacheBytes int
	maxBytes   int
	pruneFrom  [2]*string // where PruneSome's scan continues (nil: the start)
}

// cached is the table's entity under a key as this State last saw it.
type cached struct {
	found  bool // false: the entity did not exist
	stored      // etag, expires, entries
	at     time.Time
	size   int
}

var _ detect.State = (*State)(nil)

// New returns a State on the table client c (the table must exist; see
// EnsureTable).
func New(c Client, opts *Options) *State {
	s := &State{c: c, maxAttempts: 30, readTTL: DefaultReadTTL, now: time.Now,
		cache: map[string]*cached{}, maxBytes: DefaultCacheBytes}
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
func (s *State) remember(rk string, found bool, st stored, size int) {
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
	s.cache[rk] = &cached{found: found, stored: st, at: s.now(), size: size}
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

// recall returns the cached entity under rk, if any and, when maxAge > 0,
// younger than maxAge.
func (s *State) recall(rk string, maxAge time.Duration) (cached, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[rk]
	if !ok || (maxAge > 0 && s.now().Sub(c.at) > maxAge) {
		return cached{}, false
	}
	return *c, true
}

// EnsureTable creates the table unless it exists.
func EnsureTable(ctx context.Context, c *aztables.Client) error {
	_, err := c.CreateTable(ctx, nil)
	if err != nil && !hasCode(err, aztables.TableAlreadyExists) {
		return fmt.Errorf("tablestate: create table: %w", describe(err))
	}
	return nil
}

// keys maps a state key to PartitionKey and RowKey.
func keys(key string) (pk, rk string) {
	kind, _, _ := strings.Cut(key, "|")
	pk = sanitize(kind)
	if pk == "" {
		pk = "state"
	}
	sum := sha256.Sum256([]byte(key))
	return pk, hex.EncodeToString(sum[:20])
}

// sanitize keeps [a-z0-9-_] of s, at most 64 bytes.
func sanitize(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 64; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		}
	}
	return b.String()
}

type stored struct {
	etag    azcore.ETag
	expires time.Time
	entries []detect.Entry
}

// Get implements detect.State.
func (s *State) Get(ctx context.Context, key string) ([]detect.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pk, rk := keys(key)
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
func (s *State) read(ctx context.Context, pk, rk string) (stored, bool, error) {
	resp, err := s.c.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		if hasCode(err, aztables.EntityNotFound) || hasCode(err, aztables.ResourceNotFound) || statusOf(err) == 404 {
			s.remember(rk, false, stored{}, 0)
			return stored{}, false, nil
		}
		s.forget(rk)
		return stored{}, false, fmt.Errorf("tablestate: get %s/%s: %w", pk, rk, describe(err))
	}
	st, err := decode(resp.Value)
	if err != nil {
		s.forget(rk)
		return stored{}, false, fmt.Errorf("tablestate: entity %s/%s: %w", pk, rk, err)
	}
	st.etag = resp.ETag
	s.remember(rk, true, st, len(resp.Value))
	return st, true, nil
}

// Update implements detect.State: take the cached copy (or, for a key
// not seen yet, assume it absent), apply fn, write back under the ETag
// (insert when absent); on 412/409 read afresh and retry.
func (s *State) Update(ctx context.Context, key string, expires time.Time, fn func([]detect.Entry) []detect.Entry) ([]detect.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pk, rk := keys(key)
	c, fromCache := s.recall(rk, 0)
	if !fromCache {
		// A key this State has not seen is usually new (a new client
		// address, a new claim): try the insert first. If the key
		// exists, the insert fails with 409 and the loop reads it,
		// one request more than reading first; if not, one less.
		c, fromCache = cached{}, true
	}
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		if attempt > 0 && !fromCache {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		var (
			cur   stored
			found bool
			err   error
		)
		if fromCache {
			cur, found = c.stored, c.found
		} else if cur, found, err = s.read(ctx, pk, rk); err != nil {
			return nil, err
		}
		stale := fromCache // a conflict on a cached copy or a guess is not contention
		fromCache = false
		next := bound(fn(cur.entries))
		exp := expires
		if cur.expires.After(exp) {
			exp = cur.expires
		}
		body, err := encode(pk, rk, key, exp, next)
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
			s.remember(rk, true, stored{etag: etag, expires: exp, entries: next}, len(body))
			return next, nil
		}
		s.forget(rk)
		switch {
		case !found && (hasCode(err, aztables.EntityAlreadyExists) || statusOf(err) == 409):
			// another writer inserted it first
		case found && (statusOf(err) == 412 || hasCode(err, aztables.UpdateConditionNotSatisfied)):
			// changed since we read it
		case found && statusOf(err) == 404:
			// pruned since we read it
		case !found:
			return nil, fmt.Errorf("tablestate: add %s/%s: %w", pk, rk, describe(err))
		default:
			return nil, fmt.Errorf("tablestate: update %s/%s: %w", pk, rk, describe(err))
		}
		if stale {
			attempt-- // the cached copy was out of date: not a lost race
		}
	}
	return nil, fmt.Errorf("tablestate: update %s/%s: %w", pk, rk, ErrContention)
}

func backoff(ctx context.Context, attempt int) error {
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

// bound keeps the newest entries that fit MaxEntries and MaxEntityBytes.
func bound(es []detect.Entry) []detect.Entry {
	if len(es) > MaxEntries {
		es = es[len(es)-MaxEntries:]
	}
	for len(es) > 0 {
		b, err := json.Marshal(es)
		if err != nil || len(b) <= MaxEntityBytes {
			return es
		}
		es = es[max(1, len(es)/4):]
	}
	return es
}

// encode builds the entity JSON.
func encode(pk, rk, key string, expires time.Time, es []detect.Entry) ([]byte, error) {
	data, err := json.Marshal(es)
	if err != nil {
		return nil, fmt.Errorf("tablestate: encode entries: %w", err)
	}
	ent := map[string]any{
		"PartitionKey":       pk,
		"RowKey":             rk,
		"Key":                cutUTF8(key, maxKeyProperty),
		"Expires":            expires.UTC().Format(time.RFC3339Nano),
		"Expires@odata.type": "Edm.DateTime",
		"Count":              int32(len(es)),
	}
	chunks := 0
	for len(data) > 0 {
		n := min(chunkBytes, len(data))
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

// decode reads an entity written by encode.
func decode(b []byte) (stored, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return stored{}, err
	}
	var st stored
	if v, ok := raw["Expires"]; ok {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			st.expires, _ = time.Parse(time.RFC3339Nano, s)
		}
	}
	var chunks int
	if v, ok := raw["Chunks"]; ok {
		if err := json.Unmarshal(v, &chunks); err != nil {
			return stored{}, fmt.Errorf("chunks: %w", err)
		}
	}
	if chunks < 0 || chunks > MaxEntityBytes/chunkBytes+2 {
		return stored{}, fmt.Errorf("implausible chunk count %d", chunks)
	}
	var data strings.Builder
	for i := range chunks {
		var s string
		if err := json.Unmarshal(raw["E"+strconv.Itoa(i)], &s); err != nil {
			return stored{}, fmt.Errorf("chunk %d: %w", i, err)
		}
		data.WriteString(s)
	}
	if data.Len() > 0 {
		if err := json.Unmarshal([]byte(data.String()), &st.entries); err != nil {
			return stored{}, fmt.Errorf("entries: %w", err)
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
// Update that finds its cached entity pruned (404) reads afresh. An entity
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
			return deleted, false, fmt.Errorf("tablestate: list expired: %w", describe(err))
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
				return deleted, false, fmt.Errorf("tablestate: list expired: %w", err)
			}
			if e.ETag == "" {
				continue
			}
			requests++
			etag := azcore.ETag(e.ETag)
			s.forget(e.RowKey)
			_, err := s.c.DeleteEntity(ctx, e.PartitionKey, e.RowKey, &aztables.DeleteEntityOptions{IfMatch: &etag})
			if err != nil && statusOf(err) != 412 && statusOf(err) != 404 {
				return deleted, false, fmt.Errorf("tablestate: delete %s/%s: %w", e.PartitionKey, e.RowKey, describe(err))
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

func hasCode(err error, code aztables.TableErrorCode) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == string(code)
}

func statusOf(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// describe shortens *azcore.ResponseError to status and code (its Error()
// is a multi-line dump that must not reach the logs).
func describe(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return &ServiceError{StatusCode: re.StatusCode, ErrorCode: re.ErrorCode, err: err}
	}
	return err
}

// ServiceError is a Table Storage error reduced to what logs need.
type ServiceError struct {
	StatusCode int
	ErrorCode  string
	err        error
}

func (e *ServiceError) Error() string {
	return fmt.Sprintf("table service: status %d, code %s", e.StatusCode, e.ErrorCode)
}

// Unwrap gives errors.As access to the *azcore.ResponseError.
func (e *ServiceError) Unwrap() error { return e.err }
