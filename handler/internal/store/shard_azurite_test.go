package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// dumpEvents returns every entity of the events table by "PK/RK", its
// properties as JSON without the service's own (Timestamp, ETag).
func dumpEvents(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for raw, err := range listEntities(context.Background(), s.events, nil, "dump", func(raw []byte) ([]byte, error) { return raw, nil }) {
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			if strings.HasPrefix(k, "odata.") || strings.HasPrefix(k, "Timestamp") {
				delete(m, k)
			}
		}
		b, _ := json.Marshal(m)
		out[fmt.Sprint(m["PartitionKey"], "/", m["RowKey"])] = string(b)
	}
	return out
}

var fixedNow = func() time.Time { return time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC) }

// TestAzuriteShardedReplay: the rows of one database-hour spread over the
// shard partitions, and a run interrupted and rerun (overlapping parts,
// twice) leaves exactly the entities of one clean run: same keys, same
// properties.
func TestAzuriteShardedReplay(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)
	recs := testRecords("srv1/db1/aud/2026-11-21/20_00_00_000_0.xel", start, 300) // ~97 per hour, 3 hours
	long := strings.Repeat("ab", 40_000)                                          // spilled to continuation entities
	recs[7].Statement, recs[150].Statement = long, long

	clean := newTestStore(t)
	clean.now = fixedNow
	if n, err := clean.UpsertRecords(ctx, "srv1", "db1", "blob.xel", recs); err != nil || n != len(recs) {
		t.Fatalf("clean run: %d, %v", n, err)
	}
	want := dumpEvents(t, clean)

	replayed := newTestStore(t)
	replayed.now = fixedNow
	for _, part := range [][]*audit.Record{recs[:120], recs[60:], recs[60:], recs} {
		if _, err := replayed.UpsertRecords(ctx, "srv1", "db1", "blob.xel", part); err != nil {
			t.Fatal(err)
		}
	}
	got := dumpEvents(t, replayed)
	if len(got) != len(want) {
		t.Fatalf("%d entities after interrupted runs, %d after a clean run", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("entity %s differs after a replay:\n got %s\nwant %s", k, got[k], v)
		}
	}

	// Where the rows went: EventShards partitions per hour, each row in
	// the partition its row key gives.
	perHour := map[string]map[string]bool{}
	count := map[string]int{}
	for _, r := range collectRows(t, clean, EventQuery{Server: "srv1", Database: "db1"}) {
		if want := EventPartitionKey("srv1", "db1", r.RowKey, r.Record.EventTime); r.PartitionKey != want {
			t.Fatalf("row %s in partition %s, want %s", r.RowKey, r.PartitionKey, want)
		}
		hour := r.Record.EventTime.Format(hourLayout)
		if perHour[hour] == nil {
			perHour[hour] = map[string]bool{}
		}
		perHour[hour][r.PartitionKey] = true
		count[hour]++
	}
	if len(perHour) < 3 {
		t.Fatalf("rows in %d hours, want 3", len(perHour))
	}
	for hour, parts := range perHour {
		if count[hour] >= 90 && len(parts) < EventShards*3/4 {
			t.Errorf("hour %s: rows in %d partitions, want them spread over (most of) %d shards", hour, len(parts), EventShards)
		}
	}
}

// TestAzuriteServerAuditLayout: Azure SQL Database's server-level audit
// (2025) writes every database's records under <server>/master/…; each
// row is filed under the record's database_name (the path's database when
// the record has none), so each database is queryable by its name, and
// the row keeps the blob path. Hostile names are escaped and bounded.
func TestAzuriteServerAuditLayout(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	blob := "contoso-sql/master/SqlDbAuditing_ServerAudit/2026-11-21/10_00_00_000_0.xel"
	hostile := "x|y/../'z%#?\x01!" + strings.Repeat("ü", 300)
	dbs := []string{"WideWorldImporters", "master", "Sales", "", hostile}
	recs := testRecords(blob, time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), 200)
	for i, r := range recs {
		r.DatabaseName = dbs[i%len(dbs)]
		r.IsLocalSecondaryReplica = i%10 == 3
	}
	path, err := ingest.ParsePath(blob)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Rows(nil).Upsert(ctx, path, blob, recs); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"WideWorldImporters", "master", "Sales", hostile} {
		var want []string
		for _, r := range recs {
			if r.DatabaseName == db || (db == "master" && r.DatabaseName == "") {
				want = append(want, EventRowKey(r, ""))
			}
		}
		var got []string
		for _, r := range collectRows(t, s, EventQuery{Server: "contoso-sql", Database: db}) {
			got = append(got, r.RowKey)
			if r.Database != db || r.Server != "contoso-sql" || r.Blob != blob {
				t.Errorf("row %s filed as %q/%q from %q", r.RowKey, r.Server, r.Database, r.Blob)
			}
			if utf16Len(r.PartitionKey) > maxKeyUnits {
				t.Errorf("partition key of %d units", utf16Len(r.PartitionKey))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("database %.20q: %d rows, want %d (in time order)", db, len(got), len(want))
		}
	}
	// The whole server: every row once, database after database, each in
	// time order.
	rows := collectRows(t, s, EventQuery{Server: "contoso-sql"})
	if len(rows) != len(recs) {
		t.Fatalf("whole server: %d rows, want %d", len(rows), len(recs))
	}
	seen := map[string]bool{}
	for i, r := range rows {
		if i > 0 && rows[i-1].Database == r.Database && rows[i-1].RowKey >= r.RowKey {
			t.Fatalf("whole server: row %d (%s) not after row %d in database %.20q", i, r.RowKey, i-1, r.Database)
		}
		if i > 0 && rows[i-1].Database != r.Database && seen[r.Database] {
			t.Fatalf("whole server: database %.20q comes back after another", r.Database)
		}
		seen[r.Database] = true
	}
}

