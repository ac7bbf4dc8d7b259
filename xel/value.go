package xel

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Base type codes of package0 (§6 of the format notes).
const (
	TypeInt8           BaseType = 1
	TypeInt16          BaseType = 2
	TypeInt32          BaseType = 3
	TypeInt64          BaseType = 4
	TypeUint8          BaseType = 5
	TypeUint16         BaseType = 6
	TypeUint32         BaseType = 7
	TypeUint64         BaseType = 8
	TypeFloat32        BaseType = 9
	TypeFloat64        BaseType = 10
	TypeCPUCycle       BaseType = 11
	TypeFiletime       BaseType = 12
	TypePtr            BaseType = 13
	TypeWString        BaseType = 15 // metadata statics only
	TypeGUIDPtr        BaseType = 16 // metadata statics only
	TypeAnsiString     BaseType = 19
	TypeUnicodeString  BaseType = 20
	TypeGUID           BaseType = 21
	TypeBinary         BaseType = 22
	TypeCallstack      BaseType = 23
	TypeActivityID     BaseType = 24
	TypeActivityIDXfer BaseType = 25
	TypeBoolean        BaseType = 26
	TypeXML            BaseType = 27
)

const (
	activityIDSize        = 20          // GUID + u32 sequence
	filetimeUnixEpochDiff = 11644473600 // seconds from 1601-01-01 to 1970-01-01
)

// Value is one decoded field or action value. Its zero value is a null
// (KindNull). Values that refer to variable-length data (strings, binary,
// GUIDs, callstacks) alias the Reader's buffer and are only valid until the
// next call to Reader.Next; Text returns a fresh string.
type Value struct {
	Kind Kind
	Type BaseType // XE base type code (for KindMap: the integer type of the key)

	ptrSize uint8  // callstack frame / pointer size
	num     uint64 // integers (sign-extended), float bits, bool, filetime, pointer, map key, activity sequence
	raw     []byte // string bytes, binary, GUID (16), activity id GUID (16), callstack
	m       *xmap  // KindMap: the map that gives the text
}

// Int returns the value of a KindInt; KindUint (two's complement),
// KindBool, KindMap (the stored key) and KindPointer values are converted,
// floats truncated toward zero; other kinds return 0.
func (v Value) Int() int64 {
	switch v.Kind {
	case KindInt, KindUint, KindBool, KindMap, KindPointer:
		return int64(v.num)
	case KindFloat32:
		return int64(v.Float())
	case KindFloat64:
		return int64(v.Float())
	}
	return 0
}

// Uint returns the value of a KindUint; KindInt, KindBool, KindMap (the
// stored key) and KindPointer values are converted; other kinds return 0.
func (v Value) Uint() uint64 {
	switch v.Kind {
	case KindInt, KindUint, KindBool, KindMap, KindPointer:
		return v.num
	}
	return 0
}

// Float returns the value of a KindFloat32/KindFloat64; integers are
// converted; other kinds return 0.
func (v Value) Float() float64 {
	switch v.Kind {
	case KindFloat32:
		return float64(math.Float32frombits(uint32(v.num)))
	case KindFloat64:
		return math.Float64frombits(v.num)
	case KindInt:
		return float64(int64(v.num))
	case KindUint:
		return float64(v.num)
	}
	return 0
}

// Bool returns the value of a KindBool (any non-zero byte is true);
// integers are true when non-zero; other kinds return false.
func (v Value) Bool() bool {
	switch v.Kind {
	case KindBool, KindInt, KindUint:
		return v.num != 0
	}
	return false
}

// Bytes returns the raw bytes of a variable-length value (string bytes as
// stored, binary data, GUID, activity id GUID, callstack). The slice
// aliases the Reader's buffer (valid until the next Next call).
func (v Value) Bytes() []byte { return v.raw }

// GUID returns the GUID of a KindGUID or the GUID part of a KindActivityID,
// else the zero GUID.
func (v Value) GUID() GUID {
	var g GUID
	if (v.Kind == KindGUID || v.Kind == KindActivityID) && len(v.raw) >= 16 {
		copy(g[:], v.raw)
	}
	return g
}

// Time returns the UTC time of a KindTime value (FILETIME: 100 ns ticks
// since 1601-01-01), else the zero time.Time.
func (v Value) Time() time.Time {
	if v.Kind != KindTime {
		return time.Time{}
	}
	return filetimeToTime(int64(v.num))
}

