package detect

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/xelwatch/xelwatch/detect/tsql"
)

// EXE-009: SQL injection in a statement. What an application sends after
// an attacker's input was pasted into its SQL shows on the statement's
// tokens (tsql has removed comments and folded case, so /**/ and case
// games change nothing) and on the raw text around quotes and comments:
//
//   - a tautology: OR followed by a comparison of two constants that is
//     always true (OR 1=1, OR 'a'='a', OR 2>1), AND followed by two
//     equal constants right after a value (id = 5 AND 1=1, the
//     boolean-blind probe), or WHERE 'a'='a'. WHERE 1=1 (query
//     builders) and a constant comparison in a string literal or a
//     comment are not;
//   - UNION-based extraction: a UNION SELECT appended to a filtered query
//     whose list is NULL padding or column-count probing (SELECT
//     NULL,NULL / SELECT 1,2,3) with no FROM, or reads server identity
//     (@@version, system_user, …) or the catalog or credentials
//     (information_schema, sys.sql_logins, sysobjects, …) when the query
//     it is appended to does not read the catalog itself;
//   - comment truncation: a line comment at the end of the statement
//     that swallows the application's closing quote (admin'--',
//     '1' OR 1=1 -- x', '; DROP TABLE t--'), which also covers stacked
//     queries after a quote;
//   - a time-based probe: WAITFOR DELAY/TIME last in the batch after a
//     filtered SELECT/UPDATE/DELETE or a call with literal arguments
//     (with or without ';'), or as the body of an IF that tests
//     data (IF (ASCII(SUBSTRING(…))>64) WAITFOR DELAY …). A WAITFOR alone
//     or in a loop is not, and a SQL Agent job step never is (jobs pause
//     legitimately; application "SQLAgent - …");
//   - an unclosed quotation mark (medium): a short statement, complete
//     as recorded, that ends inside a string literal — SQL Server
//     refused it with error 105, the mark of input breaking out of a
//     literal (Defender's "possible vulnerability to SQL injection").
//
// Parameterized SQL (sp_executesql with @p0, ORMs) never matches: its
// values are variables, not literals.

// maybeInjection is the prefilter of EXE-009 on the raw statement: an odd
// number of quotes, a quote followed by a comment, or a comparison
// between two constants (1=1, 'a'='a', 2>1). (A stacked query after a
// quote is found through the comment that ends it, or its WAITFOR.)
func maybeInjection(s string) bool {
	quotes := 0
	for i := indexFrom(s, 0, '\''); i >= 0; i = indexFrom(s, i+1, '\'') {
		quotes++
		j := i + 1
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j+1 < len(s) && (s[j:j+2] == "--" || s[j:j+2] == "/*") {
			return true
		}
	}
	if quotes%2 == 1 {
		return true
	}
	for _, op := range [...]byte{'=', '<', '>'} {
		for i := indexFrom(s, 0, op); i >= 0; i = indexFrom(s, i+1, op) {
			if constAround(s, i) {
				return true
			}
		}
	}
	return false
}

// constAround reports whether the comparison operator at s[i] (one of
// = < >, possibly part of <=, >=, <>, !=) stands between two constants.
func constAround(s string, i int) bool {
	l, r := i, i+1
	for l > 0 && (s[l-1] == '=' || s[l-1] == '<' || s[l-1] == '>' || s[l-1] == '!') {
		l--
	}
	for r < len(s) && (s[r] == '=' || s[r] == '<' || s[r] == '>') {
		r++
	}
	l--
	for l >= 0 && (s[l] == ' ' || s[l] == '\t') {
		l--
	}
	for r < len(s) && (s[r] == ' ' || s[r] == '\t') {
		r++
	}
	return l >= 0 && r < len(s) && constEnd(s, l) && (s[r] == '\'' || (s[r] >= '0' && s[r] <= '9'))
}

