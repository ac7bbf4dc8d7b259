package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/config/redact"
)

// Channel sends a finding somewhere. Name is stable and short (lower-case
// letters, digits, _): it keys the delivery status in the Detections table.
type Channel interface {
	Name() string
	Send(ctx context.Context, f detect.Finding) error
}

// DefaultTimeout bounds one HTTP request of a channel (XELWATCH_NOTIFY_TIMEOUT).
const DefaultTimeout = 10 * time.Second

// maxDrain bounds how much of a response body is read before closing, so
// a connection can be reused without trusting the receiver's size.
const maxDrain = 64 << 10

// StatusError is a non-2xx answer from a receiver.
type StatusError struct {
	Channel    string
	StatusCode int
	Status     string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("notify: %s: receiver answered %s", e.Channel, e.Status)
}

// Temporary reports whether a retry may succeed (408, 425, 429, 5xx).
func (e *StatusError) Temporary() bool {
	return e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooEarly ||
		e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// newClient returns an HTTP client bounded by timeout that does not follow
// redirects (a redirect of a webhook POST is a misconfiguration, and
// following it could carry the body elsewhere).
func newClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// post sends body to target with headers and turns any failure into an
// error that names the channel but never the URL.
func post(ctx context.Context, client *http.Client, channel string, target redact.Secret, header http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.Reveal(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify: %s: bad webhook URL", channel)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "xelwatch-notifier")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("notify: %s: %w", channel, stripURL(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Channel: channel, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	return nil
}

// stripURL replaces a *url.Error (whose text includes the URL and so the
// token of a Teams or Slack webhook) by its operation and cause.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &urlFreeError{op: ue.Op, err: ue.Err}
	}
	return err
}

type urlFreeError struct {
	op  string
	err error
}

func (e *urlFreeError) Error() string { return e.op + " request: " + e.err.Error() }
func (e *urlFreeError) Unwrap() error { return e.err }

// Timeout reports a client timeout like url.Error does.
func (e *urlFreeError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}
