package tsql

import "strings"

// Statement is one audited statement (which may be a batch of several
// statements), lexed once; the parsers run on first use of their result.
type Statement struct {
	Tokens []Token
	// Truncated is true when the text was cut (too long, unterminated
	// literal or comment): what follows the cut is unknown.
	Truncated bool

	done       uint8
	backup     *Backup
	audits     []AuditChange
	credential *Credential
	configure  []Configure
}

const (
	doneBackup uint8 = 1 << iota
	doneAudits
	doneCredential
	doneConfigure
)

// Parse lexes s. The parsers run lazily (Backup, Audits, Credential,
// Configure).
func Parse(s string) *Statement {
	st := &Statement{}
	st.Reset(s)
	return st
}

// Reset makes st the statement s, reusing its token buffer.
func (st *Statement) Reset(s string) {
	toks := st.Tokens[:0]
	*st = Statement{}
	st.Tokens, st.Truncated = lexInto(toks, s)
}

// Backup returns the first BACKUP or RESTORE, nil if none.
func (st *Statement) Backup() *Backup {
	if st.done&doneBackup == 0 {
		st.done |= doneBackup
		st.backup = parseBackup(st.Tokens, st.Truncated)
	}
	return st.backup
}

// Audits returns every CREATE/ALTER/DROP of an audit or audit
// specification.
func (st *Statement) Audits() []AuditChange {
	if st.done&doneAudits == 0 {
		st.done |= doneAudits
		st.audits = parseAudits(st.Tokens, st.Truncated)
	}
	return st.audits
}

// Credential returns the first CREATE/ALTER [DATABASE SCOPED] CREDENTIAL.
func (st *Statement) Credential() *Credential {
	if st.done&doneCredential == 0 {
		st.done |= doneCredential
		st.credential = parseCredential(st.Tokens)
	}
	return st.credential
}

// Configure returns every sp_configure call.
func (st *Statement) Configure() []Configure {
	if st.done&doneConfigure == 0 {
		st.done |= doneConfigure
		st.configure = parseConfigure(st.Tokens)
	}
	return st.configure
}

// Normalized renders the statement's tokens as normalized text.
func (s *Statement) Normalized() string { return Render(s.Tokens) }

// HasWord reports whether an unquoted or quoted identifier/keyword token
// equals w (lower case). String literals never match.
func (s *Statement) HasWord(w string) bool {
	for _, t := range s.Tokens {
		if t.Kind == Word && t.Text == w {
			return true
		}
	}
	return false
}

// Words reports the first of ws found as a word token, or "".
func (s *Statement) Words(ws ...string) string {
	for _, t := range s.Tokens {
		if t.Kind != Word {
			continue
		}
		for _, w := range ws {
			if t.Text == w {
				return w
			}
		}
	}
	return ""
}

// Sequence reports whether the words (or punctuation) ws appear
// consecutively.
func (s *Statement) Sequence(ws ...string) bool {
	return indexSeq(s.Tokens, 0, ws...) >= 0
}

// NamedArg returns the value of the procedure argument @name = value that
// follows the word proc, and whether it was found. String values are
// returned as written, other values rendered.
func (s *Statement) NamedArg(proc, name string) (string, bool) {
	for i, t := range s.Tokens {
		if !t.Is(proc) {
			continue
		}
		for j := i + 1; j+2 < len(s.Tokens); j++ {
			u := s.Tokens[j]
			if u.IsPunct(";") || (u.Kind == Word && isStatementStart(u.Text)) {
				break
			}
			if u.Kind == Var && u.Text == name && s.Tokens[j+1].IsPunct("=") {
				return s.Tokens[j+2].Text, true
			}
		}
	}
	return "", false
}

// Strings returns the string literals of the statement.
func (s *Statement) Strings() []string {
	var out []string
	for _, t := range s.Tokens {
		if t.Kind == String {
			out = append(out, t.Text)
		}
	}
	return out
}

// Outbound returns the URLs (http, https, ftp) and UNC paths named in
// string literals, at most 16.
func (s *Statement) Outbound() []string {
	var out []string
	for _, t := range s.Tokens {
		if t.Kind != String || len(out) >= 16 {
			continue
		}
		v := strings.TrimSpace(t.Text)
		lv := asciiLower(v)
		for _, p := range [...]string{"http://", "https://", "ftp://"} {
			if k := strings.Index(lv, p); k >= 0 {
				out = append(out, firstField(v[k:]))
				break
			}
		}
		if strings.HasPrefix(v, `\\`) && len(v) > 2 && v[2] != '\\' && v[2] != '.' && v[2] != '?' {
			out = append(out, firstField(v))
		}
	}
	return out
}

