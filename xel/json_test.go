package xel

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/jsonx"
)

func TestAppendJSONStrings(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"utf16 ascii", string(appendJSONUTF16(nil, utf16le("abc"))), `"abc"`},
		{"utf16 escapes", string(appendJSONUTF16(nil, utf16le("\"\\\n\r\t\b\f\x00\x1f\x7f"))), `"\"\\\n\r\t\b\f\u0000\u001f` + "\x7f" + `"`},
		{"utf16 non-ascii", string(appendJSONUTF16(nil, utf16le("é€😀"))), `"é€😀"`},
		{"utf16 lone high surrogate", string(appendJSONUTF16(nil, u16s(0xD83D))), `"\ud83d"`},
		{"utf16 lone low surrogate", string(appendJSONUTF16(nil, u16s('a', 0xDE00, 'b'))), `"a\ude00b"`},
		{"utf16 reversed pair", string(appendJSONUTF16(nil, u16s(0xDE00, 0xD83D))), `"\ude00\ud83d"`},
		{"utf16 high then ascii", string(appendJSONUTF16(nil, u16s(0xD83D, 'x'))), `"\ud83dx"`},
		{"utf16 odd byte dropped", string(appendJSONUTF16(nil, []byte{'a', 0, 'b'})), `"a"`},
		{"latin1", string(appendJSONLatin1(nil, []byte("a\xe9\xff\"\x01"))), `"aéÿ\"\u0001"`},
		{"go string", string(appendJSONString(nil, "a\"\\\n\u2028é")), "\"a\\\"\\\\\\n\u2028é\""},
		{"go string invalid utf8", string(appendJSONString(nil, "a\xffb")), "\"a\ufffdb\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
			if !json.Valid([]byte(tt.got)) {
				t.Errorf("%s is not valid JSON", tt.got)
			}
		})
	}
}

