package xel

import (
	"cmp"
	"encoding/binary"
	"slices"
	"unicode/utf16"
)

// RID layout (§4.2): bits 0-9 package index, 10-27 object index, 28-31 kind.
const (
	ridKindEvent  = 0
	ridKindAction = 1
	ridKindMap    = 3
	ridKindType   = 6
)

func ridKind(rid uint32) uint32  { return rid >> 28 }
func ridIndex(rid uint32) uint32 { return rid >> 10 & 0x3FFFF }
func ridPkg(rid uint32) uint32   { return rid & 0x3FF }
func ridKey(rid uint32) uint32   { return rid & 0x0FFFFFFF }

// metadata is everything merged from metadata buffers, keyed by RID
// (without the kind bits) so that packages are identified by index.
type metadata struct {
	pkgs    [1024]*pkgInfo
	events  map[uint32]*eventType
	actions map[uint32]*actionDef
	maps    map[uint32]*xmap
	types   map[uint32]uint8 // type key → size (0 = variable)
	ptrSize uint8
	gen     int   // bumped on every merge: event types re-resolve
	bytes   int64 // metadata bytes merged so far
}

type pkgInfo struct {
	name  string
	start int64  // FILETIME of the session start
	freq  uint64 // ticks per second; 0 = 100 ns ticks
}

type eventType struct {
	pkg    uint32
	name   string
	attrs  []attrDef
	fields []fieldDec // resolved decoding plan, valid while gen matches
	order  []uint16   // field indexes sorted by name (UTF-16 ordinal)
	gen    int
}

type attrDef struct {
	name   string
	typ    uint32 // type RID
	offset uint16
}

// fieldDec is how one payload field is decoded.
type fieldDec struct {
	name   string
	code   BaseType
	size   uint16 // fixed size; 0 = variable (descriptor)
	offset uint16
	m      *xmap  // map field
	key    []byte // `"name":` for JSON
}

type actionDef struct {
	name string
	typ  uint32
	size uint32
	key  []byte // `"name":` for JSON
}

func newMetadata() *metadata {
	return &metadata{
		events:  make(map[uint32]*eventType),
		actions: make(map[uint32]*actionDef),
		maps:    make(map[uint32]*xmap),
		types:   make(map[uint32]uint8),
		ptrSize: 8,
	}
}

// cursor reads little-endian values from b, remembering the first
// failure instead of panicking. base is the file offset of b[0].
type cursor struct {
	b    []byte
	p    int
	base int64
	err  error
	opt  *Options
}

func (c *cursor) fail(sentinel error, msg string) {
	if c.err == nil {
		c.err = &FormatError{Offset: c.base + int64(c.p), Msg: msg, Err: sentinel}
	}
}

func (c *cursor) need(n int, what string) bool {
	if c.err != nil {
		return false
	}
	if n < 0 || len(c.b)-c.p < n {
		c.fail(ErrCorrupt, what+" runs past the end of its package")
		return false
	}
	return true
}

func (c *cursor) u8(what string) uint8 {
	if !c.need(1, what) {
		return 0
	}
	v := c.b[c.p]
	c.p++
	return v
}

func (c *cursor) u16(what string) uint16 {
	if !c.need(2, what) {
		return 0
	}
	v := binary.LittleEndian.Uint16(c.b[c.p:])
	c.p += 2
	return v
}

func (c *cursor) u32(what string) uint32 {
	if !c.need(4, what) {
		return 0
	}
	v := binary.LittleEndian.Uint32(c.b[c.p:])
	c.p += 4
	return v
}

func (c *cursor) u64(what string) uint64 {
	if !c.need(8, what) {
		return 0
	}
	v := binary.LittleEndian.Uint64(c.b[c.p:])
	c.p += 8
	return v
}

func (c *cursor) skip(n int, what string) {
	if c.need(n, what) {
		c.p += n
	}
}

// wstrz reads a NUL-terminated UTF-16LE string, bounded by the package
// and by MaxStringLength.
func (c *cursor) wstrz(what string) string {
	if c.err != nil {
		return ""
	}
	start := c.p
	limit := c.opt.MaxStringLength
	for i := start; ; i += 2 {
		if i+1 >= len(c.b) {
			c.fail(ErrCorrupt, what+": unterminated string")
			return ""
		}
		if c.b[i] == 0 && c.b[i+1] == 0 {
			c.p = i + 2
			return utf16leString(c.b[start:i])
		}
		if i-start >= limit {
			c.fail(ErrTooLarge, what+": string longer than MaxStringLength")
			return ""
		}
	}
}

