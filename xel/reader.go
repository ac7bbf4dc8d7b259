package xel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/bits"
	"slices"
	"time"
)

const (
	fileMagic         = 0xEFAB375A
	formatVersion     = 10
	fileHeaderMinSize = 8
	bufHeaderSize     = 32

	bufTypeEvents   = 0
	bufTypeMetadata = 1

	eventHeaderSize = 24
	actionEntrySize = 8
	flagActions     = 1 << 31
)

// Reader decodes the events of an XEL file, one at a time.
type Reader struct {
	opt Options
	md  *metadata

	// source: exactly one of r / ra is set
	r    io.Reader
	ra   io.ReaderAt
	size int64

	pos int64  // file offset of the next buffer to read
	end int64  // resume point (see End)
	buf []byte // the current buffer, reused

	// current event buffer
	bufOff  int64 // file offset of buf[0]
	bufLen  int64 // padded length of the current buffer
	p       int   // next record in buf
	dataEnd int   // end of the data region in buf
	index   int   // index of the next event in the buffer
	inBuf   bool  // decoding the records of an event buffer

	metaOffs []int64
	ev       Event
	lastRID  uint32
	lastType *eventType
	err      error
}

// NewReader returns a Reader that decodes the XEL stream r from its
// first byte. It reads the file header and fails on a bad magic or
// version. Memory is bounded by one buffer (Options.MaxBufferSize) plus
// the decoded metadata (Options.MaxMetadataMemory). StartOffset and
// MetadataOffsets are ignored.
func NewReader(r io.Reader, opts *Options) (*Reader, error) {
	xr := &Reader{opt: opts.withDefaults(), md: newMetadata(), r: r}
	xr.opt.StartOffset, xr.opt.MetadataOffsets = 0, nil
	xr.lastRID = ^uint32(0)
	if err := xr.readFileHeader(); err != nil {
		return nil, err
	}
	return xr, nil
}

// NewReaderAt returns a Reader over the first size bytes of r (a file or
// a blob read by ranges). With Options.StartOffset it first merges the
// leading metadata buffers (contiguous metadata buffers right after the
// file header) and the buffers at Options.MetadataOffsets that lie before
// StartOffset, then decodes events from StartOffset on.
func NewReaderAt(r io.ReaderAt, size int64, opts *Options) (*Reader, error) {
	xr := &Reader{opt: opts.withDefaults(), md: newMetadata(), ra: r, size: size}
	xr.lastRID = ^uint32(0)
	if err := xr.readFileHeader(); err != nil {
		return nil, err
	}
	start := xr.opt.StartOffset
	if start <= xr.pos {
		return xr, nil
	}
	// leading metadata buffers
	loaded := map[int64]bool{}
	for xr.pos < start {
		typ, ok, err := xr.peekType(xr.pos)
		if err != nil {
			return nil, err
		}
		if !ok || typ != bufTypeMetadata {
			break
		}
		if err := xr.loadMetadataAt(xr.pos); err != nil {
			return nil, err
		}
		loaded[xr.bufOff] = true
		xr.pos = xr.bufOff + xr.bufLen
	}
	leadEnd := xr.pos
	if n, limit := len(xr.opt.MetadataOffsets), xr.opt.MaxMetadataBuffers; n > limit {
		return nil, tooLarge(start, itoa(int64(n))+" metadata offsets to resume with", "MaxMetadataBuffers", int64(limit))
	}
	offs := slices.Clone(xr.opt.MetadataOffsets)
	slices.Sort(offs)
	for _, off := range offs {
		if off < leadEnd || off >= start || loaded[off] {
			continue
		}
		if err := xr.loadMetadataAt(off); err != nil {
			return nil, err
		}
		loaded[off] = true
	}
	xr.pos, xr.end = start, start
	return xr, nil
}

func (xr *Reader) readFileHeader() error {
	var h [fileHeaderMinSize]byte
	n, err := xr.readAt(h[:], 0)
	if n < len(h) {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("xel: read file header: %w", err)
		}
		if n >= 4 && binary.LittleEndian.Uint32(h[:]) != fileMagic {
			return &FormatError{Offset: 0, Msg: "bad magic", Err: ErrBadMagic}
		}
		return &FormatError{Offset: int64(n), Msg: "file header cut short", Err: ErrTruncated}
	}
	if binary.LittleEndian.Uint32(h[:]) != fileMagic {
		return &FormatError{Offset: 0, Msg: "bad magic", Err: ErrBadMagic}
	}
	if v := binary.LittleEndian.Uint16(h[4:]); v != formatVersion {
		return &FormatError{Offset: 4, Msg: fmt.Sprintf("format version %d", v), Err: ErrVersion}
	}
	hs := int64(binary.LittleEndian.Uint16(h[6:]))
	if hs < fileHeaderMinSize {
		return &FormatError{Offset: 6, Msg: fmt.Sprintf("file header size %d", hs), Err: ErrCorrupt}
	}
	if xr.r != nil {
		// discard the rest of the header
		m, err := io.CopyN(io.Discard, xr.r, hs-fileHeaderMinSize)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return &FormatError{Offset: fileHeaderMinSize + m, Msg: "file header cut short", Err: ErrTruncated}
			}
			return fmt.Errorf("xel: read file header: %w", err)
		}
	} else if xr.size < hs {
		return &FormatError{Offset: xr.size, Msg: "file header cut short", Err: ErrTruncated}
	}
	xr.pos, xr.end = hs, hs
	return nil
}

