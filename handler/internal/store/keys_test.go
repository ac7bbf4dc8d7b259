package store

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// forbiddenInKey reports a character the service rejects in keys, or one
// our scheme reserves.
func forbiddenInKey(r rune) bool {
	return strings.ContainsRune(`/\#?`, r) || r < 0x20 || (r >= 0x7F && r <= 0x9F)
}

func TestEscapeKey(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "srv1.database.windows.net", "srv1.database.windows.net"},
		{"empty", "", ""},
		{"slash", "a/b", "a!2Fb"},
		{"all forbidden", `/\#?`, "!2F!5C!23!3F"},
		{"separator and escape", "a|b!c", "a!7Cb!21c"},
		{"quote and percent", "o'brien%", "o!27brien!25"},
		{"control", "a\x00b\x1fc\x7f", "a!00b!1Fc!7F"},
		{"C1 control", "a\u0085b", "a!C2!85b"},
		{"non-ASCII kept", "Überprüfung_日本", "Überprüfung_日本"},
		{"invalid UTF-8", "a\xffb", "a!FFb"},
		{"noncharacter", "a\uffffb", "a!EF!BF!BFb"},
		{"tilde kept", "a~b", "a~b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EscapeKey(tt.in)
			if got != tt.want {
				t.Fatalf("EscapeKey(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for _, r := range got {
				if forbiddenInKey(r) || r == KeySep {
					t.Fatalf("EscapeKey(%q) = %q contains %q", tt.in, got, r)
				}
			}
			back, err := UnescapeKey(got)
			if err != nil || back != tt.in {
				t.Fatalf("UnescapeKey(%q) = %q, %v; want %q", got, back, err, tt.in)
			}
		})
	}
}

func TestUnescapeKeyErrors(t *testing.T) {
	for _, in := range []string{"a!", "a!2", "a!zz", "abc!~0123456789abcdef"} {
		t.Run(in, func(t *testing.T) {
			if got, err := UnescapeKey(in); err == nil {
				t.Fatalf("UnescapeKey(%q) = %q, want error", in, got)
			}
		})
	}
}

func TestLimitKey(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"ascii", strings.Repeat("a", 2000)},
		{"BMP", strings.Repeat("ü", 600)},
		{"astral", strings.Repeat("😀", 300)},
		{"mixed", strings.Repeat("ab😀", 200)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := limitKey(tt.in)
			if n := utf16Len(got); n > maxKeyUnits {
				t.Fatalf("limitKey: %d UTF-16 units, want <= %d", n, maxKeyUnits)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("limitKey cut inside a rune: %q", got[len(got)-30:])
			}
			if !strings.Contains(got, "!~") {
				t.Fatalf("limitKey(%d bytes) has no hash marker", len(tt.in))
			}
			other := limitKey(tt.in[:len(tt.in)-len("a")] + "b")
			if other == got {
				t.Fatalf("two different long keys share %q", got)
			}
		})
	}
	short := strings.Repeat("x", maxKeyUnits)
	if got := limitKey(short); got != short {
		t.Fatalf("limitKey changed a key at the limit")
	}
}

