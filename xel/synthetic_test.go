package xel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

const start2020 = 132223104000000000 // 2020-01-01T00:00:00Z as FILETIME

var testGUID = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

const testGUIDText = "03020100-0504-0706-0809-0a0b0c0d0e0f"

// testPackage is package index 1 "test": one event with a field of every
// base type, a map, a bitmask map and three actions.
func testPackage() tPkg {
	fields := []tField{
		{"i8", typeRID(TypeInt8), 0}, {"i16", typeRID(TypeInt16), 1},
		{"i32", typeRID(TypeInt32), 3}, {"i64", typeRID(TypeInt64), 7},
		{"u8", typeRID(TypeUint8), 15}, {"u16", typeRID(TypeUint16), 16},
		{"u32", typeRID(TypeUint32), 18}, {"u64", typeRID(TypeUint64), 22},
		{"f32", typeRID(TypeFloat32), 30}, {"f64", typeRID(TypeFloat64), 34},
		{"cpu", typeRID(TypeCPUCycle), 42}, {"ft", typeRID(TypeFiletime), 50},
		{"ptr", typeRID(TypePtr), 58}, {"flag", typeRID(TypeBoolean), 66},
		{"act", typeRID(TypeActivityID), 67}, {"actx", typeRID(TypeActivityIDXfer), 87},
		{"ansi", typeRID(TypeAnsiString), 107}, {"text", typeRID(TypeUnicodeString), 115},
		{"guid", typeRID(TypeGUID), 123}, {"bin", typeRID(TypeBinary), 131},
		{"stack", typeRID(TypeCallstack), 139}, {"xml", typeRID(TypeXML), 147},
		{"empty", typeRID(TypeUnicodeString), 155}, {"color", rid(ridKindMap, 1, 0), 163},
		{"opts", rid(ridKindMap, 1, 1), 167},
		{"zz\uE000", typeRID(TypeUint8), 171}, {"zz\U0001F600", typeRID(TypeUint8), 172},
	}
	return tPkg{
		index: 1, name: "test", start: start2020, freq: 10_000_000,
		events: []tEvent{{idx: 0, name: "all_types", fields: fields}},
		actions: []tAction{
			{0, "session_id", typeRID(TypeUint16), 2},
			{1, "client_app_name", typeRID(TypeUnicodeString), 0},
			{2, "attach_activity_id", typeRID(TypeActivityID), 20},
			{3, "u8", rid(ridKindMap, 1, 0), 4}, // an action named like a field
		},
		maps: []tMap{
			{idx: 0, name: "color", size: 4, keys: []uint32{2, 0, 1}, texts: []string{"Blue", "Red", "Green"}},
			{idx: 1, name: "opts", bitmask: true, size: 4, keys: []uint32{0, 1, 2, 4}, texts: []string{"None", "A", "B", "C"}},
		},
	}
}

const allTypesFixed = 173

func allTypesPayload() []byte {
	p := newPayload(allTypesFixed)
	p.u8(0, 0xFB)                // -5
	p.u16(1, uint16(0xFED4))     // -300
	p.u32(3, uint32(0xFFFEEE90)) // -70000
	p.u64(7, 1<<63)              // MinInt64
	p.u8(15, 200)
	p.u16(16, 65535)
	p.u32(18, 4000000000)
	p.u64(22, 18446744073708437504)
	p.u32(30, math.Float32bits(0.1))
	p.u64(34, math.Float64bits(198.0198))
	p.u64(42, 12345)
	p.u64(50, 0)
	p.u64(58, 0x00007FF712345678)
	p.u8(66, 1)
	p.put(67, testGUID).u32(83, 7)
	p.put(87, testGUID).u32(103, 1)
	p.vardata(107, []byte("caf\xe9"))
	p.vardata(115, append(utf16le("q\"b\\n\n\t\x01 \U0001F600 é"), u16s(0xD800, 'x')...))
	p.vardata(123, testGUID)
	p.vardata(131, []byte{0xDE, 0xAD, 0xBE, 0xEF})
	stack := make([]byte, 16)
	binary.LittleEndian.PutUint64(stack, 0x00007FFF4F6EF369)
	binary.LittleEndian.PutUint64(stack[8:], 0x10)
	p.vardata(139, stack)
	p.vardata(147, utf16le("<a b=\"1\"/>"))
	p.u32(155, 0xFFFFFFF0).u32(159, 0) // zero length: the offset must not be used
	p.u32(163, 2)
	p.u32(167, 5)
	p.u8(171, 1)
	p.u8(172, 2)
	return p.b
}

