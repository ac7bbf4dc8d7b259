package xel

// A minimal XEL writer for tests: it builds synthetic files from the
// layout in doc.go so that every base type, odd clocks, mid-file
// metadata and malformed structures can be produced in memory.

import (
	"encoding/binary"
	"unicode/utf16"
)

func rid(kind, pkg, idx uint32) uint32 { return kind<<28 | idx<<10 | pkg }

type tType struct {
	code uint32
	name string
	size uint8
}

type tField struct {
	name   string
	typ    uint32 // RID of a type (kind 6) or map (kind 3)
	offset uint16
}

type tEvent struct {
	idx    uint32
	name   string
	fields []tField
}

type tAction struct {
	idx  uint32
	name string
	typ  uint32
	size uint32
}

type tMap struct {
	idx     uint32
	name    string
	bitmask bool
	size    uint8
	keys    []uint32
	texts   []string
}

type tPkg struct {
	index   uint32
	name    string
	start   int64
	freq    uint64
	events  []tEvent
	actions []tAction
	maps    []tMap
	types   []tType
}

type wbuf struct{ b []byte }

func (w *wbuf) u8(v uint8)   { w.b = append(w.b, v) }
func (w *wbuf) u16(v uint16) { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *wbuf) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *wbuf) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *wbuf) raw(b []byte) { w.b = append(w.b, b...) }
func (w *wbuf) wstrz(s string) {
	for _, u := range utf16.Encode([]rune(s)) {
		w.u16(u)
	}
	w.u16(0)
}

func (w *wbuf) objHeader(scaps uint8, r uint32, name string) {
	w.u16(10)
	w.u8(0)
	w.u8(scaps)
	w.u32(r)
	w.wstrz(name)
	w.wstrz("") // description
}