// constEnd reports whether s[l] ends a constant: a quote, or a number
// not part of an identifier (t1, @p1).
func constEnd(s string, l int) bool {
	if s[l] == '\'' {
		return true
	}
	k := l
	for k >= 0 && s[k] >= '0' && s[k] <= '9' {
		k--
	}
	return k < l && (k < 0 || !wordByte[s[k]])
}

func exe009(m *matcher, ev *Event) ([]hit, error) {
	if ev.hints()&(hintInject|hintWord) == 0 {
		return nil, nil
	}
	raw := ev.rec.Statement
	st := ev.Statement()
	toks := st.Tokens
	// One pass tells which of the patterns can apply.
	var logic, union, waitfor bool
	for _, t := range toks {
		if t.Kind != tsql.Word {
			continue
		}
		switch t.Text {
		case "or", "and", "where", "having":
			logic = true
		case "union":
			union = true
		case "waitfor":
			waitfor = true
		}
	}
	if logic {
		if why := tautology(toks); why != "" {
			return []hit{{why: fmt.Sprintf("statement by %s holds a tautology (%s): SQL injection", ev.Principal(), why)}}, nil
		}
	}
	if union {
		if why := unionExtraction(toks); why != "" {
			return []hit{{why: fmt.Sprintf("statement by %s appends %s: UNION-based SQL injection", ev.Principal(), why)}}, nil
		}
	}
	var rs rawScan
	if strings.Contains(raw, "--") || strings.Count(raw, "'")%2 == 1 {
		rs = scanRaw(raw)
	}
	if rs.truncComment != "" {
		return []hit{{why: fmt.Sprintf("statement by %s ends with a comment that swallows a closing quote (--%s): SQL injection truncating the query", ev.Principal(), cut(rs.truncComment, 64))}}, nil
	}
	if waitfor && !strings.HasPrefix(ev.Application(), "SQLAgent - ") {
		if why := timeProbe(toks); why != "" {
			return []hit{{why: fmt.Sprintf("statement by %s %s: time-based SQL injection probe", ev.Principal(), why)}}, nil
		}
	}
	if rs.unclosed && len(raw) < azureCut && !ev.rec.StatementTruncated && !ev.rec.Incomplete && ev.rec.Elided.IsZero() && len(ev.rec.Parts) < 2 {
		return []hit{{sev: Medium, why: fmt.Sprintf("statement by %s ends inside a string literal (unclosed quotation mark, error 105): input broke out of a literal, a possible SQL injection vulnerability", ev.Principal())}}, nil
	}
	return nil, nil
}

// maxProbes bounds the UNIONs and WAITFORs of one statement that are
// judged, each at the cost of a pass over its statement.
const maxProbes = 64

// isConst reports whether t is a number or string literal.
func isConst(t tsql.Token) bool { return t.Kind == tsql.Number || t.Kind == tsql.String }

var comparison = map[string]bool{"=": true, "<>": true, "!=": true, ">": true, "<": true, ">=": true, "<=": true}

// constTrue reports whether "a op b" of two constants is always true.
func constTrue(a tsql.Token, op string, b tsql.Token) bool {
	if a.Kind == tsql.Number && b.Kind == tsql.Number {
		x, err1 := strconv.ParseFloat(a.Text, 64)
		y, err2 := strconv.ParseFloat(b.Text, 64)
		if err1 != nil || err2 != nil {
			return op == "=" && a.Text == b.Text
		}
		switch op {
		case "=":
			return x == y
		case "<>", "!=":
			return x != y
		case ">":
			return x > y
		case "<":
			return x < y
		case ">=":
			return x >= y
		case "<=":
			return x <= y
		}
		return false
	}
	eq := strings.EqualFold(strings.TrimSpace(a.Text), strings.TrimSpace(b.Text)) // case-insensitive collation
	switch op {
	case "=", ">=", "<=":
		return eq
	case "<>", "!=":
		return !eq && a.Kind == b.Kind
	}
	return false
}

