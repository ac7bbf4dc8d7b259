package detect

import (
	"context"
	"errors"
	"slices"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// Extension evaluates records beside the catalog: rules the operator
// brings (package detect/sigma compiles Sigma rules into one). An
// Extension must be stateless and safe for concurrent use; it builds its
// findings with RecordFinding, so they carry bounded evidence and a
// replay-stable detection id like the catalog's.
type Extension interface {
	Evaluate(ctx context.Context, rec *audit.Record) ([]Finding, error)
}

// WithExtensions returns a copy of e that also runs xs on every record,
// after the catalog. Deferred evaluators made from the copy run them too.
func (e *Engine) WithExtensions(xs ...Extension) *Engine {
	c := *e
	c.ext = append(slices.Clip(e.ext), xs...)
	return &c
}

// Evaluate runs every enabled rule that can match rec, then the
// extensions, and returns the findings (nil when none). Errors come from
// the State or an extension; findings produced before an error are
// returned with it.
func (e *Engine) Evaluate(ctx context.Context, rec *audit.Record) ([]Finding, error) {
	out, err := e.evaluate(ctx, rec)
	if len(e.ext) == 0 {
		return out, err
	}
	errs := []error{err}
	for _, x := range e.ext {
		fs, xerr := x.Evaluate(ctx, rec)
		out = append(out, fs...)
		errs = append(errs, xerr)
	}
	return out, errors.Join(errs...)
}

// RecordFinding is the finding of a rule outside the catalog (info: its
// id, title, severity and technique) that matched rec alone: the record
// is the evidence (statement excerpt redacted and bounded), and the
// detection id derives from info.ID and the record's place (file,
// offset, event index), so evaluating the record again gives the same id.
func RecordFinding(info RuleInfo, rec *audit.Record, why string) Finding {
	ev := &Event{rec: rec, action: upperTrim(rec.ActionID), class: upperTrim(rec.ClassType)}
	recs := []Evidence{evidence(ev, MaxExcerpt)}
	return Finding{
		DetectionID: detectionID(info.ID, "", recs),
		Rule:        cut(info.ID, maxField),
		Title:       cut(info.Title, maxField),
		Severity:    clampSeverity(info.Severity),
		Technique:   cut(info.Technique, maxField),
		Why:         cut(why, maxWhy),
		Time:        ev.Time(),
		Server:      cut(ev.Server(), maxField),
		Database:    cut(ev.Database(), maxField),
		Principal:   cut(ev.Principal(), maxField),
		Records:     recs,
	}
}
