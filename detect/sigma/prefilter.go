package sigma

import (
	"path"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	sigmago "github.com/bradleyjkemp/sigma-go"
)

// needle is one literal a rule's match implies: the field's value,
// lower-cased (fold), contains lit.
type needle struct {
	field int
	lit   string
}

// fold lower-cases s as the evaluator's comparisons do (strings.ToLower
// for contains/startswith/endswith) and also maps U+017F (long s) to
// "s", the one rune strings.EqualFold equates with an ASCII letter that
// ToLower leaves alone (U+212A, the Kelvin sign, lower-cases to "k"):
// so "the folded value contains the folded literal" holds whenever the
// evaluator's comparison can.
func fold(s string) string {
	s = strings.ToLower(s)
	if strings.Contains(s, "ſ") {
		s = strings.ReplaceAll(s, "ſ", "s")
	}
	return s
}

// rulePrefilter computes literals of which the record must show at least
// one for the rule to match, or nil when no such set is known (a
// negation, a regular expression, a numeric comparison, an empty
// value...). It errs on the side of evaluating: a rule is skipped only
// when none of its literals occurs in the fields that would be compared.
func rulePrefilter(sr *sigmago.Rule) []needle {
	var all []needle
	for _, c := range sr.Detection.Conditions {
		ns, ok := exprNeed(c.Search, sr.Detection.Searches)
		if !ok {
			return nil
		}
		all = append(all, ns...)
	}
	return all
}

// exprNeed returns the literals one of which e implies, and whether e
// implies any.
func exprNeed(e sigmago.SearchExpr, searches map[string]sigmago.Search) ([]needle, bool) {
	switch x := e.(type) {
	case sigmago.And:
		return andNeed(len(x), func(i int) ([]needle, bool) { return exprNeed(x[i], searches) })
	case sigmago.Or:
		return orNeed(len(x), func(i int) ([]needle, bool) { return exprNeed(x[i], searches) })
	case sigmago.SearchIdentifier:
		return searchNeed(searches[x.Name])
	case sigmago.OneOfThem, sigmago.AllOfThem, sigmago.OneOfPattern, sigmago.AllOfPattern:
		var names []string
		pattern, and := "*", false
		switch y := x.(type) {
		case sigmago.AllOfThem:
			and = true
		case sigmago.OneOfPattern:
			pattern = y.Pattern
		case sigmago.AllOfPattern:
			pattern, and = y.Pattern, true
		}
		for n := range searches {
			if ok, _ := path.Match(pattern, n); ok {
				names = append(names, n)
			}
		}
		get := func(i int) ([]needle, bool) { return searchNeed(searches[names[i]]) }
		if and {
			return andNeed(len(names), get)
		}
		return orNeed(len(names), get)
	}
	return nil, false // Not, and anything else
}

// andNeed: any constrained operand constrains the conjunction; take the
// one whose shortest literal is longest (the most selective).
func andNeed(n int, get func(int) ([]needle, bool)) ([]needle, bool) {
	var best []needle
	bestScore := -1
	for i := range n {
		ns, ok := get(i)
		if !ok {
			continue
		}
		score := len(ns[0].lit)
		for _, x := range ns {
			score = min(score, len(x.lit))
		}
		if score > bestScore || (score == bestScore && len(ns) < len(best)) {
			best, bestScore = ns, score
		}
	}
	return best, bestScore >= 0
}

// orNeed: a disjunction is constrained when every operand is.
func orNeed(n int, get func(int) ([]needle, bool)) ([]needle, bool) {
	if n == 0 {
		return nil, false
	}
	var out []needle
	for i := range n {
		ns, ok := get(i)
		if !ok {
			return nil, false
		}
		out = append(out, ns...)
	}
	return out, true
}

// searchNeed: a search is a disjunction of event matchers, each a
// conjunction of field matchers.
func searchNeed(s sigmago.Search) ([]needle, bool) {
	return orNeed(len(s.EventMatchers), func(i int) ([]needle, bool) {
		em := s.EventMatchers[i]
		return andNeed(len(em), func(j int) ([]needle, bool) { return fieldNeed(em[j]) })
	})
}

