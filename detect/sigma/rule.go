package sigma

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	sigmago "github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"
	"github.com/bradleyjkemp/sigma-go/evaluator/modifiers"

	"github.com/xelwatch/xelwatch/detect"
)

// Bounds of one rule file. Rules are operator-supplied, but a rule is
// evaluated on every audit record, so what one may ask is bounded.
const (
	MaxRuleBytes     = 128 << 10 // bytes of one rule file
	MaxSearches      = 64        // named searches (selections) per rule
	MaxConditions    = 8         // conditions per rule
	MaxLineLen       = 8192      // bytes of one line (a condition is one line or a list of them)
	MaxNesting       = 64        // parentheses nested in the file (conditions, patterns)
	MaxValues        = 1024      // values over all the rule's field matchers
	MaxValueLen      = 4096      // bytes of one value
	MaxRegexLen      = 512       // bytes of one |re pattern
	MaxTitleLen      = 256       // bytes of the title
	maxIDLen         = 64        // bytes of a Sigma id used in the rule id
	idPrefix         = "SIG-"
	fileIDHashDigits = 8
)

// Rule is one parsed, validated Sigma rule.
type Rule struct {
	// Info is the rule as the catalog describes its own: ID "SIG-<sigma
	// id>" (or "SIG-<file name>-<hash>" for a rule without a usable
	// id), title, severity (from level) and ATT&CK technique (from the
	// first attack.tNNNN tag).
	Info detect.RuleInfo
	// Name is where the rule came from (the file name given to Parse).
	Name string
	// Level is the rule's level as written.
	Level string

	eval *evaluator.RuleEvaluator
	keys []fieldKey // the values it reads
	pre  []needle   // prefilter: one of these must hold (nil: always evaluate)
}

// SkipError reports a well-formed rule that xelwatch does not evaluate:
// a logsource other than SQL Server audit, or a deprecated rule.
type SkipError struct {
	Name   string
	Reason string
}

func (e *SkipError) Error() string { return e.Name + ": skipped: " + e.Reason }

// Parse parses and validates the Sigma rule in src; name identifies it in
// errors and, for a rule without a usable id, in its rule id (give a
// stable name: the file's path relative to the rules folder). A rule for
// another logsource, or deprecated, gives a *SkipError; a rule xelwatch
// cannot evaluate exactly (unknown field or modifier, keyword search,
// aggregation, placeholder, ...) an error naming the problem.
func Parse(name string, src []byte) (*Rule, error) {
	r, err := parse(name, src)
	if err != nil {
		var skip *SkipError
		if errors.As(err, &skip) {
			return nil, err
		}
		return nil, fmt.Errorf("sigma: %s: %w", name, err)
	}
	return r, nil
}

func parse(name string, src []byte) (*Rule, error) {
	if len(src) > MaxRuleBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxRuleBytes)
	}
	if !utf8.Valid(src) {
		return nil, errors.New("not UTF-8 text")
	}
	if err := textBounds(src); err != nil {
		return nil, err
	}
	if multiDocument(src) {
		return nil, errors.New("several YAML documents in one file (rule collections) are not supported: one rule per file")
	}
	sr, err := sigmago.ParseRule(src)
	if err != nil {
		return nil, fmt.Errorf("invalid rule: %w", err)
	}
	switch strings.ToLower(sr.Status) {
	case "deprecated", "unsupported":
		return nil, &SkipError{Name: name, Reason: "status " + sr.Status}
	}
	if strings.TrimSpace(sr.Title) == "" {
		return nil, errors.New("missing title")
	}
	if len(sr.Title) > MaxTitleLen {
		return nil, fmt.Errorf("title longer than %d bytes", MaxTitleLen)
	}
	if len(sr.Detection.Searches) == 0 || len(sr.Detection.Conditions) == 0 {
		return nil, errors.New("missing detection: a rule needs at least one search and a condition")
	}
	if len(sr.Detection.Searches) > MaxSearches {
		return nil, fmt.Errorf("more than %d searches", MaxSearches)
	}
	if len(sr.Detection.Conditions) > MaxConditions {
		return nil, fmt.Errorf("more than %d conditions", MaxConditions)
	}
	sev, err := severity(sr.Level)
	if err != nil {
		return nil, err
	}
	if why := logsourceSkip(&sr); why != "" {
		return nil, &SkipError{Name: name, Reason: why}
	}
	r := &Rule{Name: name, Level: sr.Level}
	if err := r.compileSearches(&sr); err != nil {
		return nil, err
	}
	for i := range sr.Detection.Conditions {
		c := &sr.Detection.Conditions[i]
		if c.Aggregation != nil {
			return nil, errors.New("aggregations in conditions (| count() ..., near) are not supported")
		}
		s, err := checkExpr(c.Search, sr.Detection.Searches, 0)
		if err != nil {
			return nil, fmt.Errorf("condition: %w", err)
		}
		c.Search = s
	}
	r.pre = rulePrefilter(&sr)
	r.Info = detect.RuleInfo{
		ID:        ruleID(sr.ID, name),
		Title:     strings.TrimSpace(sr.Title),
		Severity:  sev,
		Technique: technique(sr.Tags),
		Condition: "Sigma rule " + name,
	}
	r.eval = evaluator.ForRule(sr, evaluator.CaseSensitive)
	return r, nil
}

