package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/config/redact"
)

// Header names of the generic webhook.
const (
	HeaderTimestamp   = "X-Xelwatch-Timestamp"
	HeaderSignature   = "X-Xelwatch-Signature"
	HeaderDetectionID = "X-Xelwatch-Detection-Id"
)

// Webhook posts the finding as JSON to a URL, signed with HMAC-SHA256 when
// a secret is set.
type Webhook struct {
	url    redact.Secret
	secret redact.Secret
	client *http.Client
	now    func() time.Time
}

// NewWebhook returns the generic webhook channel ("webhook"). An empty
// secret sends unsigned requests.
func NewWebhook(url, secret redact.Secret, timeout time.Duration) *Webhook {
	return &Webhook{url: url, secret: secret, client: newClient(timeout), now: time.Now}
}

// Name implements Channel.
func (w *Webhook) Name() string { return "webhook" }

// Send implements Channel.
func (w *Webhook) Send(ctx context.Context, f detect.Finding) error {
	body, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("notify: webhook: encode finding: %w", err)
	}
	h := http.Header{}
	h.Set(HeaderDetectionID, f.DetectionID)
	if w.secret != "" {
		ts := strconv.FormatInt(w.now().Unix(), 10)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, Sign([]byte(w.secret.Reveal()), ts, body))
	}
	return post(ctx, w.client, w.Name(), w.url, h, body)
}

// Sign returns the signature header value of body sent at timestamp:
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("notify: missing signature or timestamp header")
	ErrBadSignature = errors.New("notify: signature mismatch")
	ErrStale        = errors.New("notify: timestamp outside tolerance")
)

// Verify checks a received webhook request the way a receiver should:
// the signature over timestamp + "." + body, compared in constant time,
// and the timestamp within tolerance of now.
func Verify(secret []byte, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, sig := header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if ts == "" || sig == "" {
		return ErrNoSignature
	}
	want := Sign(secret, ts, body)
	if !hmac.Equal([]byte(strings.ToLower(sig)), []byte(want)) {
		return ErrBadSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("notify: bad timestamp %q: %w", ts, ErrStale)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