// fieldNeed: equality, contains, startswith and endswith on literal
// values imply that the field contains a value (all of them with |all,
// then the longest is enough).
func fieldNeed(fm sigmago.FieldMatcher) ([]needle, bool) {
	k, ok := fieldIndex[strings.ToLower(strings.TrimPrefix(fm.Field, foldedPrefix))]
	if !ok || len(fm.Values) == 0 || constant[fields[k].name] {
		return nil, false
	}
	mods := fm.Modifiers
	all := false
	if len(mods) > 0 && mods[len(mods)-1] == "all" {
		mods, all = mods[:len(mods)-1], true
	}
	equality := len(mods) == 0
	if len(mods) == 1 && mods[0] == "re" {
		return regexNeed(k, fm.Values)
	}
	if len(mods) > 1 || (len(mods) == 1 && mods[0] != "contains" && mods[0] != "startswith" && mods[0] != "endswith") {
		return nil, false
	}
	var out []needle
	for _, v := range fm.Values {
		s, isString := v.(string)
		if !isString || s == "" {
			return nil, false
		}
		if equality && !isASCII(s) {
			// strings.EqualFold equates non-ASCII runes that ToLower
			// does not (µ and μ): no literal is implied.
			return nil, false
		}
		out = append(out, needle{field: k, lit: fold(s)})
	}
	if all {
		best := out[0]
		for _, n := range out[1:] {
			if len(n.lit) > len(best.lit) {
				best = n
			}
		}
		out = []needle{best}
	}
	return out, true
}

// constant are the fields whose value is the same, or nearly, for every
// record (EventID 33205, Channel Application, Provider_Name MSSQL...):
// literals on them select nothing.
var constant = map[string]bool{"EventID": true, "Channel": true, "Provider_Name": true}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// regexNeed: a |re matcher matches when one of its patterns does (all of
// them with |all: then one pattern's literals are enough, and the values
// are handled like any), and a pattern can only match a text holding
// one of the literals regexLits finds in it.
func regexNeed(k int, values []any) ([]needle, bool) {
	return orNeed(len(values), func(i int) ([]needle, bool) {
		p, _ := values[i].(string)
		re, err := syntax.Parse(p, syntax.Perl)
		if err != nil {
			return nil, false
		}
		lits, ok := regexLits(re.Simplify(), 0)
		if !ok {
			return nil, false
		}
		out := make([]needle, len(lits))
		for j, l := range lits {
			out[j] = needle{field: k, lit: l}
		}
		return out, true
	})
}

// regexLits returns folded literals one of which every match of re
// contains, and whether there are any: a literal (case-folded ones only
// when ASCII: fold and (?i) agree there), the most selective operand of
// a concatenation, every branch of an alternation, the body of a group or
// of a repetition that must occur at least once.
func regexLits(re *syntax.Regexp, depth int) ([]string, bool) {
	if depth > 100 {
		return nil, false
	}
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		if s == "" || (re.Flags&syntax.FoldCase != 0 && !isASCII(s)) {
			return nil, false
		}
		return []string{fold(s)}, true
	case syntax.OpCapture:
		return regexLits(re.Sub[0], depth+1)
	case syntax.OpPlus:
		return regexLits(re.Sub[0], depth+1)
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false
		}
		return regexLits(re.Sub[0], depth+1)
	case syntax.OpConcat:
		var best []string
		score := -1
		for _, sub := range re.Sub {
			lits, ok := regexLits(sub, depth+1)
			if !ok {
				continue
			}
			m := len(lits[0])
			for _, l := range lits {
				m = min(m, len(l))
			}
			if m > score {
				best, score = lits, m
			}
		}
		return best, score >= 0
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			lits, ok := regexLits(sub, depth+1)
			if !ok {
				return nil, false
			}
			out = append(out, lits...)
		}
		return out, len(out) > 0
	}
	return nil, false
}
