package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/xelwatch/xelwatch/handler/internal/ingest"
)

// Bounds on cursor properties.
const (
	// MaxMetadataOffsets bounds ingest.Cursor.MetadataOffsets.
	MaxMetadataOffsets = 1024
	// maxErrorText bounds ingest.Cursor.LastError (our own message, so
	// cutting it is harmless).
	maxErrorText = 2048
)

// Cursors is the AuditCursors table for the blobs of one audit container.
// It implements ingest.Cursors: the pipeline owns the cursor model
// (ingest.Cursor) and this is its storage, so the pipeline needs nothing
// of Table Storage and there is no second cursor type to translate.
type Cursors struct {
	s         *Store
	container string
}

var _ ingest.Cursors = Cursors{}

// Cursors returns the cursors of the blobs of container.
func (s *Store) Cursors(container string) Cursors { return Cursors{s: s, container: container} }

// Get reads a blob's cursor; ErrNotFound if there is none.
func (cs Cursors) Get(ctx context.Context, blob string) (ingest.Cursor, error) {
	pk, rk := CursorKeys(cs.container, blob)
	resp, err := cs.s.cursors.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		return ingest.Cursor{}, fmt.Errorf("store: get cursor %s/%s: %w", cs.container, blob, classify(err))
	}
	lc, err := decodeCursor(resp.Value)
	if err != nil {
		return ingest.Cursor{}, err
	}
	lc.ETag = string(resp.ETag)
	return lc.Cursor, nil
}

// Create inserts c (its ETag is ignored); ErrConflict if the blob already
// has a cursor. It returns c with UpdatedAt and the new ETag set; the
// entity's creation time is set too, and later updates keep it.
func (cs Cursors) Create(ctx context.Context, c ingest.Cursor) (ingest.Cursor, error) {
	now := cs.s.now()
	c.UpdatedAt = now
	body, err := encodeCursor(cs.container, &c, now)
	if err != nil {
		return ingest.Cursor{}, err
	}
	resp, err := cs.s.cursors.AddEntity(ctx, body, nil)
	if err != nil {
		return ingest.Cursor{}, fmt.Errorf("store: create cursor %s/%s: %w", cs.container, c.Blob, classify(err))
	}
	c.ETag = string(resp.ETag)
	return withPath(c), nil
}

// Update writes c if its entity ETag still matches c.ETag; ErrConflict if
// another writer changed it first (re-read and decide again), ErrNotFound
// if it was deleted. It returns c with UpdatedAt and the new ETag set.
func (cs Cursors) Update(ctx context.Context, c ingest.Cursor) (ingest.Cursor, error) {
	if c.ETag == "" {
		return ingest.Cursor{}, fmt.Errorf("store: update cursor %s/%s: no ETag (read or create it first)", cs.container, c.Blob)
	}
	c.UpdatedAt = cs.s.now()
	body, err := encodeCursor(cs.container, &c, time.Time{})
	if err != nil {
		return ingest.Cursor{}, err
	}
	etag := azcore.ETag(c.ETag)
	// Merge: every property is written except the creation time, which
	// stays as Create wrote it.
	resp, err := cs.s.cursors.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeMerge})
	if err != nil {
		return ingest.Cursor{}, fmt.Errorf("store: update cursor %s/%s: %w", cs.container, c.Blob, classify(err))
	}
	c.ETag = string(resp.ETag)
	return withPath(c), nil
}

// Open lists the container's cursors in state open, in blob key order,
// stopping once it has max of them (at least one is returned when there
// is one).
func (cs Cursors) Open(ctx context.Context, max int) ([]ingest.Cursor, error) {
	var out []ingest.Cursor
	for c, err := range cs.s.ListContainerCursors(ctx, cs.container, ingest.StateOpen) {
		if err != nil {
			return nil, err
		}
		out = append(out, c.Cursor)
		if len(out) >= max {
			break
		}
	}
	return out, nil
}

