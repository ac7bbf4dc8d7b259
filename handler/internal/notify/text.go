package notify

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Every string of a finding that came from an audit file (names,
// statements, the explanation that quotes them) is attacker-chosen. Chat
// channels show it only through render, which makes it display literally
// and fit the channel's limits:
//
//   - invalid UTF-8 becomes U+FFFD, so lengths measured here are the
//     lengths that reach the receiver after JSON encoding;
//   - CR LF and lone CR become LF; in a one-line value LF and TAB, and
//     everywhere the other C0/C1 controls, DEL, the line and paragraph
//     separators and the format characters (bidi overrides such as U+202E,
//     zero-width spaces and joiners, U+FEFF, soft hyphen, tag characters)
//     become a visible "[U+XXXX]", so nothing can reorder, hide or fake a
//     line of the card;
//   - the channel's escape function then neutralises what its element
//     would interpret (Slack's &, <, > in mrkdwn text; Teams' "{{" date
//     templates);
//   - the result is cut, after escaping, to a byte budget, only between
//     two pieces (a piece is one input rune's output), so a cut never
//     splits a rune or an escape sequence; a cut ends in "…".
//
// Budgets are bytes. A byte budget is also a character budget for every
// way Slack or Teams may count (code points, UTF-16 units), because each
// of those is at most one per UTF-8 byte.

// ellipsis marks a cut value.
const ellipsis = "…"

// escaper appends the escaped form of r (which follows prev in the
// rendered text) to dst.
type escaper func(dst []byte, prev, r rune) []byte

// plain appends r unchanged: for elements that interpret nothing
// (Slack plain_text with emoji off).
func plain(dst []byte, _, r rune) []byte { return utf8.AppendRune(dst, r) }

// slackMrkdwn escapes the three characters Slack treats as control
// characters in text ("<!channel>", "<url|label>", "&lt;").
func slackMrkdwn(dst []byte, _, r rune) []byte {
	switch r {
	case '&':
		return append(dst, "&amp;"...)
	case '<':
		return append(dst, "&lt;"...)
	case '>':
		return append(dst, "&gt;"...)
	}
	return utf8.AppendRune(dst, r)
}

// teamsRun keeps Adaptive Card date/time templates ("{{DATE(…)}}",
// "{{TIME(…)}}", which TextRun also expands) from forming: a zero-width
// space goes between two '{'. TextRun renders no Markdown, so nothing
// else needs escaping.
func teamsRun(dst []byte, prev, r rune) []byte {
	if r == '{' && prev == '{' {
		dst = append(dst, "\u200b"...)
	}
	return utf8.AppendRune(dst, r)
}

// hidden reports whether r would not display as itself: a control, a
// separator that breaks lines, or a format character (bidi controls,
// zero-width characters). Newline and tab are allowed in multi-line text.
func hidden(r rune, multiline bool) bool {
	switch {
	case r == '\n' || r == '\t':
		return !multiline
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == '\u2028', r == '\u2029':
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// render returns s for a chat element: literal (see above), escaped by
// esc, at most max bytes. An s that is blank after rendering is shown
// quoted, so that a value of spaces is visible and never an empty
// element (Slack rejects empty text).
func render(s string, max int, multiline bool, esc escaper) string {
	if max < len(ellipsis)+2 {
		max = len(ellipsis) + 2
	}
	// Bounded: each step appends at least one byte except the CR of a
	// CR LF, and the loop ends when the output would exceed max.
	out := make([]byte, 0, min(len(s)+16, max))
	var piece [16]byte
	keep := -1 // output length at the last piece boundary leaving room for the ellipsis
	prev := rune(-1)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == '\r' {
			if i < len(s) && s[i] == '\n' {
				continue
			}
			r = '\n'
		}
		var p []byte
		if hidden(r, multiline) {
			p = fmt.Appendf(piece[:0], "[U+%04X]", r)
		} else {
			p = esc(piece[:0], prev, r)
		}
		prev = r
		if keep < 0 && len(out)+len(p) > max-len(ellipsis) {
			keep = len(out)
		}
		if len(out)+len(p) > max {
			return string(append(out[:keep], ellipsis...))
		}
		out = append(out, p...)
	}
	if blank(out) {
		return `"` + string(out[:min(len(out), max-2)]) + `"`
	}
	return string(out)
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\n' && c != '\t' {
			return false
		}
	}
	return true
}
