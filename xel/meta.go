package xel

import (
	"encoding/binary"
	"sort"
	"strings"
	"unicode/utf16"
	"unsafe"
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

	// What the Reader has merged so far, against the limits of Options.
	// Nothing is ever subtracted: an object a later package replaces
	// still counts, so the limits also bound the garbage.
	scratch  []byte
	mem      int64 // estimated bytes of decoded metadata (MaxMetadataMemory)
	nPkgs    int   // package records
	nEvents  int   // event definitions
	nMaps    int   // map definitions
	nObjects int   // objects of every kind
	nFields  int   // data attributes of event definitions
	nEntries int   // map entries
}

// Estimated in-memory sizes of decoded metadata, charged against
// Options.MaxMetadataMemory (strings are charged their length on top).
const (
	costMapSlot = 48 // one entry of a Go map keyed by RID, with growth slack
	costPkg     = int64(unsafe.Sizeof(pkgInfo{}))
	costEvent   = int64(unsafe.Sizeof(eventType{})) + costMapSlot
	// a field: its attrDef, its fieldDec once resolved, its place in the
	// JSON key order
	costField  = int64(unsafe.Sizeof(attrDef{})+unsafe.Sizeof(fieldDec{})) + 2
	costAction = int64(unsafe.Sizeof(actionDef{})) + costMapSlot
	costMap    = int64(unsafe.Sizeof(xmap{})) + costMapSlot
	costEntry  = int64(unsafe.Sizeof(uint32(0)) + unsafe.Sizeof(""))
	costType   = costMapSlot
	// a metadata buffer: its offset (Reader.metaOffs) and NewReaderAt's
	// set of loaded offsets
	costMetaBuffer = 8 + costMapSlot
)

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
	key    []byte // `"name":` for JSON
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