// withPath fills the cursor's server, database and audit from its blob
// name (nothing when the name does not follow the audit layout).
func withPath(c ingest.Cursor) ingest.Cursor {
	p, _ := ingest.ParsePath(c.Blob)
	c.Server, c.Database, c.Audit = p.Server, p.Database, p.Audit
	return c
}

// ListedCursor is a cursor as ListCursors yields it, with its container.
type ListedCursor struct {
	Container string
	ingest.Cursor
}

// ListCursors yields the cursors in state (all cursors when state is
// empty), ordered by container and blob key. Iteration stops at the first
// error, which is yielded.
func (s *Store) ListCursors(ctx context.Context, state ingest.State) iter.Seq2[*ListedCursor, error] {
	return s.listCursors(ctx, "", state)
}

// ListContainerCursors is ListCursors for the blobs of one container (a
// single-partition query).
func (s *Store) ListContainerCursors(ctx context.Context, container string, state ingest.State) iter.Seq2[*ListedCursor, error] {
	if container == "" {
		return func(yield func(*ListedCursor, error) bool) {
			yield(nil, errors.New("store: list cursors: empty container name"))
		}
	}
	return s.listCursors(ctx, container, state)
}

func (s *Store) listCursors(ctx context.Context, container string, state ingest.State) iter.Seq2[*ListedCursor, error] {
	var conds []string
	if container != "" {
		pk, _ := CursorKeys(container, "")
		conds = append(conds, "PartitionKey eq "+odataString(pk))
	}
	if state != "" {
		conds = append(conds, "state eq "+odataString(string(state)))
	}
	var opts aztables.ListEntitiesOptions
	if len(conds) > 0 {
		f := strings.Join(conds, " and ")
		opts.Filter = &f
	}
	return listEntities(ctx, s.cursors, &opts, "cursors", func(raw []byte) (*ListedCursor, error) {
		c, err := decodeCursor(raw)
		if err == nil {
			var etag azcore.ETag
			etag, err = entityETag(raw)
			c.ETag = string(etag)
		}
		return c, err
	})
}

// encodeCursor is the entity of c in container; a zero created leaves the
// creation time out (an update keeps the stored one).
func encodeCursor(container string, c *ingest.Cursor, created time.Time) ([]byte, error) {
	if len(c.MetadataOffsets) > MaxMetadataOffsets {
		return nil, fmt.Errorf("store: cursor %s/%s: %d metadata offsets (limit %d): %w",
			container, c.Blob, len(c.MetadataOffsets), MaxMetadataOffsets, ErrTooLarge)
	}
	offs := make([]string, len(c.MetadataOffsets))
	for i, o := range c.MetadataOffsets {
		offs[i] = strconv.FormatInt(o, 10)
	}
	lastErr := c.LastError
	if len(lastErr) > maxErrorText {
		lastErr = strings.ToValidUTF8(lastErr[:maxErrorText], "") + "…"
	}
	pk, rk := CursorKeys(container, c.Blob)
	e := aztables.EDMEntity{
		Entity: aztables.Entity{PartitionKey: pk, RowKey: rk},
		Properties: map[string]any{
			"container":        container,
			"blob":             c.Blob,
			"next_offset":      aztables.EDMInt64(c.Offset),
			"metadata_offsets": strings.Join(offs, ","),
			"blob_etag":        c.BlobETag,
			"blob_length":      aztables.EDMInt64(c.BlobLength),
			"rows":             aztables.EDMInt64(c.Rows),
			"state":            string(c.State),
			"last_error":       lastErr,
			"failed_offset":    aztables.EDMInt64(c.FailedOffset),
			"updated":          edmTime(c.UpdatedAt),
			"last_growth":      edmTime(c.LastGrowth),
			"lease_owner":      c.LeaseOwner,
			"lease_until":      edmTime(c.LeaseUntil),
			"generation":       int32(c.Generation),
			"earlier_rows":     aztables.EDMInt64(c.EarlierRows),
			"blob_type":        c.Identity.Type,
			"blob_created":     edmTime(c.Identity.Created),
			"tail_offset":      aztables.EDMInt64(c.Identity.TailOffset),
			"tail_length":      aztables.EDMInt64(c.Identity.TailLength),
			"tail_sha256":      c.Identity.TailSHA256,
			"head_length":      aztables.EDMInt64(c.Identity.HeadLength),
			"head_sha256":      c.Identity.HeadSHA256,
			"silence_reported": edmTime(c.SilenceReported),
		},
	}
	if !created.IsZero() {
		e.Properties["created"] = edmTime(created)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("store: encode cursor: %w", err)
	}
	return b, nil
}

