package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/xelwatch/xelwatch/detect"
)

// DefaultSilenceEvery is how often a process evaluates the silence of the
// audit streams (SweepOptions.SilenceEvery zero).
const DefaultSilenceEvery = time.Minute

// silenceGap is the stream's allowed gap (0: silence not watched).
func (so SweepOptions) silenceGap(p Path) time.Duration {
	if so.SilenceGap == nil {
		return 0
	}
	return max(so.SilenceGap(p), 0)
}

// silencePending reports whether c is the newest file of a stream whose
// silence is watched and not yet reported for its last growth: the sweep
// keeps such a cursor open past IdleClose, so that AUD-016 is raised
// before the stream's last open file is closed.
func (s *sweep) silencePending(c Cursor, newest map[string]Cursor) bool {
	pp, err := ParsePath(c.Blob)
	if err != nil || s.so.silenceGap(pp) <= 0 || c.LastGrowth.IsZero() {
		return false
	}
	n, ok := newest[pp.Stream()]
	return ok && n.Blob == c.Blob && !c.SilenceReported.Equal(c.LastGrowth)
}

// newestByGrowth is the cursor of each stream that grew last.
func newestByGrowth(cs []Cursor) map[string]Cursor {
	out := map[string]Cursor{}
	for _, c := range cs {
		pp, err := ParsePath(c.Blob)
		if err != nil {
			continue
		}
		st := pp.Stream()
		if n, ok := out[st]; !ok || c.LastGrowth.After(n.LastGrowth) || (c.LastGrowth.Equal(n.LastGrowth) && c.Blob > n.Blob) {
			out[st] = c
		}
	}
	return out
}

// silence is phase 4 (at most once per SilenceEvery per process): every
// audit stream with an open file whose last growth (LastGrowth of its
// newest cursor, as this sweep left it) lies further back than the
// stream's gap is reported silent (AUD-016), once per last growth: the
// finding goes to the sink, then the newest cursor records it
// (SilenceReported, an ETag-conditional write). A write that loses to a
// run (or a crash before it) only means the next evaluation emits the
// same detection id again, which the notifier deduplicates. It reads
// nothing: the open cursors are the listing the sweep made anyway.
func (s *sweep) silence(open []Cursor, now time.Time) []error {
	if s.so.SilenceGap == nil {
		return nil
	}
	every := s.so.SilenceEvery
	if every <= 0 {
		every = DefaultSilenceEvery
	}
	last := s.p.lastSilence.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < every {
		return nil
	}
	if !s.p.lastSilence.CompareAndSwap(last, now.UnixNano()) {
		return nil
	}
	// The cursors as this sweep left them: runs moved LastGrowth on.
	cs := make([]Cursor, 0, len(open)+len(s.fresh))
	seen := map[string]bool{}
	for _, c := range open {
		if f, ok := s.fresh[c.Blob]; ok {
			c = f
		}
		seen[c.Blob] = true
		cs = append(cs, c)
	}
	for _, b := range slices.Sorted(func(yield func(string) bool) {
		for b := range s.fresh {
			if !yield(b) {
				return
			}
		}
	}) {
		if !seen[b] {
			cs = append(cs, s.fresh[b])
		}
	}
	newest := newestByGrowth(cs)
	streams := slices.Sorted(func(yield func(string) bool) {
		for st := range newest {
			if !yield(st) {
				return
			}
		}
	})
	var errs []error
	for _, st := range streams {
		c := newest[st]
		pp, _ := ParsePath(c.Blob)
		gap := s.so.silenceGap(pp)
		if gap <= 0 || c.LastGrowth.IsZero() || now.Sub(c.LastGrowth) <= gap || c.SilenceReported.Equal(c.LastGrowth) {
			continue
		}
		info, enabled := s.p.storageRule(detect.RuleStreamSilent)
		if !enabled {
			continue
		}
		f := silenceFinding(info, st, pp, c, gap)
		if err := s.emit(f); err != nil {
			errs = append(errs, err)
			continue
		}
		s.p.log.WarnContext(s.ctx, "audit stream went silent", "stream", st, "blob", c.Blob,
			"last_growth", c.LastGrowth, "gap", gap.String(), "detection_id", f.DetectionID)
		if c.LeaseOwner != "" && c.LeaseUntil.After(now) {
			continue // a run holds it: mark at the next evaluation
		}
		c.SilenceReported = c.LastGrowth
		if _, err := s.p.cursors.Update(s.ctx, c); err != nil && !errors.Is(err, ErrConflict) {
			errs = append(errs, fmt.Errorf("ingest: sweep: %s: record silence report: %w", c.Blob, err))
		}
	}
	return errs
}

