package tsql

import (
	"strings"
	"unicode/utf8"
)

// Limits on the work done for one statement.
const (
	// MaxStatement is the number of bytes of a statement that are looked
	// at; the rest is ignored and the result is marked truncated. It is
	// above what the audit reader keeps of one record (1-2 MiB, its head
	// and tail beyond), so a padded statement is lexed to its end.
	MaxStatement = 4 << 20
	// MaxTokens bounds the tokens kept for one statement: beyond it the
	// first MaxTokens/2 and the last tokens are kept (the middle is
	// dropped and the result marked truncated), so that padding with
	// tokens cannot hide what ends a statement (WITH COPY_ONLY).
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
// MaxStatement, produced more than MaxTokens tokens (the middle ones are
// dropped), or ended inside a string literal, quoted identifier or block
// comment.
func Lex(s string) (toks []Token, truncated bool) {
	return lexInto(make([]Token, 0, 16+min(len(s)/6, MaxTokens)), s)
}

// dropMiddle makes room in a full token slice: it keeps the first
// MaxTokens/2 tokens and drops the MaxTokens/4 after them, so that the
// slice ends holding the head and the most recent tokens. Amortized, each
// token is moved once.
func dropMiddle(toks []Token) []Token {
	const head, drop = MaxTokens / 2, MaxTokens / 4
	n := copy(toks[head:], toks[head+drop:])
	clear(toks[head+n:])
	return toks[:head+n]
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
			toks = dropMiddle(toks)
			truncated = true
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
			j, closed := BlockCommentEnd(s, i)
			if !closed {
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

// lower lower-cases s, allocating only when s has upper-case letters and
// is not a common keyword (keywords are usually written in upper case).
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'A' && c <= 'Z') || c >= utf8.RuneSelf {
			if c < utf8.RuneSelf && len(s) <= maxKeyword {
				if k, ok := lookupKeyword(s); ok {
					return k
				}
			}
			return strings.ToLower(s)
		}
	}
	return s
}

const maxKeyword = 24

// lookupKeyword returns the interned lower-case form of an ASCII word.
func lookupKeyword(s string) (string, bool) {
	var buf [maxKeyword]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return "", false
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	k, ok := keywords[string(buf[:len(s)])] // no allocation for the lookup
	return k, ok
}

// keywords are interned so that lexing upper-case SQL does not allocate.
var keywords = func() map[string]string {
	m := map[string]string{}
	for _, w := range strings.Fields(`select from where and or not in is null as on join inner left right outer
		full cross apply insert into values update set delete merge using when matched then exec execute
		declare begin end if else while return go use create alter drop truncate table view procedure proc
		function trigger index database log backup restore to url disk tape file with copy_only compression
		init format replace recovery norecovery stats checksum credential encryption server audit
		specification state off for add member role login user grant revoke deny control top order by
		group having distinct union all exists between like case cast convert varchar nvarchar int bigint
		char nchar sysutcdatetime getdate dateadd count sum min max desc asc dbo sys master msdb tempdb
		sp_executesql sp_configure reconfigure xp_cmdshell identity secret password transaction commit
		rollback tran option nolock output print raiserror throw try catch schema authorization impersonate
		revert asc limit offset fetch next rows only reorganize rebuild statistics dbcc waitfor delay
		mirror scoped shared access signature`) {
		m[w] = w
	}
	return m
}()

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

// BlockCommentEnd returns the end of the block comment that starts at
// s[i] ("/*"): the index just past its closing "*/", nesting counted as
// T-SQL does, or len(s) and false when the comment is never closed.
func BlockCommentEnd(s string, i int) (end int, closed bool) {
	depth, j := 0, i
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
				return j, true
			}
			continue
		}
		j++
	}
	return j, false
}