// textBounds checks the raw text before the YAML and condition parsers
// see it: the condition parser's time grows with the square of the
// nesting of parentheses.
func textBounds(src []byte) error {
	depth, line := 0, 0
	for _, c := range src {
		switch c {
		case '(':
			depth++
			if depth > MaxNesting {
				return fmt.Errorf("parentheses nested more than %d deep", MaxNesting)
			}
		case ')':
			depth = max(0, depth-1)
		case '\n':
			line = -1
		}
		line++
		if line > MaxLineLen {
			return fmt.Errorf("a line longer than %d bytes", MaxLineLen)
		}
	}
	return nil
}

// multiDocument reports a second YAML document ("---" line after content).
func multiDocument(src []byte) bool {
	seen := false
	for line := range bytes.Lines(src) {
		t := bytes.TrimRight(line, " \t\r\n")
		if bytes.Equal(t, []byte("---")) {
			if seen {
				return true
			}
			continue
		}
		if len(bytes.TrimSpace(t)) > 0 && t[0] != '#' {
			seen = true
		}
	}
	return false
}

// severity maps a Sigma level to the detect severity of the same name; a
// rule without a level is Medium.
func severity(level string) (detect.Severity, error) {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "":
		return detect.Medium, nil
	case "informational":
		return detect.Info, nil
	case "low":
		return detect.Low, nil
	case "medium":
		return detect.Medium, nil
	case "high":
		return detect.High, nil
	case "critical":
		return detect.Critical, nil
	}
	return 0, fmt.Errorf("unknown level %q (want informational, low, medium, high or critical)", level)
}

var (
	validID     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	attackTag   = regexp.MustCompile(`^attack\.(t\d{4}(?:\.\d{3})?)$`)
	nonIDBytes  = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
	placeholder = func(s string) bool { return strings.HasPrefix(s, "%") && strings.HasSuffix(s, "%") }
)

