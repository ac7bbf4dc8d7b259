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
)

// CursorState is the life cycle of an audit blob's cursor.
type CursorState string

// Cursor states.
const (
	CursorOpen   CursorState = "open"   // the blob may still grow; the sweep continues it
	CursorClosed CursorState = "closed" // rolled over or idle: read to the end, nothing more expected
	CursorFailed CursorState = "failed" // corrupt at FailedOffset; rows before it are stored
)

// Bounds on cursor properties.
const (
	// MaxMetadataOffsets bounds Cursor.MetadataOffsets.
	MaxMetadataOffsets = 1024
	// maxErrorText bounds Cursor.LastError (our own message, so cutting
	// it is harmless).
	maxErrorText = 2048
)

// Cursor is how far xelwatch has read one audit blob.
type Cursor struct {
	Container string
	Blob      string
	// NextOffset is the buffer offset to resume decoding at (xel
	// Reader.End of the last run).
	NextOffset int64
	// MetadataOffsets are the metadata buffers before NextOffset beyond the
	// leading ones (xel Reader.MetadataOffsets), at most MaxMetadataOffsets.
	MetadataOffsets []int64
	BlobETag        string // blob ETag when last read
	BlobLength      int64  // blob length when last read
	Rows            int64  // rows stored from this blob so far
	State           CursorState
	LastError       string // why the cursor failed (bounded; never secrets)
	FailedOffset    int64  // where the damage starts, when State is CursorFailed
	Created         time.Time
	Updated         time.Time
	LastGrowth      time.Time // when BlobLength last increased
	// LeaseOwner holds the cursor until LeaseUntil while it reads the blob
	// (see ingest); empty and zero when nobody does.
	LeaseOwner string
	LeaseUntil time.Time
	// ETag is the entity's ETag, set by GetCursor, CreateCursor,
	// UpdateCursor and ListCursors; UpdateCursor requires it to match.
	ETag azcore.ETag
}

// GetCursor reads a blob's cursor; ErrNotFound if there is none.
func (s *Store) GetCursor(ctx context.Context, container, blob string) (*Cursor, error) {
	pk, rk := CursorKeys(container, blob)
	resp, err := s.cursors.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		return nil, fmt.Errorf("store: get cursor %s/%s: %w", container, blob, classify(err))
	}
	c, err := decodeCursor(resp.Value)
	if err != nil {
		return nil, err
	}
	c.ETag = resp.ETag
	return c, nil
}

// CreateCursor inserts c; ErrConflict if the blob already has a cursor.
// Created and Updated are set when zero; c.ETag is set on success.
func (s *Store) CreateCursor(ctx context.Context, c *Cursor) error {
	now := s.now()
	if c.Created.IsZero() {
		c.Created = now
	}
	c.Updated = now
	body, err := encodeCursor(c)
	if err != nil {
		return err
	}
	resp, err := s.cursors.AddEntity(ctx, body, nil)
	if err != nil {
		return fmt.Errorf("store: create cursor %s/%s: %w", c.Container, c.Blob, classify(err))
	}
	c.ETag = resp.ETag
	return nil
}

// UpdateCursor writes c if its entity ETag still matches c.ETag (a zero
// c.Created leaves the stored creation time alone);
// ErrConflict if another writer changed it first (re-read and decide
// again), ErrNotFound if it was deleted. c.Updated and c.ETag are set on
// success.
func (s *Store) UpdateCursor(ctx context.Context, c *Cursor) error {
	if c.ETag == "" {
		return fmt.Errorf("store: update cursor %s/%s: no ETag (read or create it first)", c.Container, c.Blob)
	}
	prev := c.Updated
	c.Updated = s.now()
	body, err := encodeCursor(c)
	if err != nil {
		c.Updated = prev
		return err
	}
	etag := c.ETag
	// Merge: every property is written except a zero Created, which
	// keeps the stored creation time for callers that do not carry it.
	resp, err := s.cursors.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeMerge})
	if err != nil {
		c.Updated = prev
		return fmt.Errorf("store: update cursor %s/%s: %w", c.Container, c.Blob, classify(err))
	}
	c.ETag = resp.ETag
	return nil
}

