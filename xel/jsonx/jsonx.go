package jsonx

import "unicode/utf8"

// Flags choose the escaping beyond what JSON requires. The zero value
// escapes only '"' and '\\' (as \" and \\) and the C0 controls (as \n,
// \r, \t, \b, \f or \u00xx), and writes an invalid UTF-8 byte as the
// character U+FFFD (its three UTF-8 bytes).
type Flags uint8

const (
	// HTML escapes '<', '>' and '&' as \u003c, \u003e and \u0026.
	HTML Flags = 1 << iota
	// LineSeparators escapes U+2028 and U+2029 as \u2028 and \u2029
	// (JSON allows them; JavaScript before ES2019 did not).
	LineSeparators
	// InvalidAsEscape writes an invalid UTF-8 byte as the escape \ufffd
	// instead of the character U+FFFD.
	InvalidAsEscape
	// HexBF writes backspace and form feed as \u0008 and \u000c instead
	// of \b and \f (as encoding/json did before Go 1.22).
	HexBF
)

// EncodingJSON is the escaping of json.Marshal, byte for byte.
const EncodingJSON = HTML | LineSeparators | InvalidAsEscape

// safe[f&HTML][c] is true for the ASCII bytes c that go into a JSON
// string as they are.
var safe = func() (t [2][utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[0][c] = c != '"' && c != '\\'
		t[1][c] = t[0][c] && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const hex = "0123456789abcdef"

// AppendString appends s to dst as a quoted JSON string.
func AppendString(dst []byte, s string, f Flags) []byte {
	dst = append(dst, '"')
	dst = AppendEscaped(dst, s, f)
	return append(dst, '"')
}

// AppendEscaped appends s to dst escaped as inside a JSON string, without
// the quotes: for a string written in pieces.
func AppendEscaped(dst []byte, s string, f Flags) []byte {
	plain := &safe[f&HTML]
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = AppendByteEscape(dst, c, f)
			i++
			start = i
			continue
		}
		if c < 0xE0 && c >= 0xC2 && i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
			i += 2 // a valid two-byte sequence: U+0080 to U+07FF
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, s[start:i]...)
			if f&InvalidAsEscape != 0 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, "\ufffd"...)
			}
			i++
			start = i
			continue
		}
		if r&^1 == '\u2028' && f&LineSeparators != 0 { // U+2028 or U+2029
			dst = append(dst, s[start:i]...)
			dst = AppendU(dst, uint16(r))
			start = i + n
		}
		i += n
	}
	return append(dst, s[start:]...)
}

// Safe reports whether byte c goes into a JSON string as it is: an ASCII
// character that the flags do not escape.
func Safe(c byte, f Flags) bool {
	return c < utf8.RuneSelf && safe[f&HTML][c]
}

// short[hexBF(f)][c] is the letter of the two-character escape of c, or 0
// when c is written \u00xx.
var short = func() (t [2][utf8.RuneSelf]byte) {
	for c, l := range map[byte]byte{'"': '"', '\\': '\\', '\n': 'n', '\r': 'r', '\t': 't', '\b': 'b', '\f': 'f'} {
		t[0][c] = l
		if c != '\b' && c != '\f' {
			t[1][c] = l
		}
	}
	return t
}()

func hexBF(f Flags) int {
	if f&HexBF != 0 {
		return 1
	}
	return 0
}

// AppendByteEscape appends the escape of the character c (U+0000 to
// U+00FF) to dst: \" \\ \n \r \t \b \f (\u0008 and \u000c with HexBF) or
// \u00xx. It is meant for the bytes that are not Safe.
func AppendByteEscape(dst []byte, c byte, f Flags) []byte {
	if c < utf8.RuneSelf {
		if l := short[hexBF(f)][c]; l != 0 {
			return append(dst, '\\', l)
		}
	}
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
}

// AppendU appends the escape \uxxxx (lower-case hex) of the UTF-16 code
// unit u, for example of an unpaired surrogate.
func AppendU(dst []byte, u uint16) []byte {
	return append(dst, '\\', 'u', hex[u>>12], hex[u>>8&15], hex[u>>4&15], hex[u&15])
}
