package ingest

import (
	"context"
	"errors"
	"testing"

	"github.com/xelwatch/xelwatch/detect"
)

// TestIngestDefaultSink: Options.FindingSink receives every finding before
// the commit unless the run brings its own sink; its error fails the run
// with the cursor unmoved, and the retry emits the findings again.
func TestIngestDefaultSink(t *testing.T) {
	t.Parallel()
	const n = 200
	file := auditFile(t, n)
	boom := errors.New("table storage busy")
	for _, tc := range []struct {
		name        string
		runSink     bool
		failFirst   bool
		wantDefault int // findings the default sink saw, in total
	}{
		{name: "default", wantDefault: wantBackups(n)},
		{name: "run sink overrides", runSink: true, wantDefault: 0},
		{name: "default fails then retried", failFirst: true, wantDefault: wantBackups(n)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := map[string]int{}
			fail := tc.failFirst
			f := newFixture(t, Options{FindingSink: func(_ context.Context, fs []detect.Finding) error {
				if fail {
					return boom
				}
				for _, fd := range fs {
					got[fd.DetectionID]++
				}
				return nil
			}})
			ranRun := 0
			ro := RunOptions{}
			if tc.runSink {
				ro.FindingSink = func(_ context.Context, fs []detect.Finding) error { ranRun += len(fs); return nil }
			}
			f.blobs.Append(testBlob, file, t0)
			if tc.failFirst {
				if _, err := f.p.Ingest(context.Background(), testBlob, ro); !errors.Is(err, boom) {
					t.Fatalf("Ingest err = %v, want the sink error", err)
				}
				if c, _ := f.cursors.Get(context.Background(), testBlob); c.Offset != 0 {
					t.Fatalf("cursor moved although the sink failed: %+v", c)
				}
				fail = false
			}
			r := f.ingest(t, ro)
			if len(r.Findings) != wantBackups(n) {
				t.Fatalf("findings = %d, want %d", len(r.Findings), wantBackups(n))
			}
			if len(got) != tc.wantDefault {
				t.Errorf("default sink saw %d detections, want %d", len(got), tc.wantDefault)
			}
			for id, c := range got {
				if c != 1 {
					t.Errorf("default sink saw %s %d times, want once", id, c)
				}
			}
			if tc.runSink && ranRun != wantBackups(n) {
				t.Errorf("run sink saw %d findings, want %d", ranRun, wantBackups(n))
			}
		})
	}
}
