package sigma

import (
	"regexp/syntax"
	"slices"
	"testing"
)

func TestRegexLits(t *testing.T) {
	for p, want := range map[string][]string{
		`(?i)exec\s+(master\.\.)?xp_cmdshell`: {"xp_cmdshell"},
		`EXEC|Execute`:                        {"xec", "xecute"}, // common prefix factored out
		`sp_(oa|add)create`:                   {"create"},
		`x*`:                                  nil,
		`(?i)µ`:                               nil,
		`µ`:                                   {"µ"},
		`abc(def)?`:                           {"abc"},
		`(ab){2,}`:                            {"ab"},
		`[0-9]+`:                              nil,
		`^$`:                                  nil,
	} {
		re, err := syntax.Parse(p, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := regexLits(re.Simplify(), 0)
		if ok != (want != nil) || !slices.Equal(got, want) {
			t.Errorf("%s: %q %v, want %q", p, got, ok, want)
		}
	}
}
