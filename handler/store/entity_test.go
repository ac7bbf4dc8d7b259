package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/xel/audit"
)

func TestSplitString(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		max       int
		wantParts int
	}{
		{"empty", "", 10, 1},
		{"fits", "abcdefghij", 10, 1},
		{"one over", "abcdefghijk", 10, 2},
		{"exact multiple", strings.Repeat("a", 30), 10, 3},
		{"surrogate pair at boundary", "abcdefghi😀", 10, 2},
		{"astral only", strings.Repeat("😀", 10), 4, 5},
		{"statement 100K", strings.Repeat("SELECT 1;\n", 10000), MaxPieceUnits, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitString(tt.in, tt.max)
			if len(got) != tt.wantParts {
				t.Fatalf("%d parts, want %d", len(got), tt.wantParts)
			}
			if j := strings.Join(got, ""); j != tt.in {
				t.Fatalf("joined parts differ from input")
			}
			for i, p := range got {
				if n := utf16Len(p); n > tt.max {
					t.Fatalf("part %d has %d units, max %d", i, n, tt.max)
				}
				if !utf8.ValidString(p) {
					t.Fatalf("part %d split a rune", i)
				}
			}
		})
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " backslash \`, "<html> & co", "tab\tnl\ncr\r\x00\x01\x1f\x7f",
		"\u2028\u2029", "ü日本😀", "bad \xff\xfe utf8", "\b\f",
	} {
		t.Run(s, func(t *testing.T) {
			want, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendJSONString(nil, s); string(got) != string(want) {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}

func TestBuildEntity(t *testing.T) {
	at := time.Date(2026, 11, 21, 20, 31, 39, 123456789, time.UTC)
	rec := &audit.Record{
		EventTime: at, ActionID: "BA", Succeeded: true, SessionID: -2, TransactionID: -1 << 62,
		ServerPrincipalSID: []byte{1, 2, 3}, ServerInstanceName: "fromrec", DatabaseName: "dbrec",
		Statement: "BACKUP DATABASE x TO URL = '<u>'", FileName: "f.xel", AuditFileOffset: 4096, EventIndex: 2,
		Parts: []audit.Record{{}, {}},
	}
	e, err := BuildEntity("", "", "blob.xel", at, rec)
	if err != nil {
		t.Fatal(err)
	}
	if e.PartitionKey != "fromrec|dbrec|2026112120" {
		t.Errorf("PartitionKey = %q (record columns are the fallback)", e.PartitionKey)
	}
	var m map[string]any
	if err := json.Unmarshal(e.JSON, &m); err != nil {
		t.Fatalf("entity JSON: %v\n%s", err, e.JSON)
	}
	checks := map[string]any{
		"PartitionKey":                    e.PartitionKey,
		"RowKey":                          e.RowKey,
		"event_time":                      "2026-11-21T20:31:39.1234567Z",
		"event_time@odata.type":           "Edm.DateTime",
		"action_id":                       "BA",
		"succeeded":                       true,
		"session_id":                      float64(-2),
		"transaction_id":                  "-4611686018427387904",
		"transaction_id@odata.type":       "Edm.Int64",
		"server_principal_sid":            "AQID",
		"server_principal_sid@odata.type": "Edm.Binary",
		"statement":                       rec.Statement,
		"split_parts":                     float64(2),
		"xw_blob":                         "blob.xel",
		"xw_server":                       "fromrec",
	}
	for k, want := range checks {
		if got := m[k]; got != want {
			t.Errorf("%s = %#v, want %#v", k, got, want)
		}
	}
	if _, ok := m["statement_parts"]; ok {
		t.Errorf("statement_parts written for a short statement")
	}
}

func TestBuildEntityLongStrings(t *testing.T) {
	tests := []struct {
		name      string
		stmt      string
		wantParts int
		wantErr   bool
	}{
		{"100K chars", strings.Repeat("x", 100_000), 4, false},
		{"32000 exactly", strings.Repeat("x", MaxPieceUnits), 1, false},
		{"astral 40K", strings.Repeat("😀", 20_000), 2, false},
		{"over 1 MiB", strings.Repeat("x", 600_000), 0, true},
		{"one string over 1 MiB", strings.Repeat("x", 1<<20), 0, true},
		{"huge", strings.Repeat("日", 1<<20), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &audit.Record{EventTime: time.Unix(1e9, 0), Statement: tt.stmt}
			e, err := BuildEntity("s", "d", "b", time.Unix(1e9, 0), rec)
			if tt.wantErr {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("err = %v, want ErrTooLarge", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Size > MaxEntitySize {
				t.Fatalf("size %d over the limit", e.Size)
			}
			var m map[string]any
			if err := json.Unmarshal(e.JSON, &m); err != nil {
				t.Fatal(err)
			}
			got, err := JoinParts(m, "statement")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.stmt {
				t.Fatalf("joined statement differs (len %d, want %d)", len(got), len(tt.stmt))
			}
			parts := 1
			if v, ok := m["statement_parts"].(float64); ok {
				parts = int(v)
			}
			if parts != tt.wantParts {
				t.Fatalf("statement in %d parts, want %d", parts, tt.wantParts)
			}
		})
	}
}

func TestJoinPartsErrors(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]any
	}{
		{"missing part", map[string]any{"s": "a", "s_parts": int32(3), "s_1": "b"}},
		{"absurd count", map[string]any{"s": "a", "s_parts": int32(100000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := JoinParts(tt.props, "s"); err == nil {
				t.Fatalf("JoinParts = %q, want error", got)
			}
		})
	}
}