func decodeCursor(raw []byte) (*ListedCursor, error) {
	var e aztables.EDMEntity
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("store: decode cursor: %w", err)
	}
	p := props(e.Properties)
	c := &ListedCursor{Container: p.str("container"), Cursor: withPath(ingest.Cursor{
		Blob:         p.str("blob"),
		Offset:       p.int64("next_offset"),
		BlobETag:     p.str("blob_etag"),
		BlobLength:   p.int64("blob_length"),
		Rows:         p.int64("rows"),
		State:        ingest.State(p.str("state")),
		LastError:    p.str("last_error"),
		FailedOffset: p.int64("failed_offset"),
		UpdatedAt:    p.time("updated"),
		LastGrowth:   p.time("last_growth"),
		LeaseOwner:   p.str("lease_owner"),
		LeaseUntil:   p.time("lease_until"),
		Generation:   int(p.int32("generation")),
		EarlierRows:  p.int64("earlier_rows"),
		Identity: ingest.Identity{
			Type:       p.str("blob_type"),
			Created:    p.time("blob_created"),
			TailOffset: p.int64("tail_offset"),
			TailLength: p.int64("tail_length"),
			TailSHA256: p.str("tail_sha256"),
			HeadLength: p.int64("head_length"),
			HeadSHA256: p.str("head_sha256"),
		},
		SilenceReported: p.time("silence_reported"),
	})}
	if offs := p.str("metadata_offsets"); offs != "" {
		for _, f := range strings.Split(offs, ",") {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("store: cursor %s/%s: bad metadata offset %q", c.Container, c.Blob, f)
			}
			c.MetadataOffsets = append(c.MetadataOffsets, v)
		}
	}
	return c, nil
}

// entityETag reads odata.etag from a listed entity.
func entityETag(raw []byte) (azcore.ETag, error) {
	var m struct {
		ETag string `json:"odata.etag"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", fmt.Errorf("store: entity etag: %w", err)
	}
	return azcore.ETag(m.ETag), nil
}

// edmTime is t for a DateTime property; the zero time is written as the
// service minimum and reads back as zero.
func edmTime(t time.Time) aztables.EDMDateTime {
	t = t.UTC()
	if t.Before(minDateTime) {
		t = minDateTime
	}
	return aztables.EDMDateTime(t)
}

// props reads typed properties of an EDMEntity; a missing property or
// one of another type reads as the zero value.
type props map[string]any

func (p props) str(n string) string {
	v, _ := p[n].(string)
	return v
}

func (p props) int64(n string) int64 {
	switch v := p[n].(type) {
	case aztables.EDMInt64:
		return int64(v)
	case int32:
		return int64(v)
	case float64:
		return int64(v)
	}
	return 0
}

func (p props) int32(n string) int32 {
	switch v := p[n].(type) {
	case int32:
		return v
	case float64:
		return int32(v)
	case aztables.EDMInt64:
		return int32(v)
	}
	return 0
}

func (p props) bool(n string) bool {
	v, _ := p[n].(bool)
	return v
}

func (p props) bin(n string) []byte {
	v, _ := p[n].(aztables.EDMBinary)
	if len(v) == 0 {
		return nil
	}
	return []byte(v)
}

func (p props) time(n string) time.Time {
	v, ok := p[n].(aztables.EDMDateTime)
	if !ok {
		return time.Time{}
	}
	t := time.Time(v).UTC()
	if !t.After(minDateTime) {
		return time.Time{}
	}
	return t
}
