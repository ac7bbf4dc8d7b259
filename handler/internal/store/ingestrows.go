package store

import (
	"context"
	"log/slog"

	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// Rows is the AuditEvents table as the pipeline stores records: it
// implements ingest.Rows with UpsertRecordsReport, and logs the rows
// stored reduced or not at all (the blob goes on).
type Rows struct {
	s   *Store
	log *slog.Logger
}

var _ ingest.Rows = Rows{}

// Rows returns the pipeline's Rows on s; log (nil: none) gets the rows
// stored reduced or dropped.
func (s *Store) Rows(log *slog.Logger) Rows { return Rows{s: s, log: log} }

// maxRowIssueLogs bounds the log lines of one batch's reduced rows.
const maxRowIssueLogs = 10

// Upsert implements ingest.Rows.
func (r Rows) Upsert(ctx context.Context, p ingest.Path, blob string, recs []*audit.Record) error {
	rep, err := r.s.UpsertRecordsReport(ctx, p.Server, p.Database, blob, recs)
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
