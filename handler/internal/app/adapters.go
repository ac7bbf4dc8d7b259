package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/store"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// cursors adapts store cursors of one container to ingest.Cursors.
type cursors struct {
	st        *store.Store
	container string
}

func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %w", ingest.ErrNotFound, err)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: %w", ingest.ErrConflict, err)
	}
	return err
}

func toStore(container string, c ingest.Cursor) *store.Cursor {
	return &store.Cursor{
		Container: container, Blob: c.Blob, NextOffset: c.Offset, MetadataOffsets: c.MetadataOffsets,
		BlobETag: c.BlobETag, BlobLength: c.BlobLength, Rows: c.Rows, State: store.CursorState(c.State),
		LastError: c.LastError, FailedOffset: c.FailedOffset, Updated: c.UpdatedAt, LastGrowth: c.LastGrowth,
		LeaseOwner: c.LeaseOwner, LeaseUntil: c.LeaseUntil, ETag: etag(c.ETag),
	}
}

func fromStore(c *store.Cursor) ingest.Cursor {
	p, _ := ingest.ParsePath(c.Blob)
	return ingest.Cursor{
		Blob: c.Blob, Server: p.Server, Database: p.Database, Audit: p.Audit,
		Offset: c.NextOffset, MetadataOffsets: c.MetadataOffsets, Rows: c.Rows,
		BlobLength: c.BlobLength, BlobETag: c.BlobETag, LastGrowth: c.LastGrowth,
		State: ingest.State(c.State), LastError: c.LastError, FailedOffset: c.FailedOffset,
		UpdatedAt: c.Updated, LeaseOwner: c.LeaseOwner, LeaseUntil: c.LeaseUntil, ETag: string(c.ETag),
	}
}

func (s cursors) Get(ctx context.Context, blob string) (ingest.Cursor, error) {
	c, err := s.st.GetCursor(ctx, s.container, blob)
	if err != nil {
		return ingest.Cursor{}, mapErr(err)
	}
	return fromStore(c), nil
}

func (s cursors) Create(ctx context.Context, c ingest.Cursor) (ingest.Cursor, error) {
	sc := toStore(s.container, c)
	sc.ETag = ""
	if err := s.st.CreateCursor(ctx, sc); err != nil {
		return ingest.Cursor{}, mapErr(err)
	}
	return fromStore(sc), nil
}

func (s cursors) Update(ctx context.Context, c ingest.Cursor) (ingest.Cursor, error) {
	sc := toStore(s.container, c)
	if err := s.st.UpdateCursor(ctx, sc); err != nil {
		return ingest.Cursor{}, mapErr(err)
	}
	return fromStore(sc), nil
}

func (s cursors) Open(ctx context.Context, max int) ([]ingest.Cursor, error) {
	var out []ingest.Cursor
	for c, err := range s.st.ListCursors(ctx, store.CursorOpen) {
		if err != nil {
			return nil, mapErr(err)
		}
		if c.Container != s.container {
			continue
		}
		out = append(out, fromStore(c))
		if len(out) >= max {
			break
		}
	}
	return out, nil
}

// rows adapts store.UpsertRecordsReport to ingest.Rows: rows stored
// reduced or not at all are logged (the blob goes on).
type rows struct {
	st  *store.Store
	log *slog.Logger
}

// maxRowIssueLogs bounds the log lines of one batch's reduced rows.
const maxRowIssueLogs = 10

func (r rows) Upsert(ctx context.Context, p ingest.Path, blob string, recs []*audit.Record) error {
	rep, err := r.st.UpsertRecordsReport(ctx, p.Server, p.Database, blob, recs)
	if r.log != nil {
		for i, is := range append(rep.Dropped, rep.Degraded...) {
			if i == maxRowIssueLogs {
				r.log.WarnContext(ctx, "more rows stored reduced or dropped", "blob", blob, "reduced", len(rep.Degraded), "dropped", len(rep.Dropped))
				break
			}
			level, msg := slog.LevelWarn, "audit record stored reduced"
			if i < len(rep.Dropped) {
				level, msg = slog.LevelError, "audit record refused by the table service even reduced; not stored"
			}
			r.log.Log(ctx, level, msg, "blob", blob, "audit_file_offset", is.AuditFileOffset, "event_index", is.EventIndex,
				"partition_key", is.PartitionKey, "row_key", is.RowKey, "reason", is.Reason)
		}
	}
	return err
}
