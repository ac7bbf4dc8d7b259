package control

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
)

type fakeState struct {
	calls int
	st    detect.AuditState
}

func (f *fakeState) AuditState(context.Context, string) (detect.AuditState, string) {
	f.calls++
	return f.st, "read"
}

type fakeCursors struct {
	c   ingest.Cursor
	err error
}

func (f fakeCursors) Get(context.Context, string) (ingest.Cursor, error) { return f.c, f.err }

func newProcessor(t *testing.T, cur fakeCursors, st StateReader) *Processor {
	t.Helper()
	e, err := detect.New(detect.DefaultConfig(), detect.NewMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	rules, err := detect.NewControl(e, detect.ControlConfig{AuditContainer: "sqldbauditlogs"})
	if err != nil {
		t.Fatal(err)
	}
	return &Processor{Rules: rules, Cursors: cur, Container: "sqldbauditlogs", State: st}
}

func TestProcessStateRead(t *testing.T) {
	fs := &fakeState{st: detect.AuditStateDisabled}
	p := newProcessor(t, fakeCursors{err: ingest.ErrNotFound}, fs)
	res, err := p.Process(context.Background(), resourceEvent(nil))
	if err != nil || len(res.Findings) != 1 || res.Findings[0].Severity != detect.Critical || fs.calls != 1 {
		t.Fatalf("res %+v err %v calls %d", res, err, fs.calls)
	}
	failed := resourceEvent(func(ev, _ map[string]any) { ev["eventType"] = detect.EventResourceWriteFailure; ev["id"] = "ev-2" })
	res, err = p.Process(context.Background(), failed)
	if err != nil || len(res.Findings) != 1 || res.Findings[0].Severity != detect.Medium || fs.calls != 1 {
		t.Fatalf("failed write: res %+v err %v calls %d (no state read for an attempt)", res, err, fs.calls)
	}
}

func TestProcessBlobDeleted(t *testing.T) {
	del := []byte(`{"id":"b1","eventType":"Microsoft.Storage.BlobDeleted","eventTime":"2026-11-21T20:30:05Z","subject":"/blobServices/default/containers/sqldbauditlogs/blobs/srv1/db/a/2026-11-21/20_00_00_000_0.xel","data":{"api":"DeleteBlob"}}`)
	p := newProcessor(t, fakeCursors{c: ingest.Cursor{State: ingest.StateClosed, Rows: 7}}, nil)
	res, err := p.Process(context.Background(), del)
	if err != nil || len(res.Findings) != 1 || res.Findings[0].Rule != "AUD-013" {
		t.Fatalf("young blob: %+v %v", res, err)
	}
	p = newProcessor(t, fakeCursors{err: errors.New("store: 503 server busy")}, nil)
	if _, err := p.Process(context.Background(), del); err == nil || errors.Is(err, ErrMalformed) {
		t.Fatalf("transient cursor error: %v, want a retryable error", err)
	}
	other := []byte(`{"id":"b2","eventType":"Microsoft.Storage.BlobDeleted","eventTime":"2026-11-21T20:30:05Z","subject":"/blobServices/default/containers/backups/blobs/x.bak","data":{"api":"DeleteBlob"}}`)
	if res, err := p.Process(context.Background(), other); err != nil || res.Outcome != OutcomeIgnored {
		t.Fatalf("other container: %+v %v", res, err)
	}
}

// TestProcessBlobOddName: a blob name with control characters is looked
// up by its exact name (the cursor key) and printed cleaned.
func TestProcessBlobOddName(t *testing.T) {
	var asked string
	p := newProcessor(t, fakeCursors{c: ingest.Cursor{State: ingest.StateOpen, Rows: 3}}, nil)
	p.Cursors = cursorFunc(func(name string) (ingest.Cursor, error) {
		asked = name
		return ingest.Cursor{State: ingest.StateOpen, Rows: 3}, nil
	})
	del := []byte(`{"id":"b3","eventType":"Microsoft.Storage.BlobDeleted","eventTime":"2026-11-21T20:30:05Z","subject":"/blobServices/default/containers/sqldbauditlogs/blobs/srv1/x\n[fake] line.xel","data":{"api":"DeleteBlob"}}`)
	res, err := p.Process(context.Background(), del)
	if err != nil || len(res.Findings) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if asked != "srv1/x\n[fake] line.xel" {
		t.Errorf("cursor looked up as %q", asked)
	}
	if why := res.Findings[0].Why; strings.Contains(why, "\n") || !strings.Contains(why, "3 rows") {
		t.Errorf("why %q", why)
	}
}

type cursorFunc func(string) (ingest.Cursor, error)

func (f cursorFunc) Get(_ context.Context, name string) (ingest.Cursor, error) { return f(name) }
