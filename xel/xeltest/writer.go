package xeltest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
	"unicode/utf16"
)

// Layout constants of the format (format notes §2–§5).
const (
	FileHeaderSize       = 512
	Magic                = 0xEFAB375A
	FormatVersion        = 10
	EventDataOffset      = 77 // data offset of event buffers
	MetadataDataOffset   = 76 // data offset of metadata buffers
	BufferAlign          = 512
	DefaultBufferSize    = 64 << 10
	EventHeaderSize      = 24
	eventFlagActions     = 1 << 31
	actionTerminatorRID  = 0x60000000
	bufferTypeEvents     = 0
	bufferTypeMetadata   = 1
	ridKindEvent         = 0
	ridKindAction        = 1
	ridKindMap           = 3
	ridKindType          = 6
	ridKindPackage       = 8
	maxPackageIndex      = 1<<10 - 1
	maxObjectIndex       = 1<<18 - 1
	defaultSignatureSeed = "xelwatch-xeltest"
)

// Options configure a Writer. The zero value (or nil) is valid.
type Options struct {
	// BufferSize is the padded length of an event buffer, a multiple of
	// 512 (default 64 KiB). An event larger than a buffer gets a buffer
	// of its own, rounded up to 512.
	BufferSize int
	// TrimBuffers pads each event buffer to the next multiple of 512
	// after its last event instead of to BufferSize.
	TrimBuffers bool
	// Partitions is the number of per-CPU partitions (default 1). Each
	// partition fills its own buffer; WriteEvent spreads events round
	// robin, so the file's buffers interleave partitions.
	Partitions int
	// Clock of every package without its own (nil: DefaultClock).
	Clock *Clock
	// Packages after package0 (index 0, the type table). nil defines
	// one package: AuditPackage(Audit).
	Packages []Package
	// Audit is the audit_event layout used when Packages is nil.
	Audit AuditLayout
	// Signature is the metadata signature GUID (package headers and
	// +0x20 of every event buffer); zero picks a fixed value.
	Signature GUID
	// FileID is the GUID at +0x08 of the file header.
	FileID GUID
	// TrackPositions records where every event went (Positions).
	TrackPositions bool
}

// Position locates a written event: the file offset of its buffer
// (fn_get_audit_file's audit_file_offset) and its index in the buffer.
type Position struct {
	Offset int64
	Index  int
}

// BufferInfo describes one buffer written to the file.
type BufferInfo struct {
	Offset    int64
	Length    int // padded length
	Metadata  bool
	Partition int
	Sequence  int32
	Events    int
	Partial   int // >0: only this many bytes were written (FlushPartial)
}

// Event is one event to write.
type Event struct {
	// Package is the package name; with several packages of that name
	// PackageIndex (>0) selects one, else the first is used.
	Package      string
	PackageIndex int
	Name         string
	Time         time.Time
	// Fields by name; fields not given are written as zero values or
	// zero-length variable values. Accepted Go values per type:
	// integers (any Go integer kind), float32/float64, bool, time.Time
	// or an integer FILETIME for filetime, string (or raw []byte) for
	// strings and xml, []byte (or string) for binary_data, GUID or
	// [16]byte (or raw []byte) for guid, []uint64 (or raw []byte) for
	// callstack, ActivityID for activity ids, an integer key for maps.
	Fields map[string]any
	// Actions in file order.
	Actions []Action
}

// Action is one action value of an event. Package may be empty: the
// first package defining an action of that name is used.
type Action struct {
	Package string
	Name    string
	Value   any
}

// Writer writes an .xel file. It is not safe for concurrent use.
type Writer struct {
	w    io.Writer
	opts Options
	off  int64
	err  error

	pkgs      []*pkgState
	metaDone  bool
	parts     []*partition
	next      int   // round-robin partition
	seq       int32 // last event buffer sequence
	buffers   []BufferInfo
	positions []Position
	nEvents   int

	scratch []byte
	varbuf  []byte

	audit       *pkgState // package of audit_event, once looked up
	auditLayout AuditLayout
}

type partition struct {
	id     int
	data   []byte
	events []int // event numbers (for positions)
}

type pkgState struct {
	Package
	clock   Clock
	events  map[string]int
	actions map[string]int
	maps    map[string]int
}

