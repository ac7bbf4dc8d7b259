package xel

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/xelwatch/xelwatch/xel/xeltest/fixtures"
)

// fuzzSeeds are small synthetic files: the full synthetic file, pieces
// of it, and single-feature files.
func fuzzSeeds() [][]byte {
	synth, _ := synthFile()
	bufs := buffersOf(synth)
	pkg := testPackage()
	small := xelFile(metadataBuffer(package0(), pkg),
		eventBuffer(record(rid(ridKindEvent, 1, 0), 1, allTypesPayload(), allTypesActions())))
	clocks := xelFile(metadataBuffer(clockPackages()...),
		eventBuffer(record(rid(ridKindEvent, 2, 0), 99, newPayload(4).b, nil),
			record(rid(ridKindEvent, 3, 0), 99, nil, nil)))
	return append([][]byte{
		synth,
		synth[:bufs[3]],
		synth[:bufs[2]+700],
		small,
		clocks,
		xelFile(),
		synth[:8],
	}, countFloodSeeds()...)
}

// countFloodSeeds are small files whose first package declares more
// objects than a limit allows (issue 9's metadata flood, in a few hundred
// bytes): events, maps, objects of all kinds, each count alone.
func countFloodSeeds() [][]byte {
	count := func(n uint32) func(*wbuf) uint32 { return func(*wbuf) uint32 { return n } }
	return [][]byte{
		xelFile(metaBuf(rawPackage(1, count(DefaultMaxEvents+1), nil, nil, nil))),
		xelFile(metaBuf(rawPackage(1, nil, nil, count(DefaultMaxMaps+1), nil))),
		xelFile(metaBuf(rawPackage(1, nil, count(DefaultMaxObjects+1), nil, nil))),
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	// Real fixtures, when present, are added at run time only (never
	// committed: they may not be redistributed).
	for _, fx := range fixtures.Files(quiet{f}) {
		if fx.Bytes <= 16<<10 { // larger seeds make minimizing crawl
			if b, err := os.ReadFile(fx.Path); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		stream, endStream, rs, errStream := fuzzDecode(t, func() (*Reader, error) { return NewReader(bytes.NewReader(data), nil) })
		at, endAt, ra, errAt := fuzzDecode(t, func() (*Reader, error) { return NewReaderAt(bytes.NewReader(data), int64(len(data)), nil) })
		// Bounded memory: the buffer never outgrows the input (the
		// stream reader may reach twice the bytes present while growing).
		for _, r := range []*Reader{rs, ra} {
			if r != nil && cap(r.buf) > max(4<<10, 2*len(data)) {
				t.Errorf("buffer grew to %d bytes for %d bytes of input", cap(r.buf), len(data))
			}
			if r != nil && r.md.bytes > int64(len(data)) {
				t.Errorf("merged %d metadata bytes from %d bytes of input", r.md.bytes, len(data))
			}
			if r != nil && (r.md.mem > DefaultMaxMetadataMemory || len(r.metaOffs) > DefaultMaxMetadataBuffers ||
				r.md.nEvents > DefaultMaxEvents || r.md.nFields > DefaultMaxTotalFields || r.md.nEntries > DefaultMaxTotalMapEntries) {
				t.Errorf("decoded metadata beyond the default limits: %d bytes, %d buffers, %d events, %d fields, %d map entries",
					r.md.mem, len(r.metaOffs), r.md.nEvents, r.md.nFields, r.md.nEntries)
			}
		}
		if len(stream) != len(at) {
			t.Fatalf("NewReader gave %d events, NewReaderAt %d", len(stream), len(at))
		}
		for i := range stream {
			if stream[i] != at[i] {
				t.Fatalf("event %d differs between NewReader and NewReaderAt", i)
			}
		}
		if sentinel(errStream) != sentinel(errAt) {
			t.Errorf("NewReader: %v; NewReaderAt: %v", errStream, errAt)
		}
		if endStream != endAt {
			t.Errorf("End(): NewReader %d, NewReaderAt %d", endStream, endAt)
		}
	})
}

// quiet lets fixtures.Files return nothing instead of skipping or
// failing the fuzz target when the fixtures are absent: the synthetic
// seeds are enough to fuzz.
type quiet struct{ *testing.F }

func (quiet) Skipf(string, ...any)  {}
func (quiet) Fatalf(string, ...any) {}

func sentinel(err error) error {
	for _, s := range []error{ErrBadMagic, ErrVersion, ErrTruncated, ErrCorrupt, ErrTooLarge, io.EOF} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

func fuzzDecode(t *testing.T, open func() (*Reader, error)) (events []string, end int64, r *Reader, err error) {
	r, err = open()
	if err != nil {
		checkFuzzErr(t, err)
		return nil, -1, nil, err
	}
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return events, r.End(), r, err
		}
		if err != nil {
			checkFuzzErr(t, err)
			if _, err2 := r.Next(); err2 != err {
				t.Errorf("error not sticky: %v, then %v", err, err2)
			}
			return events, r.End(), r, err
		}
		line := ev.AppendJSON(nil)
		if !json.Valid(line) {
			t.Fatalf("invalid JSON: %s", line)
		}
		for _, f := range append(ev.Fields, ev.Actions...) {
			_ = f.Value.Text()
			_ = f.Value.Time()
		}
		events = append(events, string(line))
	}
}

func checkFuzzErr(t *testing.T, err error) {
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FormatError", err, err)
	}
	if sentinel(err) == err {
		t.Fatalf("error %v wraps no sentinel", err)
	}
	if fe.Offset < 0 {
		t.Fatalf("negative offset in %v", err)
	}
}
