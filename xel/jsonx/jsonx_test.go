package jsonx

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// The flags of the module's three users.
const (
	xelite = Flags(0)
	audit  = LineSeparators | InvalidAsEscape | HexBF
	store  = EncodingJSON
)

// hostile is a corpus of strings an attacker may put in an audit record.
var hostile = []struct{ in, xelite, audit, store string }{
	{"", `""`, `""`, `""`},
	{"plain", `"plain"`, `"plain"`, `"plain"`},
	{"\"\\", `"\"\\"`, `"\"\\"`, `"\"\\"`},
	{"\n\r\t", `"\n\r\t"`, `"\n\r\t"`, `"\n\r\t"`},
	{"\b\f", `"\b\f"`, `"\u0008\u000c"`, `"\b\f"`},
	{"\x00\x01\x1b[31m\x1f", `"\u0000\u0001\u001b[31m\u001f"`, `"\u0000\u0001\u001b[31m\u001f"`, `"\u0000\u0001\u001b[31m\u001f"`},
	{"\x7f'/", "\"\x7f'/\"", "\"\x7f'/\"", "\"\x7f'/\""},
	{"<script>&amp;", `"<script>&amp;"`, `"<script>&amp;"`, `"\u003cscript\u003e\u0026amp;"`},
	{"\u2028\u2029", "\"\u2028\u2029\"", `"\u2028\u2029"`, `"\u2028\u2029"`},
	{"\u2027\u202a", "\"\u2027\u202a\"", "\"\u2027\u202a\"", "\"\u2027\u202a\""},
	{"a\xffb", "\"a\ufffdb\"", `"a\ufffdb"`, `"a\ufffdb"`},
	{"\xed\xa0\x80", "\"\ufffd\ufffd\ufffd\"", `"\ufffd\ufffd\ufffd"`, `"\ufffd\ufffd\ufffd"`}, // a surrogate in UTF-8
	{"\xe2\x80", "\"\ufffd\ufffd\"", `"\ufffd\ufffd"`, `"\ufffd\ufffd"`},                       // cut short
	{"\xe2\x80\u2028", "\"\ufffd\ufffd\u2028\"", `"\ufffd\ufffd\u2028"`, `"\ufffd\ufffd\u2028"`},
	{"\xf4\x90\x80\x80", "\"\ufffd\ufffd\ufffd\ufffd\"", `"\ufffd\ufffd\ufffd\ufffd"`, `"\ufffd\ufffd\ufffd\ufffd"`}, // beyond U+10FFFF
	{"\xc0\xaf", "\"\ufffd\ufffd\"", `"\ufffd\ufffd"`, `"\ufffd\ufffd"`},                                             // overlong '/'
	{"\ufffd\ufeff\u0085é日😀", "\"\ufffd\ufeff\u0085é日😀\"", "\"\ufffd\ufeff\u0085é日😀\"", "\"\ufffd\ufeff\u0085é日😀\""},
	{`\u0000`, `"\\u0000"`, `"\\u0000"`, `"\\u0000"`},
}

func TestAppendStringHostile(t *testing.T) {
	for _, tt := range hostile {
		for _, p := range []struct {
			f    Flags
			want string
		}{{xelite, tt.xelite}, {audit, tt.audit}, {store, tt.store}} {
			got := AppendString([]byte("x"), tt.in, p.f)
			if string(got) != "x"+p.want {
				t.Errorf("AppendString(%q, %#x) = %q, want %q", tt.in, p.f, got[1:], p.want)
			}
			if !json.Valid(got[1:]) {
				t.Errorf("AppendString(%q, %#x) = %s: invalid JSON", tt.in, p.f, got[1:])
			}
		}
	}
}

// reference is the escaping AppendString implements, one rune at a time.
func reference(s string, f Flags) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == utf8.RuneError && n == 1 && f&InvalidAsEscape != 0:
			b.WriteString(`\ufffd`)
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b' && f&HexBF == 0:
			b.WriteString(`\b`)
		case r == '\f' && f&HexBF == 0:
			b.WriteString(`\f`)
		case r < 0x20,
			f&HTML != 0 && (r == '<' || r == '>' || r == '&'),
			f&LineSeparators != 0 && (r == '\u2028' || r == '\u2029'):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r) // an invalid byte is RuneError: U+FFFD
		}
	}
	b.WriteByte('"')
	return b.String()
}

func allFlags() []Flags {
	var fs []Flags
	for f := Flags(0); f <= HTML|LineSeparators|InvalidAsEscape|HexBF; f++ {
		fs = append(fs, f)
	}
	return fs
}

