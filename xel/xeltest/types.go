package xeltest

import (
	"encoding/hex"
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// Type is an XE base type code (format notes §6). The values equal the
// xel.BaseType constants.
type Type uint8

// Base type codes.
const (
	TypeInt8           Type = 1
	TypeInt16          Type = 2
	TypeInt32          Type = 3
	TypeInt64          Type = 4
	TypeUint8          Type = 5
	TypeUint16         Type = 6
	TypeUint32         Type = 7
	TypeUint64         Type = 8
	TypeFloat32        Type = 9
	TypeFloat64        Type = 10
	TypeCPUCycle       Type = 11
	TypeFiletime       Type = 12
	TypePtr            Type = 13
	TypeWString        Type = 15 // metadata statics only
	TypeGUIDPtr        Type = 16 // metadata statics only
	TypeAnsiString     Type = 19
	TypeUnicodeString  Type = 20
	TypeGUID           Type = 21
	TypeBinary         Type = 22
	TypeCallstack      Type = 23
	TypeActivityID     Type = 24
	TypeActivityIDXfer Type = 25
	TypeBoolean        Type = 26
	TypeXML            Type = 27
)

// typeInfo is one row of package0's type table as SQL Server writes it.
type typeInfo struct {
	code Type
	name string
	desc string
	size int // 0 = variable length
}

// typeTable lists the package0 types the writer emits, in code order (RID
// object index = code). Names and sizes are those of the fixtures'
// package0 type tables (format notes §6).
var typeTable = []typeInfo{
	{TypeInt8, "int8", "Signed 8-bit integer", 1},
	{TypeInt16, "int16", "Signed 16-bit integer", 2},
	{TypeInt32, "int32", "Signed 32-bit integer", 4},
	{TypeInt64, "int64", "Signed 64-bit integer", 8},
	{TypeUint8, "uint8", "Unsigned 8-bit integer", 1},
	{TypeUint16, "uint16", "Unsigned 16-bit integer", 2},
	{TypeUint32, "uint32", "Unsigned 32-bit integer", 4},
	{TypeUint64, "uint64", "Unsigned 64-bit integer", 8},
	{TypeFloat32, "float32", "32-bit floating point number", 4},
	{TypeFloat64, "float64", "64-bit floating point number", 8},
	{TypeCPUCycle, "cpu_cycle", "CPU cycle count", 8},
	{TypeFiletime, "filetime", "Windows FILETIME", 8},
	{TypePtr, "ptr", "Pointer value", 8},
	{TypeGUIDPtr, "guid_ptr", "GUID pointer value", 8},
	{TypeAnsiString, "ansi_string", "ANSI string (counted)", 0},
	{TypeUnicodeString, "unicode_string", "Unicode string (counted)", 0},
	{TypeGUID, "guid", "GUID", 0},
	{TypeBinary, "binary_data", "Binary data", 0},
	{TypeCallstack, "callstack", "Call stack", 0},
	{TypeActivityID, "activity_id", "Activity ID of an event", 20},
	{TypeActivityIDXfer, "activity_id_xfer", "Transfer of an activity ID", 20},
	{TypeBoolean, "boolean", "Boolean value", 1},
	{TypeXML, "xml", "Well formed XML fragment", 0},
}

// typeSize returns the fixed size of a base type (0 = variable) and
// whether the writer knows the type.
func typeSize(t Type) (int, bool) {
	for _, ti := range typeTable {
		if ti.code == t {
			return ti.size, true
		}
	}
	return 0, false
}

// GUID is a 16-byte GUID in .NET/SQL byte order (first three groups
// little-endian), as stored in .xel files; convertible to xel.GUID.
type GUID [16]byte

// ParseGUID parses the 8-4-4-4-12 text form into .NET byte order.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || len(s) != 36 {
		return g, fmt.Errorf("xeltest: bad guid %q", s)
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], []byte(h)); err != nil {
		return g, fmt.Errorf("xeltest: bad guid %q: %w", s, err)
	}
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:], b[8:])
	return g, nil
}

