package testsupport

import (
	"testing"
	"time"
)

// NoHang runs f and fails the test instead of hanging when f blocks, as
// reading a FIFO named like an audit file would (the minute is a safety
// net, not a timing assertion).
func NoHang(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("blocked: still running after a minute")
	}
}