// NewWriter returns a Writer on w. Nothing is written until the first
// event or Flush.
func NewWriter(w io.Writer, opts *Options) (*Writer, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.BufferSize == 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.BufferSize%BufferAlign != 0 || o.BufferSize < BufferAlign {
		return nil, fmt.Errorf("xeltest: buffer size %d is not a positive multiple of 512", o.BufferSize)
	}
	if o.Partitions <= 0 {
		o.Partitions = 1
	}
	if o.Clock == nil {
		c := DefaultClock
		o.Clock = &c
	}
	if o.Signature == (GUID{}) {
		copy(o.Signature[:], defaultSignatureSeed)
	}
	if o.Packages == nil {
		o.Packages = []Package{AuditPackage(o.Audit)}
	}
	wr := &Writer{w: w, opts: o}
	if err := wr.definePackages(); err != nil {
		return nil, err
	}
	for i := range o.Partitions {
		wr.parts = append(wr.parts, &partition{id: i})
	}
	return wr, nil
}

func (w *Writer) definePackages() error {
	used := map[int]bool{0: true}
	p0 := &pkgState{Package: Package{Name: "package0", Description: "Default package. Contains all standard types, maps, compare operators, actions and targets"}}
	w.pkgs = append(w.pkgs, p0)
	for _, p := range w.opts.Packages {
		if p.Index != 0 {
			if p.Index < 0 || p.Index > maxPackageIndex || used[p.Index] {
				return fmt.Errorf("xeltest: package %q: index %d invalid or already used", p.Name, p.Index)
			}
			used[p.Index] = true
		}
	}
	nextIdx := 1
	for _, p := range w.opts.Packages {
		if p.Index == 0 {
			for used[nextIdx] {
				nextIdx++
			}
			p.Index = nextIdx
			used[nextIdx] = true
		}
		p.Maps = slices.Clone(p.Maps) // sizes are defaulted below
		w.pkgs = append(w.pkgs, &pkgState{Package: p})
	}
	for _, p := range w.pkgs {
		p.clock = *w.opts.Clock
		if p.Package.Clock != nil {
			p.clock = *p.Package.Clock
		}
		p.events = map[string]int{}
		p.actions = map[string]int{}
		p.maps = map[string]int{}
		for i, m := range p.Maps {
			if m.Size == 0 {
				p.Maps[i].Size = 4
			} else if m.Size != 1 && m.Size != 2 && m.Size != 4 && m.Size != 8 {
				return fmt.Errorf("xeltest: map %s.%s: size %d", p.Name, m.Name, m.Size)
			}
			p.maps[m.Name] = i
		}
		for i, a := range p.Actions {
			if _, ok := typeSize(a.Type); !ok {
				return fmt.Errorf("xeltest: action %s.%s: unknown type %d", p.Name, a.Name, a.Type)
			}
			p.actions[a.Name] = i
		}
		for i, e := range p.Events {
			for _, f := range e.Fields {
				if f.Map != "" {
					if _, ok := p.maps[f.Map]; !ok {
						return fmt.Errorf("xeltest: event %s.%s field %s: unknown map %q", p.Name, e.Name, f.Name, f.Map)
					}
				} else if _, ok := typeSize(f.Type); !ok {
					return fmt.Errorf("xeltest: event %s.%s field %s: unknown type %d", p.Name, e.Name, f.Name, f.Type)
				}
			}
			p.events[e.Name] = i
		}
	}
	return nil
}

// Offset returns the number of bytes written so far.
func (w *Writer) Offset() int64 { return w.off }

// Buffers returns the buffers written so far, in file order.
func (w *Writer) Buffers() []BufferInfo { return w.buffers }

// Positions returns, with Options.TrackPositions, the position of every
// event written so far in WriteEvent order (each part of a split audit
// record counts); events still in an unflushed buffer have Offset -1.
func (w *Writer) Positions() []Position { return w.positions }

// Clock returns the clock of the named package (the first of that name).
func (w *Writer) Clock(pkg string) Clock {
	for _, p := range w.pkgs {
		if p.Name == pkg {
			return p.clock
		}
	}
	return *w.opts.Clock
}