// silenceFinding is AUD-016 for stream st, keyed by the stream and its
// last growth: one detection per silence, whichever sweep finds it.
func silenceFinding(info detect.RuleInfo, st string, p Path, c Cursor, gap time.Duration) detect.Finding {
	why := fmt.Sprintf("no file of audit stream %q grew since %s, longer than its allowed gap of %s (XELWATCH_SILENCE_MAX_GAP); its newest file is %q (%d bytes, %d rows read). The audit may have been turned off, redirected or blocked outside SQL (a change that leaves no audit record)",
		st, c.LastGrowth.UTC().Format(time.RFC3339), gap, c.Blob, c.BlobLength, c.Rows)
	return storageFinding(info, []string{st, c.LastGrowth.UTC().Format(time.RFC3339Nano)}, p, why, c.LastGrowth.Add(gap))
}

// heartbeat is phase 5: once per SweepOptions.Heartbeat period across
// every instance, a heartbeat message (detect.HeartbeatRule) goes to the
// sink and into the sweep's findings. Its detection id is the period, so
// the sink write (first) is idempotent; of the instances that write it,
// the one whose claim (SweepOptions.HeartbeatClaim, ETag-conditional)
// moves the period on puts it in its output. A process that saw the
// period claimed does not try again until the next period.
func (s *sweep) heartbeat(open []Cursor, now time.Time) error {
	period := s.so.Heartbeat
	if period <= 0 || s.so.HeartbeatClaim == nil {
		return nil
	}
	k := now.UnixNano() / int64(period)
	if s.p.lastHeartbeat.Load() > k {
		return nil
	}
	start := time.Unix(0, k*int64(period)).UTC()
	streams := map[string]bool{}
	var rows int64
	for _, c := range open {
		if pp, err := ParsePath(c.Blob); err == nil {
			streams[pp.Stream()] = true
		}
		rows += c.Rows
	}
	why := fmt.Sprintf("xelwatch is running: heartbeat for %s to %s (one per %s).", start.Format(time.RFC3339), start.Add(period).Format(time.RFC3339), period)
	if open != nil {
		why += fmt.Sprintf(" Open audit files: %d in %d streams, %d rows read from them.", len(open), len(streams), rows)
	}
	f := detect.Finding{
		DetectionID: detect.HeartbeatRule + ":" + strconv.FormatInt(int64(period/time.Second), 10) + ":" + strconv.FormatInt(k, 10),
		Rule:        detect.HeartbeatRule,
		Title:       "xelwatch heartbeat",
		Severity:    detect.Low,
		Time:        start,
		Why:         why + " Alert when the next heartbeat does not arrive.",
	}
	if err := s.sink()(s.ctx, []detect.Finding{f}); err != nil {
		return fmt.Errorf("ingest: sweep: heartbeat: %w", err)
	}
	won, err := s.so.HeartbeatClaim(s.ctx, k)
	if err != nil {
		return fmt.Errorf("ingest: sweep: heartbeat: %w", err)
	}
	s.p.lastHeartbeat.Store(k + 1)
	if won {
		s.out.Findings = append(s.out.Findings, f)
		s.p.log.InfoContext(s.ctx, "heartbeat", "detection_id", f.DetectionID)
	}
	return nil
}

// sink is where the sweep's own findings go first (the outbox in the
// function app), as a run's do.
func (s *sweep) sink() func(context.Context, []detect.Finding) error {
	if s.so.FindingSink != nil {
		return s.so.FindingSink
	}
	if s.p.opt.FindingSink != nil {
		return s.p.opt.FindingSink
	}
	return func(context.Context, []detect.Finding) error { return nil }
}

// emit sends a finding of the sweep to the sink and into its result.
func (s *sweep) emit(f detect.Finding) error {
	if err := s.sink()(s.ctx, []detect.Finding{f}); err != nil {
		return fmt.Errorf("ingest: sweep: emit %s: %w", f.Rule, err)
	}
	s.out.Findings = append(s.out.Findings, f)
	return nil
}
