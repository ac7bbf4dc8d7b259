package xel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/xelwatch/xelwatch/xel/xeltest"
	"github.com/xelwatch/xelwatch/xel/xeltest/fixtures"
)

// testFiles returns the synthetic file and, when present, a few fixtures
// of different shapes (tiny, many interleaved buffers, QPC clock).
func testFiles(t *testing.T) map[string][]byte {
	synth, _ := synthFile()
	files := map[string][]byte{"synthetic": synth}
	if testing.Short() {
		return files
	}
	for _, f := range fixtures.Files(t) {
		switch {
		case strings.Contains(f.Rel, "131532571347210000"), // smallest
			strings.Contains(f.Rel, "system_health_0_131532571346430000"), // 7 packages
			strings.Contains(f.Rel, "sqlhealth"),                          // QPC clock
			strings.Contains(f.Rel, "TestXel_0"):                          // actions
			files[f.Rel] = readFixture(t, f)
		}
	}
	return files
}

type decoded struct {
	json   string
	offset int64
	index  int
}

func decodeEvents(t testing.TB, r *Reader) ([]decoded, error) {
	t.Helper()
	var out []decoded
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, decoded{string(ev.AppendJSON(nil)), ev.Offset, ev.Index})
	}
}

// cutPoints lists file sizes to try: every buffer boundary, and points
// inside each buffer (in its header, and in its body).
func cutPoints(b []byte) (boundaries, inside []int64) {
	bufs := buffersOf(b)
	for i, off := range bufs {
		boundaries = append(boundaries, off)
		end := int64(len(b))
		if i+1 < len(bufs) {
			end = bufs[i+1]
		}
		inside = append(inside, off+1, off+31, off+(end-off)/2, end-1)
	}
	boundaries = append(boundaries, int64(len(b)))
	return boundaries, inside
}

func bufferAt(b []byte, pos int64) int64 {
	var at int64 = -1
	for _, off := range buffersOf(b) {
		if off <= pos {
			at = off
		}
	}
	return at
}