// IsNull reports whether the value is missing (KindNull).
func (v Value) IsNull() bool { return v.Kind == KindNull }

// Text returns the value as text: strings decoded to UTF-8 (a fresh
// string; ansi_string as Latin-1, invalid UTF-16 as U+FFFD), the map text
// for KindMap, and for the other kinds the oracle's textual rendering
// (numbers in decimal, GUID lower-case, binary "0x"+upper hex, filetime
// "YYYY-MM-DDTHH:MM:SS.fffffffZ", activity id "guid:seq", callstack frames
// "0x%016X\r\n"). KindNull gives "".
func (v Value) Text() string {
	switch v.Kind {
	case KindNull:
		return ""
	case KindString:
		if v.Type == TypeAnsiString {
			return latin1ToString(v.raw)
		}
		return utf16ToString(v.raw)
	case KindMap:
		return string(v.m.appendText(nil, v.num))
	}
	var buf [64]byte
	return string(v.appendPlain(buf[:0]))
}

// appendPlain appends the textual rendering of non-string kinds (without
// JSON quoting; none of these renderings needs escaping).
func (v Value) appendPlain(dst []byte) []byte { return v.appendText(dst, false) }

// appendText appends the rendering; with esc the callstack's CR LF are
// JSON-escaped (no other rendering needs escaping).
func (v Value) appendText(dst []byte, esc bool) []byte {
	switch v.Kind {
	case KindInt:
		return strconv.AppendInt(dst, int64(v.num), 10)
	case KindUint:
		return strconv.AppendUint(dst, v.num, 10)
	case KindFloat32:
		return appendFloat(dst, float64(math.Float32frombits(uint32(v.num))), 32)
	case KindFloat64:
		return appendFloat(dst, math.Float64frombits(v.num), 64)
	case KindBool:
		if v.num != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case KindBinary:
		return appendHexUpper(append(dst, '0', 'x'), v.raw)
	case KindGUID:
		return appendGUID(dst, v.raw)
	case KindTime:
		return appendFiletime(dst, int64(v.num))
	case KindPointer:
		return appendHex64(append(dst, '0', 'x'), v.num)
	case KindActivityID:
		dst = appendGUID(dst, v.raw)
		dst = append(dst, ':')
		return strconv.AppendUint(dst, v.num, 10)
	case KindCallstack:
		n := int(v.ptrSize)
		if n != 4 && n != 8 {
			n = 8
		}
		for i := 0; i+n <= len(v.raw); i += n {
			var f uint64
			if n == 8 {
				f = binary.LittleEndian.Uint64(v.raw[i:])
			} else {
				f = uint64(binary.LittleEndian.Uint32(v.raw[i:]))
			}
			dst = appendHex64(append(dst, '0', 'x'), f)
			if esc {
				dst = append(dst, `\r\n`...)
			} else {
				dst = append(dst, '\r', '\n')
			}
		}
		return dst
	}
	return dst
}

// AppendJSON appends the value in the oracle's JSON convention: integers
// as exact numbers, floats as round-trip numbers (NaN/±Inf as strings),
// booleans, everything else as a JSON string, KindNull as null.
func (v Value) AppendJSON(dst []byte) []byte {
	switch v.Kind {
	case KindNull:
		return append(dst, "null"...)
	case KindInt, KindUint, KindBool:
		return v.appendPlain(dst)
	case KindFloat32, KindFloat64:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			return append(dst, `"NaN"`...)
		case math.IsInf(f, 1):
			return append(dst, `"Infinity"`...)
		case math.IsInf(f, -1):
			return append(dst, `"-Infinity"`...)
		}
		return v.appendPlain(dst)
	case KindString:
		if v.Type == TypeAnsiString {
			return appendJSONLatin1(dst, v.raw)
		}
		return appendJSONUTF16(dst, v.raw)
	case KindMap:
		dst = append(dst, '"')
		dst = v.m.appendTextEscaped(dst, v.num)
		return append(dst, '"')
	}
	dst = append(dst, '"')
	dst = v.appendText(dst, true)
	return append(dst, '"')
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

// String returns the GUID in lower-case 8-4-4-4-12 form.
func (g GUID) String() string {
	var buf [36]byte
	return string(appendGUID(buf[:0], g[:]))
}