func TestValueJSONNumbers(t *testing.T) {
	f32 := func(f float32) Value {
		return Value{Kind: KindFloat32, Type: TypeFloat32, num: uint64(math.Float32bits(f))}
	}
	f64 := func(f float64) Value { return Value{Kind: KindFloat64, Type: TypeFloat64, num: math.Float64bits(f)} }
	tests := []struct {
		name string
		v    Value
		want string
	}{
		{"float32 0.1", f32(0.1), "0.1"},
		{"float32 large", f32(3.4028235e38), "3.4028235e+38"},
		{"float64 third", f64(1.0 / 3), "0.3333333333333333"},
		{"float64 integral", f64(2), "2"},
		{"float64 tiny", f64(5e-324), "5e-324"},
		{"NaN", f64(math.NaN()), `"NaN"`},
		{"+Inf", f64(math.Inf(1)), `"Infinity"`},
		{"-Inf", f32(float32(math.Inf(-1))), `"-Infinity"`},
		{"int", Value{Kind: KindInt, num: uint64(1<<64 - 1)}, "-1"},
		{"uint max", Value{Kind: KindUint, num: math.MaxUint64}, "18446744073709551615"},
		{"bool false", Value{Kind: KindBool}, "false"},
		{"empty binary", Value{Kind: KindBinary}, `"0x"`},
		{"pointer", Value{Kind: KindPointer, num: 0xAB}, `"0x00000000000000AB"`},
		{"callstack 4-byte frames", Value{Kind: KindCallstack, ptrSize: 4, raw: []byte{1, 0, 0, 0, 2, 0, 0}}, `"0x0000000000000001\r\n"`},
		{"filetime max", Value{Kind: KindTime, num: math.MaxInt64}, `"30828-09-14T02:48:05.4775807Z"`},
		{"filetime negative", Value{Kind: KindTime, num: uint64(1<<64 - 1)}, `"1600-12-31T23:59:59.9999999Z"`},
		{"map unknown key", Value{Kind: KindMap, num: 7, m: &xmap{keys: []uint32{1}, texts: []string{"one"}}}, `"7"`},
		{"map key beyond 32 bits", Value{Kind: KindMap, num: 1 << 40, m: &xmap{keys: []uint32{0}, texts: []string{"zero"}}}, `"1099511627776"`},
		{"bitmask zero without entry", Value{Kind: KindMap, num: 0, m: &xmap{bitmask: true, keys: []uint32{1}, texts: []string{"A"}}}, `""`},
		{"bitmask high bit", Value{Kind: KindMap, num: 1<<63 | 1, m: &xmap{bitmask: true, keys: []uint32{1}, texts: []string{"A\""}}}, `"A\",9223372036854775808"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.v.AppendJSON(nil)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTimestampFormat(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2017, 10, 17, 20, 37, 3, 148205400, time.UTC), "2017-10-17T20:37:03.1482054Z"},
		{time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC), "1601-01-01T00:00:00.0000000Z"},
		{time.Date(2000, 2, 29, 23, 59, 59, 999999999, time.UTC), "2000-02-29T23:59:59.9999999Z"},
		{time.Date(1969, 12, 31, 23, 59, 59, 100, time.UTC), "1969-12-31T23:59:59.0000001Z"},
		{time.Date(2026, 3, 1, 1, 2, 3, 0, time.FixedZone("x", 3600)), "2026-03-01T00:02:03.0000000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := string(appendTimestamp(nil, tt.t)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLessUTF16(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"a", "b", true},
		{"b", "a", false},
		{"a", "ab", true},
		{"ab", "a", false},
		{"a", "a", false},
		{"Z", "a", true},
		{"\U0001F600", "\uE000", true}, // surrogate D83D < E000, unlike byte order
		{"\uE000", "\U0001F600", false},
		{"é", "\U0001F600", true},
		{"x\u00e9", "x\u00ea", true},
	}
	for _, tt := range tests {
		if got := lessUTF16(tt.a, tt.b); got != tt.want {
			t.Errorf("lessUTF16(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestEventJSONWithoutReader(t *testing.T) {
	// An Event built by hand (no metadata) sorts its keys too.
	ev := &Event{
		Name:      "hand\"made",
		Timestamp: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		Fields:    []Field{{"b", Value{Kind: KindInt, num: 2}}, {"a", Value{}}},
		Actions:   []Field{{"z", Value{Kind: KindBool, num: 1}}, {"y", Value{Kind: KindUint, num: 1}}},
	}
	want := `{"name":"hand\"made","timestamp":"2024-05-06T07:08:09.0000000Z","fields":{"a":null,"b":2},"actions":{"y":1,"z":true}}`
	if got := string(ev.AppendJSON(nil)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestPlainASCII4(t *testing.T) {
	// The SWAR test must pass exactly the code units the escaper copies.
	plain := func(u uint16) bool { return u < 0x80 && jsonx.Safe(byte(u), jsonEscaping) }
	for lane := 0; lane < 4; lane++ {
		for u := 0; u <= 0xFFFF; u++ {
			units := [4]uint16{'a', 'b', 'c', 'd'}
			units[lane] = uint16(u)
			var x uint64
			for i, v := range units {
				x |= uint64(v) << (16 * i)
			}
			if got, want := plainASCII4(x), plain(uint16(u)); got != want {
				t.Fatalf("lane %d unit %#04x: got %v, want %v", lane, u, got, want)
			}
		}
	}
}

func TestSortedOrderLong(t *testing.T) {
	// Beyond the insertion-sort size the order must be the same: stable,
	// UTF-16 ordinal.
	names := []string{"b", "a", "\uE000", "\U0001F600", "a", "c"}
	var fs []Field
	for i := range 60 {
		fs = append(fs, Field{Name: names[i%len(names)]})
	}
	got := sortedOrder(nil, fs)
	for i := 1; i < len(got); i++ {
		a, b := fs[got[i-1]].Name, fs[got[i]].Name
		if lessUTF16(b, a) || (a == b && got[i-1] > got[i]) {
			t.Fatalf("order %v not sorted stably at %d (%q, %q)", got, i, a, b)
		}
	}
	if len(got) != 60 {
		t.Fatalf("got %d indexes, want 60", len(got))
	}
}

func TestMapDuplicateKeys(t *testing.T) {
	m := &xmap{keys: []uint32{5, 1, 5, 0}, texts: []string{"five", "one", "FIVE", "zero"}}
	m.sortEntries()
	for k, want := range map[uint64]string{5: "five", 1: "one", 0: "zero"} {
		if got, ok := m.lookup(k); !ok || got != want {
			t.Errorf("lookup(%d) = %q, %v; want %q", k, got, ok, want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindNull: "null", KindMap: "map", KindActivityID: "activity_id", 99: "kind(99)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

// TestJSONStringHostile pins how strings are escaped in xel's JSON (event
// and field names, map texts): as XELite writes them, only '"', '\\' and
// the C0 controls escaped, an invalid UTF-8 byte as the character U+FFFD
// itself, U+2028/U+2029 and HTML characters as they are. xel/jsonx
// tests the escaping on a corpus of hostile strings.
func TestJSONStringHostile(t *testing.T) {
	in := "q\"b\\n\n\x01\b\f<&>\u2028\u2029\xff\ufffdé"
	want := `{"name":"q\"b\\n\n\u0001\b\f<&>` + "\u2028\u2029\ufffd\ufffdé" + `",`
	got := string((&Event{Name: in}).AppendJSON(nil))
	if !strings.HasPrefix(got, want) {
		t.Errorf("name %q: got %s, want %s…", in, got, want)
	}
}