func firstField(v string) string {
	if i := strings.IndexAny(v, " \t\r\n'\""); i >= 0 {
		v = v[:i]
	}
	return v
}

// indexSeq returns the index of the first position at or after from where
// the words ws appear consecutively, or -1.
func indexSeq(toks []Token, from int, ws ...string) int {
outer:
	for i := from; i+len(ws) <= len(toks); i++ {
		for k, w := range ws {
			if t := toks[i+k]; t.Text != w || (t.Kind != Word && t.Kind != Punct) {
				continue outer
			}
		}
		return i
	}
	return -1
}

func isStatementStart(w string) bool {
	switch w {
	case "select", "insert", "update", "delete", "merge", "exec", "execute", "declare", "set",
		"backup", "restore", "create", "alter", "drop", "go", "use", "if", "begin", "end",
		"grant", "revoke", "deny", "truncate", "print", "reconfigure", "while", "return", "waitfor":
		return true
	}
	return false
}

// cursor walks a token slice; reading past the end yields the zero Token.
type cursor struct {
	toks []Token
	i    int
}

func (c *cursor) peek() Token {
	if c.i < len(c.toks) {
		return c.toks[c.i]
	}
	return Token{}
}

func (c *cursor) peekAt(k int) Token {
	if c.i+k < len(c.toks) {
		return c.toks[c.i+k]
	}
	return Token{}
}

func (c *cursor) next() Token {
	t := c.peek()
	if c.i < len(c.toks) {
		c.i++
	}
	return t
}

func (c *cursor) eof() bool { return c.i >= len(c.toks) }

// accept consumes the word w if it is next.
func (c *cursor) accept(w string) bool {
	if c.peek().Is(w) {
		c.i++
		return true
	}
	return false
}

func (c *cursor) acceptPunct(p string) bool {
	if c.peek().IsPunct(p) {
		c.i++
		return true
	}
	return false
}

// endOfStatement reports whether the cursor is at ';' or at the end.
func (c *cursor) endOfStatement() bool {
	return c.eof() || c.peek().IsPunct(";")
}

// name reads a possibly dotted name (a.b.c, [x].[y]) or a variable.
func (c *cursor) name() string {
	t := c.peek()
	if t.Kind == Var || t.Kind == String {
		c.i++
		return t.Text
	}
	if t.Kind != Word {
		return ""
	}
	var b strings.Builder
	for {
		t := c.peek()
		if t.Kind != Word {
			break
		}
		b.WriteString(t.Text)
		c.i++
		if !c.peek().IsPunct(".") {
			break
		}
		for c.peek().IsPunct(".") {
			b.WriteByte('.')
			c.i++
		}
	}
	return b.String()
}

// group reads a parenthesized token run starting at '(' and returns its
// inner tokens; the cursor ends after the matching ')'.
func (c *cursor) group() []Token {
	if !c.peek().IsPunct("(") {
		return nil
	}
	start := c.i + 1
	depth := 0
	for !c.eof() {
		t := c.next()
		switch {
		case t.IsPunct("("):
			depth++
		case t.IsPunct(")"):
			depth--
			if depth == 0 {
				return c.toks[start : c.i-1]
			}
		}
	}
	return c.toks[start:c.i]
}

// splitTop splits toks at top-level commas.
func splitTop(toks []Token) [][]Token {
	var out [][]Token
	depth, start := 0, 0
	for i, t := range toks {
		switch {
		case t.IsPunct("("):
			depth++
		case t.IsPunct(")"):
			depth--
		case t.IsPunct(",") && depth == 0:
			out = append(out, toks[start:i])
			start = i + 1
		}
	}
	if start < len(toks) {
		out = append(out, toks[start:])
	}
	return out
}

// Option is one NAME [= value] item of a WITH list. Value holds a string
// literal's content, otherwise the rendered tokens after '=' (or after the
// name when there is no '=', e.g. ENCRYPTION (ALGORITHM = AES_256)).
type Option struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

func parseOption(toks []Token) Option {
	if len(toks) == 0 {
		return Option{}
	}
	o := Option{Name: toks[0].Text}
	rest := toks[1:]
	if len(rest) > 0 && rest[0].IsPunct("=") {
		rest = rest[1:]
		if len(rest) == 1 && rest[0].Kind == String {
			o.Value = rest[0].Text
			return o
		}
	}
	o.Value = bounded(Render(rest), 512)
	return o
}

func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// optionValue returns the value of the option named name.
func optionValue(opts []Option, name string) (string, bool) {
	for _, o := range opts {
		if o.Name == name {
			return o.Value, true
		}
	}
	return "", false
}