const hexLower = "0123456789abcdef"
const hexUpper = "0123456789ABCDEF"

// appendGUID formats 16 bytes in .NET byte order (first three groups
// little-endian) as a lower-case GUID string.
func appendGUID(dst []byte, b []byte) []byte {
	if len(b) < 16 {
		var z [16]byte
		copy(z[:], b)
		b = z[:]
	}
	order := [16]int{3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11}
	for _, i := range order {
		if i < 0 {
			dst = append(dst, '-')
			continue
		}
		dst = append(dst, hexLower[b[i]>>4], hexLower[b[i]&15])
	}
	for i := 12; i < 16; i++ {
		dst = append(dst, hexLower[b[i]>>4], hexLower[b[i]&15])
	}
	return dst
}

func appendHexUpper(dst []byte, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexUpper[c>>4], hexUpper[c&15])
	}
	return dst
}

func appendHex64(dst []byte, x uint64) []byte {
	for s := 60; s >= 0; s -= 4 {
		dst = append(dst, hexUpper[(x>>uint(s))&15])
	}
	return dst
}

func filetimeToTime(ft int64) time.Time {
	sec := ft / 10_000_000
	rem := ft % 10_000_000
	if rem < 0 {
		rem += 10_000_000
		sec--
	}
	return time.Unix(sec-filetimeUnixEpochDiff, rem*100).UTC()
}

// appendFiletime formats a FILETIME as YYYY-MM-DDTHH:MM:SS.fffffffZ.
func appendFiletime(dst []byte, ft int64) []byte {
	sec := ft / 10_000_000
	rem := ft % 10_000_000
	if rem < 0 {
		rem += 10_000_000
		sec--
	}
	return appendUnixTime(dst, sec-filetimeUnixEpochDiff, rem)
}

// appendTimestamp formats t (UTC) with 7 decimals, allocation-free.
func appendTimestamp(dst []byte, t time.Time) []byte {
	return appendUnixTime(dst, t.Unix(), int64(t.Nanosecond())/100)
}

// appendUnixTime formats seconds since 1970 plus 100 ns ticks.
func appendUnixTime(dst []byte, sec, ticks int64) []byte {
	days := sec / 86400
	sod := sec % 86400
	if sod < 0 {
		sod += 86400
		days--
	}
	y, m, d := civilFromDays(days)
	if y < 0 {
		dst = append(dst, '-')
		y = -y
	}
	if y >= 10000 {
		dst = strconv.AppendInt(dst, y, 10)
	} else {
		dst = append4(dst, int(y))
	}
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = append2(dst, int(sod/3600))
	dst = append(dst, ':')
	dst = append2(dst, int(sod/60%60))
	dst = append(dst, ':')
	dst = append2(dst, int(sod%60))
	dst = append(dst, '.')
	t := int(ticks)
	var b [7]byte
	for i := 6; i >= 0; i-- {
		b[i] = byte('0' + t%10)
		t /= 10
	}
	dst = append(dst, b[:]...)
	return append(dst, 'Z')
}

func append2(dst []byte, n int) []byte { return append(dst, byte('0'+n/10), byte('0'+n%10)) }
func append4(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

// civilFromDays converts days since 1970-01-01 to a proleptic Gregorian
// date (H. Hinnant's algorithm).
func civilFromDays(z int64) (y int64, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func latin1ToString(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	out := make([]byte, 0, len(b)*2)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return string(out)
}

func utf16ToString(b []byte) string {
	out := make([]byte, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u := uint16(b[i]) | uint16(b[i+1])<<8
		if u < utf8.RuneSelf {
			out = append(out, byte(u))
			continue
		}
		r := rune(u)
		if utf16.IsSurrogate(r) {
			r = utf8.RuneError
			if u < 0xDC00 && i+3 < len(b) {
				u2 := uint16(b[i+2]) | uint16(b[i+3])<<8
				if u2 >= 0xDC00 && u2 <= 0xDFFF {
					r = utf16.DecodeRune(rune(u), rune(u2))
					i += 2
				}
			}
		}
		out = utf8.AppendRune(out, r)
	}
	return string(out)
}

var kindNames = [...]string{"null", "int", "uint", "float32", "float64", "bool", "string", "binary",
	"guid", "time", "pointer", "activity_id", "callstack", "map"}

// String returns the kind's name, e.g. "int" or "map".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + itoa(int64(k)) + ")"
}