// tautology finds OR <constant comparison that is always true>, or AND
// <two equal constants> right after a value; it returns the comparison.
func tautology(toks []tsql.Token) string {
	for i := 0; i+3 < len(toks); i++ {
		t := toks[i]
		isOr, isAnd, isWhere := t.Is("or"), t.Is("and"), t.Is("where") || t.Is("having")
		if !isOr && !isAnd && !isWhere {
			continue
		}
		j := i + 1
		for j < len(toks) && toks[j].IsPunct("(") {
			j++
		}
		if j+2 >= len(toks) || !isConst(toks[j]) || toks[j+1].Kind != tsql.Punct || !comparison[toks[j+1].Text] || !isConst(toks[j+2]) {
			continue
		}
		a, op, b := toks[j], toks[j+1].Text, toks[j+2]
		// The comparison must stand alone: 1=1+x or 'a'='a'+c is not a
		// constant.
		if k := j + 3; k < len(toks) && toks[k].Kind == tsql.Punct && strings.Contains("+-*/%|&^.", toks[k].Text) {
			continue
		}
		if !constTrue(a, op, b) {
			continue
		}
		if isWhere {
			// WHERE 1=1 is a query builder's; WHERE 'a'='a' is not.
			if op != "=" || a.Kind != tsql.String || b.Kind != tsql.String {
				continue
			}
		}
		if isAnd {
			// Boolean-blind: two equal constants appended to a value
			// (id = 5 AND 1=1, name = 'x' AND 'a'='a'), not a builder's
			// WHERE 1=1 AND ... nor col = @p AND 1=1.
			if op != "=" || i == 0 || !(isConst(toks[i-1]) || toks[i-1].IsPunct(")")) {
				continue
			}
		}
		return fmt.Sprintf("%s %s", strings.ToUpper(t.Text), tsql.Render(toks[j:j+3]))
	}
	return ""
}

// Sources and functions a UNION-based extraction reads.
var (
	catalogSources = map[string]bool{
		"information_schema.tables": true, "information_schema.columns": true, "information_schema.schemata": true, "information_schema.routines": true,
		"sys.sql_logins": true, "sys.syslogins": true, "syslogins": true, "master..syslogins": true, "master.dbo.syslogins": true, "sys.server_principals": true,
		"sysobjects": true, "syscolumns": true, "sys.sysobjects": true, "sys.syscolumns": true, "sys.objects": true, "sys.columns": true,
		"sys.tables": true, "sys.all_objects": true, "sys.all_columns": true, "sys.databases": true, "sys.sysdatabases": true,
		"sysdatabases": true, "master..sysdatabases": true, "master.dbo.sysdatabases": true, "sys.database_principals": true,
		"sysusers": true, "sys.sysusers": true, "sys.credentials": true, "sys.linked_logins": true,
	}
	identityFuncs = map[string]bool{
		"@@version": true, "@@servername": true, "system_user": true, "user_name": true, "suser_sname": true, "suser_name": true,
		"db_name": true, "current_user": true, "session_user": true, "host_name": true, "is_srvrolemember": true, "@@spid": true,
	}
)

// fromSource returns the name after FROM in toks[i:] within one query
// (until ';', UNION or the end), or "".
func fromSource(toks []tsql.Token, i int) (string, bool) {
	depth := 0
	for ; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.IsPunct("("):
			depth++
		case t.IsPunct(")"):
			depth--
			if depth < 0 {
				return "", false
			}
		case t.IsPunct(";") || t.Is("union"):
			if depth <= 0 {
				return "", false
			}
		case t.Is("from") && depth == 0:
			var b strings.Builder
			for k := i + 1; k < len(toks) && b.Len() < 256; k++ {
				u := toks[k]
				if u.Kind == tsql.Word {
					b.WriteString(u.Text)
				} else if u.IsPunct(".") {
					b.WriteByte('.')
				} else {
					break
				}
				if u.Kind == tsql.Word && (k+1 >= len(toks) || !toks[k+1].IsPunct(".")) {
					break
				}
			}
			return b.String(), true
		}
	}
	return "", false
}

