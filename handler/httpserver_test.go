package handler

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/handler/internal/ingest"
)

// safety bounds a wait that only a broken server reaches; never asserted
// on as a duration.
const safety = 30 * time.Second

// startServer serves NewHTTPServer(d, l) on a loopback port.
func startServer(t *testing.T, d Deps, l Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(d, l)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func testDeps() Deps {
	return Deps{Ingester: &fakeIngester{}, Notifier: &fakeNotifier{}, Container: "sqldbauditlogs"}
}

// readUntilClosed reads the connection until the server closes it and
// returns what it sent. A read that runs into the safety deadline means
// the server kept the connection open: the test fails.
func readUntilClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(safety))
	b, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server kept a stalled connection open (got %q)", b)
	}
	return string(b) // EOF or reset: closed by the server
}

// TestServerDropsSlowloris: a peer that sends part of its headers, or all
// of them and part of a body, and then stalls is answered (408 for the
// body) and disconnected at the read timeouts, instead of holding a
// connection and a goroutine forever. The old server had no ReadTimeout:
// the stalled body held the connection until the safety deadline.
func TestServerDropsSlowloris(t *testing.T) {
	t.Parallel()
	addr := startServer(t, testDeps(), Limits{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second})
	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "POST /AuditSweep HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n")
		readUntilClosed(t, c)
	})
	t.Run("body", func(t *testing.T) {
		t.Parallel()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "POST /AuditSweep HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"Data\":")
		got := readUntilClosed(t, c)
		if !strings.HasPrefix(got, "HTTP/1.1 408") {
			t.Errorf("stalled body answered %.40q, want 408", got)
		}
	})
}

// TestServerRefusesOversizedBody: a body past MaxBodyBytes is refused with
// 413, whether its length is declared (answered before any of it is
// read) or not (chunked, cut at the bound). The old code answered 400.
func TestServerRefusesOversizedBody(t *testing.T) {
	t.Parallel()
	addr := startServer(t, testDeps(), Limits{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /Notifier HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", MaxBodyBytes+1)
	_ = c.SetReadDeadline(time.Now().Add(safety))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("declared %d bytes: status %d, want 413", MaxBodyBytes+1, resp.StatusCode)
	}

	// Undeclared length: the body reader stops at the bound.
	body := `{"Data":{"message":"` + strings.Repeat("A", MaxBodyBytes) + `"}}`
	req := httptest.NewRequest(http.MethodPost, "/"+FuncNotifier, io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", hostCT)
	w := httptest.NewRecorder()
	NewServer(testDeps()).ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge || !json.Valid(w.Body.Bytes()) {
		t.Errorf("chunked body past the bound: %d %q, want 413 with a JSON body", w.Code, w.Body.String())
	}
}

// TestServerServesInvocations: the host's invocations of each function
// still pass through the bounded server.
func TestServerServesInvocations(t *testing.T) {
	t.Parallel()
	addr := startServer(t, testDeps(), Limits{})
	for fn, file := range map[string]string{FuncAuditBlob: "auditblob-deferred.json", FuncAuditSweep: "auditsweep-timer.json", FuncNotifier: "notifier-queue.json"} {
		resp, err := http.Post("http://"+addr+"/"+fn, hostCT, strings.NewReader(golden(t, file)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", fn, resp.StatusCode, b)
		}
	}
}

// slowIngester's sweep outlasts the server's ReadTimeout (it waits three
// of them; that is not a synchronisation: a context cancelled by the read
// deadline is always cancelled before) and reports whether its context
// was cancelled meanwhile.
type slowIngester struct {
	fakeIngester
	wait      time.Duration
	cancelled chan error
}

func (s *slowIngester) Sweep(ctx context.Context, so ingest.SweepOptions) (ingest.SweepResult, error) {
	select {
	case <-ctx.Done():
		s.cancelled <- context.Cause(ctx)
		return ingest.SweepResult{}, ctx.Err()
	case <-time.After(s.wait):
		s.cancelled <- nil
	}
	return s.fakeIngester.Sweep(ctx, so)
}

// TestServerReadTimeoutSparesLongInvocation: an invocation that runs past
// ReadTimeout (a blob run takes minutes) keeps its context and answers.
// A guard for the new ReadTimeout (the old server had none, so it passes
// there too): net/http clears the read deadline once the body has been
// read to its end, which readBody does before any route runs.
func TestServerReadTimeoutSparesLongInvocation(t *testing.T) {
	t.Parallel()
	const rt = 300 * time.Millisecond
	ing := &slowIngester{wait: 3 * rt, cancelled: make(chan error, 1)}
	d := testDeps()
	d.Ingester = ing
	addr := startServer(t, d, Limits{ReadHeaderTimeout: rt, ReadTimeout: rt})
	resp, err := http.Post("http://"+addr+"/"+FuncAuditSweep, hostCT, strings.NewReader(golden(t, "auditsweep-timer.json")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-ing.cancelled; err != nil {
		t.Fatalf("the invocation's context was cancelled after the read timeout: %v", err)
	}
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// TestDefaultLimitsFitHost: the production write timeout outlasts what the
// host waits for an invocation (host.json functionTimeout + 1 min), so a
// long legitimate invocation is never cut off; every other bound is set.
func TestDefaultLimitsFitHost(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	var host struct {
		FunctionTimeout string `json:"functionTimeout"`
	}
	if err := json.Unmarshal(b, &host); err != nil {
		t.Fatal(err)
	}
	var h, m, s int
	if _, err := fmt.Sscanf(host.FunctionTimeout, "%d:%d:%d", &h, &m, &s); err != nil {
		t.Fatalf("host.json functionTimeout %q: %v", host.FunctionTimeout, err)
	}
	ft := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second
	l := DefaultLimits()
	if l.WriteTimeout <= ft+time.Minute {
		t.Errorf("WriteTimeout %v would cut off invocations the host still waits for (functionTimeout %v + 1 min)", l.WriteTimeout, ft)
	}
	if l.ReadHeaderTimeout <= 0 || l.ReadTimeout < l.ReadHeaderTimeout || l.IdleTimeout <= 0 || l.MaxHeaderBytes <= 0 {
		t.Errorf("unbounded: %+v", l)
	}
	srv := NewHTTPServer(testDeps(), Limits{})
	if srv.ReadTimeout != l.ReadTimeout || srv.WriteTimeout != l.WriteTimeout || srv.ReadHeaderTimeout != l.ReadHeaderTimeout ||
		srv.IdleTimeout != l.IdleTimeout || srv.MaxHeaderBytes != l.MaxHeaderBytes {
		t.Errorf("zero Limits do not give the defaults: %+v", srv)
	}
}