func utf16leString(b []byte) string {
	ascii := true
	for i := 0; i+1 < len(b); i += 2 {
		if b[i+1] != 0 || b[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		out := make([]byte, len(b)/2)
		for i := range out {
			out[i] = b[2*i]
		}
		return string(out)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

type objHeader struct {
	scaps uint8
	rid   uint32
	name  string
}

func (c *cursor) objectHeader() objHeader {
	var h objHeader
	c.u16("object version")
	c.u8("object capabilities")
	h.scaps = c.u8("object capabilities")
	h.rid = c.u32("object rid")
	h.name = c.wstrz("object name")
	c.wstrz("object description")
	return h
}

// count reads a u32 collection count and checks it against limit and
// against the bytes left (each element takes at least minSize bytes).
func (c *cursor) count(what string, limit, minSize int) int {
	n := c.u32(what)
	if c.err != nil {
		return 0
	}
	if int64(n) > int64(limit) {
		c.p -= 4
		c.fail(ErrTooLarge, what+" exceeds limit")
		return 0
	}
	if int64(n)*int64(minSize) > int64(len(c.b)-c.p) {
		c.p -= 4
		c.fail(ErrCorrupt, what+" larger than the package")
		return 0
	}
	return int(n)
}

// mergeBuffer parses the packages of a metadata buffer's data region
// (data, at file offset base) and merges them into md.
func (md *metadata) mergeBuffer(data []byte, base int64, opt *Options) error {
	md.bytes += int64(len(data))
	if md.bytes > opt.MaxMetadataSize {
		return &FormatError{Offset: base, Msg: "metadata exceeds MaxMetadataSize", Err: ErrTooLarge}
	}
	md.gen++
	p := 0
	for n := 0; p < len(data); n++ {
		if n >= opt.MaxPackages {
			return &FormatError{Offset: base + int64(p), Msg: "more packages than MaxPackages", Err: ErrTooLarge}
		}
		if len(data)-p < 6 {
			return &FormatError{Offset: base + int64(p), Msg: "package header runs past the buffer data", Err: ErrCorrupt}
		}
		size := binary.LittleEndian.Uint32(data[p+2:])
		if size < 48 || int64(size) > int64(len(data)-p) {
			return &FormatError{Offset: base + int64(p), Msg: "bad package size", Err: ErrCorrupt}
		}
		c := &cursor{b: data[p : p+int(size)], base: base + int64(p), opt: opt}
		md.readPackage(c)
		if c.err != nil {
			return c.err
		}
		p += int(size)
	}
	return nil
}

func (md *metadata) readPackage(c *cursor) {
	c.skip(2+4+16+2+2+2+4, "package header")
	start := int64(c.u64("package start time"))
	freq := c.u64("package clock frequency")
	h := c.objectHeader()
	c.skip(16+16+2, "package ids")
	nColl := c.count("package collection count", 1000, 12)
	c.skip(nColl*12, "package collections")
	if c.err != nil {
		return
	}
	pi := ridPkg(h.rid)
	pkg := md.pkgs[pi]
	if pkg == nil {
		pkg = &pkgInfo{}
		md.pkgs[pi] = pkg
	}
	pkg.name, pkg.start, pkg.freq = h.name, start, freq

	maxObj := c.opt.MaxObjects
	// events
	n := c.count("event count", maxObj, 16)
	for i := 0; i < n && c.err == nil; i++ {
		md.readEvent(c)
	}
	// actions
	n = c.count("action count", maxObj, 16)
	for i := 0; i < n && c.err == nil; i++ {
		oh := c.objectHeader()
		typ := c.u32("action type")
		size := c.u32("action storage size")
		c.u32("action storage flags")
		if c.err == nil {
			md.actions[ridKey(oh.rid)] = &actionDef{name: oh.name, typ: typ, size: size, key: jsonKey(oh.name)}
		}
	}
	// maps
	n = c.count("map count", maxObj, 16)
	for i := 0; i < n && c.err == nil; i++ {
		md.readMap(c)
	}
	// types
	n = c.count("type count", maxObj, 13)
	for i := 0; i < n && c.err == nil; i++ {
		oh := c.objectHeader()
		size := c.u8("type size")
		if c.err == nil {
			md.types[ridKey(oh.rid)] = size
			if BaseType(ridIndex(oh.rid)) == TypePtr && pkg.name == "package0" && (size == 4 || size == 8) {
				md.ptrSize = size
			}
		}
	}
}

func (md *metadata) readEvent(c *cursor) {
	oh := c.objectHeader()
	nStatic := int(c.u16("event static count"))
	nCust := int(c.u16("event customizable count"))
	nData := int(c.u16("event data count"))
	c.u16("event fixed data count")
	if c.err != nil {
		return
	}
	if nData > c.opt.MaxFields || nStatic+nCust > c.opt.MaxFields {
		c.fail(ErrTooLarge, "event attribute count exceeds MaxFields")
		return
	}
	if (nStatic+nCust+nData)*8 > len(c.b)-c.p {
		c.fail(ErrCorrupt, "event attributes larger than the package")
		return
	}
	attrValue := func(rid uint32) {
		switch BaseType(ridIndex(rid)) {
		case TypeGUIDPtr:
			c.skip(16, "attribute guid")
		case TypeWString:
			c.wstrz("attribute value")
		default:
			c.skip(8, "attribute value")
		}
	}
	for i := 0; i < nStatic && c.err == nil; i++ {
		rid := c.u32("attribute type")
		c.wstrz("attribute name")
		attrValue(rid)
		c.wstrz("attribute description")
	}
	for i := 0; i < nCust && c.err == nil; i++ {
		rid := c.u32("attribute type")
		c.wstrz("attribute name")
		attrValue(rid)
		c.skip(8+4+4, "customizable attribute")
		c.wstrz("attribute description")
	}
	et := &eventType{pkg: ridPkg(oh.rid), name: oh.name, attrs: make([]attrDef, 0, nData)}
	for i := 0; i < nData && c.err == nil; i++ {
		var a attrDef
		a.typ = c.u32("field type")
		a.name = c.wstrz("field name")
		a.offset = c.u16("field offset")
		c.u16("field capabilities")
		c.wstrz("field description")
		et.attrs = append(et.attrs, a)
	}
	if c.err != nil {
		return
	}
	if ridKind(oh.rid) != ridKindEvent {
		c.fail(ErrCorrupt, "event object with a non-event rid")
		return
	}
	md.events[ridKey(oh.rid)] = et
}

func (md *metadata) readMap(c *cursor) {
	oh := c.objectHeader()
	size := c.u8("map value size")
	n := int(c.u16("map entry count"))
	if c.err != nil {
		return
	}
	switch size {
	case 1, 2, 4, 8:
	default:
		c.fail(ErrCorrupt, "bad map value size")
		return
	}
	if n > c.opt.MaxMapEntries {
		c.fail(ErrTooLarge, "map entries exceed MaxMapEntries")
		return
	}
	if n*6 > len(c.b)-c.p {
		c.fail(ErrCorrupt, "map entries larger than the package")
		return
	}
	m := &xmap{size: size, bitmask: oh.scaps&1 != 0, keys: make([]uint32, 0, n), texts: make([]string, 0, n)}
	sorted := true
	for i := 0; i < n && c.err == nil; i++ {
		k := c.u32("map key")
		t := c.wstrz("map text")
		if len(m.keys) > 0 && k <= m.keys[len(m.keys)-1] {
			sorted = false
		}
		m.keys = append(m.keys, k)
		m.texts = append(m.texts, t)
	}
	if c.err != nil {
		return
	}
	if !sorted {
		m.sortEntries()
	}
	md.maps[ridKey(oh.rid)] = m
}

// sortEntries sorts by key, stably: for a duplicated key the first entry
// wins in lookup.
func (m *xmap) sortEntries() {
	idx := make([]int, len(m.keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(m.keys[a], m.keys[b]) })
	keys := make([]uint32, len(idx))
	texts := make([]string, len(idx))
	for i, j := range idx {
		keys[i], texts[i] = m.keys[j], m.texts[j]
	}
	m.keys, m.texts = keys, texts
}

// resolve builds the decoding plan of an event type against the current
// metadata. It returns a message when a field refers to something unknown.
func (md *metadata) resolve(et *eventType) string {
	if et.gen == md.gen && et.fields != nil {
		return ""
	}
	et.fields = et.fields[:0]
	for _, a := range et.attrs {
		f := fieldDec{name: a.name, offset: a.offset, key: jsonKey(a.name)}
		switch ridKind(a.typ) {
		case ridKindMap:
			m := md.maps[ridKey(a.typ)]
			if m == nil {
				return "field " + a.name + " refers to an unknown map"
			}
			f.m = m
			f.size = uint16(m.size)
			f.code = mapKeyType(m.size)
		case ridKindType:
			f.code = BaseType(ridIndex(a.typ))
			size, ok := md.types[ridKey(a.typ)]
			if !ok {
				size, ok = defaultTypeSize(f.code)
				if !ok {
					return "field " + a.name + " has an unknown type"
				}
			}
			f.size = uint16(size)
		default:
			return "field " + a.name + " has a bad type reference"
		}
		et.fields = append(et.fields, f)
	}
	if et.fields == nil {
		et.fields = []fieldDec{}
	}
	if len(et.order) != len(et.fields) {
		fs := make([]Field, len(et.fields))
		for i, f := range et.fields {
			fs[i].Name = f.name
		}
		et.order = sortedOrder(make([]uint16, 0, len(fs)), fs)
	}
	et.gen = md.gen
	return ""
}

func mapKeyType(size uint8) BaseType {
	switch size {
	case 1:
		return TypeUint8
	case 2:
		return TypeUint16
	case 4:
		return TypeUint32
	}
	return TypeUint64
}

// defaultTypeSize gives the package0 size of a base type when the file's
// type table does not list it (0 = variable length).
func defaultTypeSize(t BaseType) (uint8, bool) {
	switch t {
	case TypeInt8, TypeUint8, TypeBoolean:
		return 1, true
	case TypeInt16, TypeUint16:
		return 2, true
	case TypeInt32, TypeUint32, TypeFloat32:
		return 4, true
	case TypeInt64, TypeUint64, TypeFloat64, TypeCPUCycle, TypeFiletime, TypePtr:
		return 8, true
	case TypeActivityID, TypeActivityIDXfer:
		return activityIDSize, true
	case TypeAnsiString, TypeUnicodeString, TypeGUID, TypeBinary, TypeCallstack, TypeXML:
		return 0, true
	}
	return 0, false
}

func jsonKey(name string) []byte { return append(appendJSONString(nil, name), ':') }