var testSignature = [16]byte{0xA1, 0xB2, 0xC3, 0xD4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

// encode serializes a package record (size rounded up to 8).
func (p tPkg) encode() []byte {
	var w wbuf
	w.u16(10)
	w.u32(0) // size, patched below
	w.raw(testSignature[:])
	w.u16(0)               // generation
	w.u16(0)               // ticks config version
	w.u16(0)               // padding
	w.u32(0)               // padding
	w.u64(uint64(p.start)) // start time
	w.u64(p.freq)          // frequency
	w.objHeader(0, rid(0, p.index, 0), p.name)
	w.raw(make([]byte, 32)) // package id, module id
	w.u16(0)                // minimum context version
	w.u32(0)                // collection count
	w.u32(uint32(len(p.events)))
	for _, e := range p.events {
		w.objHeader(0, rid(ridKindEvent, p.index, e.idx), e.name)
		w.u16(1) // one static attribute: the UUID
		w.u16(1) // one customizable attribute
		w.u16(uint16(len(e.fields)))
		w.u16(0)
		w.u32(rid(ridKindType, 0, uint32(TypeGUIDPtr)))
		w.wstrz("UUID")
		w.raw(testSignature[:])
		w.wstrz("")
		w.u32(rid(ridKindType, 0, uint32(TypeWString)))
		w.wstrz("collect_x")
		w.wstrz("a wide default")
		w.u64(0)
		w.u32(0)
		w.u32(0)
		w.wstrz("customizable")
		for _, f := range e.fields {
			w.u32(f.typ)
			w.wstrz(f.name)
			w.u16(f.offset)
			w.u16(0)
			w.wstrz("field " + f.name)
		}
	}
	w.u32(uint32(len(p.actions)))
	for _, a := range p.actions {
		w.objHeader(0, rid(ridKindAction, p.index, a.idx), a.name)
		w.u32(a.typ)
		w.u32(a.size)
		w.u32(0)
	}
	w.u32(uint32(len(p.maps)))
	for _, m := range p.maps {
		var caps uint8
		if m.bitmask {
			caps = 1
		}
		w.objHeader(caps, rid(ridKindMap, p.index, m.idx), m.name)
		w.u8(m.size)
		w.u16(uint16(len(m.keys)))
		for i, k := range m.keys {
			w.u32(k)
			w.wstrz(m.texts[i])
		}
	}
	w.u32(uint32(len(p.types)))
	for _, t := range p.types {
		w.objHeader(0, rid(ridKindType, p.index, t.code), t.name)
		w.u8(t.size)
	}
	for len(w.b)%8 != 0 {
		w.u8(0)
	}
	binary.LittleEndian.PutUint32(w.b[2:], uint32(len(w.b)))
	return w.b
}

// buffer frames data as a buffer of the given type, padded to 512.
func buffer(typ uint16, data []byte) []byte {
	dataOff := 76
	if typ == bufTypeEvents {
		dataOff = 77
	}
	n := dataOff + len(data)
	padded := (n + 511) / 512 * 512
	b := make([]byte, padded)
	seq := int32(-1)
	if typ == bufTypeEvents {
		seq = 1
		copy(b[0x20:], testSignature[:])
	}
	binary.LittleEndian.PutUint32(b[8:], uint32(seq))
	binary.LittleEndian.PutUint16(b[0x0C:], 10)
	binary.LittleEndian.PutUint16(b[0x0E:], typ)
	binary.LittleEndian.PutUint32(b[0x10:], uint32(padded))
	binary.LittleEndian.PutUint16(b[0x16:], uint16(dataOff))
	binary.LittleEndian.PutUint32(b[0x18:], uint32(len(data)))
	copy(b[dataOff:], data)
	return b
}

func metadataBuffer(pkgs ...tPkg) []byte {
	var data []byte
	for _, p := range pkgs {
		data = append(data, p.encode()...)
	}
	return buffer(bufTypeMetadata, data)
}

func eventBuffer(records ...[]byte) []byte {
	var data []byte
	for _, r := range records {
		data = append(data, r...)
	}
	return buffer(bufTypeEvents, data)
}

// xelFile joins a file header and buffers.
func xelFile(buffers ...[]byte) []byte {
	b := make([]byte, 512)
	binary.LittleEndian.PutUint32(b, fileMagic)
	binary.LittleEndian.PutUint16(b[4:], formatVersion)
	binary.LittleEndian.PutUint16(b[6:], 512)
	for _, buf := range buffers {
		b = append(b, buf...)
	}
	return b
}

type tActionVal struct {
	rid  uint32
	data []byte
}

// record builds an event record; with actions != nil the actions flag is
// set and the list is terminated by the usual 8-byte entry.
func record(eventRID uint32, ticks uint64, payload []byte, actions []tActionVal) []byte {
	var w wbuf
	w.u32(eventRID)
	flags := uint32(formatVersion)
	if actions != nil {
		flags |= flagActions
	}
	w.u32(flags)
	w.u32(0)
	w.u64(ticks)
	w.u32(uint32(len(payload)))
	w.raw(payload)
	if actions != nil {
		for _, a := range actions {
			w.u32(a.rid)
			w.u32(uint32(len(a.data)))
			w.raw(a.data)
		}
		w.u32(0x60000000)
		w.u32(0)
	}
	return w.b
}

// payload builds an event payload: fixed slots first, variable data
// appended after them with {offset, length} descriptors.
type payload struct{ b []byte }

func newPayload(fixed int) *payload { return &payload{b: make([]byte, fixed)} }

func (p *payload) put(off int, v []byte) *payload { copy(p.b[off:], v); return p }
func (p *payload) u8(off int, v uint8) *payload   { p.b[off] = v; return p }
func (p *payload) u16(off int, v uint16) *payload {
	binary.LittleEndian.PutUint16(p.b[off:], v)
	return p
}
func (p *payload) u32(off int, v uint32) *payload {
	binary.LittleEndian.PutUint32(p.b[off:], v)
	return p
}
func (p *payload) u64(off int, v uint64) *payload {
	binary.LittleEndian.PutUint64(p.b[off:], v)
	return p
}

// vardata appends v and writes its descriptor at off.
func (p *payload) vardata(off int, v []byte) *payload {
	p.u32(off, uint32(len(p.b)))
	p.u32(off+4, uint32(len(v)))
	p.b = append(p.b, v...)
	return p
}

func utf16le(s string) []byte {
	var w wbuf
	for _, u := range utf16.Encode([]rune(s)) {
		w.u16(u)
	}
	return w.b
}

func u16s(us ...uint16) []byte {
	var w wbuf
	for _, u := range us {
		w.u16(u)
	}
	return w.b
}

// package0 lists the base types with their sizes, as SQL Server does.
func package0() tPkg {
	p := tPkg{index: 0, name: "package0", freq: 10_000_000}
	p.types = append(p.types, []tType{
		{1, "int8", 1}, {2, "int16", 2}, {3, "int32", 4}, {4, "int64", 8},
		{5, "uint8", 1}, {6, "uint16", 2}, {7, "uint32", 4}, {8, "uint64", 8},
		{9, "float32", 4}, {10, "float64", 8}, {11, "cpu_cycle", 8}, {12, "filetime", 8},
		{13, "ptr", 8}, {19, "ansi_string", 0}, {20, "unicode_string", 0}, {21, "guid", 0},
		{22, "binary_data", 0}, {23, "callstack", 0}, {24, "activity_id", 20},
		{25, "activity_id_xfer", 20}, {26, "boolean", 1}, {27, "xml", 0},
	}...)
	return p
}

func typeRID(t BaseType) uint32 { return rid(ridKindType, 0, uint32(t)) }
