package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/config/redact"
	"github.com/xelwatch/xelwatch/handler/internal/notify"
)

// receiverVerify is the standalone Go snippet of the package
// documentation ("Verifying webhook requests"), verbatim: a receiver that
// does not import xelwatch.
func receiverVerify(secret []byte, h http.Header, body []byte, now time.Time) error {
	ts, sig := h.Get("X-Xelwatch-Timestamp"), h.Get("X-Xelwatch-Signature")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("unsigned request")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(strings.ToLower(sig)), []byte(want)) {
		return errors.New("bad signature")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("stale timestamp")
	}
	return nil
}

// TestReceiverVerifySnippet runs the documented receiver against what the
// webhook channel really sends: verify, then deduplicate on the body's
// detection_id; a replayed request is acknowledged without acting again,
// a stale or tampered one is refused.
func TestReceiverVerifySnippet(t *testing.T) {
	secret := []byte("shared-secret")
	var (
		mu      sync.Mutex
		raw     []*http.Request
		bodies  [][]byte
		handled = map[string]int{}
		now     = time.Now
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		raw, bodies = append(raw, r.Clone(context.Background())), append(bodies, body)
		if err := receiverVerify(secret, r.Header, body, now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var f struct {
			DetectionID string `json:"detection_id"`
		}
		if json.Unmarshal(body, &f) != nil || f.DetectionID == "" {
			http.Error(w, "no detection_id", http.StatusBadRequest)
			return
		}
		handled[f.DetectionID]++ // act only when this is 1
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	hook := notify.NewWebhook(redact.Secret(srv.URL), redact.Secret(secret), 5*time.Second)
	f := detect.Finding{DetectionID: "d1", Rule: "EXF-001", Severity: detect.High, Why: "BACKUP … by [x](https://evil.example)"}
	if err := hook.Send(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	// A redelivery: a new request (new timestamp, new signature), same id.
	if err := hook.Send(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if handled["d1"] != 2 || len(bodies) != 2 {
		t.Fatalf("handled %v from %d requests", handled, len(bodies))
	}
	if err := notify.Verify(secret, raw[0].Header, bodies[0], time.Now(), 5*time.Minute); err != nil {
		t.Fatalf("notify.Verify disagrees with the snippet: %v", err)
	}
	replay := func(h http.Header, body string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header = h.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := replay(raw[0].Header, string(bodies[0])); got != http.StatusNoContent || handled["d1"] != 3 {
		t.Fatalf("replay within tolerance: %d, handled %v (the id shows it is a duplicate)", got, handled)
	}
	tampered := strings.Replace(string(bodies[0]), `"d1"`, `"d2"`, 1)
	if got := replay(raw[0].Header, tampered); got != http.StatusUnauthorized {
		t.Fatalf("tampered body: %d", got)
	}
	mu.Lock()
	now = func() time.Time { return time.Now().Add(6 * time.Minute) }
	mu.Unlock()
	if got := replay(raw[0].Header, string(bodies[0])); got != http.StatusUnauthorized {
		t.Fatalf("replay after 6 minutes: %d", got)
	}
	if got := replay(http.Header{}, string(bodies[0])); got != http.StatusUnauthorized {
		t.Fatalf("unsigned: %d", got)
	}
}
