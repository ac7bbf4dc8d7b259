package detect

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/detect/tsql"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// Event wraps one audit record with typed accessors and a lazily parsed
// statement. It is valid for one Evaluate call.
type Event struct {
	rec      *audit.Record
	action   string
	class    string
	stmt     *tsql.Statement
	buf      *tsql.Statement // reusable statement (from the scratch pool), may be nil
	pf       *prefilter      // the engine's; nil: the whole catalog's
	hintBits uint16
	hinted   bool
	id       string
}

func upperTrim(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			return strings.ToUpper(s)
		}
	}
	return s
}

// Record returns the underlying record.
func (e *Event) Record() *audit.Record { return e.rec }

// ActionID is the trimmed upper-case action code ("BA").
func (e *Event) ActionID() string { return e.action }

// ClassType is the trimmed upper-case class code ("DB").
func (e *Event) ClassType() string { return e.class }

// Time is the event time (UTC).
func (e *Event) Time() time.Time { return e.rec.EventTime }

// Succeeded reports the record's succeeded column.
func (e *Event) Succeeded() bool { return e.rec.Succeeded }

// Server is the server instance name.
func (e *Event) Server() string { return e.rec.ServerInstanceName }

// Database is the database name.
func (e *Event) Database() string { return e.rec.DatabaseName }

// Principal is the server principal that acted (server_principal_name,
// or session_server_principal_name when empty).
func (e *Event) Principal() string {
	if e.rec.ServerPrincipalName != "" {
		return e.rec.ServerPrincipalName
	}
	return e.rec.SessionServerPrincipalName
}

// SessionPrincipal is the login of the session (the original login under
// EXECUTE AS), falling back to Principal.
func (e *Event) SessionPrincipal() string {
	if e.rec.SessionServerPrincipalName != "" {
		return e.rec.SessionServerPrincipalName
	}
	return e.rec.ServerPrincipalName
}

// ClientIP is the client address.
func (e *Event) ClientIP() string { return e.rec.ClientIP }

// Application is the application name.
func (e *Event) Application() string { return e.rec.ApplicationName }

// Object is the object name, lower case.
func (e *Event) Object() string { return strings.ToLower(e.rec.ObjectName) }

// RawStatement is the statement as recorded.
func (e *Event) RawStatement() string { return e.rec.Statement }

// Statement returns the parsed statement (parsed on first use).
func (e *Event) Statement() *tsql.Statement {
	if e.stmt == nil {
		if e.buf != nil {
			e.buf.Reset(e.rec.Statement)
			e.stmt = e.buf
		} else {
			e.stmt = tsql.Parse(e.rec.Statement)
		}
	}
	return e.stmt
}

// ID identifies the record: file name, audit file offset, event index.
func (e *Event) ID() string {
	if e.id == "" {
		e.id = recordID(e.rec.FileName, e.rec.AuditFileOffset, e.rec.EventIndex)
	}
	return e.id
}

func recordID(file string, off int64, idx int) string {
	return file + "@" + strconv.FormatInt(off, 10) + "#" + strconv.Itoa(idx)
}

// Statement hints: cheap signals computed in one pass over the raw text
// that decide whether statement rules need the parser at all.
const (
	hintProc    uint16 = 1 << iota // a watched xp_/sp_ procedure, or a name split around "_"
	hintURL                        // "://"
	hintUNC                        // "\\"
	hintChar                       // "char("
	hintHex                        // "0x"
	hintDrop                       // "drop table", "truncate table"
	hintMember                     // "add member"
	hintExecute                    // "execute as", "exec as"
	hintWord                       // a keyword some rule declares (needs.words)
	hintInject                     // what SQL injection leaves on the raw text (maybeInjection)
)

// needs is what a rule reading statements of batch records (BCM, RCM,
// BST, RST: stmtActions) declares in its catalog entry: a batch record
// whose statement shows none of it is never given to the rule. The
// prefilter is built from these declarations (newPrefilter), and
// TestPrefilterDeclared checks every such rule's positive cases against
// its own declaration.
type needs struct {
	// hints: any of these bits (hintProc, hintURL, …) makes the
	// statement worth evaluating.
	hints uint16
	// procs are sp_ procedure name prefixes, lower case, after "sp_"
	// ("configure" for sp_configure); one of them in the statement sets
	// hintProc (so does any xp_ name, and a name split around "_").
	procs []string
	// words are further keywords, lower case ASCII identifiers matched
	// whole and case-insensitively; one of them sets hintWord.
	words []string
	// errors: a record carrying an error number in additional_information
	// (hasErrorInfo) is evaluated whatever its statement.
	errors bool
}

// declared reports whether n declares anything.
func (n needs) declared() bool {
	return n.hints != 0 || len(n.procs) > 0 || len(n.words) > 0 || n.errors
}

// prefilter is the union of the needs of a set of rules.
type prefilter struct {
	mask   uint16       // hint bits some rule needs
	procs  []string     // sp_ prefixes (after "sp_"), sorted, unique
	words  [26][]string // keywords by first letter
	lens   [26]uint64   // bit n set: a keyword of that first letter has n bytes (n < 64)
	errors bool         // some rule reads records carrying an error number
}