// readAt reads len(p) bytes at off: ReadAt for a ReaderAt, the next bytes
// of the stream otherwise (off must then be the stream position).
func (xr *Reader) readAt(p []byte, off int64) (int, error) {
	if xr.r != nil {
		return io.ReadFull(xr.r, p)
	}
	if off >= xr.size {
		return 0, io.EOF
	}
	if rem := xr.size - off; int64(len(p)) > rem {
		n, err := xr.ra.ReadAt(p[:rem], off)
		if err == nil || errors.Is(err, io.EOF) && n == int(rem) {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	n, err := xr.ra.ReadAt(p, off)
	if n == len(p) {
		err = nil
	}
	return n, err
}

// peekType reads the type of the buffer at off (ReaderAt only); ok is
// false when there is no complete buffer header there or it is zeroed.
func (xr *Reader) peekType(off int64) (uint16, bool, error) {
	var h [bufHeaderSize]byte
	n, err := xr.readAt(h[:], off)
	if n < len(h) {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, false, fmt.Errorf("xel: read buffer header at offset %d: %w", off, err)
		}
		return 0, false, nil
	}
	if binary.LittleEndian.Uint32(h[0x10:]) <= bufHeaderSize {
		return 0, false, nil
	}
	return binary.LittleEndian.Uint16(h[0x0E:]), true, nil
}

func (xr *Reader) loadMetadataAt(off int64) error {
	xr.pos = off
	ok, err := xr.readBuffer()
	if err != nil {
		return err
	}
	if !ok {
		return &FormatError{Offset: off, Msg: "no metadata buffer at this offset", Err: ErrCorrupt}
	}
	if typ := binary.LittleEndian.Uint16(xr.buf[0x0E:]); typ != bufTypeMetadata {
		return &FormatError{Offset: off, Msg: "buffer at this offset is not a metadata buffer", Err: ErrCorrupt}
	}
	return xr.mergeMetadata()
}

// readBuffer reads the buffer at xr.pos into xr.buf. ok=false with a nil
// error is the clean end: no bytes, or a zeroed header.
func (xr *Reader) readBuffer() (ok bool, err error) {
	off := xr.pos
	if cap(xr.buf) < bufHeaderSize {
		xr.buf = make([]byte, 0, 512)
	}
	h := xr.buf[:bufHeaderSize]
	n, rerr := xr.readAt(h, off)
	if n < bufHeaderSize {
		if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			return false, fmt.Errorf("xel: read buffer header at offset %d: %w", off, rerr)
		}
		if n > 0 {
			return false, &FormatError{Offset: off, Msg: "buffer header cut short", Err: ErrTruncated}
		}
		return false, nil
	}
	padded := int64(binary.LittleEndian.Uint32(h[0x10:]))
	if padded <= bufHeaderSize {
		return false, nil
	}
	if padded > xr.opt.MaxBufferSize {
		return false, tooLarge(off, "buffer length "+itoa(padded), "MaxBufferSize", xr.opt.MaxBufferSize)
	}
	dataOff := int64(binary.LittleEndian.Uint16(h[0x16:]))
	dataLen := int64(binary.LittleEndian.Uint32(h[0x18:]))
	if dataOff < bufHeaderSize || dataOff+dataLen > padded {
		return false, &FormatError{Offset: off, Msg: "buffer data region out of bounds", Err: ErrCorrupt}
	}
	if xr.ra != nil && off+padded > xr.size {
		return false, &FormatError{Offset: off, Msg: fmt.Sprintf("buffer of %d bytes cut short at end of input", padded), Err: ErrTruncated}
	}
	// Grow the buffer in steps, so that a lying length on a short stream
	// costs at most about twice the bytes actually present.
	xr.buf = xr.buf[:bufHeaderSize]
	for int64(len(xr.buf)) < padded {
		have := int64(len(xr.buf))
		want := padded
		if int64(cap(xr.buf)) < want {
			if xr.r != nil {
				want = min(padded, max(2*have, 4<<10))
			}
			nb := make([]byte, have, want)
			copy(nb, xr.buf)
			xr.buf = nb
		}
		xr.buf = xr.buf[:want]
		n, rerr := xr.readAt(xr.buf[have:want], off+have)
		if n < int(want-have) {
			if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
				return false, fmt.Errorf("xel: read buffer at offset %d: %w", off, rerr)
			}
			return false, &FormatError{Offset: off, Msg: fmt.Sprintf("buffer of %d bytes cut short at end of input", padded), Err: ErrTruncated}
		}
	}
	xr.buf = xr.buf[:padded]
	xr.bufOff, xr.bufLen = off, padded
	xr.p, xr.dataEnd = int(dataOff), int(dataOff+dataLen)
	return true, nil
}