// ruleID is "SIG-<id>" for a usable Sigma id, else derived from the file
// name: its base name without extension, made safe, and a hash of the
// whole name (stable while the file keeps its name).
func ruleID(id, name string) string {
	if id = strings.TrimSpace(id); id != "" && len(id) <= maxIDLen && validID.MatchString(id) {
		return idPrefix + id
	}
	base := path.Base(strings.ReplaceAll(name, `\`, "/"))
	base = strings.TrimSuffix(base, path.Ext(base))
	base = strings.Trim(nonIDBytes.ReplaceAllString(base, "_"), "_.-")
	if len(base) > 40 {
		base = base[:40]
	}
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:])[:fileIDHashDigits]
	if base == "" {
		return idPrefix + h
	}
	return idPrefix + base + "-" + h
}

// technique is the first ATT&CK technique tag (attack.t1505.001 →
// T1505.001), or "".
func technique(tags []string) string {
	for _, t := range tags {
		if m := attackTag.FindStringSubmatch(strings.ToLower(strings.TrimSpace(t))); m != nil {
			return strings.ToUpper(m[1])
		}
	}
	return ""
}

// compileSearches validates every search of sr in place: field names
// known (rewritten to their canonical spelling), modifiers known to the
// evaluator, values scalar and bounded, regular expressions and CIDRs
// valid, numeric comparisons only on numeric fields.
func (r *Rule) compileSearches(sr *sigmago.Rule) error {
	values := 0
	used := map[fieldKey]bool{}
	names := make([]string, 0, len(sr.Detection.Searches))
	for n := range sr.Detection.Searches {
		names = append(names, n)
	}
	slices.Sort(names) // errors in a stable order
	for _, n := range names {
		s := sr.Detection.Searches[n]
		if len(s.Keywords) > 0 {
			return fmt.Errorf("search %q: keyword searches (a list of plain values) are not supported: name the field", n)
		}
		if len(s.EventMatchers) == 0 {
			return fmt.Errorf("search %q: empty", n)
		}
		for _, em := range s.EventMatchers {
			for i := range em {
				fm := &em[i]
				k, ok := fieldIndex[strings.ToLower(fm.Field)]
				if !ok {
					return fmt.Errorf("search %q: unknown field %q (see docs/sigma.md for the fields xelwatch provides)", n, fm.Field)
				}
				fm.Field = fields[k].name
				mods := fm.Modifiers
				if len(mods) > 0 && mods[len(mods)-1] == "all" {
					mods = mods[:len(mods)-1]
				}
				if _, err := modifiers.GetComparator(fm.Field, modifiers.Comparators, mods...); err != nil {
					return fmt.Errorf("search %q: field %s: %w", n, fm.Field, err)
				}
				comp := ""
				if len(mods) > 0 {
					comp = mods[len(mods)-1]
				}
				if (comp == "gt" || comp == "gte" || comp == "lt" || comp == "lte") && !fields[k].numeric {
					return fmt.Errorf("search %q: field %s: |%s needs a numeric field", n, fm.Field, comp)
				}
				values += len(fm.Values)
				if values > MaxValues {
					return fmt.Errorf("more than %d values", MaxValues)
				}
				for j, v := range fm.Values {
					s, err := scalar(v)
					if err != nil {
						return fmt.Errorf("search %q: field %s: %w", n, fm.Field, err)
					}
					fm.Values[j] = s
					if err := checkValue(comp, s); err != nil {
						return fmt.Errorf("search %q: field %s: %w", n, fm.Field, err)
					}
				}
				folded := foldMatcher(fm, mods, comp)
				used[fieldKey{k, folded}] = true
			}
		}
	}
	for k := range used {
		r.keys = append(r.keys, k)
	}
	slices.SortFunc(r.keys, func(a, b fieldKey) int {
		if a.k != b.k {
			return a.k - b.k
		}
		return boolInt(a.folded) - boolInt(b.folded)
	})
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// foldedPrefix marks the map key of a field's folded value.
const foldedPrefix = "folded:"

// fieldKey is one value the evaluator reads: field k, as recorded or
// folded.
type fieldKey struct {
	k      int
	folded bool
}

func (f fieldKey) name() string {
	if f.folded {
		return foldedPrefix + fields[f.k].name
	}
	return fields[f.k].name
}

// foldMatcher rewrites a contains/startswith/endswith matcher to compare
// the field's folded value (computed once per record) with folded values
// case-sensitively, which is what sigma-go's case-insensitive
// comparators compute by lower-casing both sides on every comparison
// (and, like fold, equates U+017F with "s"). Value modifiers (base64)
// are applied here, before folding, as sigma-go applies them before
// lower-casing. It reports whether it rewrote fm; the rule is then
// evaluated with evaluator.CaseSensitive, which changes only these three
// comparators.
func foldMatcher(fm *sigmago.FieldMatcher, mods []string, comp string) bool {
	if comp != "contains" && comp != "startswith" && comp != "endswith" {
		return false
	}
	for j, v := range fm.Values {
		x := any(v)
		for _, m := range mods[:len(mods)-1] {
			x, _ = modifiers.ValueModifiers[m].Modify(x)
		}
		fm.Values[j] = fold(modifiers.CoerceString(x))
	}
	all := len(fm.Modifiers) > 0 && fm.Modifiers[len(fm.Modifiers)-1] == "all"
	fm.Modifiers = []string{comp}
	if all {
		fm.Modifiers = append(fm.Modifiers, "all")
	}
	fm.Field = foldedPrefix + fm.Field
	return true
}

// scalar converts a YAML value to the string the evaluator compares (null
// becomes "": every field xelwatch provides exists, empty when absent).
func scalar(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		if len(v) > MaxValueLen {
			return "", fmt.Errorf("value longer than %d bytes", MaxValueLen)
		}
		if placeholder(v) {
			return "", fmt.Errorf("placeholder %q is not supported", v)
		}
		return v, nil
	case int:
		return strconv.Itoa(v), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", fmt.Errorf("value %v (%T) is not a string, number or boolean", v, v)
}

func checkValue(comp, v string) error {
	switch comp {
	case "re":
		if len(v) > MaxRegexLen {
			return fmt.Errorf("regular expression longer than %d bytes", MaxRegexLen)
		}
		if _, err := compilePattern(v); err != nil {
			return fmt.Errorf("regular expression: %w", err)
		}
	case "cidr":
		if _, _, err := net.ParseCIDR(v); err != nil {
			return fmt.Errorf("cidr: %w", err)
		}
	case "gt", "gte", "lt", "lte":
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("|%s value %q is not a number", comp, v)
		}
	}
	return nil
}

// checkExpr checks a condition: every identifier names a search, every
// pattern matches one; "1 of x" and "all of x" on a single name become
// the name (the evaluator does not handle them).
func checkExpr(e sigmago.SearchExpr, searches map[string]sigmago.Search, depth int) (sigmago.SearchExpr, error) {
	if depth > 64 {
		return nil, errors.New("nested too deeply")
	}
	switch x := e.(type) {
	case sigmago.And:
		for i := range x {
			s, err := checkExpr(x[i], searches, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = s
		}
		return x, nil
	case sigmago.Or:
		for i := range x {
			s, err := checkExpr(x[i], searches, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = s
		}
		return x, nil
	case sigmago.Not:
		s, err := checkExpr(x.Expr, searches, depth+1)
		if err != nil {
			return nil, err
		}
		x.Expr = s
		return x, nil
	case sigmago.SearchIdentifier:
		if _, ok := searches[x.Name]; !ok {
			return nil, fmt.Errorf("unknown search %q", x.Name)
		}
		return x, nil
	case sigmago.OneOfIdentifier:
		return checkExpr(x.Ident, searches, depth+1)
	case sigmago.AllOfIdentifier:
		return checkExpr(x.Ident, searches, depth+1)
	case sigmago.OneOfPattern, sigmago.AllOfPattern:
		p := ""
		if o, ok := x.(sigmago.OneOfPattern); ok {
			p = o.Pattern
		} else {
			p = x.(sigmago.AllOfPattern).Pattern
		}
		n := 0
		for name := range searches {
			ok, err := path.Match(p, name)
			if err != nil {
				return nil, fmt.Errorf("pattern %q: %w", p, err)
			}
			if ok {
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("pattern %q matches no search", p)
		}
		return x, nil
	case sigmago.OneOfThem, sigmago.AllOfThem:
		return x, nil
	}
	return nil, fmt.Errorf("unsupported condition element %T", e)
}

// logsourceSkip says why a rule's logsource is not SQL Server audit, or
// "" when it is: product mssql (service empty or audit), or product
// windows with service application and a search selecting EventID 33205
// (SigmaHQ's MSSQL rules; other application-log rules are about other
// programs).
func logsourceSkip(sr *sigmago.Rule) string {
	ls := sr.Logsource
	prod, svc, cat := strings.ToLower(ls.Product), strings.ToLower(ls.Service), strings.ToLower(ls.Category)
	switch {
	case prod == "mssql" && (svc == "" || svc == "audit") && cat == "":
		return ""
	case prod == "windows" && svc == "application" && cat == "":
		if selects33205(sr) {
			return ""
		}
		return "logsource windows/application without a search for EventID 33205 (not a SQL Server audit rule)"
	}
	return fmt.Sprintf("logsource product=%q service=%q category=%q is not SQL Server audit (want product mssql, or windows/application with EventID 33205)", ls.Product, ls.Service, ls.Category)
}

func selects33205(sr *sigmago.Rule) bool {
	for _, s := range sr.Detection.Searches {
		for _, em := range s.EventMatchers {
			for _, fm := range em {
				if !strings.EqualFold(fm.Field, "EventID") || len(fm.Modifiers) > 0 {
					continue
				}
				for _, v := range fm.Values {
					if s, err := scalar(v); err == nil && s == EventID33205 {
						return true
					}
				}
			}
		}
	}
	return false
}