func allTypesActions() []tActionVal {
	act := append(append([]byte{}, testGUID...), 3, 0, 0, 0)
	return []tActionVal{
		{rid(ridKindAction, 1, 0), []byte{0x39, 0x05}},
		{rid(ridKindAction, 1, 1), utf16le("app")},
		{rid(ridKindAction, 1, 2), act},
		{rid(ridKindAction, 1, 3), []byte{9, 0, 0, 0}},
	}
}

const allTypesJSON = `{"name":"all_types","timestamp":"2020-01-01T00:00:01.2345678Z","fields":{` +
	`"act":"03020100-0504-0706-0809-0a0b0c0d0e0f:7","actx":"03020100-0504-0706-0809-0a0b0c0d0e0f:1",` +
	`"ansi":"café","bin":"0xDEADBEEF","color":"Blue","cpu":12345,"empty":"","f32":0.1,"f64":198.0198,` +
	`"flag":true,"ft":"1601-01-01T00:00:00.0000000Z","guid":"03020100-0504-0706-0809-0a0b0c0d0e0f",` +
	`"i16":-300,"i32":-70000,"i64":-9223372036854775808,"i8":-5,"opts":"A,C","ptr":"0x00007FF712345678",` +
	`"stack":"0x00007FFF4F6EF369\r\n0x0000000000000010\r\n","text":"q\"b\\n\n\t\u0001 😀 é\ud800x",` +
	`"u16":65535,"u32":4000000000,"u64":18446744073708437504,"u8":200,"xml":"<a b=\"1\"/>",` +
	`"zz😀":2,"zz` + "\uE000" + `":1},` +
	`"actions":{"attach_activity_id":"03020100-0504-0706-0809-0a0b0c0d0e0f:3","client_app_name":"app","session_id":1337,"u8":"9"}}`

// clockPackages: index 2 also called "test" with a QPC clock, index 3
// with frequency 0.
func clockPackages() []tPkg {
	return []tPkg{
		{index: 2, name: "test", start: start2020, freq: 2_725_525,
			events: []tEvent{{idx: 0, name: "qpc_event", fields: []tField{{"n", typeRID(TypeUint32), 0}}}}},
		{index: 3, name: "zero", start: start2020, freq: 0,
			events: []tEvent{{idx: 0, name: "zero_event"}}},
	}
}