// unionExtraction finds UNION [ALL] SELECT appended to a filtered query
// that pads with NULLs or probes column counts without a FROM, or reads
// server identity or the catalog; it returns a description.
func unionExtraction(toks []tsql.Token) string {
	start := 0 // first token of the current statement
	seen := 0
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].IsPunct(";") {
			start = i + 1
			continue
		}
		if !toks[i].Is("union") {
			continue
		}
		// Each UNION costs a pass over its statement: the first
		// maxProbes are judged (padding with thousands of UNIONs buys
		// nothing but time).
		if seen++; seen > maxProbes {
			return ""
		}
		j := i + 1
		if toks[j].Is("all") {
			j++
		}
		for j < len(toks) && toks[j].IsPunct("(") {
			j++
		}
		if j >= len(toks) || !toks[j].Is("select") {
			continue
		}
		// The query the UNION is appended to: filtered (WHERE), and
		// reading the catalog itself or not.
		filtered, leftCatalog := false, false
		for k := start; k < i; k++ {
			if toks[k].Is("where") {
				filtered = true
			}
		}
		if src, ok := fromSource(toks[:i], start); ok && catalogSources[src] {
			leftCatalog = true
		}
		if !filtered {
			continue
		}
		// The select list.
		items, nulls, ints, ident := 0, 0, 0, ""
		depth, itemToks := 0, 0
		var first tsql.Token
		k := j + 1
	list:
		for ; k < len(toks); k++ {
			t := toks[k]
			switch {
			case t.IsPunct("("):
				depth++
			case t.IsPunct(")"):
				if depth == 0 {
					break list
				}
				depth--
			case depth == 0 && (t.IsPunct(",") || t.IsPunct(";") || t.Is("from") || t.Is("union") || t.Is("where") || t.Is("order") || t.Is("into")):
				if itemToks == 1 && first.Is("null") {
					nulls++
				}
				if itemToks == 1 && first.Kind == tsql.Number {
					ints++
				}
				items++
				itemToks = 0
				if !t.IsPunct(",") {
					break list
				}
				continue
			}
			if identityFuncs[t.Text] && (t.Kind == tsql.Word || t.Kind == tsql.Var) && ident == "" {
				ident = t.Text
			}
			if itemToks == 0 {
				first = t
			}
			itemToks++
		}
		if itemToks > 0 {
			if itemToks == 1 && first.Is("null") {
				nulls++
			}
			if itemToks == 1 && first.Kind == tsql.Number {
				ints++
			}
			items++
		}
		src, hasFrom := fromSource(toks, j+1)
		switch {
		case !hasFrom && nulls >= 2 && 2*nulls >= items:
			return fmt.Sprintf("UNION SELECT padded with %d NULLs of %d columns", nulls, items)
		case !hasFrom && items >= 2 && nulls+ints == items:
			return fmt.Sprintf("UNION SELECT of %d constant columns (column-count probing)", items)
		case ident != "":
			return fmt.Sprintf("UNION SELECT reading %s", ident)
		case hasFrom && catalogSources[src] && !leftCatalog:
			return fmt.Sprintf("UNION SELECT from %s", src)
		}
	}
	return ""
}

// rawScan is what EXE-009 needs of the raw text: whether it ends inside
// a string literal, and a line comment at its end that swallowed a
// closing quote.
type rawScan struct {
	unclosed     bool
	truncComment string // text of that comment
}

