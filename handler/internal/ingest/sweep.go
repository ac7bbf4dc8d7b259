package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/auditfile"
)

// SweepOptions bounds one sweep.
type SweepOptions struct {
	Owner     string
	Days      int           // date folders to discover: today and the Days-1 before (XELWATCH_SWEEP_DAYS)
	IdleClose time.Duration // close an open cursor whose blob did not change for this long
	// MaxCursors and MaxList bound the work of one sweep (the next one
	// continues): open cursors read, and blobs/prefixes listed per call.
	MaxCursors int
	MaxList    int
	// MaxListCalls bounds the listing requests of the discovery.
	MaxListCalls int
	// DiscoverEvery: the hierarchy listing of discovery runs at most this
	// often per process (continuing open cursors runs on every sweep).
	// Event Grid announces new blobs anyway, and a listing costs one list
	// operation per server, database and audit folder, so a sweep every
	// few seconds must not list every time. Zero lists on every sweep.
	DiscoverEvery time.Duration
	FindingSink   func(ctx context.Context, fs []detect.Finding) error
	// Prune, when set, is housekeeping that a sweep (or poll) runs after
	// its ingestion at most once per PruneEvery per process (the first
	// sweep of a process runs it): the app deletes expired detection
	// state with it. It must bound its own work; its error is logged and
	// never fails the sweep, since the next run tries again and ingestion
	// does not depend on it. now is the pipeline's clock.
	Prune      func(ctx context.Context, now time.Time) error
	PruneEvery time.Duration

	// SilenceGap, when set, returns the longest an audit stream (the
	// server/database/audit of a blob path) may go without growth before
	// the sweep reports it silent (AUD-016); zero for a stream not
	// watched. Evaluated at most once per SilenceEvery (zero:
	// DefaultSilenceEvery) per process, from the open cursors the sweep
	// lists anyway.
	SilenceGap   func(p Path) time.Duration
	SilenceEvery time.Duration
	// Heartbeat is the period of the heartbeat message (zero: none), sent
	// once per period across instances: HeartbeatClaim claims a period
	// number and returns true for the one caller that got it.
	Heartbeat      time.Duration
	HeartbeatClaim func(ctx context.Context, period int64) (bool, error)
	// Progress, when set, is told how many bytes the sweep or poll has
	// read so far (and, for a poll, the listed files' total size up
	// front): watch --once draws it on a terminal.
	Progress Progress
}

// Progress receives how far a sweep or poll has got, in bytes.
// *progress.Meter is one.
type Progress interface {
	SetTotal(bytes int64) // 0: unknown
	Set(bytes int64)      // done so far; never less than before
}

// maybePrune runs so.Prune when PruneEvery has passed since this
// process's last run of it (claimed before running, so two sweeps of one
// process never prune at once, and a failing prune is not retried on
// every sweep).
func (p *Pipeline) maybePrune(ctx context.Context, now time.Time, so SweepOptions) {
	if so.Prune == nil || ctx.Err() != nil {
		return
	}
	last := p.lastPrune.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < so.PruneEvery {
		return
	}
	if !p.lastPrune.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if err := so.Prune(ctx, now); err != nil {
		p.log.WarnContext(ctx, "pruning expired state failed; the next sweep after the interval retries", "err", err.Error())
	}
}

// SweepResult summarises a sweep.
type SweepResult struct {
	Results    []Result
	Discovered int
	Closed     int
	Budget     bool // stopped because the byte or findings budget was spent; more to read
	// Findings of the sweep itself (AUD-016, heartbeats), already given
	// to the sink; the blobs' findings are in Results.
	Findings []detect.Finding
}

// Sweep continues every open cursor whose blob changed, discovers audit
// blobs no trigger announced under the recent date folders, and closes
// cursors whose file rolled over or went idle. It shares one byte budget
// (Options.MaxBytesPerRun) across all blobs; what is left waits for the
// next sweep. An error is a storage error; work done before it is kept.
func (p *Pipeline) Sweep(ctx context.Context, so SweepOptions) (SweepResult, error) {
	so = so.withDefaults()
	now := p.opt.Now().UTC()
	defer p.maybePrune(ctx, now, so) // after ingestion, whatever it did

	// 1. Discovery: <server>/<db>/<audit>/<date>/ for the recent dates.
	var found []BlobItem
	if last := p.lastDiscovery.Load(); so.DiscoverEvery <= 0 || last == 0 || now.Sub(time.Unix(0, last)) >= so.DiscoverEvery {
		var err error
		if found, err = p.discover(ctx, now, so); err != nil {
			return SweepResult{}, err
		}
		p.lastDiscovery.Store(now.UnixNano())
	}
	open, err := p.cursors.Open(ctx, so.MaxCursors)
	if err != nil {
		return SweepResult{}, fmt.Errorf("ingest: sweep: list open cursors: %w", err)
	}
	s := &sweep{p: p, ctx: ctx, so: so,
		budget:   p.opt.MaxBytesPerRun,
		findings: p.opt.MaxFindings, // the sweep's findings budget, shared like the bytes
		held:     map[string]bool{},
		fresh:    map[string]Cursor{},
	}
	errs := s.continueOpen(open, newestPerStream(found), now)
	errs = append(errs, s.discoverNew(found, open)...)
	if ctx.Err() == nil {
		errs = append(errs, s.silence(open, now)...)
		if err := s.heartbeat(open, now); err != nil {
			errs = append(errs, err)
		}
	}
	return s.out, errors.Join(errs...)
}

