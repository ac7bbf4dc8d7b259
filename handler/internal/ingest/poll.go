package ingest

import (
	"context"
	"errors"
	"path"
	"time"
)

// Poll is the sweep for a flat source (a local folder of on-prem audit
// files, which has no date folders): it lists every audit file (at most
// MaxList), continues each from its cursor in name order, and closes every
// file but the newest of its folder (SQL Server rolls files over) and
// files idle for IdleClose. A file that fails holds back the later files
// of its folder until the next poll. Closed and failed files cost one
// cursor read per poll (and a closed one a stat). SweepOptions.Heartbeat
// works as in Sweep.
func (p *Pipeline) Poll(ctx context.Context, so SweepOptions) (SweepResult, error) {
	if so.MaxList <= 0 {
		so.MaxList = 10000
	}
	if so.IdleClose <= 0 {
		so.IdleClose = 2 * time.Hour
	}
	var out SweepResult
	defer p.maybePrune(ctx, p.opt.Now().UTC(), so) // after ingestion, whatever it did
	items, err := p.blobs.List(ctx, "", so.MaxList)
	if err != nil {
		return out, err
	}
	newest := newestPerFolder(items)
	now := p.opt.Now().UTC()
	budget := p.opt.MaxBytesPerRun
	findings := p.opt.MaxFindings
	var errs []error
	// A folder's files are one audit's rollover sequence, read in name
	// order: when one fails (storage down) or another run holds it, the
	// later files of its folder wait for the next poll, so that windowed
	// and correlation rules see the folder's records in order.
	held := map[string]bool{}
	// Progress counts the listed files' bytes: a file's size once it has
	// been continued to its end (at once for one read before), and while
	// it is read, what this run has read of it.
	var accounted int64
	if so.Progress != nil {
		var total int64
		for _, it := range items {
			total += it.Size
		}
		so.Progress.SetTotal(total)
	}
	for _, it := range items {
		if budget <= 0 || findings <= 0 {
			out.Budget = true
			break
		}
		dir := path.Dir(it.Name)
		if held[dir] {
			continue
		}
		final := newest[dir].Name != it.Name || now.Sub(it.LastModified) > so.IdleClose
		ro := RunOptions{Owner: so.Owner, Final: final, Budget: budget, MaxFindings: findings, FindingSink: so.FindingSink, ListedSize: it.Size}
		if pr := so.Progress; pr != nil {
			ro.Progress = func(read int64) { pr.Set(accounted + min(read, it.Size)) }
		}
		r, err := p.Ingest(ctx, it.Name, ro)
		if err != nil {
			errs = append(errs, err)
			held[dir] = true
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if r.Outcome == OutcomeBusy || r.Outcome == OutcomeMore {
			held[dir] = true // the rest of this file comes before the later ones
		}
		budget -= r.Bytes
		findings -= len(r.Findings)
		if r.Outcome == OutcomeMore {
			out.Budget = true
		} else {
			accounted += it.Size
		}
		if so.Progress != nil {
			so.Progress.Set(accounted)
		}
		if final && r.Outcome == OutcomeClosed && r.Bytes > 0 {
			out.Closed++
		}
		if r.Outcome != OutcomeUpToDate && r.Outcome != OutcomeClosed && r.Outcome != OutcomeFailed || r.Rows > 0 {
			out.Results = append(out.Results, r)
		}
	}
	// The heartbeat, as the sweep sends it (silence needs the audit
	// stream layout of a container and is not watched here).
	if ctx.Err() == nil {
		hb := &sweep{p: p, ctx: ctx, so: so}
		if err := hb.heartbeat(nil, now); err != nil {
			errs = append(errs, err)
		}
		out.Findings = hb.out.Findings
	}
	return out, errors.Join(errs...)
}

// newestPerFolder returns the newest file of each folder: the last
// modified, and of those the last in file name order.
func newestPerFolder(items []BlobItem) map[string]BlobItem {
	newest := map[string]BlobItem{}
	for _, it := range items {
		dir := path.Dir(it.Name)
		if n, ok := newest[dir]; !ok || it.LastModified.After(n.LastModified) ||
			(it.LastModified.Equal(n.LastModified) && compareFileNames(it.Name, n.Name) > 0) {
			newest[dir] = it
		}
	}
	return newest
}
