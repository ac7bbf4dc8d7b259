package detect

import (
	"encoding/hex"
	"fmt"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// anyAction in a rule's Actions makes it see the records of every action.
const anyAction = "*"

// statementUnits returns the length of the record's statement in UTF-16
// code units (SQL Server's characters) as written: the reader's count of
// the whole text when it kept only the head and the tail. It counts only
// when the text may reach atLeast (bytes are never fewer than units), and
// returns 0 otherwise.
func statementUnits(rec *audit.Record, atLeast int) int64 {
	if !rec.Elided.IsZero() {
		return rec.Elided.Units
	}
	s := rec.Statement
	if len(s) < atLeast {
		return 0
	}
	n := int64(0)
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r >= 0x10000 {
			n++
		}
		n++
		i += size
	}
	return n
}

func eva001(m *matcher, ev *Event) ([]hit, error) {
	limit := m.cfg.cfg.OversizedStatementChars
	n := statementUnits(ev.rec, limit)
	if n < int64(limit) {
		return nil, nil
	}
	parts := ""
	if k := ev.rec.NumParts(); k > 1 {
		parts = fmt.Sprintf(", written as %d records", k)
	}
	why := fmt.Sprintf("%s ran a %s statement of %d characters%s (threshold %d): padding pushes a command past what tools inspect",
		ev.Principal(), ev.action, n, parts, limit)
	if e := ev.rec.Elided; !e.IsZero() {
		why += fmt.Sprintf("; longer than the reader keeps, so only its first and last bytes were evaluated (%d bytes not seen, SHA-256 of the whole %s)",
			e.Dropped, hex.EncodeToString(e.SHA256[:]))
		return []hit{{sev: High, why: why}}, nil
	}
	return []hit{{why: why}}, nil
}
