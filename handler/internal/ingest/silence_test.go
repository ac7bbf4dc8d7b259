package ingest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
)

// clock is a test clock; sweeps read it, the test moves it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestSweepSilence: a stream watched with a 30-minute gap raises no
// AUD-016 while it grows, exactly one once it stayed silent longer than
// the gap (even though IdleClose is shorter: its last file stays open
// until the silence is reported), none on later sweeps, in this process
// or another; a new file of the stream counts as growth; a stream not
// matched by the policy is never reported.
func TestSweepSilence(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)}
	file := auditFile(t, 60)
	quarter := len(file) / 4
	watched := "srv1/db1/aud/2026-11-21/08_00_00_000_0.xel"
	next := "srv1/db1/aud/2026-11-21/09_00_00_000_0.xel"
	other := "other/db1/aud/2026-11-21/08_00_00_000_0.xel"
	f := newFixture(t, Options{Now: clk.Now})
	second := New(f.blobs, f.cursors, f.rows, f.eval, XEL{}, nil, Options{Now: clk.Now}) // another instance
	so := SweepOptions{Days: 1, IdleClose: 20 * time.Minute, SilenceGap: func(p Path) time.Duration {
		if p.Server == "srv1" {
			return 30 * time.Minute
		}
		return 0
	}}
	var silent []detect.Finding
	sweep := func(p *Pipeline) {
		t.Helper()
		r, err := p.Sweep(context.Background(), so)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, storageFindings(r.Findings, detect.RuleStreamSilent)...)
	}
	f.blobs.Append(watched, file[:quarter], clk.Now())
	f.blobs.Append(other, file, clk.Now())
	sweep(f.p)
	// Growing every 10 minutes for an hour and a half: never silent.
	nextFile := auditFile(t, 100)
	fifth := len(nextFile) / 5
	for i := range 9 {
		clk.add(10 * time.Minute)
		switch {
		case i < 3:
			f.blobs.Append(watched, file[quarter*(i+1):quarter*(i+2)], clk.Now())
		case i == 3:
			f.blobs.Append(next, nextFile[:fifth], clk.Now()) // a new file: growth too
		default:
			end := fifth * (i - 2)
			if i == 8 {
				end = len(nextFile)
			}
			f.blobs.Append(next, nextFile[fifth*(i-3):end], clk.Now())
		}
		sweep(f.p)
	}
	if len(silent) != 0 {
		t.Fatalf("AUD-016 while growing: %v", silent[0].Why)
	}
	lastGrowth := clk.Now()
	// Silent: 29 minutes is within the gap.
	for range 29 {
		clk.add(time.Minute)
		sweep(f.p)
	}
	if len(silent) != 0 {
		t.Fatalf("AUD-016 before the gap: %v", silent[0].Why)
	}
	// Past the gap: once, whatever the sweeps and instances.
	for range 3 {
		clk.add(time.Minute)
		sweep(f.p)
		sweep(second)
	}
	for range 5 {
		sweep(f.p)
	}
	if len(silent) != 1 {
		t.Fatalf("AUD-016 raised %d times, want once", len(silent))
	}
	fd := silent[0]
	if !strings.Contains(fd.Why, "srv1/db1/aud") || fd.Server != "srv1" || !fd.Time.Equal(lastGrowth.Add(30*time.Minute)) {
		t.Errorf("finding = %+v", fd)
	}
	// Reported: the idle file may close now.
	clk.add(time.Minute)
	sweep(f.p)
	if c, _ := f.cursors.Get(context.Background(), next); c.State != StateClosed {
		t.Errorf("silent file state %s after the report, want closed", c.State)
	}
	if c, _ := f.cursors.Get(context.Background(), other); c.State != StateClosed {
		t.Errorf("unwatched stream's file state %s, want closed when idle", c.State)
	}
	// The audit comes back with a new file, then goes silent again: a
	// second finding with another id.
	newer := "srv1/db1/aud/2026-11-21/11_00_00_000_0.xel"
	f.blobs.Append(newer, file[:quarter], clk.Now())
	sweep(f.p)
	for range 32 {
		clk.add(time.Minute)
		sweep(f.p)
	}
	if len(silent) != 2 || silent[1].DetectionID == silent[0].DetectionID {
		t.Fatalf("after the audit came back and went silent again: %d findings", len(silent))
	}
}

// memClaim is HeartbeatClaim over memory: the last period claimed.
type memClaim struct {
	mu   sync.Mutex
	last int64
	ok   int
}

func (m *memClaim) claim(_ context.Context, period int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if period <= m.last {
		return false, nil
	}
	m.last = period
	m.ok++
	return true, nil
}

// TestSweepHeartbeat: two instances sweeping at the same time send one
// heartbeat per period between them (same id from both sinks), none
// again within the period, one in the next.
func TestSweepHeartbeat(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)}
	f := newFixture(t, Options{Now: clk.Now})
	second := New(f.blobs, f.cursors, f.rows, f.eval, XEL{}, nil, Options{Now: clk.Now})
	claims := &memClaim{}
	var mu sync.Mutex
	sunk := map[string]int{}
	so := SweepOptions{Days: 1, Heartbeat: 24 * time.Hour, HeartbeatClaim: claims.claim,
		FindingSink: func(_ context.Context, fs []detect.Finding) error {
			mu.Lock()
			defer mu.Unlock()
			for _, fd := range fs {
				sunk[fd.DetectionID]++
			}
			return nil
		}}
	beats := func() (out []detect.Finding) {
		var wg sync.WaitGroup
		var omu sync.Mutex
		for _, p := range []*Pipeline{f.p, second} {
			wg.Go(func() {
				r, err := p.Sweep(context.Background(), so)
				if err != nil {
					t.Error(err)
				}
				omu.Lock()
				defer omu.Unlock()
				for _, fd := range r.Findings {
					if fd.Rule == detect.HeartbeatRule {
						out = append(out, fd)
					}
				}
			})
		}
		wg.Wait()
		return out
	}
	first := beats()
	if len(first) != 1 {
		t.Fatalf("heartbeats in the first period = %d, want 1", len(first))
	}
	for range 5 {
		clk.add(time.Hour)
		if b := beats(); len(b) != 0 {
			t.Fatalf("heartbeat again within the period")
		}
	}
	clk.add(19 * time.Hour)
	b := beats()
	if len(b) != 1 || b[0].DetectionID == first[0].DetectionID || claims.ok != 2 {
		t.Fatalf("next period: %d heartbeats, %d claims", len(b), claims.ok)
	}
	if !b[0].Time.Equal(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)) || !strings.Contains(b[0].Why, "xelwatch is running") {
		t.Errorf("heartbeat = %+v", b[0])
	}
	for id, n := range sunk {
		if n < 1 || n > 2 {
			t.Errorf("sink got %s %d times", id, n)
		}
	}
}

// TestPollHeartbeat: watch --dir's poll sends the heartbeat too, once per
// period.
func TestPollHeartbeat(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)}
	f := newFixture(t, Options{Now: clk.Now})
	f.blobs.Append("a/20_00_00_000_0.xel", auditFile(t, 10), clk.Now())
	claims := &memClaim{}
	so := SweepOptions{Heartbeat: time.Hour, HeartbeatClaim: claims.claim}
	var beats []string
	for range 7 {
		r, err := f.p.Poll(context.Background(), so)
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range r.Findings {
			beats = append(beats, fd.DetectionID)
		}
		clk.add(20 * time.Minute)
	}
	if len(beats) != 3 || beats[0] == beats[1] {
		t.Errorf("heartbeats over 2 h 20 min of hourly periods: %v, want 3", beats)
	}
}
