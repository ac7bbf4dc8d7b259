package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/config/redact"
)

// receiver is a test webhook endpoint that records requests.
type receiver struct {
	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
	status   int
	delay    time.Duration
	redirect string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, body)
	r.headers = append(r.headers, req.Header.Clone())
	status, delay := r.status, r.delay
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
	}
	if r.redirect != "" {
		http.Redirect(w, req, r.redirect, http.StatusTemporaryRedirect)
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, strings.Repeat("x", 1000))
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func newReceiver(t *testing.T, r *receiver) (redact.Secret, func()) {
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	// The token-in-URL shape of Teams/Slack webhooks.
	return redact.Secret(srv.URL + "/hooks/T000/B000/SECRETTOKEN?sig=SECRETSIG"), srv.Close
}

func TestWebhookSend(t *testing.T) {
	rcv := &receiver{}
	url, _ := newReceiver(t, rcv)
	secret := redact.Secret("s3cr3t")
	w := NewWebhook(url, secret, time.Second)
	w.now = func() time.Time { return time.Unix(1_800_000_000, 0) }
	f := testFinding("d1", detect.High)
	if err := w.Send(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if rcv.count() != 1 {
		t.Fatalf("%d requests, want 1", rcv.count())
	}
	body, h := rcv.bodies[0], rcv.headers[0]
	want, _ := json.Marshal(f)
	if !bytes.Equal(body, want) {
		t.Fatalf("body:\n got %s\nwant %s", body, want)
	}
	if got := h.Get(HeaderTimestamp); got != "1800000000" {
		t.Errorf("timestamp %q", got)
	}
	if got := h.Get(HeaderDetectionID); got != "d1" {
		t.Errorf("detection id header %q", got)
	}
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("content type %q", got)
	}
	// What a receiver does, written out independently of Sign.
	if err := Verify([]byte("s3cr3t"), h, body, time.Unix(1_800_000_060, 0), 5*time.Minute); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	tests := []struct {
		name    string
		secret  string
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"wrong secret", "other", body, time.Unix(1_800_000_000, 0), ErrBadSignature},
		{"tampered body", "s3cr3t", append(bytes.Clone(body[:len(body)-1]), ' ', '}'), time.Unix(1_800_000_000, 0), ErrBadSignature},
		{"stale", "s3cr3t", body, time.Unix(1_800_000_000+301, 0), ErrStale},
		{"future", "s3cr3t", body, time.Unix(1_800_000_000-301, 0), ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify([]byte(tt.secret), h, tt.body, tt.now, 5*time.Minute); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if err := Verify([]byte("s3cr3t"), http.Header{}, body, time.Unix(1_800_000_000, 0), time.Minute); !errors.Is(err, ErrNoSignature) {
		t.Fatalf("Verify without headers = %v", err)
	}
}

// TestSignKnownAnswer pins the signature scheme against a value computed
// by hand (printf '123.{}' | openssl dgst -sha256 -hmac key).
func TestSignKnownAnswer(t *testing.T) {
	got := Sign([]byte("key"), "123", []byte("{}"))
	want := "sha256=28739ce20e2d3d0eb7847a31bca889409d78898aa78efb82e124f99ddd0818a2"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestWebhookUnsigned(t *testing.T) {
	rcv := &receiver{}
	url, _ := newReceiver(t, rcv)
	if err := NewWebhook(url, "", time.Second).Send(context.Background(), testFinding("d", detect.Low)); err != nil {
		t.Fatal(err)
	}
	if h := rcv.headers[0]; h.Get(HeaderSignature) != "" || h.Get(HeaderTimestamp) != "" {
		t.Fatalf("unsigned webhook sent signature headers: %v", h)
	}
}

// TestChannelsHTTP runs every channel through the same HTTP failure
// cases.
func TestChannelsHTTP(t *testing.T) {
	makers := map[string]func(redact.Secret, time.Duration) Channel{
		"webhook": func(u redact.Secret, d time.Duration) Channel { return NewWebhook(u, "k", d) },
		"teams":   func(u redact.Secret, d time.Duration) Channel { return NewTeams(u, d) },
		"slack":   func(u redact.Secret, d time.Duration) Channel { return NewSlack(u, d) },
	}
	cases := []struct {
		name     string
		rcv      *receiver
		timeout  time.Duration
		cancel   bool
		wantErr  bool
		check    func(t *testing.T, err error)
		closeSrv bool
	}{
		{name: "Success", rcv: &receiver{status: 200}},
		{name: "Accepted", rcv: &receiver{status: 202}},
		{name: "Non2xx", rcv: &receiver{status: 500}, wantErr: true, check: func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != 500 || !se.Temporary() {
				t.Fatalf("err = %v, want *StatusError 500", err)
			}
		}},
		{name: "NotFound", rcv: &receiver{status: 404}, wantErr: true, check: func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != 404 || se.Temporary() {
				t.Fatalf("err = %v, want permanent *StatusError 404", err)
			}
		}},
		{name: "RedirectNotFollowed", rcv: &receiver{redirect: "http://127.0.0.1:1/elsewhere"}, wantErr: true, check: func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != http.StatusTemporaryRedirect {
				t.Fatalf("err = %v, want *StatusError 307", err)
			}
		}},
		{name: "Timeout", rcv: &receiver{delay: 2 * time.Second}, timeout: 100 * time.Millisecond, wantErr: true, check: func(t *testing.T, err error) {
			var te interface{ Timeout() bool }
			if !errors.As(err, &te) || !te.Timeout() {
				t.Fatalf("err = %v, want a timeout", err)
			}
		}},
		{name: "ContextCanceled", rcv: &receiver{delay: 2 * time.Second}, cancel: true, wantErr: true, check: func(t *testing.T, err error) {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		}},
		{name: "ConnectionRefused", rcv: &receiver{}, closeSrv: true, wantErr: true},
	}
	for chName, mk := range makers {
		for _, tc := range cases {
			t.Run(chName+"/"+tc.name, func(t *testing.T) {
				url, closeSrv := newReceiver(t, tc.rcv)
				if tc.closeSrv {
					closeSrv()
				}
				timeout := tc.timeout
				if timeout == 0 {
					timeout = 5 * time.Second
				}
				ch := mk(url, timeout)
				if ch.Name() != chName {
					t.Fatalf("Name() = %q", ch.Name())
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if tc.cancel {
					time.AfterFunc(50*time.Millisecond, cancel)
				}
				start := time.Now()
				err := ch.Send(ctx, testFinding("d", detect.High))
				if (err != nil) != tc.wantErr {
					t.Fatalf("Send = %v, want error %v", err, tc.wantErr)
				}
				if err != nil {
					// Host and port may show (dial errors); path and
					// query carry the tokens and must not.
					if msg := err.Error(); strings.Contains(msg, "SECRET") || strings.Contains(msg, "/hooks/") {
						t.Fatalf("error text leaks the URL: %q", msg)
					}
					if !strings.HasPrefix(err.Error(), "notify: "+chName) {
						t.Fatalf("error %q does not name the channel", err)
					}
				}
				if tc.check != nil {
					tc.check(t, err)
				}
				if time.Since(start) > 1500*time.Millisecond {
					t.Fatalf("Send took %s: timeout or cancel not honoured", time.Since(start))
				}
			})
		}
	}
}
