package xel

import (
	"encoding/binary"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/xel/jsonx"
)

// JSON writing without encoding/json: the hot path appends to a caller
// buffer and allocates nothing.

// jsonEscaping is how xel escapes a string in JSON: as XELite does, only
// '"', '\\' and the C0 controls escaped (\b and \f short), an invalid
// UTF-8 byte as the character U+FFFD, U+2028/U+2029 and HTML characters
// as they are.
const jsonEscaping jsonx.Flags = 0

// appendJSONString appends s (UTF-8) as a quoted JSON string.
func appendJSONString(dst []byte, s string) []byte {
	return jsonx.AppendString(dst, s, jsonEscaping)
}

// appendJSONUTF16 appends UTF-16LE bytes as a quoted JSON string;
// unpaired surrogates are written as \uXXXX, an odd trailing byte is
// ignored.
func appendJSONUTF16(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	n := len(b) &^ 1
	i := 0
	for i < n {
		// Fast path: a run of plain ASCII code units, copied by index
		// into spare capacity.
		dst = slices.Grow(dst, (n-i)/2+1)
		out := dst[len(dst):cap(dst)]
		j := 0
		// Four code units at a time while all are printable ASCII other
		// than '"' and '\\' (SWAR on 16-bit lanes).
		for i+8 <= n && j+4 <= len(out) {
			x := binary.LittleEndian.Uint64(b[i:])
			if !plainASCII4(x) {
				break
			}
			out[j], out[j+1], out[j+2], out[j+3] = byte(x), byte(x>>16), byte(x>>32), byte(x>>48)
			j += 4
			i += 8
		}
		for i < n && j < len(out) {
			lo := b[i]
			if b[i+1] != 0 || !jsonx.Safe(lo, jsonEscaping) {
				break
			}
			out[j] = lo
			j++
			i += 2
		}
		dst = dst[:len(dst)+j]
		if i >= n {
			break
		}
		lo, hi := b[i], b[i+1]
		if hi == 0 && lo < utf8.RuneSelf {
			if jsonx.Safe(lo, jsonEscaping) {
				dst = append(dst, lo)
			} else {
				dst = jsonx.AppendByteEscape(dst, lo, jsonEscaping)
			}
			i += 2
			continue
		}
		u := rune(lo) | rune(hi)<<8
		switch {
		case u < 0xD800 || u > 0xDFFF:
			dst = utf8.AppendRune(dst, u)
		case u < 0xDC00 && i+3 < n && b[i+3]&0xFC == 0xDC:
			u2 := rune(b[i+2]) | rune(b[i+3])<<8
			dst = utf8.AppendRune(dst, 0x10000+(u-0xD800)<<10+(u2-0xDC00))
			i += 2
		default:
			dst = jsonx.AppendU(dst, uint16(u))
		}
		i += 2
	}
	return append(dst, '"')
}

const (
	lanes01 = 0x0001000100010001
	lanes80 = 0x8000800080008000
)

// plainASCII4 reports whether the four UTF-16 code units in x are all in
// 0x20..0x7F and none is '"' or '\\'.
func plainASCII4(x uint64) bool {
	if x&0xFF80FF80FF80FF80 != 0 { // a unit >= 0x80
		return false
	}
	if (x-0x20*lanes01)&lanes80 != 0 { // a unit < 0x20
		return false
	}
	q := x ^ '"'*lanes01
	bs := x ^ '\\'*lanes01
	return ((q-lanes01)|(bs-lanes01))&lanes80 == 0
}

// appendJSONLatin1 appends Latin-1 bytes as a quoted JSON string.
func appendJSONLatin1(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	for _, c := range b {
		switch {
		case c >= utf8.RuneSelf:
			dst = append(dst, 0xC0|c>>6, 0x80|c&0x3F)
		case jsonx.Safe(c, jsonEscaping):
			dst = append(dst, c)
		default:
			dst = jsonx.AppendByteEscape(dst, c, jsonEscaping)
		}
	}
	return append(dst, '"')
}

// xmap is a map object of the metadata: key → text. keys is sorted.
type xmap struct {
	size    uint8 // value size in the payload: 1, 2, 4 or 8
	bitmask bool
	keys    []uint32
	texts   []string
}

func (m *xmap) lookup(k uint64) (string, bool) {
	if m == nil || k > 0xFFFFFFFF {
		return "", false
	}
	key := uint32(k)
	lo, hi := 0, len(m.keys)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.keys[mid] < key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(m.keys) && m.keys[lo] == key {
		return m.texts[lo], true
	}
	return "", false
}

// appendText appends the map text for key k (unescaped). A plain map
// gives the entry's text or the decimal key when unknown. A bitmask map
// gives the texts of the set bits, lowest bit first, joined by ","
// (an unknown bit as its decimal value); a zero value gives the entry
// for key 0 if there is one, else "".
func (m *xmap) appendText(dst []byte, k uint64) []byte {
	return m.appendTextFn(dst, k, false)
}

func (m *xmap) appendTextEscaped(dst []byte, k uint64) []byte {
	return m.appendTextFn(dst, k, true)
}

func (m *xmap) appendTextFn(dst []byte, k uint64, esc bool) []byte {
	put := func(dst []byte, s string) []byte {
		if esc {
			return jsonx.AppendEscaped(dst, s, jsonEscaping)
		}
		return append(dst, s...)
	}
	if m == nil || !m.bitmask {
		if s, ok := m.lookup(k); ok {
			return put(dst, s)
		}
		return strconv.AppendUint(dst, k, 10)
	}
	if k == 0 {
		if s, ok := m.lookup(0); ok {
			return put(dst, s)
		}
		return dst
	}
	first := true
	for bit := 0; bit < 64; bit++ {
		b := uint64(1) << uint(bit)
		if k&b == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if s, ok := m.lookup(b); ok {
			dst = put(dst, s)
		} else {
			dst = strconv.AppendUint(dst, b, 10)
		}
	}
	return dst
}

// lessUTF16 reports whether a < b in UTF-16 code unit order (the order
// .NET's ordinal comparison uses). It differs from byte order only when
// a supplementary character meets a character in U+E000..U+FFFF.
func lessUTF16(a, b string) bool {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return len(a) < len(b)
	}
	if a[i] < utf8.RuneSelf && b[i] < utf8.RuneSelf {
		return a[i] < b[i]
	}
	// back up to the start of the rune in which they differ
	for i > 0 && !utf8.RuneStart(a[i]) {
		i--
	}
	ra, _ := utf8.DecodeRuneInString(a[i:])
	rb, _ := utf8.DecodeRuneInString(b[i:])
	return utf16First(ra) < utf16First(rb)
}

func utf16First(r rune) rune {
	if r >= 0x10000 {
		return 0xD800 + (r-0x10000)>>10
	}
	return r
}