func TestEventKeys(t *testing.T) {
	at := time.Date(2026, 11, 21, 20, 31, 39, 123456789, time.UTC)
	rec := &audit.Record{EventTime: at, FileName: "f.xel", AuditFileOffset: 0x2000, EventIndex: 3}
	rk := EventRowKey(rec, "")
	want := "20261121203139" + "1234567" + "|" + FileHash("f.xel") + "|0000000000002000|00000003"
	if rk != want {
		t.Errorf("EventRowKey = %q, want %q", rk, want)
	}
	shard := shardKey(eventShard(rk))
	if got, want := EventPartitionKey("srv/1", "db|1", rk, at), "srv!2F1|db!7C1|"+shard+"|2026112120"; got != want {
		t.Errorf("EventPartitionKey = %q, want %q", got, want)
	}
	if got := EventPartitionKey("s", "d", rk, at.In(time.FixedZone("x", 5*3600))); got != "s|d|"+shard+"|2026112120" {
		t.Errorf("EventPartitionKey of a zoned time = %q, want the UTC hour", got)
	}
	if got := LegacyEventPartitionKey("srv/1", "db|1", at); got != "srv!2F1|db!7C1|2026112120" {
		t.Errorf("LegacyEventPartitionKey = %q", got)
	}
	if got := EventRowKey(&audit.Record{EventTime: at, AuditFileOffset: 0x2000, EventIndex: 3}, "f.xel"); got != rk {
		t.Errorf("EventRowKey with fallback file = %q, want %q", got, rk)
	}
	// Row keys sort by time, then file position.
	later := *rec
	later.EventTime = at.Add(100 * time.Nanosecond)
	if !(rk < EventRowKey(&later, "")) {
		t.Errorf("row key of a later event does not sort after")
	}
	next := *rec
	next.EventIndex = 4
	if !(rk < EventRowKey(&next, "")) {
		t.Errorf("row key of the next event index does not sort after")
	}
	// Long server and database names keep the hour at the end.
	long := strings.Repeat("s", 1000)
	pk := EventPartitionKey(long, long, rk, at)
	if !strings.HasSuffix(pk, "|"+shard+"|2026112120") || utf16Len(pk) > maxKeyUnits {
		t.Errorf("long partition key %q (%d units) lost the hour or the limit", pk[len(pk)-40:], utf16Len(pk))
	}
}

func TestCursorAndDetectionKeys(t *testing.T) {
	pk, rk := CursorKeys("sqldbauditlogs", "srv/db/SqlDbAuditing_ServerAudit/2026-11-21/20_31_39_123_0.xel")
	if pk != "sqldbauditlogs" || rk != "srv!2Fdb!2FSqlDbAuditing_ServerAudit!2F2026-11-21!2F20_31_39_123_0.xel" {
		t.Errorf("CursorKeys = %q, %q", pk, rk)
	}
	pk, rk = detectionKeys("EXF-001:abc#1")
	if pk != "EXF-001:abc!231" || rk != "detection" {
		t.Errorf("detectionKeys = %q, %q", pk, rk)
	}
}

// TestEventShards: the shard is a pure function of the row key (a replay
// files a record in the same partition), always below EventShards, and
// the records of one file spread over every shard, about evenly. A
// sharded key never falls in a legacy key's hour range.
func TestEventShards(t *testing.T) {
	counts := make([]int, EventShards)
	recs := testRecords("srv1/db1/aud/2026-11-21/20_10_00_000_0.xel", time.Date(2026, 11, 21, 20, 10, 0, 0, time.UTC), 1600)
	for _, rec := range recs {
		rk := EventRowKey(rec, "")
		sh := eventShard(rk)
		if sh < 0 || sh >= EventShards {
			t.Fatalf("shard %d of %s", sh, rk)
		}
		if again := eventShard(strings.Clone(rk)); again != sh {
			t.Fatalf("shard of %s: %d, then %d", rk, sh, again)
		}
		counts[sh]++
	}
	for i, n := range counts {
		if n < 1600/EventShards/2 || n > 2*1600/EventShards {
			t.Errorf("shard %d holds %d of 1600 records: %v", i, n, counts)
		}
	}
	// Stable across releases: the shard is part of the stored key.
	if got := eventShard("202611212031391234567|463750509ed456dd|0000000000001000|00000002"); got != 6 {
		t.Errorf("eventShard of the example row key = %d; changing the shard function is a new key scheme", got)
	}
	at := time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)
	sharded := EventPartitionKey("s", "d", "r", at)
	q := EventQuery{Server: "s", Database: "d"}
	if legacy := q.rangeFilter(eventPartitionPrefix("s", "d")); !strings.Contains(legacy, "lt 's|d|:'") || !(sharded > "s|d|:") {
		t.Errorf("legacy range %q would include the sharded key %q", legacy, sharded)
	}
}