// newPrefilter builds the prefilter of the rules that read batch records.
func newPrefilter(rules []*rule) *prefilter {
	pf := &prefilter{}
	for _, r := range rules {
		if !r.readsBatches() {
			continue
		}
		n := r.needs
		pf.mask |= n.hints
		pf.errors = pf.errors || n.errors
		if len(n.procs) > 0 {
			pf.mask |= hintProc
		}
		for _, p := range n.procs {
			if !slices.Contains(pf.procs, p) {
				pf.procs = append(pf.procs, p)
			}
		}
		for _, w := range n.words {
			if len(w) > 0 && len(w) < 64 && w[0] >= 'a' && w[0] <= 'z' && !slices.Contains(pf.words[w[0]-'a'], w) {
				pf.words[w[0]-'a'] = append(pf.words[w[0]-'a'], w)
				pf.lens[w[0]-'a'] |= 1 << len(w)
				pf.mask |= hintWord
			}
		}
	}
	slices.Sort(pf.procs)
	return pf
}

// catalogPrefilter is the prefilter of the whole catalog, for Events
// built outside an Engine (tests). Set by init: the catalog's match
// functions read it through hints, so an initializer would be a cycle.
var catalogPrefilter *prefilter

func init() { catalogPrefilter = newPrefilter(catalog) }

// wordByte classifies identifier bytes (ASCII letters, digits, _ # $ @).
var wordByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c == '_' || c == '#' || c == '$' || c == '@' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
	}
	return t
}()

// hints scans the raw statement once: rare punctuation with IndexByte,
// keywords word by word.
func (e *Event) hints() uint16 {
	if e.hinted {
		return e.hintBits
	}
	e.hinted = true
	pf := e.pf
	if pf == nil {
		pf = catalogPrefilter
	}
	s := e.rec.Statement
	if len(s) > tsql.MaxStatement {
		s = s[:tsql.MaxStatement]
	}
	var h uint16
	for i := indexFrom(s, 0, '_'); i >= 0; i = indexFrom(s, i+1, '_') {
		if i == 0 {
			continue
		}
		p1 := s[i-1] | 0x20
		var p2 byte
		if i > 1 {
			p2 = s[i-2] | 0x20
		}
		switch {
		case s[i-1] == '\'' || (p1 == 'p' && (p2 == 'x' || (i > 1 && s[i-2] == '\''))):
			h |= hintProc
		case p1 == 'p' && p2 == 's':
			for _, w := range pf.procs {
				if hasFold(s[i+1:], w) {
					h |= hintProc
					break
				}
			}
		}
		if h&hintProc != 0 {
			break
		}
	}
	for i := indexFrom(s, 0, ':'); i >= 0; i = indexFrom(s, i+1, ':') {
		if i+2 < len(s) && s[i+1] == '/' && s[i+2] == '/' {
			h |= hintURL
			break
		}
	}
	if strings.Contains(s, `\\`) {
		h |= hintUNC
	}
	if pf.mask&hintInject != 0 && maybeInjection(s) {
		h |= hintInject
	}
	for i := indexFrom(s, 0, '('); i >= 0; i = indexFrom(s, i+1, '(') {
		j := i
		for j > 0 && (s[j-1] == ' ' || s[j-1] == '\t') {
			j--
		}
		if j >= 4 && hasFold(s[j-4:], "char") {
			h |= hintChar
			break
		}
	}
	// Keywords at word starts; words are skipped whole.
	words := pf.mask&hintWord != 0
	for i := 0; i < len(s); {
		if !wordByte[s[i]] {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && wordByte[s[j]] {
			j++
		}
		w := s[i:j]
		c := w[0] | 0x20
		if words && c >= 'a' && c <= 'z' && h&hintWord == 0 && len(w) < 64 && pf.lens[c-'a']&(1<<len(w)) != 0 {
			for _, kw := range pf.words[c-'a'] {
				if len(w) == len(kw) && hasFold(w, kw) {
					h |= hintWord
					break
				}
			}
		}
		switch c {
		case '0':
			if len(w) > 2 && w[1]|0x20 == 'x' {
				h |= hintHex
			}
		case 'd':
			if len(w) == 4 && hasFold(w, "drop") && followedBy(s[j:], "table") {
				h |= hintDrop
			}
		case 't':
			if len(w) == 8 && hasFold(w, "truncate") && followedBy(s[j:], "table") {
				h |= hintDrop
			}
		case 'a':
			if len(w) == 3 && hasFold(w, "add") && followedBy(s[j:], "member") {
				h |= hintMember
			}
		case 'e':
			if (len(w) == 7 && hasFold(w, "execute") || len(w) == 4 && hasFold(w, "exec")) && followedBy(s[j:], "as") {
				h |= hintExecute
			}
		}
		i = j
	}
	e.hintBits = h
	return h
}

func indexFrom(s string, from int, c byte) int {
	if from >= len(s) {
		return -1
	}
	if i := strings.IndexByte(s[from:], c); i >= 0 {
		return from + i
	}
	return -1
}

// followedBy reports whether s continues with white space and the word
// w, or with a comment (which the parser will judge).
func followedBy(s, w string) bool {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	if i < len(s) && (s[i] == '/' || s[i] == '-') {
		return true
	}
	return i > 0 && hasFold(s[i:], w)
}

// hasFold reports whether s starts with the lower-case ASCII word w,
// ignoring case.
func hasFold(s, w string) bool {
	if len(s) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if s[i]|0x20 != w[i] && s[i] != w[i] {
			return false
		}
	}
	return true
}

// excerpt returns the statement with secrets redacted, cut to n bytes at
// a UTF-8 boundary (with "…" when cut).
func excerpt(s string, n int) string {
	if s == "" {
		return ""
	}
	if len(s) > 4*n {
		s = s[:4*n]
	}
	s = tsql.Redact(s)
	return cut(s, n)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len("…")
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