// failLimit fails with ErrTooLarge at offset at of the cursor's bytes:
// what exceeds the Options limit called name, of value max.
func (c *cursor) failLimit(at int, what, name string, max int64) {
	if c.err == nil {
		c.err = tooLarge(c.base+int64(at), what, name, max)
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
	if b, ok := c.wstrzBytes(what); ok {
		return utf16leString(b)
	}
	return ""
}

// skipWstrz skips a NUL-terminated UTF-16LE string the decoder does not
// keep (a description), with the checks of wstrz but no allocation.
func (c *cursor) skipWstrz(what string) { c.wstrzBytes(what) }

// wstrzBytes returns the UTF-16LE bytes of the NUL-terminated string at
// the cursor, without the terminator, and moves past it.
func (c *cursor) wstrzBytes(what string) ([]byte, bool) {
	if c.err != nil {
		return nil, false
	}
	start := c.p
	limit := c.opt.MaxStringLength
	for i := start; ; i += 2 {
		if i+1 >= len(c.b) {
			c.fail(ErrCorrupt, what+": unterminated string")
			return nil, false
		}
		if c.b[i] == 0 && c.b[i+1] == 0 {
			c.p = i + 2
			return c.b[start:i], true
		}
		if i-start >= limit {
			c.failLimit(c.p, what+": string", "MaxStringLength", int64(limit))
			return nil, false
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
		var sb strings.Builder // one allocation
		sb.Grow(len(b) / 2)
		for i := 0; i+1 < len(b); i += 2 {
			sb.WriteByte(b[i])
		}
		return sb.String()
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

// objectHeader reads an object header; with keep it decodes the name
// (charged against MaxMetadataMemory), else it only skips it.
func (md *metadata) objectHeader(c *cursor, keep bool) objHeader {
	var h objHeader
	c.u16("object version")
	c.u8("object capabilities")
	h.scaps = c.u8("object capabilities")
	h.rid = c.u32("object rid")
	if keep {
		h.name = md.str(c, "object name")
	} else {
		c.skipWstrz("object name")
	}
	c.skipWstrz("object description")
	return h
}

// str reads a string the metadata keeps, charging its allocation.
func (md *metadata) str(c *cursor, what string) string {
	s := c.wstrz(what)
	md.charge(c, costBytes(len(s)))
	return s
}

// costBytes is the memory a string or byte slice of n bytes takes (heap
// allocations come in size classes; empty ones take none).
func costBytes(n int) int64 {
	if n == 0 {
		return 0
	}
	return int64(n+15) &^ 15
}

// charge adds n bytes to the decoded metadata. Beyond MaxMetadataMemory
// it fails the cursor and returns false.
func (md *metadata) charge(c *cursor, n int64) bool {
	if c.err != nil {
		return false
	}
	if limit := c.opt.MaxMetadataMemory; md.mem+n > limit {
		c.failLimit(c.p, "decoded metadata", "MaxMetadataMemory", limit)
		return false
	}
	md.mem += n
	return true
}

// count reads a u32 collection count and checks it against the bytes
// left (each element takes at least minSize bytes).
func (c *cursor) count(what string, minSize int) int {
	n := c.u32(what)
	if c.err != nil {
		return 0
	}
	if int64(n)*int64(minSize) > int64(len(c.b)-c.p) {
		c.p -= 4
		c.fail(ErrCorrupt, what+" larger than the package")
		return 0
	}
	return int(n)
}

// objects reads the count of a package's objects of one kind and counts
// them against the Reader's limits: the kind's own (total, called name,
// of value limit; nil for none) and MaxObjects. Beyond a limit the cursor
// fails at the count, before any of the objects is read.
func (md *metadata) objects(c *cursor, kind string, total *int, name string, limit int, minSize int) int {
	at := c.p
	n := c.u32(kind + " count")
	if c.err != nil {
		return 0
	}
	if total != nil && int64(*total)+int64(n) > int64(limit) {
		c.failLimit(at, itoa(int64(*total)+int64(n))+" "+kind+" definitions", name, int64(limit))
		return 0
	}
	if int64(md.nObjects)+int64(n) > int64(c.opt.MaxObjects) {
		c.failLimit(at, itoa(int64(md.nObjects)+int64(n))+" metadata objects", "MaxObjects", int64(c.opt.MaxObjects))
		return 0
	}
	if int64(n)*int64(minSize) > int64(len(c.b)-c.p) {
		c.p = at
		c.fail(ErrCorrupt, kind+" count larger than the package")
		return 0
	}
	if total != nil {
		*total += int(n)
	}
	md.nObjects += int(n)
	return int(n)
}

// mergeBuffer parses the packages of a metadata buffer's data region
// (data, at file offset base) and merges them into md.
func (md *metadata) mergeBuffer(data []byte, base int64, opt *Options) error {
	md.bytes += int64(len(data))
	if md.bytes > opt.MaxMetadataSize {
		return tooLarge(base, itoa(md.bytes)+" bytes of metadata", "MaxMetadataSize", opt.MaxMetadataSize)
	}
	if md.mem+costMetaBuffer > opt.MaxMetadataMemory {
		return tooLarge(base, "decoded metadata", "MaxMetadataMemory", opt.MaxMetadataMemory)
	}
	md.mem += costMetaBuffer
	md.gen++
	p := 0
	for p < len(data) {
		if md.nPkgs >= opt.MaxPackages {
			return tooLarge(base+int64(p), itoa(int64(md.nPkgs)+1)+" package records", "MaxPackages", int64(opt.MaxPackages))
		}
		md.nPkgs++
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
	h := md.objectHeader(c, true)
	c.skip(16+16+2, "package ids")
	collAt := c.p
	nColl := c.count("package collection count", 12)
	if nColl > 1000 {
		c.p = collAt
		c.fail(ErrTooLarge, "package collection count "+itoa(int64(nColl))+" exceeds 1000")
	}
	c.skip(nColl*12, "package collections")
	if !md.charge(c, costPkg) {
		return
	}
	pi := ridPkg(h.rid)
	pkg := md.pkgs[pi]
	if pkg == nil {
		pkg = &pkgInfo{}
		md.pkgs[pi] = pkg
	}
	pkg.name, pkg.start, pkg.freq = h.name, start, freq

	opt := c.opt
	// events
	n := md.objects(c, "event", &md.nEvents, "MaxEvents", opt.MaxEvents, 16)
	for i := 0; i < n && c.err == nil; i++ {
		md.readEvent(c)
	}
	// actions
	n = md.objects(c, "action", nil, "", 0, 16)
	for i := 0; i < n && c.err == nil; i++ {
		oh := md.objectHeader(c, true)
		typ := c.u32("action type")
		size := c.u32("action storage size")
		c.u32("action storage flags")
		key := md.jsonKey(oh.name)
		if md.charge(c, costAction+costBytes(len(key))) {
			md.actions[ridKey(oh.rid)] = &actionDef{name: oh.name, typ: typ, size: size, key: key}
		}
	}
	// maps
	n = md.objects(c, "map", &md.nMaps, "MaxMaps", opt.MaxMaps, 15)
	for i := 0; i < n && c.err == nil; i++ {
		md.readMap(c)
	}
	// types
	n = md.objects(c, "type", nil, "", 0, 13)
	for i := 0; i < n && c.err == nil; i++ {
		oh := md.objectHeader(c, false)
		size := c.u8("type size")
		if md.charge(c, costType) {
			md.types[ridKey(oh.rid)] = size
			if BaseType(ridIndex(oh.rid)) == TypePtr && pkg.name == "package0" && (size == 4 || size == 8) {
				md.ptrSize = size
			}
		}
	}
}

func (md *metadata) readEvent(c *cursor) {
	oh := md.objectHeader(c, true)
	countsAt := c.p
	nStatic := int(c.u16("event static count"))
	nCust := int(c.u16("event customizable count"))
	nData := int(c.u16("event data count"))
	c.u16("event fixed data count")
	if c.err != nil {
		return
	}
	if nData > c.opt.MaxFields || nStatic+nCust > c.opt.MaxFields {
		c.failLimit(countsAt, "event attribute count", "MaxFields", int64(c.opt.MaxFields))
		return
	}
	if md.nFields+nData > c.opt.MaxTotalFields {
		c.failLimit(countsAt, itoa(int64(md.nFields+nData))+" event fields", "MaxTotalFields", int64(c.opt.MaxTotalFields))
		return
	}
	if (nStatic+nCust+nData)*8 > len(c.b)-c.p {
		c.fail(ErrCorrupt, "event attributes larger than the package")
		return
	}
	md.nFields += nData
	if !md.charge(c, costEvent+int64(nData)*costField) {
		return
	}
	attrValue := func(rid uint32) {
		switch BaseType(ridIndex(rid)) {
		case TypeGUIDPtr:
			c.skip(16, "attribute guid")
		case TypeWString:
			c.skipWstrz("attribute value")
		default:
			c.skip(8, "attribute value")
		}
	}
	for i := 0; i < nStatic && c.err == nil; i++ {
		rid := c.u32("attribute type")
		c.skipWstrz("attribute name")
		attrValue(rid)
		c.skipWstrz("attribute description")
	}
	for i := 0; i < nCust && c.err == nil; i++ {
		rid := c.u32("attribute type")
		c.skipWstrz("attribute name")
		attrValue(rid)
		c.skip(8+4+4, "customizable attribute")
		c.skipWstrz("attribute description")
	}
	if c.err != nil {
		return
	}
	et := &eventType{pkg: ridPkg(oh.rid), name: oh.name, attrs: make([]attrDef, 0, nData)}
	for i := 0; i < nData && c.err == nil; i++ {
		var a attrDef
		a.typ = c.u32("field type")
		a.name = md.str(c, "field name")
		a.offset = c.u16("field offset")
		c.u16("field capabilities")
		c.skipWstrz("field description")
		a.key = md.jsonKey(a.name)
		md.charge(c, costBytes(len(a.key)))
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
	oh := md.objectHeader(c, false)
	size := c.u8("map value size")
	countAt := c.p
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
		c.failLimit(countAt, itoa(int64(n))+" map entries", "MaxMapEntries", int64(c.opt.MaxMapEntries))
		return
	}
	if md.nEntries+n > c.opt.MaxTotalMapEntries {
		c.failLimit(countAt, itoa(int64(md.nEntries+n))+" map entries in all", "MaxTotalMapEntries", int64(c.opt.MaxTotalMapEntries))
		return
	}
	if n*6 > len(c.b)-c.p {
		c.fail(ErrCorrupt, "map entries larger than the package")
		return
	}
	md.nEntries += n
	if !md.charge(c, costMap+int64(n)*costEntry) {
		return
	}
	m := &xmap{size: size, bitmask: oh.scaps&1 != 0, keys: make([]uint32, 0, n), texts: make([]string, 0, n)}
	sorted := true
	for i := 0; i < n && c.err == nil; i++ {
		k := c.u32("map key")
		t := md.str(c, "map text")
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

// sortEntries sorts by key in place (no allocation), stably: for a
// duplicated key the first entry wins in lookup.
func (m *xmap) sortEntries() { sort.Stable(byKey{m}) }

type byKey struct{ m *xmap }

func (s byKey) Len() int           { return len(s.m.keys) }
func (s byKey) Less(i, j int) bool { return s.m.keys[i] < s.m.keys[j] }
func (s byKey) Swap(i, j int) {
	s.m.keys[i], s.m.keys[j] = s.m.keys[j], s.m.keys[i]
	s.m.texts[i], s.m.texts[j] = s.m.texts[j], s.m.texts[i]
}

// resolve builds the decoding plan of an event type against the current
// metadata. It returns a message when a field refers to something unknown.
func (md *metadata) resolve(et *eventType) string {
	if et.gen == md.gen && et.fields != nil {
		return ""
	}
	et.fields = et.fields[:0]
	for _, a := range et.attrs {
		f := fieldDec{name: a.name, offset: a.offset, key: a.key}
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

// jsonKey returns `"name":` for JSON, in a slice of the exact length
// (escaping can make a key six times longer than its name: no growth
// garbage).
func (md *metadata) jsonKey(name string) []byte {
	md.scratch = append(appendJSONString(md.scratch[:0], name), ':')
	return append([]byte(nil), md.scratch...)
}
