package detect

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// TestPrefilterDeclared is the catalog-wide check behind the batch
// prefilter: every rule that listens on a batch action (BCM, RCM, BST,
// RST) declares its needs, and every statement of its positive cases that
// the rule matches as a batch record passes the prefilter built from that
// rule's declaration alone. A new statement rule without a declaration,
// or with a keyword it did not declare, fails here rather than being
// silently never evaluated for batch records.
func TestPrefilterDeclared(t *testing.T) {
	t.Parallel()
	for _, r := range catalog {
		if !r.readsBatches() {
			if r.needs.declared() {
				t.Errorf("%s reads no batch records but declares needs %+v", r.ID, r.needs)
			}
			continue
		}
		if !r.needs.declared() {
			t.Errorf("%s listens on batch actions but declares no needs", r.ID)
			continue
		}
		own := newPrefilter([]*rule{r})
		matched := 0
		for _, c := range ruleCases[r.ID] {
			if !slices.ContainsFunc(c.want, func(w string) bool { return strings.HasPrefix(w, r.ID+"/") }) {
				continue
			}
			cfg := testConfig(t)
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			k, err := compile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, rc := range c.recs {
				if rc.Statement == "" {
					continue
				}
				for _, action := range []string{"BCM", "RCM", "BST", "RST"} {
					b := rc
					b.ActionID, b.ClassType, b.ObjectName = action, "", ""
					// Evaluate the rule itself, past every prefilter,
					// with the real hints.
					ev := Event{rec: &b, action: action, pf: catalogPrefilter}
					m := &matcher{ctx: context.Background(), cfg: k, state: NewMemoryState(), rule: r, rec: &b}
					hits, err := r.match(m, &ev)
					if err != nil {
						t.Fatalf("%s/%s: %v", r.ID, c.name, err)
					}
					if len(hits) == 0 {
						continue
					}
					matched++
					probe := Event{rec: &b, action: action, pf: own}
					if probe.hints()&own.mask == 0 && !(own.errors && hasErrorInfo(b.AdditionalInformation)) {
						t.Errorf("%s/%s: the rule matches %s record %q, but its declared needs %+v do not let it through the prefilter", r.ID, c.name, action, b.Statement, r.needs)
					}
					if all := (Event{rec: &b, action: action, pf: catalogPrefilter}); all.hints()&catalogPrefilter.mask == 0 && !hasErrorInfo(b.AdditionalInformation) {
						t.Errorf("%s/%s: the catalog prefilter drops %s record %q", r.ID, c.name, action, b.Statement)
					}
				}
			}
		}
		if matched == 0 {
			t.Errorf("%s listens on batch actions but none of its positive cases has a statement it matches as a batch record", r.ID)
		}
	}
}

// TestPrefilterWords: a declared keyword sets hintWord, whole words only.
func TestPrefilterWords(t *testing.T) {
	t.Parallel()
	pf := newPrefilter([]*rule{{RuleInfo: RuleInfo{Actions: []string{"BCM"}}, needs: needs{words: []string{"openrowset"}}}})
	if pf.mask != hintWord {
		t.Fatalf("mask = %b, want hintWord", pf.mask)
	}
	for stmt, want := range map[string]bool{
		"SELECT * FROM OpenRowSet(BULK 'x')": true,
		"select * from openrowset":           true,
		"SELECT openrowsets FROM t":          false,
		"SELECT xopenrowset FROM t":          false,
		"SELECT 1":                           false,
	} {
		ev := Event{rec: &audit.Record{Statement: stmt}, pf: pf}
		if got := ev.hints()&hintWord != 0; got != want {
			t.Errorf("%q: hintWord = %v, want %v", stmt, got, want)
		}
	}
}