func (xr *Reader) mergeMetadata() error {
	if n, limit := len(xr.metaOffs), xr.opt.MaxMetadataBuffers; n >= limit {
		return tooLarge(xr.bufOff, itoa(int64(n)+1)+" metadata buffers", "MaxMetadataBuffers", int64(limit))
	}
	xr.metaOffs = append(xr.metaOffs, xr.bufOff)
	xr.lastRID, xr.lastType = ^uint32(0), nil
	return xr.md.mergeBuffer(xr.buf[xr.p:xr.dataEnd], xr.bufOff+int64(xr.p), &xr.opt)
}

// Next returns the next event. It returns io.EOF at the clean end of the
// input (at a buffer boundary or a zeroed buffer header) and a
// *FormatError for malformed input (ErrTruncated for a partial trailing
// buffer). Errors are sticky. The returned Event and everything it
// refers to is reused by the next call.
func (xr *Reader) Next() (*Event, error) {
	if xr.err != nil {
		return nil, xr.err
	}
	for {
		if xr.inBuf {
			if xr.p < xr.dataEnd {
				ev, err := xr.decodeEvent()
				if err != nil {
					xr.err = err
					return nil, err
				}
				if xr.p >= xr.dataEnd {
					xr.inBuf = false
					xr.end = xr.bufOff + xr.bufLen
				}
				return ev, nil
			}
			xr.inBuf = false
			xr.end = xr.bufOff + xr.bufLen
		}
		if xr.r != nil && xr.pos != xr.end {
			// a stream cannot seek; never happens (pos == end between buffers)
			xr.err = errors.New("xel: internal error: stream position mismatch")
			return nil, xr.err
		}
		ok, err := xr.readBuffer()
		if err != nil {
			xr.err = err
			return nil, err
		}
		if !ok {
			xr.err = io.EOF
			return nil, io.EOF
		}
		xr.pos = xr.bufOff + xr.bufLen
		switch binary.LittleEndian.Uint16(xr.buf[0x0E:]) {
		case bufTypeEvents:
			xr.inBuf, xr.index = true, 0
		case bufTypeMetadata:
			if err := xr.mergeMetadata(); err != nil {
				xr.err = err
				return nil, err
			}
			xr.end = xr.pos
		default: // stream header, index, unknown: no events
			xr.end = xr.pos
		}
	}
}

// All returns an iterator over the remaining events; it stops after the
// first error (yielded with a nil event) and does not yield io.EOF. It is
// single-use: it consumes the Reader.
func (xr *Reader) All() iter.Seq2[*Event, error] {
	return func(yield func(*Event, error) bool) {
		for {
			ev, err := xr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// End returns the resume point: every event of every buffer before End
// has been returned by Next. After ErrTruncated it is the offset of the
// partial buffer; after a clean io.EOF it is the end of the last
// complete buffer.
func (xr *Reader) End() int64 { return xr.end }

// MetadataOffsets returns the file offsets of all metadata buffers merged
// so far (including those read for a resume), in the order they were
// read. Pass them as Options.MetadataOffsets when resuming at End.
func (xr *Reader) MetadataOffsets() []int64 { return slices.Clone(xr.metaOffs) }

// eventTime converts event ticks with the package clock (128-bit
// intermediate; wraps instead of failing on absurd values).
func eventTime(pkg *pkgInfo, ticks uint64) time.Time {
	if pkg == nil {
		return filetimeToTime(int64(ticks))
	}
	d := ticks
	if pkg.freq != 0 && pkg.freq != 10_000_000 {
		hi, lo := bits.Mul64(ticks, 10_000_000)
		d, _ = bits.Div64(hi%pkg.freq, lo, pkg.freq)
	}
	return filetimeToTime(pkg.start + int64(d))
}
