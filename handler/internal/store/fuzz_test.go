package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// Fuzz targets: go test ./handler/internal/store -run '^$' -fuzz FuzzEscapeKey -fuzztime 30s
// (one target per run). Crashers go to testdata/fuzz/<target>/.

func FuzzEscapeKey(f *testing.F) {
	for _, s := range []string{"", "srv1", "a/b\\c#d?e", "o'brien|!%", "\x00\x7f\u0085\uffff", "\xff\xfe", "日本😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := EscapeKey(s)
		for _, r := range e {
			if forbiddenInKey(r) || r == KeySep || r == '\'' || r == '%' || r == 0xFFFE || r == 0xFFFF {
				t.Fatalf("EscapeKey(%q) = %q contains %U", s, e, r)
			}
		}
		if !utf8.ValidString(e) {
			t.Fatalf("EscapeKey(%q) = %q is not valid UTF-8", s, e)
		}
		back, err := UnescapeKey(e)
		if err != nil || back != s {
			t.Fatalf("UnescapeKey(EscapeKey(%q)) = %q, %v", s, back, err)
		}
		l := limitKey(e)
		if utf16Len(l) > maxKeyUnits || !utf8.ValidString(l) {
			t.Fatalf("limitKey: %d units", utf16Len(l))
		}
		_, _ = UnescapeKey(s) // arbitrary input must not panic
	})
}

func FuzzParseBatchFailure(f *testing.F) {
	f.Add([]byte(batchFailureBody))
	f.Add([]byte("HTTP/1.1 500 x\r\n\r\n{\"odata.error\":{\"code\":1}}"))
	f.Add([]byte("HTTP/1.1 4000\r\n{"))
	f.Fuzz(func(t *testing.T, body []byte) {
		st, _, idx, ok := parseBatchFailure(body)
		if ok && st < 400 {
			t.Fatalf("ok with status %d", st)
		}
		if !ok && (st != 0 || idx != -1) {
			t.Fatalf("not ok but status %d index %d", st, idx)
		}
	})
}

func FuzzDecodeRow(f *testing.F) {
	e, err := BuildEntity("s", "d", "b", time.Unix(1e9, 0), testRecords("f", time.Unix(1e9, 0), 1)[0])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(e.JSON)
	f.Add([]byte(`{"statement":"a","statement_parts":3,"statement_1":"b"}`))
	f.Add([]byte(`{"event_time":"x","event_time@odata.type":"Edm.DateTime"}`))
	f.Add([]byte(`{"statement_parts":2147483647}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := decodeRow(raw)
		if err == nil && r == nil {
			t.Fatal("nil row without error")
		}
	})
}

// FuzzBuildEntity checks that any strings give valid JSON whose split
// properties join back to the input.
func FuzzBuildEntity(f *testing.F) {
	f.Add("srv", "db", "SELECT 1", 10)
	f.Add("a/b", "c|d", strings.Repeat("😀", 40), 7)
	f.Fuzz(func(t *testing.T, server, database, stmt string, repeat int) {
		if repeat < 1 || repeat > 2000 {
			repeat = 1
		}
		stmt = strings.Repeat(stmt, repeat)
		if len(stmt) > 300_000 {
			stmt = stmt[:300_000]
		}
		rec := &audit.Record{EventTime: time.Unix(1e9, 0), Statement: stmt}
		e, err := BuildEntity(server, database, "b", time.Unix(1e9, 0), rec)
		if err != nil {
			return // ErrTooLarge is the only expected error
		}
		var m map[string]any
		if err := json.Unmarshal(e.JSON, &m); err != nil {
			t.Fatalf("invalid JSON: %v", err)
		}
		got, err := joinParts(m, "statement")
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.ToValidUTF8(stmt, "\uFFFD"); got != want && utf8.ValidString(stmt) {
			t.Fatalf("statement changed (len %d → %d)", len(stmt), len(got))
		}
		if m["PartitionKey"] != e.PartitionKey || utf16Len(e.PartitionKey) > maxKeyUnits {
			t.Fatalf("partition key %q", e.PartitionKey)
		}
	})
}

// FuzzBuildRecord checks that any record gives entities within the
// budget whose texts read back whole (invalid UTF-8 bytes as U+FFFD).
func FuzzBuildRecord(f *testing.F) {
	f.Add("SELECT 1", "<x/>", "obj", 10)
	f.Add("<\x01&😀日", "", "", 150_000)
	f.Fuzz(func(t *testing.T, stmt, info, object string, repeat int) {
		if repeat < 1 || repeat > 400_000 {
			repeat = 1
		}
		stmt = strings.Repeat(stmt, repeat)
		if len(stmt) > 2<<20 {
			stmt = stmt[:2<<20]
		}
		rec := &audit.Record{EventTime: time.Unix(1e9, 0), Statement: stmt, AdditionalInformation: info, ObjectName: object}
		ents, _ := BuildRecord("s", "d", "b", time.Unix(1e9, 0), rec)
		for i, e := range ents {
			if e.Size > entityBudget || len(e.JSON) > entityBudget {
				t.Fatalf("entity %d: %d bytes counted, %d of JSON", i, e.Size, len(e.JSON))
			}
		}
		r := roundTrip(t, ents)
		if r.Record.Statement != asStored(stmt) || r.Record.AdditionalInformation != asStored(info) {
			t.Fatalf("texts changed (%d → %d, %d → %d), degraded %q", len(stmt), len(r.Record.Statement), len(info), len(r.Record.AdditionalInformation), r.Degraded)
		}
	})
}
