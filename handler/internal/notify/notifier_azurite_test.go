package notify

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/store"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
)

func newAzuriteStore(t *testing.T) *store.Store {
	t.Helper()
	svc, err := store.NewServiceClientFromConnectionString(azuritetest.ConnString(t))
	if err != nil {
		t.Fatal(err)
	}
	names := store.Names{Events: azuritetest.Name("ev"), Cursors: azuritetest.Name("cur"), Detections: azuritetest.Name("det")}
	st := store.New(svc, names)
	if err := st.EnsureTables(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, n := range []string{names.Events, names.Cursors, names.Detections} {
			_, _ = svc.DeleteTable(context.Background(), n, nil)
		}
	})
	return st
}

// TestAzuriteNotifier runs the Notifier over the real store and HTTP
// receivers: a failing channel is retried alone, a redelivered message
// sends nothing, and the Detections row shows the delivery status.
func TestAzuriteNotifier(t *testing.T) {
	st := newAzuriteStore(t)
	ctx := context.Background()
	hook, slack := &receiver{}, &receiver{status: 503}
	hookURL, _ := newReceiver(t, hook)
	slackURL, _ := newReceiver(t, slack)
	n := New(st, []Channel{NewWebhook(hookURL, "k", time.Second), NewSlack(slackURL, time.Second)}, Options{})
	f := testFinding("EXF-001:replay#1", detect.High)

	err := n.Notify(ctx, f)
	var ce *ChannelError
	if !errors.As(err, &ce) || ce.Channel != "slack" {
		t.Fatalf("first Notify = %v, want slack to fail", err)
	}
	d, err := st.GetDetection(ctx, f.DetectionID)
	if err != nil {
		t.Fatalf("detection record missing after a failed delivery: %v", err)
	}
	if d.Deliveries["webhook"].State != store.DeliveryDelivered || d.Deliveries["slack"].State != store.DeliveryFailed {
		t.Fatalf("deliveries %+v", d.Deliveries)
	}
	if d.Deliveries["slack"].LastError == "" {
		t.Fatal("failure reason not recorded")
	}

	slack.mu.Lock()
	slack.status = 200
	slack.mu.Unlock()
	for i := range 2 { // the host's retry, then a replayed blob
		if err := n.Notify(ctx, f); err != nil {
			t.Fatalf("Notify #%d: %v", i+2, err)
		}
	}
	if hook.count() != 1 {
		t.Fatalf("webhook got %d requests, want 1", hook.count())
	}
	if slack.count() != 2 {
		t.Fatalf("slack got %d requests, want 2 (one failed, one delivered)", slack.count())
	}
	d, err = st.GetDetection(ctx, f.DetectionID)
	if err != nil {
		t.Fatal(err)
	}
	if s := d.Deliveries["slack"]; s.State != store.DeliveryDelivered || s.Attempts != 2 {
		t.Fatalf("slack delivery %+v", s)
	}
}

// TestAzuriteNotifierConcurrent: two invocations with the same detection
// at once send once; the loser reports a retryable error.
func TestAzuriteNotifierConcurrent(t *testing.T) {
	st := newAzuriteStore(t)
	hook := &receiver{delay: 300 * time.Millisecond}
	hookURL, _ := newReceiver(t, hook)
	n := New(st, []Channel{NewWebhook(hookURL, "k", 5*time.Second)}, Options{})
	f := testFinding("race#2", detect.Critical)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.Notify(context.Background(), f)
		}()
	}
	wg.Wait()
	if hook.count() != 1 {
		t.Fatalf("%d sends, want 1", hook.count())
	}
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			if !errors.Is(err, store.ErrClaimed) || !store.IsTransient(err) {
				t.Fatalf("loser error %v, want a transient ErrClaimed", err)
			}
		}
	}
	if failed > 1 {
		t.Fatalf("both invocations failed: %v", errs)
	}
}