// MustGUID is ParseGUID that panics on a malformed literal (for tests).
func MustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String returns the lower-case 8-4-4-4-12 text form.
func (g GUID) String() string {
	b := [16]byte{g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6]}
	copy(b[8:], g[8:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ActivityID is the value of an activity_id / activity_id_xfer field.
type ActivityID struct {
	GUID GUID
	Seq  uint32
}

// Clock is a package's clock: its start time and tick frequency.
type Clock struct {
	Start time.Time // UTC start (package header FILETIME)
	// Frequency in ticks per second. 0 means ticks are 100 ns units
	// (as in 2012-era files); 10_000_000 is what SQL Server 2016+ writes;
	// other values (e.g. 2_725_525, QueryPerformanceCounter) quantize
	// event times, see Time.
	Frequency uint64
}

// DefaultClock is the clock used when Options.Clock is nil.
var DefaultClock = Clock{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Frequency: 10_000_000}

const filetimeEpochDelta = 116444736000000000 // 100 ns units from 1601-01-01 to 1970-01-01

// Filetime converts t to a FILETIME (100 ns units since 1601-01-01 UTC).
func Filetime(t time.Time) uint64 {
	sec := t.Unix()
	return uint64(sec*10_000_000 + int64(t.Nanosecond()/100) + filetimeEpochDelta)
}

// FiletimeTime converts a FILETIME to a UTC time.Time.
func FiletimeTime(ft uint64) time.Time {
	v := int64(ft) - filetimeEpochDelta
	sec, rem := v/10_000_000, v%10_000_000
	if rem < 0 {
		sec--
		rem += 10_000_000
	}
	return time.Unix(sec, rem*100).UTC()
}

// Ticks returns the tick count the writer stores for an event at t
// (times before Start store 0).
func (c Clock) Ticks(t time.Time) uint64 {
	start, ft := Filetime(c.Start), Filetime(t)
	if ft <= start {
		return 0
	}
	d := ft - start
	if c.Frequency == 0 {
		return d
	}
	hi, lo := bits.Mul64(d, c.Frequency)
	if hi >= 10_000_000 {
		return ^uint64(0)
	}
	q, _ := bits.Div64(hi, lo, 10_000_000)
	return q
}

// Time returns the event time a decoder computes from ticks
// (start + ticks·10⁷/frequency, 128-bit intermediate, truncated). With a
// frequency other than 0 or 10⁷, Time(Ticks(t)) can differ from t by less
// than one tick.
func (c Clock) Time(ticks uint64) time.Time {
	start := Filetime(c.Start)
	if c.Frequency == 0 {
		return FiletimeTime(start + ticks)
	}
	hi, lo := bits.Mul64(ticks, 10_000_000)
	if hi >= c.Frequency {
		return FiletimeTime(^uint64(0))
	}
	q, _ := bits.Div64(hi, lo, c.Frequency)
	return FiletimeTime(start + q)
}

// Package describes one metadata package.
type Package struct {
	Name        string
	Description string
	// Index is the package index (RID bits 0–9). 0 assigns the next free
	// index; several packages may share a Name but never an Index.
	Index   int
	ID      GUID
	Clock   *Clock // nil: Options.Clock
	Events  []EventType
	Actions []ActionType
	Maps    []MapType
}

// EventType describes an event: its UUID (first static attribute), its
// customizable attributes and its data fields in payload order.
type EventType struct {
	Name         string
	Description  string
	UUID         GUID
	Version      uint64 // VERSION static attribute
	Customizable []Customizable
	Fields       []FieldType
}

// Customizable is a customizable attribute (e.g. collect_statement).
type Customizable struct {
	Name    string
	Type    Type // TypeBoolean, TypeUint32, ...
	Value   uint64
	Default uint64
}

// FieldType is a data attribute. Exactly one of Type and Map is set: Map
// names a map of the same package and the field stores a key of the
// map's size.
type FieldType struct {
	Name string
	Type Type
	Map  string
}

// ActionType is an action (global field) of a package.
type ActionType struct {
	Name        string
	Description string
	Type        Type
}

// MapType is a map (or, with Bitmask, a bitmask map) of a package.
type MapType struct {
	Name    string
	Bitmask bool
	Size    int // key size in bytes: 1, 2, 4 or 8 (0 = 4)
	Entries []MapEntry
}

// MapEntry is one key → text pair of a map.
type MapEntry struct {
	Key  uint32
	Text string
}