// ListCursors yields the cursors in state (all cursors when state is
// empty), ordered by container and blob key. Iteration stops at the first
// error, which is yielded.
func (s *Store) ListCursors(ctx context.Context, state CursorState) iter.Seq2[*Cursor, error] {
	return s.listCursors(ctx, "", state)
}

// ListContainerCursors is ListCursors for the blobs of one container (a
// single-partition query).
func (s *Store) ListContainerCursors(ctx context.Context, container string, state CursorState) iter.Seq2[*Cursor, error] {
	if container == "" {
		return func(yield func(*Cursor, error) bool) {
			yield(nil, errors.New("store: list cursors: empty container name"))
		}
	}
	return s.listCursors(ctx, container, state)
}

func (s *Store) listCursors(ctx context.Context, container string, state CursorState) iter.Seq2[*Cursor, error] {
	var conds []string
	if container != "" {
		pk, _ := CursorKeys(container, "")
		conds = append(conds, "PartitionKey eq "+ODataString(pk))
	}
	if state != "" {
		conds = append(conds, "state eq "+ODataString(string(state)))
	}
	var opts aztables.ListEntitiesOptions
	if len(conds) > 0 {
		f := strings.Join(conds, " and ")
		opts.Filter = &f
	}
	return listEntities(ctx, s.cursors, &opts, "cursors", func(raw []byte) (*Cursor, error) {
		c, err := decodeCursor(raw)
		if err == nil {
			c.ETag, err = entityETag(raw)
		}
		return c, err
	})
}

func encodeCursor(c *Cursor) ([]byte, error) {
	if len(c.MetadataOffsets) > MaxMetadataOffsets {
		return nil, fmt.Errorf("store: cursor %s/%s: %d metadata offsets (limit %d): %w",
			c.Container, c.Blob, len(c.MetadataOffsets), MaxMetadataOffsets, ErrTooLarge)
	}
	offs := make([]string, len(c.MetadataOffsets))
	for i, o := range c.MetadataOffsets {
		offs[i] = strconv.FormatInt(o, 10)
	}
	lastErr := c.LastError
	if len(lastErr) > maxErrorText {
		lastErr = strings.ToValidUTF8(lastErr[:maxErrorText], "") + "…"
	}
	pk, rk := CursorKeys(c.Container, c.Blob)
	e := aztables.EDMEntity{
		Entity: aztables.Entity{PartitionKey: pk, RowKey: rk},
		Properties: map[string]any{
			"container":        c.Container,
			"blob":             c.Blob,
			"next_offset":      aztables.EDMInt64(c.NextOffset),
			"metadata_offsets": strings.Join(offs, ","),
			"blob_etag":        c.BlobETag,
			"blob_length":      aztables.EDMInt64(c.BlobLength),
			"rows":             aztables.EDMInt64(c.Rows),
			"state":            string(c.State),
			"last_error":       lastErr,
			"failed_offset":    aztables.EDMInt64(c.FailedOffset),
			"updated":          edmTime(c.Updated),
			"last_growth":      edmTime(c.LastGrowth),
			"lease_owner":      c.LeaseOwner,
			"lease_until":      edmTime(c.LeaseUntil),
		},
	}
	if !c.Created.IsZero() {
		e.Properties["created"] = edmTime(c.Created)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("store: encode cursor: %w", err)
	}
	return b, nil
}

func decodeCursor(raw []byte) (*Cursor, error) {
	var e aztables.EDMEntity
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("store: decode cursor: %w", err)
	}
	p := props(e.Properties)
	c := &Cursor{
		Container:    p.str("container"),
		Blob:         p.str("blob"),
		NextOffset:   p.int64("next_offset"),
		BlobETag:     p.str("blob_etag"),
		BlobLength:   p.int64("blob_length"),
		Rows:         p.int64("rows"),
		State:        CursorState(p.str("state")),
		LastError:    p.str("last_error"),
		FailedOffset: p.int64("failed_offset"),
		Created:      p.time("created"),
		Updated:      p.time("updated"),
		LastGrowth:   p.time("last_growth"),
		LeaseOwner:   p.str("lease_owner"),
		LeaseUntil:   p.time("lease_until"),
	}
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
