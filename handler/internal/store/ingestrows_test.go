package store

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/store/storefake"
)

// TestRowsLogsReducedRow: the pipeline's Rows stores a batch whose one
// record the service refuses in full, succeeds, and logs that row as
// stored reduced with its keys and reason (never the statement).
func TestRowsLogsReducedRow(t *testing.T) {
	f := &storefake.Tables{Refuse: func(pk, rk string, body []byte) (int, string) {
		if len(body) > 100_000 {
			return 400, "EntityTooLarge"
		}
		return 0, ""
	}}
	var logs bytes.Buffer
	rows := newFakeStore(t, f).Rows(slog.New(slog.NewJSONHandler(&logs, nil)))
	recs := refusedRecords()
	if err := rows.Upsert(context.Background(), ingest.Path{Server: "srv1", Database: "db1"}, "b", recs); err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	out := logs.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, `"msg":"audit record stored reduced"`) ||
		!strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, "400 EntityTooLarge") {
		t.Fatalf("logs %s, want one warning for the reduced row", out)
	}
	if strings.Contains(out, recs[1].Statement[:100]) {
		t.Fatal("the statement reached the log")
	}
}
