package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/store"
)

func TestNotifierDeliversOnce(t *testing.T) {
	st := newFakeStore()
	a, b := &fakeChannel{name: "webhook"}, &fakeChannel{name: "teams"}
	n := New(st, []Channel{a, b}, Options{})
	f := testFinding("d1", detect.High)
	for i := range 3 {
		if err := n.Notify(context.Background(), f); err != nil {
			t.Fatalf("Notify #%d: %v", i+1, err)
		}
	}
	if a.count() != 1 || b.count() != 1 {
		t.Fatalf("sends webhook=%d teams=%d, want 1 each", a.count(), b.count())
	}
	if len(st.findings) != 1 {
		t.Fatalf("%d findings recorded, want 1", len(st.findings))
	}
}

func TestNotifierPartialFailure(t *testing.T) {
	st := newFakeStore()
	ok, bad := &fakeChannel{name: "webhook"}, &fakeChannel{name: "slack", err: &StatusError{Channel: "slack", StatusCode: 500, Status: "500 Internal Server Error"}}
	n := New(st, []Channel{ok, bad}, Options{})
	f := testFinding("d2", detect.Critical)
	err := n.Notify(context.Background(), f)
	var ce *ChannelError
	if !errors.As(err, &ce) || ce.Channel != "slack" {
		t.Fatalf("Notify = %v, want a *ChannelError for slack", err)
	}
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 {
		t.Fatalf("cause lost: %v", err)
	}
	if st.state["d2/slack"] != "failed" || st.state["d2/webhook"] != "delivered" {
		t.Fatalf("states %v", st.state)
	}
	// The host retries the message: only the failed channel is tried.
	bad.mu.Lock()
	bad.err = nil
	bad.mu.Unlock()
	if err := n.Notify(context.Background(), f); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if ok.count() != 1 || bad.count() != 1 {
		t.Fatalf("sends webhook=%d slack=%d after retry, want 1 and 1", ok.count(), bad.count())
	}
}

func TestNotifierMinSeverity(t *testing.T) {
	tests := []struct {
		name     string
		min      detect.Severity
		sev      detect.Severity
		wantSent int
	}{
		{"default sends low", 0, detect.Low, 1},
		{"default records informational only", 0, detect.Info, 0},
		{"informational sends informational", detect.Info, detect.Info, 1},
		{"low drops informational", detect.Low, detect.Info, 0},
		{"below", detect.High, detect.Medium, 0},
		{"equal", detect.High, detect.High, 1},
		{"above", detect.Medium, detect.Critical, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore()
			ch := &fakeChannel{name: "webhook"}
			n := New(st, []Channel{ch}, Options{MinSeverity: tt.min})
			if err := n.Notify(context.Background(), testFinding("x", tt.sev)); err != nil {
				t.Fatal(err)
			}
			if ch.count() != tt.wantSent {
				t.Fatalf("sent %d, want %d", ch.count(), tt.wantSent)
			}
			if len(st.findings) != 1 {
				t.Fatalf("finding not recorded")
			}
		})
	}
}

func TestNotifierStoreErrors(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		err      error
		wantErr  bool
		wantSent int
	}{
		{"record fails", "record", store.ErrConflict, true, 0},
		{"claimed elsewhere", "claim", fmt.Errorf("x: %w", store.ErrClaimed), true, 0},
		{"already delivered", "claim", fmt.Errorf("x: %w", store.ErrDelivered), false, 0},
		{"mark delivered fails", "delivered", errors.New("table service: status 503 ServerBusy"), true, 1},
		{"claim lost after send", "delivered", fmt.Errorf("x: %w", store.ErrClaimLost), false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore()
			st.failNext[tt.method] = tt.err
			ch := &fakeChannel{name: "webhook"}
			err := New(st, []Channel{ch}, Options{}).Notify(context.Background(), testFinding("x", detect.High))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Notify = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr && tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("Notify = %v, does not wrap %v", err, tt.err)
			}
			if ch.count() != tt.wantSent {
				t.Fatalf("sent %d, want %d", ch.count(), tt.wantSent)
			}
		})
	}
}

func TestNotifierCanceled(t *testing.T) {
	st := newFakeStore()
	ch := &fakeChannel{name: "webhook", block: make(chan struct{})}
	n := New(st, []Channel{ch, &fakeChannel{name: "slack"}}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	err := n.Notify(ctx, testFinding("c", detect.High))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Notify = %v, want context.Canceled", err)
	}
	// The failure was recorded despite the canceled context, so the retry
	// can claim at once instead of waiting out the lease.
	if st.state["c/webhook"] != "failed" {
		t.Fatalf("webhook state %q, want failed", st.state["c/webhook"])
	}
	if got := strings.Join(st.calls, ","); strings.Contains(got, "claim slack") {
		t.Fatalf("went on to the next channel after cancel: %s", got)
	}
}

func TestNotifierRejectsEmptyID(t *testing.T) {
	if err := New(newFakeStore(), nil, Options{}).Notify(context.Background(), detect.Finding{}); err == nil {
		t.Fatal("want error for a finding without id")
	}
}