// TestAzuriteQueryOrderAcrossPartitions: rows of several files with equal
// event times, spread over shards and hours, come back from the merge in
// row key order (event time, then file, offset, index: ties broken
// deterministically), with From/To bounds exact.
func TestAzuriteQueryOrderAcrossPartitions(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 21, 20, 40, 0, 0, time.UTC)
	var all []*audit.Record
	for _, f := range []string{"a.xel", "b.xel", "c.xel"} {
		recs := testRecords(f, start, 150) // same event times in each file
		if _, err := s.UpsertRecords(ctx, "srv1", "db1", f, recs); err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	var want []string
	for _, r := range all {
		want = append(want, EventRowKey(r, ""))
	}
	slices.Sort(want)
	rows := collectRows(t, s, EventQuery{Server: "srv1", Database: "db1"})
	parts := map[string]bool{}
	var got []string
	for _, r := range rows {
		got = append(got, r.RowKey)
		parts[r.PartitionKey] = true
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rows not in row key order (or missing): %d rows, want %d", len(got), len(want))
	}
	if len(parts) <= EventShards {
		t.Fatalf("rows in %d partitions: the test does not cross shards and hours", len(parts))
	}
	from, to := start.Add(20*time.Minute), start.Add(70*time.Minute)
	var ranged []string
	for _, r := range collectRows(t, s, EventQuery{Server: "srv1", Database: "db1", From: from, To: to}) {
		ranged = append(ranged, r.RowKey)
	}
	lo, hi := timeKey(from), timeKey(to)
	var wantRanged []string
	for _, k := range want {
		if k >= lo && k < hi {
			wantRanged = append(wantRanged, k)
		}
	}
	if len(wantRanged) == 0 || len(wantRanged) == len(want) || !slices.Equal(ranged, wantRanged) {
		t.Fatalf("range: %d rows, want %d of %d", len(ranged), len(wantRanged), len(want))
	}
}

// rekey moves e to partition pk (the legacy layout).
func rekey(e Entity, pk string) Entity {
	old := appendJSONString(nil, e.PartitionKey)
	e.JSON = bytes.Replace(e.JSON, old, appendJSONString(nil, pk), 1)
	e.PartitionKey = pk
	return e
}

// TestAzuriteLegacyRowsFound: rows written before the shards, under
// "<server>|<database>|yyyyMMddHH", are still found by QueryEvents, in
// time order with the sharded ones; a record stored under both (a blob
// replayed after the upgrade) comes back once, from its shard.
func TestAzuriteLegacyRowsFound(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 21, 18, 30, 0, 0, time.UTC)
	recs := testRecords("old.xel", start, 120)
	ents, err := BuildEntities("srv1", "db1", "old.xel", fixedNow(), recs[:80])
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range ents {
		ents[i] = rekey(e, LegacyEventPartitionKey("srv1", "db1", recs[i].EventTime))
	}
	if _, err := s.UpsertEntities(ctx, ents); err != nil {
		t.Fatal(err)
	}
	// Records 60..119 under the new keys: 60..79 are stored twice.
	if _, err := s.UpsertRecords(ctx, "srv1", "db1", "old.xel", recs[60:]); err != nil {
		t.Fatal(err)
	}
	for _, q := range []EventQuery{{Server: "srv1", Database: "db1"}, {Server: "srv1"}} {
		rows := collectRows(t, s, q)
		if len(rows) != len(recs) {
			t.Fatalf("%+v: %d rows, want %d", q, len(rows), len(recs))
		}
		for i, r := range rows {
			if want := EventRowKey(recs[i], ""); r.RowKey != want {
				t.Fatalf("%+v: row %d is %s, want %s", q, i, r.RowKey, want)
			}
			legacy := r.PartitionKey == LegacyEventPartitionKey("srv1", "db1", recs[i].EventTime)
			if legacy != (i < 60) {
				t.Fatalf("%+v: row %d read from partition %s", q, i, r.PartitionKey)
			}
			if !recordsEqual(r.Record, wantRecord(recs[i])) {
				t.Fatalf("row %d differs", i)
			}
		}
	}
	// Time bounds apply to the legacy partitions too.
	from, to := recs[10].EventTime.Truncate(time.Second), recs[70].EventTime.Truncate(time.Second)
	rows := collectRows(t, s, EventQuery{Server: "srv1", Database: "db1", From: from, To: to})
	if len(rows) != 60 || rows[0].RowKey != EventRowKey(recs[10], "") {
		t.Fatalf("range over legacy and sharded rows: %d rows, want 60 from record 10", len(rows))
	}
}