func (w *Writer) write(b []byte) error {
	if w.err != nil {
		return w.err
	}
	n, err := w.w.Write(b)
	w.off += int64(n)
	if err != nil {
		w.err = fmt.Errorf("xeltest: write: %w", err)
	} else if n != len(b) {
		w.err = fmt.Errorf("xeltest: write: %w", io.ErrShortWrite)
	}
	return w.err
}

// writeHeader writes the file header and the metadata buffer once.
func (w *Writer) writeHeader() error {
	if w.metaDone {
		return w.err
	}
	w.metaDone = true
	var h [FileHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:], Magic)
	binary.LittleEndian.PutUint16(h[4:], FormatVersion)
	binary.LittleEndian.PutUint16(h[6:], FileHeaderSize)
	copy(h[8:24], w.opts.FileID[:])
	if err := w.write(h[:]); err != nil {
		return err
	}
	var data []byte
	for _, p := range w.pkgs {
		data = w.appendPackage(data, p)
	}
	return w.writeBuffer(data, true, 0, MetadataDataOffset, 0, len(data))
}

// writeBuffer frames data as one buffer. meta selects the metadata
// layout; keep > 0 writes only the first keep bytes.
func (w *Writer) writeBuffer(data []byte, meta bool, partID int, dataOff int, keep int, nEvents int) error {
	padded := align(dataOff+len(data), BufferAlign)
	if !meta && !w.opts.TrimBuffers && padded < w.opts.BufferSize {
		padded = w.opts.BufferSize
	}
	buf := make([]byte, padded)
	info := BufferInfo{Offset: w.off, Length: padded, Metadata: meta, Partition: partID, Events: nEvents}
	if meta {
		binary.LittleEndian.PutUint32(buf[4:], 0)
		binary.LittleEndian.PutUint32(buf[8:], 0xFFFFFFFF) // sequence -1
		binary.LittleEndian.PutUint16(buf[0x0E:], bufferTypeMetadata)
		info.Sequence = -1
	} else {
		w.seq++
		binary.LittleEndian.PutUint32(buf[4:], uint32(partID))
		binary.LittleEndian.PutUint32(buf[8:], uint32(w.seq))
		binary.LittleEndian.PutUint16(buf[0x0E:], bufferTypeEvents)
		copy(buf[0x20:0x30], w.opts.Signature[:])
		binary.LittleEndian.PutUint16(buf[0x30:], 0) // generation
		info.Sequence = w.seq
	}
	binary.LittleEndian.PutUint16(buf[0x0C:], FormatVersion)
	binary.LittleEndian.PutUint32(buf[0x10:], uint32(padded))
	binary.LittleEndian.PutUint16(buf[0x16:], uint16(dataOff))
	binary.LittleEndian.PutUint32(buf[0x18:], uint32(len(data)))
	copy(buf[dataOff:], data)
	if keep > 0 && keep < padded {
		buf = buf[:keep]
		info.Partial = keep
	}
	w.buffers = append(w.buffers, info)
	return w.write(buf)
}

func align(n, a int) int { return (n + a - 1) / a * a }

