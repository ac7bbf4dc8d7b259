package tsql

import (
	"strings"
	"unicode/utf8"
)

// Limits on the work done for one statement.
const (
	// MaxStatement is the number of bytes of a statement that are looked
	// at; the rest is ignored and the result is marked truncated.
	MaxStatement = 256 << 10
	// MaxTokens bounds the tokens produced for one statement.
	MaxTokens = 1 << 15
)

// Kind is the class of a token.
type Kind uint8

// Token kinds.
const (
	Word   Kind = iota + 1 // keyword or identifier, lower-cased, quotes removed
	String                 // string literal, content unescaped, case preserved
	Var                    // @variable or @@function, lower-cased
	Number                 // number or 0x binary literal, lower-cased
	Punct                  // operator or punctuation: ( ) , = ; + . and so on
)

// Token is one lexical element of a statement.
type Token struct {
	Kind Kind
	Text string
	// Quoted is true for identifiers written as [x] or "x".
	Quoted bool
	// Space is true when whitespace or a comment preceded the token.
	Space bool
}

// Is reports whether t is the word w (w lower case).
func (t Token) Is(w string) bool { return t.Kind == Word && t.Text == w }

// IsPunct reports whether t is the punctuation p.
func (t Token) IsPunct(p string) bool { return t.Kind == Punct && t.Text == p }

// Lex splits s into tokens. truncated is true when s was longer than
// MaxStatement, produced more than MaxTokens tokens, or ended inside a
// string literal, quoted identifier or block comment.
func Lex(s string) (toks []Token, truncated bool) {
	return lexInto(make([]Token, 0, 16+min(len(s), MaxStatement)/6), s)
}

// lexInto is Lex appending to toks.
func lexInto(toks []Token, s string) (_ []Token, truncated bool) {
	if len(s) > MaxStatement {
		s = s[:MaxStatement]
		truncated = true
	}
	space := false
	i := 0
	for i < len(s) {
		if len(toks) >= MaxTokens {
			return toks, true
		}
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			space = true
			i++
			continue
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			j := strings.IndexAny(s[i:], "\r\n")
			if j < 0 {
				i = len(s)
			} else {
				i += j
			}
			space = true
			continue
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			depth := 0
			j := i
			for j < len(s) {
				if s[j] == '/' && j+1 < len(s) && s[j+1] == '*' {
					depth++
					j += 2
					continue
				}
				if s[j] == '*' && j+1 < len(s) && s[j+1] == '/' {
					depth--
					j += 2
					if depth == 0 {
						break
					}
					continue
				}
				j++
			}
			if depth > 0 {
				truncated = true
			}
			i = j
			space = true
			continue
		case c == '\'' || ((c == 'N' || c == 'n') && i+1 < len(s) && s[i+1] == '\''):
			if c != '\'' {
				i++
			}
			text, n, ok := quoted(s[i:], '\'', '\'')
			if !ok {
				truncated = true
			}
			toks = append(toks, Token{Kind: String, Text: text, Space: space})
			i += n
		case c == '[':
			text, n, ok := quoted(s[i:], '[', ']')
			if !ok {
				truncated = true
			}
			toks = append(toks, Token{Kind: Word, Text: strings.ToLower(text), Quoted: true, Space: space})
			i += n
		case c == '"':
			text, n, ok := quoted(s[i:], '"', '"')
			if !ok {
				truncated = true
			}
			toks = append(toks, Token{Kind: Word, Text: strings.ToLower(text), Quoted: true, Space: space})
			i += n
		case c == '@':
			j := i + 1
			for j < len(s) && (s[j] == '@' || isWordByte(s[j])) {
				j++
			}
			toks = append(toks, Token{Kind: Var, Text: lower(s[i:j]), Space: space})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && (isWordByte(s[j]) || s[j] == '.') {
				j++
			}
			toks = append(toks, Token{Kind: Number, Text: lower(s[i:j]), Space: space})
			i = j
		case isWordByte(c) || c >= utf8.RuneSelf:
			j := i
			for j < len(s) && (isWordByte(s[j]) || s[j] >= utf8.RuneSelf) {
				j++
			}
			toks = append(toks, Token{Kind: Word, Text: lower(s[i:j]), Space: space})
			i = j
		default:
			n := 1
			if i+1 < len(s) {
				switch s[i : i+2] {
				case "<>", "!=", ">=", "<=", "!<", "!>", "::":
					n = 2
				}
			}
			toks = append(toks, Token{Kind: Punct, Text: s[i : i+n], Space: space})
			i += n
		}
		space = false
	}
	return toks, truncated
}

// quoted reads a literal that starts at s[0] == open and ends at close,
// where a doubled close stands for itself. It returns the content, the
// bytes consumed and whether the closing quote was found.
func quoted(s string, open, close byte) (string, int, bool) {
	var b strings.Builder
	start := 1
	i := 1
	for i < len(s) {
		if s[i] == close {
			if i+1 < len(s) && s[i+1] == close {
				b.WriteString(s[start : i+1])
				i += 2
				start = i
				continue
			}
			if b.Len() == 0 {
				return s[1:i], i + 1, true
			}
			b.WriteString(s[start:i])
			return b.String(), i + 1, true
		}
		i++
	}
	b.WriteString(s[start:])
	return b.String(), len(s), false
}

func isWordByte(c byte) bool {
	return c == '_' || c == '#' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// lower lower-cases s, allocating only when s has upper-case letters.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'A' && c <= 'Z') || c >= utf8.RuneSelf {
			return strings.ToLower(s)
		}
	}
	return s
}

// Normalize returns s with comments removed, whitespace collapsed to one
// space, identifier quotes ([x], "x") removed and everything lower-cased
// except string literals, which keep their case and their quotes (so that
// destinations survive). N'x' becomes 'x'.
func Normalize(s string) string {
	toks, _ := Lex(s)
	return Render(toks)
}

// Render writes tokens back as normalized text.
func Render(toks []Token) string {
	var b strings.Builder
	for i, t := range toks {
		// Two literals side by side ('a'N'b') need a space, or they would
		// read back as one literal with an escaped quote.
		if i > 0 && (t.Space || (t.Kind == String && toks[i-1].Kind == String)) {
			b.WriteByte(' ')
		}
		if t.Kind == String {
			b.WriteByte('\'')
			b.WriteString(strings.ReplaceAll(t.Text, "'", "''"))
			b.WriteByte('\'')
			continue
		}
		b.WriteString(t.Text)
	}
	return b.String()
}