func TestAppendStringReference(t *testing.T) {
	var in []string
	for _, tt := range hostile {
		in = append(in, tt.in)
	}
	for c := range 256 {
		in = append(in, string([]byte{byte(c)}), string([]byte{'a', byte(c)}))
		for d := range 256 {
			in = append(in, string([]byte{'a', byte(c), byte(d), 'z'}), string([]byte{byte(c), byte(d)}))
		}
	}
	for r := rune(0x80); r <= utf8.MaxRune; r += 0x7F {
		in = append(in, string(r)+"\u2028"+string(r+1))
	}
	for _, f := range allFlags() {
		for _, s := range in {
			if got, want := string(AppendString(nil, s, f)), reference(s, f); got != want {
				t.Fatalf("AppendString(%q, %#x) = %q, want %q", s, f, got, want)
			}
		}
	}
}

func TestEncodingJSON(t *testing.T) {
	in := []string{strings.Repeat("<&>\u2028\xff\b\f\"\\", 3)}
	for _, tt := range hostile {
		in = append(in, tt.in)
	}
	for c := range 256 {
		in = append(in, string([]byte{byte(c)}), string([]byte{0xe2, 0x80, byte(c)}))
	}
	for _, s := range in {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s, EncodingJSON); string(got) != string(want) {
			t.Errorf("AppendString(%q, EncodingJSON) = %s, json.Marshal %s", s, got, want)
		}
	}
}

func TestSafeAndAppendByteEscape(t *testing.T) {
	for _, f := range allFlags() {
		for c := range 256 {
			esc := string(AppendByteEscape([]byte("x"), byte(c), f))[1:]
			var back string
			if err := json.Unmarshal([]byte(`"`+esc+`"`), &back); err != nil || back != string(rune(c)) {
				t.Errorf("AppendByteEscape(%#x, %#x) = %s, reads back as %q, %v", c, f, esc, back, err)
			}
			if c >= utf8.RuneSelf {
				if Safe(byte(c), f) {
					t.Errorf("Safe(%#x, %#x): a byte beyond ASCII", c, f)
				}
				continue
			}
			want := string(AppendEscaped(nil, string(rune(c)), f))
			if got := Safe(byte(c), f); got != (want == string(rune(c))) {
				t.Errorf("Safe(%#x, %#x) = %v, but AppendEscaped writes %s", c, f, got, want)
			}
			if !Safe(byte(c), f) && esc != want {
				t.Errorf("AppendByteEscape(%#x, %#x) = %s, AppendEscaped %s", c, f, esc, want)
			}
		}
	}
}

func TestAppendU(t *testing.T) {
	for u, want := range map[uint16]string{0: `\u0000`, 0xD83D: `\ud83d`, 0xABCD: `\uabcd`, 0xFFFF: `\uffff`} {
		if got := string(AppendU([]byte("x"), u)); got != "x"+want {
			t.Errorf("AppendU(%#x) = %s, want x%s", u, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, tt := range hostile {
		f.Add(tt.in, uint8(audit))
	}
	f.Fuzz(func(t *testing.T, s string, flags uint8) {
		fl := Flags(flags) & (HTML | LineSeparators | InvalidAsEscape | HexBF)
		got := AppendString(nil, s, fl)
		if want := reference(s, fl); string(got) != want {
			t.Fatalf("AppendString(%q, %#x) = %q, want %q", s, fl, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendString(%q, %#x) = %s: %v", s, fl, got, err)
		}
		if want := string([]rune(s)); back != want { // one U+FFFD per invalid byte
			t.Fatalf("AppendString(%q, %#x) reads back as %q, want %q", s, fl, back, want)
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	for _, in := range []struct{ name, s string }{
		{"ascii", strings.Repeat("SELECT name FROM sys.databases WHERE database_id > 4; ", 8)},
		{"escapes", strings.Repeat("a\tb\"c\\d\n<e>&", 30)},
		{"unicode", strings.Repeat("Ünïcödé 日本語 😀 ", 20)},
	} {
		for _, p := range []struct {
			name string
			f    Flags
		}{{"xelite", xelite}, {"audit", audit}, {"store", store}} {
			b.Run(in.name+"/"+p.name, func(b *testing.B) {
				b.SetBytes(int64(len(in.s)))
				b.ReportAllocs()
				var buf []byte
				for b.Loop() {
					buf = AppendString(buf[:0], in.s, p.f)
				}
			})
		}
	}
}