// appendPackage serializes one package (format notes §4.1–§4.6).
func (w *Writer) appendPackage(dst []byte, p *pkgState) []byte {
	start := len(dst)
	dst = le16(dst, FormatVersion)
	dst = le32(dst, 0) // size, patched below
	dst = append(dst, w.opts.Signature[:]...)
	dst = le16(dst, 0) // generation
	dst = le16(dst, 1) // ticks-config version
	dst = le16(dst, 0)
	dst = le32(dst, 0)
	dst = le64(dst, Filetime(p.clock.Start))
	dst = le64(dst, p.clock.Frequency)
	dst = appendObjHeader(dst, 0, 1, rid(ridKindPackage, 0, p.Index), p.Name, p.Description)
	dst = append(dst, p.ID[:]...)
	dst = append(dst, p.ID[:]...) // module id
	dst = le16(dst, 0)            // minimum context version
	// Collection sizes per object kind 0..7 (ignored by decoders).
	counts := [8]int{len(p.Events), len(p.Actions), 0, len(p.Maps), 0, 0, 0, 0}
	if p.Index == 0 {
		counts[6] = 28
	}
	dst = le32(dst, 8)
	for k, c := range counts {
		dst = le32(dst, uint32(k))
		dst = le16(dst, 0x48)
		dst = le16(dst, uint16(c))
		dst = le32(dst, 0)
	}
	// Events.
	dst = le32(dst, uint32(len(p.Events)))
	for i, e := range p.Events {
		dst = appendObjHeader(dst, 0, 1, rid(ridKindEvent, i, p.Index), e.Name, e.Description)
		nStatic := 4
		dst = le16(dst, uint16(nStatic))
		dst = le16(dst, uint16(len(e.Customizable)))
		dst = le16(dst, uint16(len(e.Fields)))
		fixed := 0
		for _, f := range e.Fields {
			if w.fieldSize(p, f) > 0 {
				fixed++
			}
		}
		dst = le16(dst, uint16(fixed))
		// Static attributes: UUID first.
		dst = le32(dst, rid(ridKindType, int(TypeGUIDPtr), 0))
		dst = appendWstrz(dst, "UUID")
		dst = append(dst, e.UUID[:]...)
		dst = appendWstrz(dst, "Globally Unique ID")
		for _, s := range []struct {
			name string
			v    uint64
			desc string
		}{{"VERSION", e.Version, "Event schema version"}, {"CHANNEL", 2, "ETW Channel"}, {"KEYWORD", 0, "Associated Keyword"}} {
			dst = le32(dst, rid(ridKindType, int(TypeUint8), 0))
			dst = appendWstrz(dst, s.name)
			dst = le64(dst, s.v)
			dst = appendWstrz(dst, s.desc)
		}
		for _, c := range e.Customizable {
			dst = le32(dst, rid(ridKindType, int(c.Type), 0))
			dst = appendWstrz(dst, c.Name)
			dst = le64(dst, c.Value)
			dst = le64(dst, c.Default)
			dst = le32(dst, 0) // aggregation
			dst = le32(dst, 0) // capabilities
			dst = appendWstrz(dst, "")
		}
		off := 0
		for _, f := range e.Fields {
			if f.Map != "" {
				dst = le32(dst, rid(ridKindMap, p.maps[f.Map], p.Index))
			} else {
				dst = le32(dst, rid(ridKindType, int(f.Type), 0))
			}
			dst = appendWstrz(dst, f.Name)
			dst = le16(dst, uint16(off))
			dst = le16(dst, 0)
			dst = appendWstrz(dst, "")
			off += w.slotSize(p, f)
		}
	}
	// Actions.
	dst = le32(dst, uint32(len(p.Actions)))
	for i, a := range p.Actions {
		dst = appendObjHeader(dst, 0, 1, rid(ridKindAction, i, p.Index), a.Name, a.Description)
		dst = le32(dst, rid(ridKindType, int(a.Type), 0))
		sz, _ := typeSize(a.Type)
		dst = le32(dst, uint32(sz))
		dst = le32(dst, 0)
	}
	// Maps.
	dst = le32(dst, uint32(len(p.Maps)))
	for i, m := range p.Maps {
		var caps byte
		if m.Bitmask {
			caps = 1
		}
		dst = appendObjHeader(dst, 0, caps, rid(ridKindMap, i, p.Index), m.Name, "")
		dst = append(dst, byte(m.Size))
		dst = le16(dst, uint16(len(m.Entries)))
		for _, en := range m.Entries {
			dst = le32(dst, en.Key)
			dst = appendWstrz(dst, en.Text)
		}
	}
	// Types: package0 carries the whole table.
	if p.Index == 0 {
		dst = le32(dst, uint32(len(typeTable)))
		for _, t := range typeTable {
			hdr := appendObjHeader(nil, 0, 1, rid(ridKindType, int(t.code), 0), t.name, t.desc)
			dst = append(dst, hdr...)
			dst = append(dst, byte(t.size))
		}
	} else {
		dst = le32(dst, 0)
	}
	for (len(dst)-start)%8 != 0 {
		dst = append(dst, 0)
	}
	binary.LittleEndian.PutUint32(dst[start+2:], uint32(len(dst)-start))
	return dst
}

// fieldSize is the fixed size of a field's value (0 = variable).
func (w *Writer) fieldSize(p *pkgState, f FieldType) int {
	if f.Map != "" {
		return p.Maps[p.maps[f.Map]].Size
	}
	sz, _ := typeSize(f.Type)
	return sz
}

