package azclienttest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/handler/internal/azclient"
)

// FastPolicy is a retry policy with the production shape (per-try bound,
// retries, back-off) and test-sized timings. A test that builds clients
// with it goes through the production construction path; only the
// numbers differ. 3 tries.
func FastPolicy() azclient.Policy {
	return azclient.Policy{TryTimeout: 200 * time.Millisecond, MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}
}

// Hung is a loopback HTTP server that accepts every request, reads
// nothing back and never answers, like a storage front end whose
// connection hangs after taking the request. It counts the requests it got and how many ended
// because the client went away.
type Hung struct {
	srv     *httptest.Server
	closing chan struct{}
	exited  chan bool // one per request: true when the client cut it off

	mu      sync.Mutex
	started int
	paths   []string
}

// NewHung starts the server; it stops at the end of the test.
func NewHung(t testing.TB) *Hung {
	h := &Hung{closing: make(chan struct{}), exited: make(chan bool, 1024)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.started++
		h.paths = append(h.paths, r.Method+" "+r.URL.Path)
		h.mu.Unlock()
		// Read the whole request: only then does the server watch the
		// connection and cancel r.Context() when the client closes it.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done(): // the client closed the connection
			h.exited <- true
		case <-h.closing:
			h.exited <- false
		}
	}))
	t.Cleanup(func() {
		close(h.closing)
		h.srv.Close()
	})
	return h
}

// ConnString is a connection string (Azurite's well-known development
// account and key) whose blob, queue and table endpoints are the server.
func (h *Hung) ConnString() string {
	u := h.srv.URL + "/devstoreaccount1"
	return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
		"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
		"BlobEndpoint=" + u + ";QueueEndpoint=" + u + ";TableEndpoint=" + u + ";"
}

// Settle waits until every request received so far has ended and returns
// how many there were since the last Settle, how many of them the client
// cut off, and their "METHOD /path". Call it after the operation under
// test returned; ctx bounds the wait (a safety net, not a timing check).
func (h *Hung) Settle(ctx context.Context) (attempts, cut int, paths []string, err error) {
	h.mu.Lock()
	n := h.started
	paths = h.paths
	h.started, h.paths = 0, nil
	h.mu.Unlock()
	for range n {
		select {
		case c := <-h.exited:
			if c {
				cut++
			}
		case <-ctx.Done():
			return n, cut, paths, ctx.Err()
		}
	}
	return n, cut, paths, nil
}