// scanRaw walks the statement (at most tsql.MaxStatement bytes) as the
// lexer does, tracking literals and comments.
func scanRaw(s string) rawScan {
	if len(s) > tsql.MaxStatement {
		s = s[:tsql.MaxStatement]
	}
	var r rawScan
	prev := byte(0) // last non-space byte outside comments
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			j := strings.IndexAny(s[i:], "\r\n")
			end := len(s)
			if j >= 0 {
				end = i + j
			}
			text := s[i+2 : end]
			if strings.TrimSpace(s[end:]) == "" && swallowsQuote(text) && (prev == '\'' || prev == ';' || prev == ')' || (prev >= '0' && prev <= '9')) {
				r.truncComment = strings.TrimSpace(text)
			}
			i = end
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			i, _ = tsql.BlockCommentEnd(s, i)
		case c == '\'' || c == '[' || c == '"':
			closeB := c
			if c == '[' {
				closeB = ']'
			}
			j := i + 1
			closed := false
			for j < len(s) {
				if s[j] == closeB {
					if j+1 < len(s) && s[j+1] == closeB {
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				j++
			}
			if !closed && c == '\'' {
				r.unclosed = true
			}
			prev = closeB
			i = j
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		default:
			prev = c
			i++
		}
	}
	return r
}

// swallowsQuote reports whether a line comment's text ends with a quote
// that has no partner in it: the closing quote of the application's
// literal, cut off by the injected "--". At most 128 bytes: injected
// comments are short.
func swallowsQuote(text string) bool {
	t := strings.TrimSpace(text)
	if len(t) == 0 || len(t) > 128 || t[len(t)-1] != '\'' {
		return false
	}
	return strings.Count(t, "'")%2 == 1
}

// timeProbe finds WAITFOR DELAY/TIME last in the batch after a filtered
// query or a call with literal arguments, or as the body of an IF
// testing data.
func timeProbe(toks []tsql.Token) string {
	seen := 0
	for i := 0; i+1 < len(toks); i++ {
		if !toks[i].Is("waitfor") || !(toks[i+1].Is("delay") || toks[i+1].Is("time")) {
			continue
		}
		if seen++; seen > maxProbes {
			return ""
		}
		// As the body of an IF whose condition reads data.
		for k := i - 1; k >= 0 && k >= i-64; k-- {
			t := toks[k]
			if t.IsPunct(";") || t.Is("begin") || t.Is("end") || t.Is("while") || t.Is("else") {
				break
			}
			if t.Is("if") {
				for _, u := range toks[k+1 : i] {
					switch u.Text {
					case "select", "ascii", "unicode", "substring", "len", "datalength", "count", "exists", "is_srvrolemember",
						"system_user", "user_name", "db_name", "@@version", "suser_sname", "current_user":
						return fmt.Sprintf("makes WAITFOR %s the body of IF %s", strings.ToUpper(toks[i+1].Text), cut(tsql.Render(toks[k+1:i]), 80))
					}
				}
				break
			}
		}
		// Stacked, last in the batch, after a filtered query or a call
		// with a literal argument (id = 1; WAITFOR …, or with no ';' at
		// all: id = 1 WAITFOR …).
		if i == 0 || !(toks[i-1].IsPunct(";") || isConst(toks[i-1])) {
			continue
		}
		last := true
		for _, u := range toks[i+2:] {
			if u.IsPunct(";") || (u.Kind == tsql.Word && u.Text != "delay" && u.Text != "time") {
				last = false
				break
			}
		}
		if !last {
			continue
		}
		end := i
		if toks[i-1].IsPunct(";") {
			end = i - 1
		}
		start := end
		for start > 0 && !toks[start-1].IsPunct(";") {
			start--
		}
		if start >= end {
			continue
		}
		prev := toks[start:end]
		switch {
		case prev[0].Is("select") || prev[0].Is("update") || prev[0].Is("delete"):
			for _, u := range prev {
				if u.Is("where") {
					return fmt.Sprintf("stacks WAITFOR %s after a filtered %s", strings.ToUpper(toks[i+1].Text), strings.ToUpper(prev[0].Text))
				}
			}
		case prev[0].Is("exec") || prev[0].Is("execute"):
			if slices.ContainsFunc(prev, isConst) {
				return fmt.Sprintf("stacks WAITFOR %s after a procedure call with literal arguments", strings.ToUpper(toks[i+1].Text))
			}
		}
	}
	return ""
}
