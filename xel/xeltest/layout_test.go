package xeltest

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// These tests check the bytes the Writer produces against the layout of
// the format notes, without a decoder.

var le = binary.LittleEndian

func tinyPackage() Package {
	return Package{
		Name: "tiny",
		Maps: []MapType{{Name: "m", Size: 2, Entries: []MapEntry{{1, "one"}}}},
		Actions: []ActionType{
			{Name: "a_u16", Type: TypeUint16},
			{Name: "a_str", Type: TypeUnicodeString},
		},
		Events: []EventType{{
			Name: "ev",
			UUID: MustGUID("01020304-0506-0708-090a-0b0c0d0e0f10"),
			Fields: []FieldType{
				{Name: "n", Type: TypeInt32},
				{Name: "s", Type: TypeUnicodeString},
				{Name: "k", Map: "m"},
				{Name: "z", Type: TypeBinary},
			},
		}},
	}
}

func TestFileLayout(t *testing.T) {
	var buf bytes.Buffer
	clock := Clock{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Frequency: 10_000_000}
	w, err := NewWriter(&buf, &Options{BufferSize: 1024, Partitions: 2, Clock: &clock, Packages: []Package{tinyPackage()}, TrackPositions: true})
	if err != nil {
		t.Fatal(err)
	}
	at := clock.Start.Add(1500 * time.Millisecond)
	e := Event{Package: "tiny", Name: "ev", Time: at, Fields: map[string]any{"n": int32(-2), "s": "hé", "k": 1},
		Actions: []Action{{Name: "a_u16", Value: uint16(0xBEEF)}, {Name: "a_str", Value: "x"}}}
	for range 3 {
		if err := w.WriteEvent(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	bufs := w.Buffers()

	t.Run("file header", func(t *testing.T) {
		if got := le.Uint32(b[0:]); got != 0xEFAB375A {
			t.Errorf("magic = %#x", got)
		}
		if got := le.Uint16(b[4:]); got != 10 {
			t.Errorf("version = %d", got)
		}
		if got := le.Uint16(b[6:]); got != 512 {
			t.Errorf("header size = %d", got)
		}
		if !bytes.Equal(b[24:512], make([]byte, 488)) {
			t.Errorf("header bytes 24..511 not zero")
		}
	})
	t.Run("buffers", func(t *testing.T) {
		if len(bufs) != 3 || !bufs[0].Metadata || bufs[0].Offset != 512 {
			t.Fatalf("buffers = %+v, want metadata at 512 then 2 event buffers", bufs)
		}
		end := int64(512)
		for i, bi := range bufs {
			h := b[bi.Offset:]
			if bi.Offset != end {
				t.Errorf("buffer %d at %d, want %d", i, bi.Offset, end)
			}
			end += int64(bi.Length)
			if got := le.Uint32(h[0x10:]); int(got) != bi.Length || got%512 != 0 {
				t.Errorf("buffer %d padded length %d", i, got)
			}
			if le.Uint16(h[0x0C:]) != 10 {
				t.Errorf("buffer %d log version %d", i, le.Uint16(h[0x0C:]))
			}
			dataOff, dataLen := int(le.Uint16(h[0x16:])), int(le.Uint32(h[0x18:]))
			if !bytes.Equal(h[dataOff+dataLen:bi.Length], make([]byte, bi.Length-dataOff-dataLen)) {
				t.Errorf("buffer %d padding not zero", i)
			}
			if bi.Metadata {
				if le.Uint16(h[0x0E:]) != 1 || int32(le.Uint32(h[8:])) != -1 || dataOff != 76 {
					t.Errorf("metadata buffer header: type %d seq %d dataoff %d", le.Uint16(h[0x0E:]), int32(le.Uint32(h[8:])), dataOff)
				}
				continue
			}
			if le.Uint16(h[0x0E:]) != 0 || dataOff != 77 {
				t.Errorf("event buffer %d: type %d dataoff %d", i, le.Uint16(h[0x0E:]), dataOff)
			}
			if got := int(le.Uint32(h[4:])); got != bi.Partition {
				t.Errorf("event buffer %d partition field %d, want %d", i, got, bi.Partition)
			}
			if got := int32(le.Uint32(h[8:])); got != bi.Sequence || got != int32(i) {
				t.Errorf("event buffer %d sequence %d, want %d", i, got, i)
			}
			sig := w.opts.Signature
			if !bytes.Equal(h[0x20:0x30], sig[:]) {
				t.Errorf("event buffer %d signature % x", i, h[0x20:0x30])
			}
		}
		if end != int64(len(b)) {
			t.Errorf("buffers end at %d, file is %d bytes", end, len(b))
		}
	})
	t.Run("metadata", func(t *testing.T) {
		d := b[512+76:]
		// package0: header, clock at +32/+40, then its own object header.
		if le.Uint16(d[0:]) != 10 || le.Uint32(d[2:])%8 != 0 {
			t.Errorf("package0 version %d size %d", le.Uint16(d[0:]), le.Uint32(d[2:]))
		}
		if got := le.Uint64(d[32:]); got != Filetime(clock.Start) {
			t.Errorf("start FILETIME = %d, want %d", got, Filetime(clock.Start))
		}
		if got := le.Uint64(d[40:]); got != 10_000_000 {
			t.Errorf("frequency = %d", got)
		}
		if got := le.Uint32(d[48+4:]); got != 8<<28 {
			t.Errorf("package0 RID = %#x", got)
		}
		// The tiny package follows: its RID carries index 1.
		p1 := d[le.Uint32(d[2:]):]
		if got := le.Uint32(p1[48+4:]); got != 8<<28|1 {
			t.Errorf("tiny package RID = %#x", got)
		}
		// The event UUID is the first static attribute, after the
		// counts of the event object header.
		uuid := MustGUID("01020304-0506-0708-090a-0b0c0d0e0f10")
		if i := bytes.Index(b, append(le.AppendUint32(nil, 6<<28|16<<10), appendWstrz(nil, "UUID")...)); i < 0 || !bytes.Equal(b[i+4+10:i+4+10+16], uuid[:]) {
			t.Errorf("UUID static attribute not found or wrong at %d", i)
		}
		// ptr (type 13) has size 8.
		ptr := appendObjHeader(nil, 0, 1, 6<<28|13<<10, "ptr", "Pointer value")
		if i := bytes.Index(b, ptr); i < 0 || b[i+len(ptr)] != 8 {
			t.Errorf("ptr type entry not found or size != 8")
		}
	})
	t.Run("event record", func(t *testing.T) {
		h := b[bufs[1].Offset:]
		rec := h[77:]
		if got := le.Uint32(rec[0:]); got != 0<<28|0<<10|1 {
			t.Errorf("event RID = %#x", got)
		}
		if got := le.Uint32(rec[4:]); got != 10|1<<31 {
			t.Errorf("flags = %#x", got)
		}
		if got := le.Uint64(rec[12:]); got != 15_000_000 {
			t.Errorf("ticks = %d, want 15000000", got)
		}
		L := int(le.Uint32(rec[20:]))
		p := rec[24:]
		// slots: n int32 @0, s descriptor @4, k u16 @12, z descriptor @14; data after 22.
		if int32(le.Uint32(p[0:])) != -2 {
			t.Errorf("n = %d", int32(le.Uint32(p[0:])))
		}
		so, sl := le.Uint32(p[4:]), le.Uint32(p[8:])
		want := utf16.Encode([]rune("hé"))
		if so != 22 || sl != uint32(2*len(want)) {
			t.Errorf("s descriptor = {%d,%d}", so, sl)
		}
		if le.Uint16(p[12:]) != 1 {
			t.Errorf("k = %d", le.Uint16(p[12:]))
		}
		if le.Uint32(p[18:]) != 0 {
			t.Errorf("zero-length z has length %d", le.Uint32(p[18:]))
		}
		if L != 22+4 {
			t.Errorf("payload length %d, want 26", L)
		}
		a := rec[24+L:]
		if le.Uint32(a[0:]) != 1<<28|0<<10|1 || le.Uint32(a[4:]) != 2 || le.Uint16(a[8:]) != 0xBEEF {
			t.Errorf("first action % x", a[:10])
		}
		a = a[10:]
		if le.Uint32(a[0:]) != 1<<28|1<<10|1 || le.Uint32(a[4:]) != 2 {
			t.Errorf("second action % x", a[:10])
		}
		// RID 0x60000000 + length 0, little-endian: 00 00 00 60 00 00 00 00.
		// (The notes spell it "60 00 00 00 ..."; the fixture
		// sqltoolsservice/TestXel_0.xel holds 00 00 00 60 00 00 00 00 after
		// its 149 events' actions, and 60 00 00 00 00 00 00 00 only 10 times.)
		if term := a[10:18]; !bytes.Equal(term, []byte{0, 0, 0, 0x60, 0, 0, 0, 0}) {
			t.Errorf("terminator % x", term)
		}
		if len(rec) > 24+L+10+10+8 && le.Uint32(rec[24+L+28:]) != 0 && le.Uint32(rec[24+L+28+4:]) == 0 {
			t.Errorf("data continues oddly after the terminator")
		}
	})
	t.Run("positions", func(t *testing.T) {
		want := []Position{{bufs[1].Offset, 0}, {bufs[2].Offset, 0}, {bufs[1].Offset, 1}}
		for i, p := range w.Positions() {
			if p != want[i] {
				t.Errorf("position %d = %+v, want %+v", i, p, want[i])
			}
		}
	})
}

func TestWriterErrors(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		ev   Event
		want string
	}{
		{"bad buffer size", Options{BufferSize: 1000}, Event{}, "multiple of 512"},
		{"unknown package", Options{}, Event{Package: "nope", Name: "ev"}, "unknown package"},
		{"unknown event", Options{}, Event{Package: "tiny", Name: "nope"}, "unknown event"},
		{"unknown field", Options{}, Event{Package: "tiny", Name: "ev", Fields: map[string]any{"q": 1}}, "no field"},
		{"wrong Go type", Options{}, Event{Package: "tiny", Name: "ev", Fields: map[string]any{"n": "x"}}, "want an integer"},
		{"unknown action", Options{}, Event{Package: "tiny", Name: "ev", Actions: []Action{{Name: "q"}}}, "unknown action"},
		{"duplicate index", Options{Packages: []Package{{Name: "a", Index: 2}, {Name: "b", Index: 2}}}, Event{}, "already used"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if opts.Packages == nil {
				opts.Packages = []Package{tinyPackage()}
			}
			w, err := NewWriter(&bytes.Buffer{}, &opts)
			if err == nil {
				err = w.WriteEvent(tc.ev)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCodes(t *testing.T) {
	cases := []struct {
		code string
		n    int
		want uint64
	}{
		{"BA", 4, 538984770},
		{"AUSC", 4, 1129534785},
		{"SL", 4, 538987603},
		{"AQ", 2, 20801},
		{"U", 2, 8277},
		{"DB", 2, 16964},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			var got uint64
			if tc.n == 4 {
				got = uint64(ActionIDInt(tc.code))
			} else {
				got = uint64(ClassTypeInt(tc.code))
			}
			if got != tc.want {
				t.Errorf("%q packs to %d, want %d", tc.code, got, tc.want)
			}
		})
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2013, 6, 10, 0, 0, 0, 0, time.UTC)
	at := start.Add(90*time.Minute + 1234567*time.Nanosecond).Truncate(100 * time.Nanosecond)
	cases := []struct {
		freq     uint64
		maxError time.Duration
	}{
		{0, 0},
		{10_000_000, 0},
		{2_725_525, 400 * time.Nanosecond}, // < one QPC tick
	}
	for _, tc := range cases {
		t.Run(strings.TrimSpace(time.Duration(tc.freq).String()), func(t *testing.T) {
			c := Clock{Start: start, Frequency: tc.freq}
			got := c.Time(c.Ticks(at))
			if d := at.Sub(got); d < 0 || d > tc.maxError {
				t.Errorf("Time(Ticks(t)) = %v, off by %v (max %v)", got, d, tc.maxError)
			}
		})
	}
}

func TestGUIDText(t *testing.T) {
	const s = "c6479a6f-f1bd-4759-9881-fcb493821aff"
	g := MustGUID(s)
	if g.String() != s {
		t.Errorf("String() = %s", g.String())
	}
	if g[0] != 0x6f || g[4] != 0xbd || g[6] != 0x59 || g[8] != 0x98 {
		t.Errorf("byte order % x is not .NET order", g[:])
	}
	if _, err := ParseGUID("nope"); err == nil {
		t.Errorf("ParseGUID accepted a bad GUID")
	}
}
