package sigma

import (
	"regexp"
	"sync"

	"github.com/bradleyjkemp/sigma-go/evaluator/modifiers"
)

// sigma-go's |re comparator compiles its pattern on every comparison
// (tens of microseconds a record for a rule with no literal to prefilter
// on). Its comparator tables are package variables read by every
// evaluator, so this package replaces "re" in both, once, with the same
// comparison over patterns compiled once: Parse compiles every pattern
// of a rule it accepts; a pattern met at run time that Parse did not
// see (none is expected) is compiled and kept while fewer than
// maxPatterns are.
func init() {
	modifiers.Comparators["re"] = cachedRe{}
	modifiers.ComparatorsCaseSensitive["re"] = cachedRe{}
}

const maxPatterns = 100000

var patterns struct {
	sync.RWMutex
	m map[string]*regexp.Regexp
}

// compilePattern returns the compiled pattern, from the cache when it
// was compiled before.
func compilePattern(p string) (*regexp.Regexp, error) {
	patterns.RLock()
	re, ok := patterns.m[p]
	patterns.RUnlock()
	if ok {
		return re, nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	patterns.Lock()
	if patterns.m == nil {
		patterns.m = map[string]*regexp.Regexp{}
	}
	if len(patterns.m) < maxPatterns {
		patterns.m[p] = re
	}
	patterns.Unlock()
	return re, nil
}

type cachedRe struct{}

func (cachedRe) Matches(actual, expected any) (bool, error) {
	re, err := compilePattern(modifiers.CoerceString(expected))
	if err != nil {
		return false, err
	}
	return re.MatchString(modifiers.CoerceString(actual)), nil
}