func TestResumeAtEveryBoundary(t *testing.T) {
	for name, b := range testFiles(t) {
		t.Run(name, func(t *testing.T) {
			r, err := NewReaderAt(bytes.NewReader(b), int64(len(b)), nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := decodeEvents(t, r)
			if err != nil {
				t.Fatal(err)
			}
			boundaries, inside := cutPoints(b)
			sizes := append(slices.Clone(boundaries), inside...)
			slices.Sort(sizes)
			// Simulate a growing blob: each run sees a longer prefix and
			// resumes where the previous one ended.
			var got []decoded
			var end int64
			var meta []int64
			for _, size := range sizes {
				if size < 512 {
					continue
				}
				r, err := NewReaderAt(bytes.NewReader(b[:size]), size, &Options{StartOffset: end, MetadataOffsets: meta})
				if err != nil {
					t.Fatalf("size %d: NewReaderAt: %v", size, err)
				}
				evs, err := decodeEvents(t, r)
				if err != nil && !errors.Is(err, ErrTruncated) {
					t.Fatalf("size %d: %v", size, err)
				}
				if slices.Contains(boundaries, size) != (err == nil) {
					t.Errorf("size %d: err = %v; a boundary must end cleanly, a cut buffer with ErrTruncated", size, err)
				}
				got = append(got, evs...)
				end, meta = r.End(), r.MetadataOffsets()
			}
			if len(got) != len(want) {
				t.Fatalf("resumed runs gave %d events, one pass %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("event %d differs:\nresumed  %+v\none pass %+v", i, got[i], want[i])
				}
			}
			if end != int64(len(b)) {
				t.Errorf("final End() = %d, want %d", end, len(b))
			}
		})
	}
}

func TestTruncated(t *testing.T) {
	for name, b := range testFiles(t) {
		r, err := NewReaderAt(bytes.NewReader(b), int64(len(b)), nil)
		if err != nil {
			t.Fatal(err)
		}
		all, err := decodeEvents(t, r)
		if err != nil {
			t.Fatal(err)
		}
		bufs := buffersOf(b)
		bufEnd := func(off int64) int64 {
			i := slices.Index(bufs, off)
			if i+1 < len(bufs) {
				return bufs[i+1]
			}
			return int64(len(b))
		}
		boundaries, inside := cutPoints(b)
		cuts := append(slices.Clone(boundaries), inside...)
		for _, cut := range cuts {
			var want []decoded
			for _, ev := range all {
				if bufEnd(ev.offset) <= cut {
					want = append(want, ev)
				}
			}
			clean := slices.Contains(boundaries, cut)
			wantEnd := cut
			if !clean {
				wantEnd = bufferAt(b, cut)
			}
			for _, m := range readerModes[:2] {
				t.Run(name+"/"+m.name+"/"+itoa(cut), func(t *testing.T) {
					r, err := m.open(b[:cut])
					if err != nil {
						t.Fatal(err)
					}
					got, err := decodeEvents(t, r)
					if clean {
						if err != nil {
							t.Fatalf("cut at a buffer boundary: %v, want clean EOF", err)
						}
					} else {
						var fe *FormatError
						if !errors.Is(err, ErrTruncated) || !errors.As(err, &fe) || fe.Offset != wantEnd {
							t.Fatalf("err = %v, want *FormatError ErrTruncated at offset %d", err, wantEnd)
						}
					}
					if len(got) != len(want) || (len(want) > 0 && got[len(got)-1] != want[len(want)-1]) {
						t.Errorf("got %d events, want %d (all events of complete buffers)", len(got), len(want))
					}
					if r.End() != wantEnd {
						t.Errorf("End() = %d, want %d", r.End(), wantEnd)
					}
				})
			}
		}
	}
}

func TestFileHeaderCut(t *testing.T) {
	b, _ := synthFile()
	for _, cut := range []int{0, 3, 7, 8, 100, 511} {
		for _, m := range readerModes[:2] {
			t.Run(m.name+"/"+itoa(int64(cut)), func(t *testing.T) {
				_, err := m.open(b[:cut])
				if !errors.Is(err, ErrTruncated) {
					t.Errorf("err = %v, want ErrTruncated", err)
				}
			})
		}
	}
}

func TestZeroedTail(t *testing.T) {
	b, want := synthFile()
	tails := map[string][]byte{
		"zeroed buffer":    make([]byte, 512),
		"zeroed 4 buffers": make([]byte, 2048),
	}
	for name, tail := range tails {
		file := append(slices.Clone(b), tail...)
		for _, m := range readerModes[:2] {
			t.Run(name+"/"+m.name, func(t *testing.T) {
				r, err := m.open(file)
				if err != nil {
					t.Fatal(err)
				}
				got, err := decodeAll(t, r)
				if err != nil {
					t.Fatalf("err = %v, want clean EOF", err)
				}
				if len(got) != len(want) {
					t.Errorf("got %d events, want %d", len(got), len(want))
				}
				if r.End() != int64(len(b)) {
					t.Errorf("End() = %d, want %d", r.End(), len(b))
				}
			})
		}
	}
	// less than a buffer header, even zeros, is a cut file
	for _, tail := range [][]byte{{1, 2, 3}, make([]byte, 31)} {
		file := append(slices.Clone(b), tail...)
		r, _ := NewReader(bytes.NewReader(file), nil)
		if _, err := decodeAll(t, r); !errors.Is(err, ErrTruncated) || r.End() != int64(len(b)) {
			t.Errorf("partial header %v: err = %v, End() = %d; want ErrTruncated at %d", tail, err, r.End(), len(b))
		}
	}
}

func putU32(b []byte, off int64, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
func putU16(b []byte, off int64, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }

func TestMalformed(t *testing.T) {
	base, _ := synthFile()
	bufs := buffersOf(base)
	md1, ev1 := bufs[0], bufs[2]
	rec0 := ev1 + 77
	pay0 := rec0 + 24
	act0 := pay0 + int64(len(allTypesPayload()))
	pkg0 := md1 + 76
	tests := []struct {
		name    string
		mutate  func(b []byte) []byte
		opts    *Options
		want    error
		offset  int64
		atStart bool // the constructor fails
	}{
		{"bad magic", func(b []byte) []byte { b[0] ^= 0xFF; return b }, nil, ErrBadMagic, 0, true},
		{"short bad magic", func(b []byte) []byte { return []byte("PK\x03\x04\x00") }, nil, ErrBadMagic, 0, true},
		{"version 11", func(b []byte) []byte { putU16(b, 4, 11); return b }, nil, ErrVersion, 4, true},
		{"header size 4", func(b []byte) []byte { putU16(b, 6, 4); return b }, nil, ErrCorrupt, 6, true},
		{"absurd buffer length", func(b []byte) []byte { putU32(b, md1+0x10, 0xFFFFFE00); return b }, nil, ErrTooLarge, md1, false},
		{"buffer over MaxBufferSize", func(b []byte) []byte { return b }, &Options{MaxBufferSize: 512}, ErrTooLarge, md1, false},
		{"data length past buffer", func(b []byte) []byte { putU32(b, md1+0x18, 1<<20); return b }, nil, ErrCorrupt, md1, false},
		{"data offset inside header", func(b []byte) []byte { putU16(b, md1+0x16, 8); return b }, nil, ErrCorrupt, md1, false},
		{"package size past data", func(b []byte) []byte { putU32(b, pkg0+2, 1<<30); return b }, nil, ErrCorrupt, pkg0, false},
		{"package size too small", func(b []byte) []byte { putU32(b, pkg0+2, 64); return b }, nil, ErrCorrupt, -1, false},
		{"map entries over limit", func(b []byte) []byte { return b }, &Options{MaxMapEntries: 2}, ErrTooLarge, -1, false},
		{"string over limit", func(b []byte) []byte { return b }, &Options{MaxStringLength: 4}, ErrTooLarge, -1, false},
		{"metadata over limit", func(b []byte) []byte { return b }, &Options{MaxMetadataSize: 100}, ErrTooLarge, md1 + 76, false},
		{"fields over limit", func(b []byte) []byte { return b }, &Options{MaxFields: 3}, ErrTooLarge, -1, false},
		{"packages over limit", func(b []byte) []byte { return b }, &Options{MaxPackages: 1}, ErrTooLarge, -1, false},
		{"objects over limit", func(b []byte) []byte { return b }, &Options{MaxObjects: 1}, ErrTooLarge, -1, false},
		{"event version", func(b []byte) []byte { putU32(b, rec0+4, 11); return b }, nil, ErrCorrupt, rec0, false},
		{"payload length past data", func(b []byte) []byte { putU32(b, rec0+20, 1<<20); return b }, nil, ErrCorrupt, rec0 + 20, false},
		{"unknown event", func(b []byte) []byte { putU32(b, rec0, rid(0, 9, 9)); return b }, nil, ErrCorrupt, rec0, false},
		{"non-event rid", func(b []byte) []byte { putU32(b, rec0, rid(ridKindAction, 1, 0)); return b }, nil, ErrCorrupt, rec0, false},
		{"descriptor past payload", func(b []byte) []byte { putU32(b, pay0+107+4, 0xFFFF); return b }, nil, ErrCorrupt, pay0 + 107, false},
		{"descriptor offset overflow", func(b []byte) []byte { putU32(b, pay0+107, 0xFFFFFFFF); return b }, nil, ErrCorrupt, pay0 + 107, false},
		{"guid of 3 bytes", func(b []byte) []byte { putU32(b, pay0+123+4, 3); return b }, nil, ErrCorrupt, pay0 + 123, false},
		{"action length past data", func(b []byte) []byte { putU32(b, act0+4, 0xFFFFFF); return b }, nil, ErrCorrupt, act0 + 4, false},
		{"unknown action", func(b []byte) []byte { putU32(b, act0, rid(ridKindAction, 1, 77)); return b }, nil, ErrCorrupt, act0, false},
		{"action too short", func(b []byte) []byte {
			putU32(b, act0+4, 1) // session_id is a uint16
			return b
		}, nil, ErrCorrupt, -1, false},
		{"events before metadata", func(b []byte) []byte {
			return append(b[:512:512], b[ev1:]...)
		}, nil, ErrCorrupt, 512 + 77, false},
	}
	for _, tt := range tests {
		for _, m := range []string{"NewReader", "NewReaderAt"} {
			t.Run(tt.name+"/"+m, func(t *testing.T) {
				b := tt.mutate(slices.Clone(base))
				var r *Reader
				var err error
				if m == "NewReader" {
					r, err = NewReader(bytes.NewReader(b), tt.opts)
				} else {
					r, err = NewReaderAt(bytes.NewReader(b), int64(len(b)), tt.opts)
				}
				if tt.atStart != (err != nil) {
					t.Fatalf("constructor error = %v, want failure: %v", err, tt.atStart)
				}
				if err == nil {
					_, err = decodeAll(t, r)
				}
				var fe *FormatError
				if !errors.Is(err, tt.want) || !errors.As(err, &fe) {
					t.Fatalf("err = %v, want a *FormatError wrapping %v", err, tt.want)
				}
				if tt.offset >= 0 && fe.Offset != tt.offset {
					t.Errorf("offset = %d, want %d (%v)", fe.Offset, tt.offset, err)
				}
				if !strings.HasPrefix(err.Error(), "xel: ") || !strings.Contains(err.Error(), "offset "+itoa(fe.Offset)) {
					t.Errorf("message %q lacks the prefix or the offset", err)
				}
				if r != nil {
					if _, err2 := r.Next(); err2 != err {
						t.Errorf("error not sticky: %v then %v", err, err2)
					}
				}
			})
		}
	}
}

func TestReadError(t *testing.T) {
	b, _ := synthFile()
	boom := errors.New("boom")
	r, err := NewReader(io.MultiReader(bytes.NewReader(b[:2000]), iotest.ErrReader(boom)), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = decodeAll(t, r)
	var fe *FormatError
	if !errors.Is(err, boom) || errors.As(err, &fe) {
		t.Errorf("err = %v, want the read error wrapped (not a FormatError)", err)
	}
}

func TestResumeBadMetadataOffset(t *testing.T) {
	b, _ := synthFile()
	bufs := buffersOf(b)
	tests := []struct {
		name string
		offs []int64
		want error
	}{
		{"event buffer", []int64{bufs[2]}, ErrCorrupt},
		{"not a boundary", []int64{bufs[2] + 100}, ErrCorrupt},
		{"past end", []int64{int64(len(b)) - 10}, ErrTruncated},
		// a cursor holds at most MaxMetadataBuffers offsets; more are
		// refused before they are copied or read
		{"more than MaxMetadataBuffers", make([]int64, DefaultMaxMetadataBuffers+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReaderAt(bytes.NewReader(b), int64(len(b)), &Options{StartOffset: int64(len(b)), MetadataOffsets: tt.offs})
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestLimitsAcrossResume: the metadata limits count what a Reader
// merges over its life, whether it read the metadata buffers in one pass
// or, resuming, from MetadataOffsets: a resumed run fails where the one
// pass failed, and one that passed keeps passing.
func TestLimitsAcrossResume(t *testing.T) {
	b, _ := synthFile()
	bufs := buffersOf(b) // metadata at bufs[0], bufs[1] and bufs[4]
	opts := map[string]Options{
		"MaxMetadataBuffers": {MaxMetadataBuffers: 2},
		"MaxPackages":        {MaxPackages: 4},
		"MaxEvents":          {MaxEvents: 3},
		"MaxMetadataSize":    {MaxMetadataSize: int64(bufs[2] - bufs[0] - 2*76)},
	}
	for name, o := range opts {
		t.Run(name, func(t *testing.T) {
			r, err := NewReaderAt(bytes.NewReader(b), int64(len(b)), &o)
			if err != nil {
				t.Fatal(err)
			}
			_, err = decodeAll(t, r)
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Limit != name || bufferAt(b, fe.Offset) != bufs[4] {
				t.Fatalf("one pass: err = %v, want %s exceeded in the metadata buffer at %d", err, name, bufs[4])
			}
			// resume after the event buffer before it: fine
			ro := o
			ro.StartOffset, ro.MetadataOffsets = bufs[3], []int64{bufs[0], bufs[1]}
			if _, err := NewReaderAt(bytes.NewReader(b), int64(len(b)), &ro); err != nil {
				t.Fatalf("resume before the limit: %v", err)
			}
			// resume after it, with its offset: the same limit
			ro.StartOffset, ro.MetadataOffsets = bufs[5], []int64{bufs[0], bufs[1], bufs[4]}
			_, err = NewReaderAt(bytes.NewReader(b), int64(len(b)), &ro)
			var fe2 *FormatError
			want := fe.Offset
			if name == "MaxMetadataBuffers" {
				want = bufs[5] // the list of offsets is refused before anything is read
			}
			if !errors.As(err, &fe2) || fe2.Limit != name || fe2.Offset != want {
				t.Errorf("resumed: err = %v, want %s exceeded at %d", err, name, want)
			}
		})
	}
}

func TestResumeSkipsLeadingMetadataOnly(t *testing.T) {
	// Resuming after the first event buffer must not apply metadata that
	// comes later in the file, and must still know the packages of the
	// leading metadata buffers.
	b, want := synthFile()
	bufs := buffersOf(b)
	r, err := NewReaderAt(bytes.NewReader(b), int64(len(b)), &Options{StartOffset: bufs[3]})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want[3:]) {
		t.Errorf("got %q, want %q", got, want[3:])
	}
	if offs, want := r.MetadataOffsets(), []int64{bufs[0], bufs[1], bufs[4]}; !slices.Equal(offs, want) {
		t.Errorf("MetadataOffsets() = %v, want %v", offs, want)
	}
}

// TestMutatedFixtures corrupts real files in memory (never on disk) in
// deterministic ways — flipped bytes, absurd 32-bit lengths, cuts — and
// checks what FuzzReader checks: no panic, typed errors, the stream and
// ReaderAt paths agree.
func TestMutatedFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, f := range fixtures.Files(t) {
		if f.Bytes > 256<<10 {
			continue
		}
		orig := readFixture(t, f)
		t.Run(strings.TrimPrefix(f.Rel, "files/"), func(t *testing.T) {
			for i := range 120 {
				b := slices.Clone(orig)
				switch i % 3 {
				case 0:
					for range 1 + rnd.IntN(4) {
						b[rnd.IntN(len(b))] ^= byte(1 + rnd.IntN(255))
					}
				case 1:
					off := rnd.IntN(len(b) - 4)
					putU32(b, int64(off), []uint32{0, 0xFFFFFFFF, 0x7FFFFFFF, 1 << 20, uint32(rnd.Uint32())}[rnd.IntN(5)])
				case 2:
					b = b[:rnd.IntN(len(b))]
				}
				stream, endS, _, errS := fuzzDecode(t, func() (*Reader, error) { return NewReader(bytes.NewReader(b), nil) })
				at, endA, _, errA := fuzzDecode(t, func() (*Reader, error) { return NewReaderAt(bytes.NewReader(b), int64(len(b)), nil) })
				if !slices.Equal(stream, at) || sentinel(errS) != sentinel(errA) || endS != endA {
					t.Fatalf("mutation %d: stream (%d events, %v, end %d) and ReaderAt (%d events, %v, end %d) disagree",
						i, len(stream), errS, endS, len(at), errA, endA)
				}
			}
		})
	}
}

// rawPackage encodes package record idx (name "flood", no collections)
// whose event, action, map and type lists are written by the given
// functions, each returning how many objects it wrote (nil: none).
func rawPackage(idx uint32, events, actions, maps, types func(w *wbuf) uint32) []byte {
	var w wbuf
	w.u16(10)
	w.u32(0) // size, patched below
	w.raw(make([]byte, 16+2+2+2+4))
	w.u64(start2020)
	w.u64(10_000_000)
	w.objHeader(0, rid(0, idx, 0), "flood")
	w.raw(make([]byte, 16+16+2))
	w.u32(0) // collections
	for _, list := range []func(w *wbuf) uint32{events, actions, maps, types} {
		at := len(w.b)
		w.u32(0)
		if list != nil {
			n := list(&w) // before w.b is evaluated: the list grows it
			binary.LittleEndian.PutUint32(w.b[at:], n)
		}
	}
	for len(w.b)%8 != 0 {
		w.u8(0)
	}
	binary.LittleEndian.PutUint32(w.b[2:], uint32(len(w.b)))
	return w.b
}

// metaBuf frames package records as one metadata buffer.
func metaBuf(pkgs ...[]byte) []byte { return buffer(bufTypeMetadata, bytes.Join(pkgs, nil)) }

// emptyEvents writes n event definitions without name or attributes,
// object indexes from first on, for package pkg.
func emptyEvents(pkg uint32, first, n int) func(w *wbuf) uint32 {
	return func(w *wbuf) uint32 {
		for i := range n {
			w.objHeader(0, rid(ridKindEvent, pkg, uint32(first+i)), "")
			w.raw(make([]byte, 8))
		}
		return uint32(n)
	}
}

// eventsWithFields writes n events of fields fields each, every field
// called name (a uint8).
func eventsWithFields(pkg uint32, n, fields int, name string) func(w *wbuf) uint32 {
	return func(w *wbuf) uint32 {
		for i := range n {
			w.objHeader(0, rid(ridKindEvent, pkg, uint32(i)), "e")
			w.u16(0)
			w.u16(0)
			w.u16(uint16(fields))
			w.u16(uint16(fields))
			for range fields {
				w.u32(typeRID(TypeUint8))
				w.wstrz(name)
				w.u16(0)
				w.u16(0)
				w.wstrz("")
			}
		}
		return uint32(n)
	}
}

// metadataFloods are files of metadata only that each go past one
// default limit of Options and no other before it (the shape of issue 9's
// file, and one per limit).
func metadataFloods(t testing.TB) []struct {
	name, limit string
	file        []byte
} {
	t.Helper()
	var issue9 bytes.Buffer
	if err := xeltest.WriteFlood(&issue9, xeltest.Flood{Packages: 48, Events: 65536}); err != nil {
		t.Fatal(err)
	}
	repeat := func(n int, b []byte) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = b
		}
		return out
	}
	var pkgs [][]byte
	for i := range DefaultMaxPackages + 1 {
		pkgs = append(pkgs, rawPackage(uint32(1+i%1000), nil, nil, nil, nil))
	}
	half := DefaultMaxEvents/2 + 1
	emptyMaps := func(n int) func(w *wbuf) uint32 {
		return func(w *wbuf) uint32 {
			for i := range n {
				w.objHeader(0, rid(ridKindMap, 1, uint32(i)), "")
				w.u8(4)
				w.u16(0)
			}
			return uint32(n)
		}
	}
	fullMaps := func(w *wbuf) uint32 {
		n := DefaultMaxTotalMapEntries/DefaultMaxMapEntries + 1
		for i := range n {
			w.objHeader(0, rid(ridKindMap, 1, uint32(i)), "")
			w.u8(4)
			w.u16(DefaultMaxMapEntries)
			for k := range DefaultMaxMapEntries {
				w.u32(uint32(k))
				w.u16(0)
			}
		}
		return uint32(n)
	}
	types := func(pkg uint32, n int) func(w *wbuf) uint32 {
		return func(w *wbuf) uint32 {
			for i := range n {
				w.objHeader(0, rid(ridKindType, pkg, uint32(i)), "")
				w.u8(1)
			}
			return uint32(n)
		}
	}
	longDescriptions := func(w *wbuf) uint32 {
		desc := strings.Repeat("d", DefaultMaxStringLength/2-1)
		n := DefaultMaxMetadataSize/DefaultMaxStringLength + 1
		for i := range n {
			w.u16(10)
			w.u8(0)
			w.u8(0)
			w.u32(rid(ridKindEvent, 1, uint32(i)))
			w.wstrz("")
			w.wstrz(desc)
			w.raw(make([]byte, 8))
		}
		return uint32(n)
	}
	return []struct {
		name, limit string
		file        []byte
	}{
		{"issue 9: 48 packages of 65,536 empty events", "MaxEvents", issue9.Bytes()},
		{"packages", "MaxPackages", xelFile(metaBuf(pkgs...))},
		{"metadata buffers", "MaxMetadataBuffers", xelFile(repeat(DefaultMaxMetadataBuffers+1, buffer(bufTypeMetadata, nil))...)},
		{"events over two buffers", "MaxEvents", xelFile(
			metaBuf(rawPackage(1, emptyEvents(1, 0, half), nil, nil, nil)),
			metaBuf(rawPackage(2, emptyEvents(2, 0, half), nil, nil, nil)))},
		{"maps", "MaxMaps", xelFile(metaBuf(rawPackage(1, nil, nil, emptyMaps(DefaultMaxMaps+1), nil)))},
		{"objects", "MaxObjects", xelFile(metaBuf(
			rawPackage(1, nil, nil, nil, types(1, DefaultMaxObjects/2)),
			rawPackage(2, nil, nil, nil, types(2, DefaultMaxObjects/2+1))))},
		{"fields", "MaxTotalFields", xelFile(metaBuf(rawPackage(1,
			eventsWithFields(1, DefaultMaxTotalFields/DefaultMaxFields+1, DefaultMaxFields, "f"), nil, nil, nil)))},
		{"map entries", "MaxTotalMapEntries", xelFile(metaBuf(rawPackage(1, nil, nil, fullMaps, nil)))},
		{"metadata bytes", "MaxMetadataSize", xelFile(metaBuf(rawPackage(1, longDescriptions, nil, nil, nil)))},
		// Names of control characters: 2 bytes each in the file, 7 bytes
		// decoded (1 in the name, 6 escaped in its JSON key).
		{"decoded memory", "MaxMetadataMemory", xelFile(metaBuf(rawPackage(1,
			eventsWithFields(1, 4, DefaultMaxFields, strings.Repeat("\x01", 200)), nil, nil, nil)))},
	}
}

// largestBuffer is the largest padded buffer length of a file.
func largestBuffer(b []byte) int64 {
	var m int64
	for _, off := range buffersOf(b) {
		m = max(m, int64(binary.LittleEndian.Uint32(b[off+0x10:])))
	}
	return m
}

// TestMetadataFlood: a file that declares more metadata than the
// defaults allow fails with ErrTooLarge naming the limit, at the offset
// where it is exceeded, in both reading modes — and decoding it allocates
// no more than the decoded-metadata budget plus the buffers read (the
// stream reader grows its buffer by doubling, up to three times the largest one in all). Before
// the limits, issue 9's 63 MB file took ~500 MB.
func TestMetadataFlood(t *testing.T) {
	for _, fl := range metadataFloods(t) {
		for _, m := range readerModes[:2] {
			t.Run(fl.name+"/"+m.name, func(t *testing.T) {
				budget := uint64(DefaultMaxMetadataMemory + 3*largestBuffer(fl.file) + 1<<20)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				r, err := m.open(fl.file)
				var events int
				if err == nil {
					for {
						if _, err = r.Next(); err != nil {
							break
						}
						events++
					}
				}
				runtime.ReadMemStats(&after)
				if got := after.TotalAlloc - before.TotalAlloc; got > budget {
					t.Errorf("decoding allocated %d bytes, over %d (decoded-metadata budget + buffers)", got, budget)
				}
				if r != nil && r.md.mem > DefaultMaxMetadataMemory {
					t.Errorf("decoded metadata estimate %d over the limit %d", r.md.mem, DefaultMaxMetadataMemory)
				}
				var fe *FormatError
				if !errors.Is(err, ErrTooLarge) || !errors.As(err, &fe) || fe.Limit != fl.limit {
					t.Fatalf("err = %v, want ErrTooLarge over %s", err, fl.limit)
				}
				if fe.Offset < 512 || fe.Offset >= int64(len(fl.file)) || !strings.Contains(err.Error(), fl.limit+" (") {
					t.Errorf("err = %v: offset outside the file, or the limit's value not named", err)
				}
				if events != 0 {
					t.Errorf("%d events from a file of metadata only", events)
				}
			})
		}
	}
}
