package ingest_test

// The pipeline over the function app's Rows (package store, which
// implements the pipeline's interfaces and so imports ingest: this test
// sits in the external test package).

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/store"
	"github.com/xelwatch/xelwatch/handler/internal/store/storefake"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// storeRows is the function app's Rows (store.UpsertRecordsReport) for
// tests over a fake service.
type storeRows struct {
	st       *store.Store
	mu       sync.Mutex
	degraded []store.RowIssue
}

func (r *storeRows) Upsert(ctx context.Context, p ingest.Path, blob string, recs []*audit.Record) error {
	rep, err := r.st.UpsertRecordsReport(ctx, p.Server, p.Database, blob, recs)
	r.mu.Lock()
	r.degraded = append(r.degraded, rep.Degraded...)
	r.mu.Unlock()
	return err
}

// TestIngestEntityRefused: the table service refuses an entity of the
// padded backup for good (here: any entity over 100 KB, a service
// stricter than the store's estimate). The blob completes: the cursor
// reaches the end, every record has its row (the backup's reduced and
// flagged), and every detection is raised. On the old code the refusal
// failed the run, and the host retried it forever.
func TestIngestEntityRefused(t *testing.T) {
	t.Parallel()
	file, stmt := ingest.PaddedFile(t, 600_000)
	fake := &storefake.Tables{Refuse: func(pk, rk string, body []byte) (int, string) {
		if len(body) > 100_000 {
			return 400, "EntityTooLarge"
		}
		return 0, ""
	}}
	rows := &storeRows{st: store.New(fake.ServiceClient(t), store.Names{})}
	blobs, cursors := ingest.NewMemoryBlobs(), ingest.NewMemoryCursors()
	p := ingest.New(blobs, cursors, rows, ingest.RealEngine(t), ingest.XEL{}, nil, ingest.Options{})
	blobs.Append(ingest.TestBlob, file, ingest.T0)
	res, err := p.Ingest(context.Background(), ingest.TestBlob, ingest.RunOptions{Owner: "inv"})
	if err != nil {
		t.Fatalf("Ingest: %v (a refused entity must not fail the run)", err)
	}
	if res.Outcome != ingest.OutcomeRead || res.Cursor.Offset != int64(len(file)) || res.Cursor.Rows != 3 {
		t.Fatalf("outcome %s, cursor at %d of %d, %d rows", res.Outcome, res.Cursor.Offset, len(file), res.Cursor.Rows)
	}
	if len(rows.degraded) != 1 || !strings.Contains(rows.degraded[0].Reason, "status 400 EntityTooLarge") {
		t.Fatalf("degraded rows %+v, want the backup's", rows.degraded)
	}
	row := fake.Row(rows.degraded[0].PartitionKey, rows.degraded[0].RowKey)
	if row == nil || row["action_id"] != "BA" || !strings.HasPrefix(row[store.PropDegraded].(string), "refused by the table service") ||
		!strings.HasPrefix(stmt, row["statement"].(string)) || row["statement_length"] != strconv.Itoa(len(stmt)) {
		t.Fatalf("backup row stored as %v", row)
	}
	got := ingest.RulesOf(res.Findings)
	for _, want := range []string{"AUD-001", "EVA-001", "EXF-001", "EXF-002"} {
		if !slices.Contains(got, want) {
			t.Errorf("rule %s not raised; findings: %v", want, got)
		}
	}
}