// synthFile is a file with every feature the decoder knows: all base
// types, maps, actions, three clocks, packages sharing a name, metadata
// in the middle (a new package referring to a map of package 1, and
// package 1 sent again with one more event), a type 2 and a type 3
// buffer, and several event buffers.
func synthFile() (file []byte, want []string) {
	md1 := metadataBuffer(package0(), testPackage())
	md2 := metadataBuffer(clockPackages()...)
	ev1 := eventBuffer(
		record(rid(ridKindEvent, 1, 0), 12345678, allTypesPayload(), allTypesActions()),
		record(rid(ridKindEvent, 2, 0), 2_725_525*1_000_000_000, newPayload(4).u32(0, 42).b, nil),
		record(rid(ridKindEvent, 3, 0), 5, nil, []tActionVal{}),
	)
	late := tPkg{index: 4, name: "late", start: start2020, freq: 10_000_000,
		events: []tEvent{{idx: 0, name: "late_event", fields: []tField{{"c", rid(ridKindMap, 1, 0), 0}}}}}
	resent := testPackage()
	resent.events = []tEvent{{idx: 1, name: "added", fields: []tField{{"s", typeRID(TypeUnicodeString), 0}}}}
	resent.actions, resent.maps = nil, nil
	md3 := metadataBuffer(late, resent)
	ev2 := eventBuffer(
		record(rid(ridKindEvent, 4, 0), 0, newPayload(4).u32(0, 7).b, nil),
		record(rid(ridKindEvent, 1, 1), 10_000_000, newPayload(8).vardata(0, utf16le("hi")).b, nil),
		record(rid(ridKindEvent, 1, 0), 0, allTypesPayload(), nil),
	)
	other := buffer(2, []byte("stream header"))
	index := buffer(3, make([]byte, 40))
	file = xelFile(md1, md2, ev1, other, md3, index, ev2)
	noActions := strings.Replace(allTypesJSON, `"attach_activity_id":"03020100-0504-0706-0809-0a0b0c0d0e0f:3","client_app_name":"app","session_id":1337,"u8":"9"`, "", 1)
	noActions = strings.Replace(noActions, "01.2345678Z", "00.0000000Z", 1)
	want = []string{
		allTypesJSON,
		`{"name":"qpc_event","timestamp":"2051-09-09T01:46:40.0000000Z","fields":{"n":42},"actions":{}}`,
		`{"name":"zero_event","timestamp":"2020-01-01T00:00:00.0000005Z","fields":{},"actions":{}}`,
		`{"name":"late_event","timestamp":"2020-01-01T00:00:00.0000000Z","fields":{"c":"7"},"actions":{}}`,
		`{"name":"added","timestamp":"2020-01-01T00:00:01.0000000Z","fields":{"s":"hi"},"actions":{}}`,
		noActions,
	}
	return file, want
}

func decodeAll(t testing.TB, r *Reader) ([]string, error) {
	t.Helper()
	var got []string
	for {
		ev, err := r.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return got, err
		}
		got = append(got, string(ev.AppendJSON(nil)))
	}
}

func TestSynthetic(t *testing.T) {
	file, want := synthFile()
	readers := map[string]func() (*Reader, error){
		"NewReader":   func() (*Reader, error) { return NewReader(bytes.NewReader(file), nil) },
		"NewReaderAt": func() (*Reader, error) { return NewReaderAt(bytes.NewReader(file), int64(len(file)), nil) },
	}
	for name, open := range readers {
		t.Run(name, func(t *testing.T) {
			r, err := open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeAll(t, r)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d events, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("event %d:\ngot  %s\nwant %s", i, got[i], want[i])
				}
			}
			if got, want := r.End(), int64(len(file)); got != want {
				t.Errorf("End() = %d, want %d", got, want)
			}
			if got, want := r.MetadataOffsets(), metadataOffsetsOf(file); len(want) != 3 || !equalInt64s(got, want) {
				t.Errorf("MetadataOffsets() = %v, want %v (3 buffers)", got, want)
			}
		})
	}
}

// metadataOffsetsOf walks the buffer headers of a well-formed file.
func metadataOffsetsOf(file []byte) []int64 {
	var offs []int64
	for _, b := range buffersOf(file) {
		if binary.LittleEndian.Uint16(file[b+0x0E:]) == bufTypeMetadata {
			offs = append(offs, b)
		}
	}
	return offs
}

// buffersOf returns the offsets of the buffers of a well-formed file.
func buffersOf(file []byte) []int64 {
	var offs []int64
	pos := int64(binary.LittleEndian.Uint16(file[6:]))
	for pos+32 <= int64(len(file)) {
		n := int64(binary.LittleEndian.Uint32(file[pos+0x10:]))
		if n <= 32 {
			break
		}
		offs = append(offs, pos)
		pos += n
	}
	return offs
}