// withDefaults fills the zero bounds.
func (so SweepOptions) withDefaults() SweepOptions {
	if so.Days <= 0 {
		so.Days = 2
	}
	if so.IdleClose <= 0 {
		so.IdleClose = 2 * time.Hour
	}
	if so.MaxCursors <= 0 {
		so.MaxCursors = 5000
	}
	if so.MaxList <= 0 {
		so.MaxList = 5000
	}
	if so.MaxListCalls <= 0 {
		so.MaxListCalls = 500
	}
	return so
}

// newestPerStream returns the newest file per stream, to close
// rolled-over files.
func newestPerStream(found []BlobItem) map[string]Path {
	newest := map[string]Path{}
	for _, it := range found {
		pp, err := ParsePath(it.Name)
		if err != nil {
			continue
		}
		if n, ok := newest[pp.Stream()]; !ok || newer(n, pp) {
			newest[pp.Stream()] = pp
		}
	}
	return newest
}

// sweep is the state of one Sweep: the budgets left and the streams held
// back. The files of one audit stream are read oldest first; when one fails
// (storage down) or another run holds it, the later files of its stream
// wait for the next sweep, so that windowed and correlation rules see the
// stream's records in order.
type sweep struct {
	p        *Pipeline
	ctx      context.Context
	so       SweepOptions
	out      SweepResult
	budget   int64             // bytes left
	findings int               // findings left
	held     map[string]bool   // streams whose later files wait
	read     int64             // bytes read by the runs so far (for so.Progress)
	fresh    map[string]Cursor // cursors as this sweep's runs left them
}

// continueOpen is phase 2: continue the open cursors, oldest file of each
// stream first, or close them when superseded or idle.
func (s *sweep) continueOpen(open []Cursor, newest map[string]Path, now time.Time) []error {
	slices.SortStableFunc(open, func(a, b Cursor) int {
		pa, erra := ParsePath(a.Blob)
		pb, errb := ParsePath(b.Blob)
		switch {
		case erra != nil || errb != nil:
			return 0
		case pa.Stream() != pb.Stream():
			return strings.Compare(pa.Stream(), pb.Stream())
		case newer(pa, pb):
			return -1
		case newer(pb, pa):
			return 1
		}
		return 0
	})
	var errs []error
	growth := newestByGrowth(open)
	for _, c := range open {
		pp, err := ParsePath(c.Blob)
		if err != nil {
			continue
		}
		final := false
		if n, ok := newest[pp.Stream()]; ok && newer(pp, n) {
			final = true // a newer file of the same audit exists
		} else if !c.LastGrowth.IsZero() && now.Sub(c.LastGrowth) > s.so.IdleClose && !s.silencePending(c, growth) {
			final = true
		}
		if err := s.run(c.Blob, final); err != nil {
			// One blob's storage error must not starve the others; the
			// sweep still fails so that it is visible.
			errs = append(errs, err)
			if s.ctx.Err() != nil {
				break
			}
		}
	}
	return errs
}

// discoverNew is phase 3: blobs no trigger announced (no cursor yet), and
// closed ones that grew since (an idle audit that writes again to the
// same file). They are read oldest first per stream, whatever order the
// listing gave (today's folder is listed before yesterday's, and names
// sort as text: 10_00_… before 9_59_…), and each but the newest of its
// stream is read as final: a file that rolled over is complete, so
// several rollovers between two listings are all closed in one sweep.
func (s *sweep) discoverNew(found []BlobItem, open []Cursor) []error {
	known := make(map[string]bool, len(open))
	for _, c := range open {
		known[c.Blob] = true
	}
	found = slices.Clone(found)
	slices.SortStableFunc(found, func(a, b BlobItem) int { return compareBlobs(a.Name, b.Name) })
	newest := newestPerStream(found)
	var errs []error
	for _, it := range found {
		if known[it.Name] {
			continue
		}
		ro := RunOptions{}
		if c, err := s.p.cursors.Get(s.ctx, it.Name); err == nil {
			if !grownSinceClosed(c, it.Size) {
				continue
			}
			ro.ListedSize = it.Size
		} else if !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("ingest: sweep: %s: get cursor: %w", it.Name, err))
			continue
		} else {
			s.out.Discovered++
		}
		if pp, err := ParsePath(it.Name); err == nil {
			if n, ok := newest[pp.Stream()]; ok && newer(pp, n) {
				ro.Final = true
			}
		}
		if err := s.runWith(it.Name, ro); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// grownSinceClosed reports whether a closed cursor's blob is now listed
