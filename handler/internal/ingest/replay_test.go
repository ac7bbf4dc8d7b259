package ingest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/detect/detecttest"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

var errStorageDown = errors.New("storage down")

// outage makes every storage operation fail once `after` detection-state
// and finding-sink operations have passed (those run in file order; the
// row upserts beside them fail from then on too), until it is lifted.
type outage struct {
	mu    sync.Mutex
	after int // -1: never
	ops   int
	down  bool
}

func (o *outage) op() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down {
		return errStorageDown
	}
	if o.ops++; o.after >= 0 && o.ops > o.after {
		o.down = true
		return errStorageDown
	}
	return nil
}

func (o *outage) check() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down {
		return errStorageDown
	}
	return nil
}

func (o *outage) lift() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down, o.after = false, -1
}

// outageState is a detect.State that fails during an outage.
type outageState struct {
	detect.State
	o *outage
}

func (s outageState) Update(ctx context.Context, key string, exp time.Time, fn func([]detect.Entry) []detect.Entry) ([]detect.Entry, error) {
	if err := s.o.op(); err != nil {
		return nil, err
	}
	return s.State.Update(ctx, key, exp, fn)
}

func (s outageState) Get(ctx context.Context, key string) ([]detect.Entry, error) {
	if err := s.o.op(); err != nil {
		return nil, err
	}
	return s.State.Get(ctx, key)
}

// correlatedFile is an audit file busy with windowed and correlation
// rules (detecttest.Correlated), in 4 KiB buffers over two partitions.
func correlatedFile(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 4096, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range detecttest.Correlated(n, 5, "srv1", t0) {
		if err := w.WriteAudit(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// outageRun ingests file with the detection engine, storage failing after
// `after` state/sink operations (-1: never); after a failure the outage is
// lifted and the run retried, as the host does. It returns the detection
// ids the sink received, the rows stored and the state operations of the
// first run.
func outageRun(t *testing.T, file []byte, after int) (ids []string, rows, ops int) {
	t.Helper()
	o := &outage{after: after}
	eng, err := detect.New(detect.DefaultConfig(), outageState{State: detect.NewMemoryState(), o: o})
	if err != nil {
		t.Fatal(err)
	}
	blobs, cursors, mrows := NewMemoryBlobs(), NewMemoryCursors(), NewMemoryRows()
	blobs.Append(testBlob, file, t0)
	mrows.Fail = func(string) error { return o.check() }
	cursors.Fail = func(string, string) error { return o.check() }
	var mu sync.Mutex
	sink := func(_ context.Context, fs []detect.Finding) error {
		if err := o.op(); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, f := range fs {
			ids = append(ids, f.Rule+":"+f.DetectionID)
		}
		return nil
	}
	p := New(blobs, cursors, mrows, eng, XEL{}, nil, Options{BatchSize: 25, FindingSink: sink, Lease: time.Minute})
	ctx := context.Background()
	_, err = p.Ingest(ctx, testBlob, RunOptions{Owner: "first", Final: true})
	ops = o.ops
	if err != nil {
		if !errors.Is(err, errStorageDown) {
			t.Fatalf("first run: %v", err)
		}
		o.lift()
		// The failed run could not release its lease (storage was
		// down): the retry of the same process takes it over.
		if _, err := p.Ingest(ctx, testBlob, RunOptions{Owner: "retry", Final: true}); err != nil {
			t.Fatalf("retry: %v", err)
		}
	}
	c, err := cursors.Get(ctx, testBlob)
	if err != nil || c.State != StateClosed {
		t.Fatalf("cursor %+v, %v; want closed", c, err)
	}
	slices.Sort(ids)
	return slices.Compact(ids), len(mrows.Records()), ops
}

// TestIngestOutageKeepsDetections: storage fails at every point of an
// ingest (before, between and inside the batches' state updates, at the
// finding sink); the retry completes the blob, and the detections emitted
// by both runs are exactly those of an uninterrupted run — for AUD-006,
// EXF-005 and every windowed authentication rule.
func TestIngestOutageKeepsDetections(t *testing.T) {
	file := correlatedFile(t, 240)
	clean, rows, total := outageRun(t, file, -1)
	rules := map[string]bool{}
	for _, id := range clean {
		rules[id[:len(id)-33]] = true
	}
	for _, r := range []string{"AUD-006", "EXF-005", "AUTH-001", "AUTH-002", "AUTH-003", "AUTH-004", "AUTH-006"} {
		if !rules[r] {
			t.Fatalf("the file gives no %s finding (rules %v): it tests nothing there", r, rules)
		}
	}
	t.Logf("%d rows, %d detections, %d state and sink operations", rows, len(clean), total)
	for after := 0; after < total; after++ {
		got, gotRows, _ := outageRun(t, file, after)
		if !slices.Equal(got, clean) {
			var extra, missing []string
			for _, id := range got {
				if !slices.Contains(clean, id) {
					extra = append(extra, id)
				}
			}
			for _, id := range clean {
				if !slices.Contains(got, id) {
					missing = append(missing, id)
				}
			}
			t.Fatalf("storage down after %d operations: new %q, missing %q", after, extra, missing)
		}
		if gotRows != rows {
			t.Fatalf("storage down after %d operations: %d rows, want %d", after, gotRows, rows)
		}
	}
}
