package audit_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

func sampleRecord(t *testing.T) *audit.Record {
	t.Helper()
	a := fullAuditEvent(3)
	a.Statement = "SELECT N'quote\" backslash\\ tab\t nl\n ctl\x01 ls\u2028 é 😀'"
	data, _ := newFile(t, nil, func(w *xeltest.Writer) error { return w.WriteAudit(a) })
	recs, _, err := readAll(t, data, nil)
	if err != nil || len(recs) != 1 {
		t.Fatalf("readAll: %d records, %v", len(recs), err)
	}
	return recs[0]
}

func TestAppendJSON(t *testing.T) {
	r := sampleRecord(t)
	b := r.AppendJSON(nil)
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// Key order is Columns order.
	dec := json.NewDecoder(bytes.NewReader(b))
	var keys []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(keys, audit.Columns()) {
		t.Errorf("keys = %v,\nwant %v", keys, audit.Columns())
	}
	cases := []struct {
		key  string
		want any
	}{
		{"event_time", r.EventTime.UTC().Format("2006-01-02T15:04:05.0000000Z")},
		{"action_id", "BA"},
		{"action_name", "BACKUP"},
		{"class_type", "DB"},
		{"class_type_desc", "DATABASE"},
		{"statement", r.Statement},
		{"succeeded", true},
		{"session_id", float64(63)},
		{"server_principal_sid", "0x010500000000000515000000AA"},
		{"sequence_group_id", "0xDEADBEEF0102030405060708090A0B0C"},
		{"connection_id", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
		{"file_name", r.FileName},
		{"audit_file_offset", float64(r.AuditFileOffset)},
		{"transaction_id", float64(123456789)},
		{"is_local_secondary_replica", true},
		{"statement_truncated", false},
		{"part_count", float64(0)},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			if got := m[tc.key]; got != tc.want {
				t.Errorf("%s = %#v, want %#v", tc.key, got, tc.want)
			}
		})
	}
	if !strings.Contains(string(b), `\u2028`) {
		t.Errorf("U+2028 not escaped in %s", b)
	}
	// The 7-decimal time format is fixed width.
	if ts := m["event_time"].(string); len(ts) != len("2006-01-02T15:04:05.0000000Z") {
		t.Errorf("event_time %q is not fixed width", ts)
	}
}

func TestAppendJSONInvalidUTF8(t *testing.T) {
	r := &audit.Record{Statement: "a\xffb", EventTime: time.Unix(0, 0)}
	b := r.AppendJSON(nil)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	if got := m["statement"]; got != "a\ufffdb" {
		t.Errorf("statement = %q, want %q", got, "a\ufffdb")
	}
	if got := m["permission_bitmask"]; got != "" {
		t.Errorf("empty binary = %q, want empty string", got)
	}
}

func TestCSV(t *testing.T) {
	r := sampleRecord(t)
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	if err := cw.Write(audit.CSVHeader()); err != nil {
		t.Fatal(err)
	}
	if err := cw.Write(r.AppendCSV(nil)); err != nil {
		t.Fatal(err)
	}
	cw.Flush()
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(rows[0]) != len(rows[1]) {
		t.Fatalf("rows %d, widths %d/%d", len(rows), len(rows[0]), len(rows[1]))
	}
	got := map[string]string{}
	for i, h := range rows[0] {
		got[h] = rows[1][i]
	}
	want := map[string]string{
		"action_id": "BA", "action_name": "BACKUP", "statement": r.Statement, "succeeded": "1",
		"is_column_permission": "1", "session_id": "63", "server_principal_sid": "0x010500000000000515000000AA",
		"event_time": r.EventTime.UTC().Format("2006-01-02T15:04:05.0000000Z"), "incomplete": "0",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestAppendJSONHostileStrings pins how AppendJSON escapes a string
// column: '"', '\\' and the C0 controls escaped (backspace and form feed
// as \u0008 and \u000c), an invalid UTF-8 byte as the escape \ufffd,
// U+2028/U+2029 escaped, HTML characters as they are. xel/jsonx tests
// the escaping on a corpus of hostile strings.
func TestAppendJSONHostileStrings(t *testing.T) {
	in := "q\"b\\n\n\x01\b\f<&>\u2028\u2029\xff\ufffdé"
	want := `,"statement":"q\"b\\n\n\u0001\u0008\u000c<&>\u2028\u2029\ufffd` + "\ufffdé" + `",`
	got := string((&audit.Record{Statement: in}).AppendJSON(nil))
	if !strings.Contains(got, want) {
		t.Errorf("statement %q: got %s, want …%s…", in, got, want)
	}
}
