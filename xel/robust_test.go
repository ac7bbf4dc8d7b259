package xel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/xelwatch/xelwatch/xel/internal/fixtures"
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
