package tsql

import "strings"

// Credential is a CREATE/ALTER [DATABASE SCOPED] CREDENTIAL statement.
type Credential struct {
	Verb     string // "create" or "alter"
	Database bool   // DATABASE SCOPED
	Name     string // e.g. "https://acct.blob.core.windows.net/container"
	Identity string // e.g. "SHARED ACCESS SIGNATURE", "Managed Identity"
	// HasSecret is true when a SECRET was given (its value is never kept).
	HasSecret bool
}

func parseCredential(toks []Token) *Credential {
	for i, t := range toks {
		if !(t.Is("create") || t.Is("alter")) {
			continue
		}
		c := &cursor{toks: toks, i: i + 1}
		cr := &Credential{Verb: t.Text}
		if c.accept("database") {
			if !c.accept("scoped") {
				continue
			}
			cr.Database = true
		}
		if !c.accept("credential") {
			continue
		}
		cr.Name = c.name()
		for !c.endOfStatement() {
			u := c.next()
			if (u.Is("identity") || u.Is("secret")) && c.acceptPunct("=") {
				v := c.next()
				if u.Text == "identity" {
					cr.Identity = bounded(v.Text, 256)
				} else {
					cr.HasSecret = true
				}
			}
		}
		return cr
	}
	return nil
}

// Configure is one sp_configure call.
type Configure struct {
	Option   string // lower case, whitespace collapsed; "" when not given
	Value    string // as written ("1", "@v"); "" when not given
	HasValue bool
}

func parseConfigure(toks []Token) []Configure {
	var out []Configure
	for i := 0; i < len(toks) && len(out) < 16; i++ {
		if !toks[i].Is("sp_configure") {
			continue
		}
		c := &cursor{toks: toks, i: i + 1}
		var args []Token
		named := map[string]Token{}
		for len(args)+len(named) < 2 && !c.endOfStatement() {
			t := c.peek()
			switch {
			case t.Kind == Var && c.peekAt(1).IsPunct("="):
				c.i += 2
				named[t.Text] = c.next()
			case t.Kind == String || t.Kind == Number || t.Kind == Var:
				args = append(args, c.next())
			case t.IsPunct("-") && c.peekAt(1).Kind == Number:
				c.next()
				args = append(args, Token{Kind: Number, Text: "-" + c.next().Text})
			default:
				goto done
			}
			if !c.acceptPunct(",") {
				break
			}
		}
	done:
		cf := Configure{}
		if v, ok := named["@configname"]; ok {
			cf.Option = v.Text
		} else if len(args) > 0 {
			cf.Option = args[0].Text
			args = args[1:]
		}
		if v, ok := named["@configvalue"]; ok {
			cf.Value, cf.HasValue = v.Text, true
		} else if len(args) > 0 {
			cf.Value, cf.HasValue = args[0].Text, true
		}
		cf.Option = strings.Join(strings.Fields(strings.ToLower(cf.Option)), " ")
		cf.Value = strings.TrimSpace(cf.Value)
		out = append(out, cf)
		i = c.i - 1
		if i < 0 {
			i = 0
		}
	}
	return out
}

// Redact returns s with the string literal that follows PASSWORD or
// SECRET (e.g. PASSWORD = 'x', SECRET = N'x', @rmtpassword = 'x')
// replaced by '***', so statement excerpts never carry secrets.
func Redact(s string) string {
	ls := asciiLower(s) // same length as s, unlike strings.ToLower
	if !strings.Contains(ls, "password") && !strings.Contains(ls, "secret") {
		return s
	}
	var b strings.Builder
	i := 0
	for i < len(s) {
		k := -1
		for _, kw := range [...]string{"password", "secret"} {
			if j := strings.Index(ls[i:], kw); j >= 0 && (k < 0 || i+j < k) {
				k = i + j + len(kw)
			}
		}
		if k < 0 {
			break
		}
		j := k
		for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n') {
			j++
		}
		if j < len(s) && s[j] == '=' {
			j++
		}
		for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n') {
			j++
		}
		if j < len(s) && (s[j] == 'N' || s[j] == 'n') && j+1 < len(s) && s[j+1] == '\'' {
			j++
		}
		if j >= len(s) || s[j] != '\'' {
			b.WriteString(s[i:k])
			i = k
			continue
		}
		_, n, _ := quoted(s[j:], '\'', '\'')
		b.WriteString(s[i : j+1])
		b.WriteString("***'")
		i = j + n
	}
	b.WriteString(s[i:])
	return b.String()
}

// Obfuscated returns the texts built by concatenating string literals,
// CHAR()/NCHAR() calls and 0x binary literals with '+' (at least two
// pieces), and binary literals decoded as ASCII; at most 16.
func (s *Statement) Obfuscated() []string {
	var out []string
	toks := s.Tokens
	for i := 0; i < len(toks) && len(out) < 16; i++ {
		// Count the operands first: most literals stand alone.
		pieces, j, n := 0, i, 0
		for j < len(toks) && n < 4096 {
			v, k, ok := piece(toks[j:])
			if !ok {
				break
			}
			pieces++
			n += len(v)
			j += k
			if j < len(toks) && toks[j].IsPunct("+") {
				j++
				continue
			}
			break
		}
		if pieces < 2 && !(pieces == 1 && toks[i].Kind == Number) {
			continue
		}
		var b strings.Builder
		for k := i; k < j; {
			v, adv, ok := piece(toks[k:])
			if !ok {
				k++
				continue
			}
			b.WriteString(v)
			k += adv
		}
		out = append(out, strings.ToLower(b.String()))
		i = j - 1
	}
	return out
}

// piece decodes one concatenation operand: 'lit', CHAR(n), NCHAR(n), 0xHEX.
func piece(toks []Token) (string, int, bool) {
	t := toks[0]
	switch {
	case t.Kind == String:
		return t.Text, 1, true
	case t.Kind == Number && strings.HasPrefix(t.Text, "0x") && len(t.Text) > 3:
		h := t.Text[2:]
		var b strings.Builder
		for k := 0; k+1 < len(h) && k < 512; k += 2 {
			c, ok := hexByte(h[k], h[k+1])
			if !ok {
				return "", 0, false
			}
			if c != 0 {
				b.WriteByte(c)
			}
		}
		return b.String(), 1, true
	case (t.Is("char") || t.Is("nchar")) && len(toks) >= 4 && toks[1].IsPunct("(") && toks[2].Kind == Number && toks[3].IsPunct(")"):
		n := 0
		for _, d := range toks[2].Text {
			if d < '0' || d > '9' || n > 0xffff {
				return "", 0, false
			}
			n = n*10 + int(d-'0')
		}
		return string(rune(n)), 4, true
	}
	return "", 0, false
}

func hexByte(a, b byte) (byte, bool) {
	x, ok1 := hexVal(a)
	y, ok2 := hexVal(b)
	return x<<4 | y, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// asciiLower lower-cases ASCII letters only, keeping byte offsets.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