func equalInt64s(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestValueAccessors(t *testing.T) {
	file, _ := synthFile()
	r, err := NewReader(bytes.NewReader(file), nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if ev.Package != "test" || ev.Name != "all_types" || ev.Offset != int64(buffersOf(file)[2]) || ev.Index != 0 {
		t.Errorf("event header = %q %q offset %d index %d", ev.Package, ev.Name, ev.Offset, ev.Index)
	}
	if got, want := ev.Timestamp, time.Date(2020, 1, 1, 0, 0, 1, 234567800, time.UTC); !got.Equal(want) {
		t.Errorf("Timestamp = %v, want %v", got, want)
	}
	field := func(name string) Value {
		v, ok := ev.Field(name)
		if !ok {
			t.Fatalf("field %s missing", name)
		}
		return v
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"i8.Int", field("i8").Int(), int64(-5)},
		{"i8.Kind", field("i8").Kind, KindInt},
		{"i8.Type", field("i8").Type, TypeInt8},
		{"i64.Int", field("i64").Int(), int64(math.MinInt64)},
		{"u64.Uint", field("u64").Uint(), uint64(18446744073708437504)},
		{"u16.Int", field("u16").Int(), int64(65535)},
		{"i16.Uint", field("i16").Uint(), uint64(math.MaxUint64 - 299)},
		{"f32.Float", field("f32").Float(), float64(float32(0.1))},
		{"f64.Float", field("f64").Float(), 198.0198},
		{"f64.Text", field("f64").Text(), "198.0198"},
		{"flag.Bool", field("flag").Bool(), true},
		{"flag.Int", field("flag").Int(), int64(1)},
		{"ansi.Text", field("ansi").Text(), "café"},
		{"ansi.Bytes", string(field("ansi").Bytes()), "caf\xe9"},
		{"text.Text", field("text").Text(), "q\"b\\n\n\t\x01 \U0001F600 é\uFFFDx"},
		{"xml.Text", field("xml").Text(), `<a b="1"/>`},
		{"xml.Type", field("xml").Type, TypeXML},
		{"guid.GUID", field("guid").GUID().String(), testGUIDText},
		{"guid.Text", field("guid").Text(), testGUIDText},
		{"act.GUID", field("act").GUID().String(), testGUIDText},
		{"act.Uint", field("act").Uint(), uint64(0)},
		{"act.Text", field("act").Text(), testGUIDText + ":7"},
		{"bin.Text", field("bin").Text(), "0xDEADBEEF"},
		{"bin.Bytes", string(field("bin").Bytes()), "\xDE\xAD\xBE\xEF"},
		{"stack.Text", field("stack").Text(), "0x00007FFF4F6EF369\r\n0x0000000000000010\r\n"},
		{"ft.Time", field("ft").Time(), time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"ft.Text", field("ft").Text(), "1601-01-01T00:00:00.0000000Z"},
		{"ptr.Text", field("ptr").Text(), "0x00007FF712345678"},
		{"ptr.Uint", field("ptr").Uint(), uint64(0x00007FF712345678)},
		{"empty.Kind", field("empty").Kind, KindString},
		{"empty.Text", field("empty").Text(), ""},
		{"color.Text", field("color").Text(), "Blue"},
		{"color.Uint", field("color").Uint(), uint64(2)},
		{"opts.Text", field("opts").Text(), "A,C"},
		{"i32.Text", field("i32").Text(), "-70000"},
		{"missing.Kind", func() Kind { v, _ := ev.Field("nope"); return v.Kind }(), KindNull},
		{"null.JSON", string(Value{}.AppendJSON(nil)), "null"},
		{"action.Uint", func() uint64 { v, _ := ev.Action("session_id"); return v.Uint() }(), uint64(1337)},
		{"action.Text", func() string { v, _ := ev.Action("client_app_name"); return v.Text() }(), "app"},
		{"actionShadow.Text", func() string { v, _ := ev.Action("u8"); return v.Text() }(), "9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestAllStopsAtError(t *testing.T) {
	file, _ := synthFile()
	cut := file[:len(file)-100]
	r, err := NewReader(bytes.NewReader(cut), nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var last error
	for ev, err := range r.All() {
		if err != nil {
			last = err
			break
		}
		if ev == nil {
			t.Fatal("nil event without error")
		}
		n++
	}
	if n != 3 || !errors.Is(last, ErrTruncated) {
		t.Errorf("All: %d events then %v; want 3 then ErrTruncated", n, last)
	}
	// sticky
	if _, err := r.Next(); !errors.Is(err, ErrTruncated) {
		t.Errorf("Next after error = %v, want the same ErrTruncated", err)
	}
}