// longer than it was read: the audit wrote to it again after it was
// closed as idle. A deleted blob's cursor (LastError) stays closed.
func grownSinceClosed(c Cursor, listed int64) bool {
	return c.State == StateClosed && c.LastError == "" && listed > c.BlobLength
}

// compareBlobs orders blob names by stream, then oldest file first (date
// folder, then the numbers of the file name); names that are not audit
// paths go by text.
func compareBlobs(a, b string) int {
	pa, erra := ParsePath(a)
	pb, errb := ParsePath(b)
	switch {
	case erra != nil || errb != nil:
		return strings.Compare(a, b)
	case pa.Stream() != pb.Stream():
		return strings.Compare(pa.Stream(), pb.Stream())
	case newer(pa, pb):
		return -1
	case newer(pb, pa):
		return 1
	}
	return strings.Compare(a, b)
}

// run ingests one blob within what is left of the sweep's budgets, unless
// an earlier file of its stream is held back.
func (s *sweep) run(blob string, final bool) error {
	return s.runWith(blob, RunOptions{Final: final})
}

// runWith is run with the options of the blob (Final, ListedSize); the
// sweep fills in the rest. A stream is held back after a file that
// failed, was busy or stopped at a budget: its later files must not be
// read before the rest of it (a little byte budget left after a file
// stopped inside a large buffer would otherwise read a later file's
// small ones first).
func (s *sweep) runWith(blob string, ro RunOptions) error {
	stream := blob
	if pp, err := ParsePath(blob); err == nil {
		stream = pp.Stream()
	}
	if s.held[stream] {
		return nil
	}
	if s.budget <= 0 || s.findings <= 0 {
		s.out.Budget = true
		return nil
	}
	ro.Owner, ro.Budget, ro.MaxFindings, ro.FindingSink = s.so.Owner, s.budget, s.findings, s.so.FindingSink
	if pr := s.so.Progress; pr != nil {
		ro.Progress = func(read int64) { pr.Set(s.read + read) }
	}
	r, err := s.p.Ingest(s.ctx, blob, ro)
	if r.Cursor.Blob == blob && r.Cursor.ETag != "" {
		s.fresh[blob] = r.Cursor
	}
	if err != nil {
		s.held[stream] = true
		return err
	}
	if r.Outcome == OutcomeBusy || r.Outcome == OutcomeMore {
		s.held[stream] = true
	}
	s.budget -= r.Bytes
	s.findings -= len(r.Findings)
	s.read += r.Bytes
	if s.so.Progress != nil {
		s.so.Progress.Set(s.read)
	}
	if r.Outcome == OutcomeMore {
		s.out.Budget = true
	}
	if ro.Final && r.Outcome == OutcomeClosed {
		s.out.Closed++
	}
	if r.Outcome != OutcomeUpToDate {
		s.out.Results = append(s.out.Results, r)
	}
	return nil
}

// discover lists the audit blobs of the recent date folders. The hierarchy
// is listed level by level (servers, databases, audits), so that only the
// recent date folders' blobs are enumerated.
func (p *Pipeline) discover(ctx context.Context, now time.Time, so SweepOptions) ([]BlobItem, error) {
	calls := 0
	list := func(prefix string) ([]string, error) {
		calls++
		if calls > so.MaxListCalls {
			return nil, nil
		}
		ps, err := p.blobs.Prefixes(ctx, prefix, so.MaxList)
		if err != nil {
			return nil, fmt.Errorf("ingest: sweep: list %q: %w", prefix, err)
		}
		return ps, nil
	}
	dates := make([]string, so.Days)
	for i := range dates {
		dates[i] = now.AddDate(0, 0, -i).Format("2006-01-02")
	}
	var out []BlobItem
	servers, err := list("")
	if err != nil {
		return nil, err
	}
	for _, s := range servers {
		dbs, err := list(s)
		if err != nil {
			return nil, err
		}
		for _, d := range dbs {
			audits, err := list(d)
			if err != nil {
				return nil, err
			}
			for _, a := range audits {
				for _, date := range dates {
					calls++
					if calls > so.MaxListCalls {
						p.log.WarnContext(ctx, "sweep listing bound reached", "calls", so.MaxListCalls)
						return out, nil
					}
					items, err := p.blobs.List(ctx, a+date+"/", so.MaxList)
					if err != nil {
						return nil, fmt.Errorf("ingest: sweep: list %q: %w", a+date+"/", err)
					}
					for _, it := range items {
						if auditfile.IsAuditName(it.Name) && !strings.HasSuffix(it.Name, "/") {
							out = append(out, it)
						}
					}
				}
			}
		}
	}
	return out, nil
}