// slotSize is the size of a field's slot in the payload (8 for the
// {offset, length} descriptor of variable values).
func (w *Writer) slotSize(p *pkgState, f FieldType) int {
	if sz := w.fieldSize(p, f); sz > 0 {
		return sz
	}
	return 8
}

func rid(kind, obj, pkg int) uint32 {
	return uint32(kind)<<28 | uint32(obj&maxObjectIndex)<<10 | uint32(pkg&maxPackageIndex)
}

func appendObjHeader(dst []byte, version uint16, caps byte, r uint32, name, desc string) []byte {
	dst = le16(dst, version)
	dst = append(dst, 0, caps)
	dst = le32(dst, r)
	dst = appendWstrz(dst, name)
	return appendWstrz(dst, desc)
}

func appendWstrz(dst []byte, s string) []byte {
	dst = appendUTF16(dst, s)
	return append(dst, 0, 0)
}

func appendUTF16(dst []byte, s string) []byte {
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			dst = le16(dst, uint16(r1))
			dst = le16(dst, uint16(r2))
			continue
		}
		dst = le16(dst, uint16(r))
	}
	return dst
}

func le16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func le64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// findPackage returns the package for an event or action reference.
func (w *Writer) findPackage(name string, index int) (*pkgState, error) {
	for _, p := range w.pkgs {
		if (index > 0 && p.Index == index && (name == "" || p.Name == name)) || (index <= 0 && p.Name == name) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("xeltest: unknown package %q (index %d)", name, index)
}

// WriteEvent writes an event to the next partition (round robin).
func (w *Writer) WriteEvent(e Event) error {
	p := w.next
	w.next = (w.next + 1) % len(w.parts)
	return w.WriteEventTo(p, e)
}

// WriteEventTo writes an event to the given partition (0-based).
func (w *Writer) WriteEventTo(part int, e Event) error {
	if w.err != nil {
		return w.err
	}
	if part < 0 || part >= len(w.parts) {
		return fmt.Errorf("xeltest: partition %d out of range [0,%d)", part, len(w.parts))
	}
	rec, err := w.encodeEvent(w.scratch[:0], e)
	if err != nil {
		return err
	}
	w.scratch = rec
	if err := w.writeHeader(); err != nil {
		return err
	}
	pt := w.parts[part]
	capacity := w.opts.BufferSize - EventDataOffset
	if len(pt.data) > 0 && len(pt.data)+len(rec) > capacity {
		if err := w.flushPartition(pt, 0); err != nil {
			return err
		}
	}
	pt.data = append(pt.data, rec...)
	pt.events = append(pt.events, w.nEvents)
	if w.opts.TrackPositions {
		w.positions = append(w.positions, Position{Offset: -1})
	}
	w.nEvents++
	return nil
}

func (w *Writer) flushPartition(pt *partition, keep int) error {
	if len(pt.data) == 0 {
		return w.err
	}
	off := w.off
	if err := w.writeBuffer(pt.data, false, pt.id, EventDataOffset, keep, len(pt.events)); err != nil {
		return err
	}
	if w.opts.TrackPositions {
		for i, n := range pt.events {
			w.positions[n] = Position{Offset: off, Index: i}
		}
	}
	pt.data = pt.data[:0]
	pt.events = pt.events[:0]
	return nil
}

// Flush writes the file header and metadata (if not yet written) and
// every partition's pending buffer, in partition order.
func (w *Writer) Flush() error {
	if err := w.writeHeader(); err != nil {
		return err
	}
	for _, pt := range w.parts {
		if err := w.flushPartition(pt, 0); err != nil {
			return err
		}
	}
	return w.err
}

// Close flushes. It does not close the underlying writer.
func (w *Writer) Close() error { return w.Flush() }

// FlushPartial writes the first pending partition buffer but only its
// first keep bytes (0 < keep < its padded length), as a file still being
// appended to looks: a decoder must report the buffer as truncated. The
// events of that buffer are not in the file (Positions keeps -1 offsets
// for them). Other partitions stay pending.
func (w *Writer) FlushPartial(keep int) error {
	if err := w.writeHeader(); err != nil {
		return err
	}
	if keep <= 0 {
		return errors.New("xeltest: FlushPartial: keep must be positive")
	}
	for _, pt := range w.parts {
		if len(pt.data) == 0 {
			continue
		}
		err := w.writeBuffer(pt.data, false, pt.id, EventDataOffset, keep, len(pt.events))
		pt.data = pt.data[:0]
		pt.events = pt.events[:0]
		return err
	}
	return errors.New("xeltest: FlushPartial: no pending events")
}

// WriteZeroBuffer flushes, then appends size zero bytes (a preallocated,
// not yet written buffer: its zeroed header marks the end of data).
func (w *Writer) WriteZeroBuffer(size int) error {
	if err := w.Flush(); err != nil {
		return err
	}
	return w.write(make([]byte, size))
}

// encodeEvent appends one event record (format notes §5.1).
func (w *Writer) encodeEvent(dst []byte, e Event) ([]byte, error) {
	p, err := w.findPackage(e.Package, e.PackageIndex)
	if err != nil {
		return dst, err
	}
	ei, ok := p.events[e.Name]
	if !ok {
		return dst, fmt.Errorf("xeltest: unknown event %s.%s", p.Name, e.Name)
	}
	et := p.Events[ei]
	for name := range e.Fields {
		found := false
		for _, f := range et.Fields {
			if f.Name == name {
				found = true
				break
			}
		}
		if !found {
			return dst, fmt.Errorf("xeltest: event %s.%s has no field %q", p.Name, e.Name, name)
		}
	}
	start := len(dst)
	dst = le32(dst, rid(ridKindEvent, ei, p.Index))
	flags := uint32(FormatVersion)
	if len(e.Actions) > 0 {
		flags |= eventFlagActions
	}
	dst = le32(dst, flags)
	dst = le32(dst, 0) // source type mask
	dst = le64(dst, p.clock.Ticks(e.Time))
	dst = le32(dst, 0) // payload length, patched
	pay := len(dst)
	fixedLen := 0
	for _, f := range et.Fields {
		fixedLen += w.slotSize(p, f)
	}
	dst = append(dst, make([]byte, fixedLen)...)
	off := 0
	for _, f := range et.Fields {
		v := e.Fields[f.Name]
		slot := pay + off
		if f.Map != "" {
			m := p.Maps[p.maps[f.Map]]
			k, ok := toUint64(v)
			if !ok && v != nil {
				return dst, fmt.Errorf("xeltest: field %s: map key must be an integer, got %T", f.Name, v)
			}
			putUint(dst[slot:], k, m.Size)
			off += m.Size
			continue
		}
		sz, _ := typeSize(f.Type)
		if sz > 0 {
			if err := putFixed(dst[slot:slot+sz], f.Type, v); err != nil {
				return dst, fmt.Errorf("xeltest: field %s: %w", f.Name, err)
			}
			off += sz
			continue
		}
		w.varbuf, err = appendVar(w.varbuf[:0], f.Type, v)
		if err != nil {
			return dst, fmt.Errorf("xeltest: field %s: %w", f.Name, err)
		}
		if len(w.varbuf) > 0 {
			binary.LittleEndian.PutUint32(dst[slot:], uint32(len(dst)-pay))
			dst = append(dst, w.varbuf...)
		}
		binary.LittleEndian.PutUint32(dst[slot+4:], uint32(len(w.varbuf)))
		off += 8
	}
	binary.LittleEndian.PutUint32(dst[start+20:], uint32(len(dst)-pay))
	if len(e.Actions) > 0 {
		for _, a := range e.Actions {
			ap, ai, err := w.findAction(a)
			if err != nil {
				return dst, err
			}
			at := ap.Actions[ai]
			dst = le32(dst, rid(ridKindAction, ai, ap.Index))
			lenAt := len(dst)
			dst = le32(dst, 0)
			if sz, _ := typeSize(at.Type); sz > 0 {
				dst = append(dst, make([]byte, sz)...)
				if err := putFixed(dst[len(dst)-sz:], at.Type, a.Value); err != nil {
					return dst, fmt.Errorf("xeltest: action %s: %w", a.Name, err)
				}
			} else {
				dst, err = appendVar(dst, at.Type, a.Value)
				if err != nil {
					return dst, fmt.Errorf("xeltest: action %s: %w", a.Name, err)
				}
			}
			binary.LittleEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
		}
		dst = le32(dst, actionTerminatorRID)
		dst = le32(dst, 0)
	}
	return dst, nil
}

func (w *Writer) findAction(a Action) (*pkgState, int, error) {
	for _, p := range w.pkgs {
		if a.Package != "" && p.Name != a.Package {
			continue
		}
		if i, ok := p.actions[a.Name]; ok {
			return p, i, nil
		}
	}
	return nil, 0, fmt.Errorf("xeltest: unknown action %s.%s", a.Package, a.Name)
}

func putUint(b []byte, v uint64, size int) {
	switch size {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	case 8:
		binary.LittleEndian.PutUint64(b, v)
	}
}

// putFixed encodes a fixed-size value into b (len(b) = the type size).
func putFixed(b []byte, t Type, v any) error {
	if v == nil {
		return nil
	}
	switch t {
	case TypeFloat32:
		f, ok := toFloat(v)
		if !ok {
			return fmt.Errorf("want a float, got %T", v)
		}
		binary.LittleEndian.PutUint32(b, math.Float32bits(float32(f)))
	case TypeFloat64:
		f, ok := toFloat(v)
		if !ok {
			return fmt.Errorf("want a float, got %T", v)
		}
		binary.LittleEndian.PutUint64(b, math.Float64bits(f))
	case TypeBoolean:
		switch x := v.(type) {
		case bool:
			if x {
				b[0] = 1
			}
		default:
			u, ok := toUint64(v)
			if !ok {
				return fmt.Errorf("want a bool, got %T", v)
			}
			b[0] = byte(u)
		}
	case TypeFiletime:
		if t, ok := v.(time.Time); ok {
			binary.LittleEndian.PutUint64(b, Filetime(t))
			return nil
		}
		u, ok := toUint64(v)
		if !ok {
			return fmt.Errorf("want a time.Time or FILETIME, got %T", v)
		}
		binary.LittleEndian.PutUint64(b, u)
	case TypeActivityID, TypeActivityIDXfer:
		a, ok := v.(ActivityID)
		if !ok {
			return fmt.Errorf("want an ActivityID, got %T", v)
		}
		copy(b, a.GUID[:])
		binary.LittleEndian.PutUint32(b[16:], a.Seq)
	default:
		u, ok := toUint64(v)
		if !ok {
			return fmt.Errorf("want an integer, got %T", v)
		}
		putUint(b, u, len(b))
	}
	return nil
}

// appendVar appends the bytes of a variable-length value.
func appendVar(dst []byte, t Type, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return dst, nil
	case []byte:
		return append(dst, x...), nil
	}
	switch t {
	case TypeUnicodeString, TypeXML:
		s, ok := v.(string)
		if !ok {
			return dst, fmt.Errorf("want a string, got %T", v)
		}
		return appendUTF16(dst, s), nil
	case TypeAnsiString:
		s, ok := v.(string)
		if !ok {
			return dst, fmt.Errorf("want a string, got %T", v)
		}
		for _, r := range s {
			if r > 0xFF {
				r = '?'
			}
			dst = append(dst, byte(r))
		}
		return dst, nil
	case TypeBinary:
		s, ok := v.(string)
		if !ok {
			return dst, fmt.Errorf("want []byte, got %T", v)
		}
		return append(dst, s...), nil
	case TypeGUID:
		switch g := v.(type) {
		case GUID:
			return append(dst, g[:]...), nil
		case [16]byte:
			return append(dst, g[:]...), nil
		}
		return dst, fmt.Errorf("want a GUID, got %T", v)
	case TypeCallstack:
		fr, ok := v.([]uint64)
		if !ok {
			return dst, fmt.Errorf("want []uint64, got %T", v)
		}
		for _, f := range fr {
			dst = le64(dst, f)
		}
		return dst, nil
	}
	return dst, fmt.Errorf("type %d is not variable-length", t)
}

func toUint64(v any) (uint64, bool) {
	switch x := v.(type) {
	case int:
		return uint64(x), true
	case int8:
		return uint64(x), true
	case int16:
		return uint64(x), true
	case int32:
		return uint64(x), true
	case int64:
		return uint64(x), true
	case uint:
		return uint64(x), true
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case uintptr:
		return uint64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case nil:
		return 0, true
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	if u, ok := toUint64(v); ok {
		switch v.(type) {
		case int, int8, int16, int32, int64:
			return float64(int64(u)), true
		}
		return float64(u), true
	}
	return 0, false
}
