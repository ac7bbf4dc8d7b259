package watch

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/internal/app"
	"github.com/xelwatch/xelwatch/handler/internal/auditfile"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/config/redact"
	"github.com/xelwatch/xelwatch/handler/internal/notify"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
)

func newWatcher(t *testing.T, status int) (*Watcher, *sync.Map) {
	t.Helper()
	conn := azuritetest.ConnString(t)
	dir := t.TempDir()
	// The demo's synthesized sample (routine activity, audit off, backup).
	file, err := os.ReadFile(filepath.Join("..", "demo", "testdata", "sample.xel"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Audit_0_1.sqlaudit"), file, 0o644); err != nil {
		t.Fatal(err)
	}
	got := &sync.Map{} // detection id → *int requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := got.LoadOrStore(r.Header.Get("X-Xelwatch-Detection-Id"), new(int))
		*(v.(*int))++
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(map[string]string{
		"AzureWebJobsStorage":       conn,
		"XELWATCH_EVENTS_TABLE":     azuritetest.Name("Ev"),
		"XELWATCH_CURSORS_TABLE":    azuritetest.Name("Cur"),
		"XELWATCH_DETECTIONS_TABLE": azuritetest.Name("Det"),
		"XELWATCH_STATE_TABLE":      azuritetest.Name("St"),
		"XELWATCH_DETECTIONS_QUEUE": azuritetest.Name("det"),
	}))
	if err != nil {
		t.Fatal(err)
	}
	hook := notify.NewWebhook(redact.Secret(srv.URL), "", 5*time.Second)
	w, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)),
		app.Options{Channels: []notify.Channel{hook}}, Options{Dir: dir, Once: true, Notify: true, Visibility: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return w, got
}

func count(m *sync.Map) (ids, requests int) {
	m.Range(func(_, v any) bool {
		ids++
		requests += *(v.(*int))
		return true
	})
	return
}

func TestWatchDeliversOnce(t *testing.T) {
	w, got := newWatcher(t, http.StatusNoContent)
	ctx := context.Background()
	for range 2 { // the second pass finds nothing new
		if err := w.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ids, reqs := count(got)
	if ids < 4 || reqs != ids {
		t.Errorf("webhook: %d detections, %d requests; want ≥ 4, each once", ids, reqs)
	}
}

func TestWatchPoisonsAfterFiveAttempts(t *testing.T) {
	w, got := newWatcher(t, http.StatusBadGateway)
	ctx := context.Background()
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	ids, _ := count(got)
	deadline := time.Now().Add(60 * time.Second)
	for {
		p, err := w.App.Poison.GetProperties(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if int(*p.ApproximateMessagesCount) == ids {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("poison queue holds %d, want %d", *p.ApproximateMessagesCount, ids)
		}
		time.Sleep(1100 * time.Millisecond)
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, reqs := count(got)
	if reqs != ids*MaxDequeueCount {
		t.Errorf("webhook requests = %d, want %d (%d attempts each)", reqs, ids*MaxDequeueCount, MaxDequeueCount)
	}
	for id := range func(yield func(string) bool) {
		got.Range(func(k, _ any) bool { return yield(k.(string)) })
	} {
		if _, err := w.App.Store.GetDetection(ctx, id); err != nil {
			t.Errorf("detection %s not kept: %v", id, err)
		}
	}
}

// TestSkipLoggerOncePerEntry: a FIFO left in the folder is logged once,
// not at every poll.
func TestSkipLoggerOncePerEntry(t *testing.T) {
	var buf bytes.Buffer
	skip := skipLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	fifo := &auditfile.SkipError{Path: "/audit/x.sqlaudit", Reason: "FIFO"}
	for range 3 {
		skip(fifo)
		skip(&auditfile.SkipError{Path: "/audit/y.sqlaudit", Reason: "dangling symbolic link"})
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 || !strings.Contains(buf.String(), `"err":"/audit/x.sqlaudit: skipped: FIFO (not a regular file)"`) {
		t.Errorf("%d lines, want 2:\n%s", n, buf.String())
	}
}
