package sigma

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/bradleyjkemp/sigma-go/evaluator"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// MaxRules bounds the rules of one Set.
const MaxRules = 1000

// Set evaluates Sigma rules over audit records; it is a detect.Extension
// (detect.Engine.WithExtensions). Safe for concurrent use.
type Set struct {
	rules   []*Rule
	onError func(rule string, err error)
	pool    sync.Pool
}

// Options of a Set.
type Options struct {
	// OnError receives an error evaluating a rule on a record (none is
	// expected: Parse rejects what the evaluator cannot do). The record
	// is then treated as not matching that rule; Evaluate itself never
	// fails, so a rule cannot make ingestion retry forever.
	OnError func(rule string, err error)
}

// NewSet returns a Set of rules, in the order given. Rule ids must be
// unique.
func NewSet(rules []*Rule, o Options) (*Set, error) {
	if len(rules) > MaxRules {
		return nil, fmt.Errorf("sigma: %d rules, more than %d", len(rules), MaxRules)
	}
	seen := map[string]string{}
	for _, r := range rules {
		if prev, ok := seen[r.Info.ID]; ok {
			return nil, fmt.Errorf("sigma: %s and %s have the same rule id %s", prev, r.Name, r.Info.ID)
		}
		seen[r.Info.ID] = r.Name
	}
	s := &Set{rules: slices.Clone(rules), onError: o.OnError}
	s.pool.New = func() any { return &record{m: make(map[string]string, 8)} }
	return s, nil
}

// Len is the number of rules.
func (s *Set) Len() int { return len(s.rules) }

// Rules returns the rules, in order.
func (s *Set) Rules() []*Rule { return slices.Clone(s.rules) }

// Evaluate runs every rule on rec and returns a finding per matching rule.
// The error is always nil (see Options.OnError).
func (s *Set) Evaluate(ctx context.Context, rec *audit.Record) ([]detect.Finding, error) {
	if len(s.rules) == 0 {
		return nil, nil
	}
	st := s.pool.Get().(*record)
	defer s.put(st)
	st.rec = rec
	var out []detect.Finding
	for _, r := range s.rules {
		if r.pre != nil && !st.possible(r.pre) {
			continue
		}
		res, err := st.match(ctx, r)
		if err != nil {
			if s.onError != nil {
				s.onError(r.Info.ID, err)
			}
			continue
		}
		if res.Match {
			out = append(out, detect.RecordFinding(r.Info, rec, why(r, res)))
		}
	}
	return out, nil
}

func (s *Set) put(st *record) {
	*st = record{m: st.m}
	clear(st.m)
	s.pool.Put(st)
}

// why is "Sigma rule <title> matched" and the searches that matched.
func why(r *Rule, res evaluator.Result) string {
	var hit []string
	for name, ok := range res.SearchResults {
		if ok {
			hit = append(hit, name)
		}
	}
	slices.Sort(hit)
	w := fmt.Sprintf("Sigma rule %q matched", r.Info.Title)
	if len(hit) > 0 {
		w += " (" + strings.Join(hit, ", ") + ")"
	}
	return w
}

// record is the per-call view of one audit record: field values computed
// at most once, folded values for the prefilter, and the map the
// evaluator reads (holding only the fields some evaluated rule reads).
type record struct {
	rec       *audit.Record
	val       [numFields]string
	have      [numFields]bool
	folded    [numFields]string
	hasFolded [numFields]bool
	m         map[string]string
}

const numFields = 57

func init() {
	if len(fields) != numFields {
		panic(fmt.Sprintf("sigma: numFields = %d, fields has %d", numFields, len(fields)))
	}
}

func (st *record) value(k int) string {
	if !st.have[k] {
		switch fields[k].name {
		case "Message": // the same text as Data: render once
			st.val[k] = st.value(dataField)
		default:
			st.val[k] = fields[k].get(st.rec)
		}
		st.have[k] = true
	}
	return st.val[k]
}

var dataField = fieldIndex["data"]

func (st *record) fold(k int) string {
	if !st.hasFolded[k] {
		st.folded[k] = fold(st.value(k))
		st.hasFolded[k] = true
	}
	return st.folded[k]
}

// possible reports whether some needle occurs.
func (st *record) possible(ns []needle) bool {
	for _, n := range ns {
		if strings.Contains(st.fold(n.field), n.lit) {
			return true
		}
	}
	return false
}

// match evaluates r with the fields it reads in the map; a panic in the
// evaluator is an error.
func (st *record) match(ctx context.Context, r *Rule) (res evaluator.Result, err error) {
	for _, fk := range r.keys {
		name := fk.name()
		if _, ok := st.m[name]; ok {
			continue
		}
		if fk.folded {
			st.m[name] = st.fold(fk.k)
		} else {
			st.m[name] = st.value(fk.k)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			res, err = evaluator.Result{}, fmt.Errorf("sigma: %s: evaluator panic: %v", r.Info.ID, p)
		}
	}()
	return r.eval.Matches(ctx, st.m)
}
