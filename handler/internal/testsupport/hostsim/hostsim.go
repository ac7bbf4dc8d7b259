package hostsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
)

// Defaults as in host.json and the host source.
const (
	ReadyTimeout     = 30 * time.Second
	ReadyInterval    = 25 * time.Millisecond
	PoisonThreshold  = 5
	MaxDequeueCount  = 5
	HostVersion      = "4.1037.0"
	BlobPoisonQueue  = "webjobs-blobtrigger-poison"
	DefaultTimeout   = 10 * time.Minute
	OutputDetections = "detections"
)

// Host drives one handler.
type Host struct {
	BaseURL string        // http://127.0.0.1:<port>
	Timeout time.Duration // functionTimeout (+1 min in the real host)
	Client  *http.Client
	// Queues receives queue outputs (binding name → queue client); nil
	// outputs are only returned.
	Outputs map[string]*azqueue.QueueClient
	// Logf receives the Logs of successful invocations.
	Logf func(format string, args ...any)

	mu          sync.Mutex
	PoisonBlobs []string // blob names given up on
	Invocations int
}

// New returns a Host for the handler at baseURL.
func New(baseURL string) *Host {
	return &Host{BaseURL: strings.TrimSuffix(baseURL, "/"), Timeout: DefaultTimeout, Client: &http.Client{}}
}

// WaitReady polls GET / like the host: any HTTP response means ready.
func (h *Host) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.BaseURL+"/", nil)
		resp, err := h.Client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("hostsim: handler not ready after %s: %w", ReadyTimeout, err)
		case <-time.After(ReadyInterval):
		}
	}
}

// Response is an invocation's outcome as the host sees it.
type Response struct {
	Status  int
	OK      bool // 2xx and a JSON body
	Outputs map[string]json.RawMessage
	Logs    []string
	Body    []byte
}

// Invoke posts one invocation.
func (h *Host) Invoke(ctx context.Context, function string, body []byte) (Response, error) {
	h.mu.Lock()
	h.Invocations++
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.BaseURL+"/"+function, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-InvocationId", uuid())
	req.Header.Set("X-Azure-Functions-HostVersion", HostVersion)
	req.Header.Set("User-Agent", "Azure-Functions-Host/"+HostVersion)
	resp, err := h.Client.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("hostsim: %s: %w", function, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("hostsim: %s: read response: %w", function, err)
	}
	r := Response{Status: resp.StatusCode, Body: b}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return r, nil // failed: Outputs and Logs discarded
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return r, nil
	}
	var parsed struct {
		Outputs map[string]json.RawMessage `json:"Outputs"`
		Logs    []string                   `json:"Logs"`
	}
	if len(bytes.TrimSpace(b)) == 0 || json.Unmarshal(b, &parsed) != nil {
		return r, nil // the real host fails (or hangs on an empty body)
	}
	r.OK, r.Outputs, r.Logs = true, parsed.Outputs, parsed.Logs
	if h.Logf != nil {
		for _, l := range parsed.Logs {
			h.Logf("%s: %s", function, l)
		}
	}
	return r, nil
}

// apply delivers queue outputs: an array gives one message per element,
// an object one message, each base64-encoded as the queue extension does.
func (h *Host) apply(ctx context.Context, r Response) (int, error) {
	n := 0
	for name, raw := range r.Outputs {
		q := h.Outputs[name]
		if q == nil {
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			items = []json.RawMessage{raw}
		}
		for _, it := range items {
			text := []byte(it)
			var s string
			if json.Unmarshal(it, &s) == nil {
				text = []byte(s)
			}
			if _, err := q.EnqueueMessage(ctx, base64.StdEncoding.EncodeToString(text), nil); err != nil {
				return n, fmt.Errorf("hostsim: queue output %s: %w", name, err)
			}
			n++
		}
	}
	return n, nil
}

// BlobResult is what TriggerBlob did.
type BlobResult struct {
	Attempts int
	Poisoned bool
	Messages int // queue messages the outputs produced
	Last     Response
}

// TriggerBlob invokes function for a blob like the blob trigger: retried
// until success or PoisonThreshold failures (then poisoned). between runs
// between attempts (tests restart storage there); it may be nil.
func (h *Host) TriggerBlob(ctx context.Context, function string, blob BlobEvent, between func(attempt int)) (BlobResult, error) {
	var res BlobResult
	body, err := BlobInvocation(function, blob)
	if err != nil {
		return res, err
	}
	for res.Attempts < PoisonThreshold {
		res.Attempts++
		r, err := h.Invoke(ctx, function, body)
		if err != nil {
			return res, err
		}
		res.Last = r
		if r.OK {
			res.Messages, err = h.apply(ctx, r)
			return res, err
		}
		if between != nil && res.Attempts < PoisonThreshold {
			between(res.Attempts)
		}
	}
	res.Poisoned = true
	h.mu.Lock()
	h.PoisonBlobs = append(h.PoisonBlobs, blob.Name)
	h.mu.Unlock()
	return res, nil
}

// Timer invokes a timer function once (timer triggers are not retried).
func (h *Host) Timer(ctx context.Context, function string) (Response, int, error) {
	r, err := h.Invoke(ctx, function, TimerInvocation(function))
	if err != nil || !r.OK {
		return r, 0, err
	}
	n, err := h.apply(ctx, r)
	return r, n, err
}

// QueueResult counts what DrainQueue did.
type QueueResult struct {
	Invocations int
	Succeeded   int
	Poisoned    int
}

// DrainQueue runs the queue trigger until q is empty (or ctx ends):
// dequeue with visibility, invoke, delete on success; on failure the
// message reappears after visibility, and after MaxDequeueCount failed
// deliveries it moves to poison.
func (h *Host) DrainQueue(ctx context.Context, function string, q, poison *azqueue.QueueClient, visibility time.Duration) (QueueResult, error) {
	var res QueueResult
	vis := int32(max(visibility/time.Second, 1))
	idle := 0
	for {
		resp, err := q.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: ptr(int32(16)), VisibilityTimeout: &vis})
		if err != nil {
			return res, fmt.Errorf("hostsim: dequeue: %w", err)
		}
		if len(resp.Messages) == 0 {
			// Invisible messages may come back: wait for them unless the
			// queue is really empty.
			props, err := q.GetProperties(ctx, nil)
			if err != nil {
				return res, err
			}
			if props.ApproximateMessagesCount == nil || *props.ApproximateMessagesCount == 0 {
				return res, nil
			}
			idle++
			if idle > 200 {
				return res, errors.New("hostsim: messages stay invisible")
			}
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		idle = 0
		for _, m := range resp.Messages {
			text, err := base64.StdEncoding.DecodeString(*m.MessageText)
			if err != nil {
				return res, fmt.Errorf("hostsim: message is not base64 (the host would fail it): %w", err)
			}
			body, err := QueueInvocation(function, QueueMessage{
				Text: string(text), DequeueCount: *m.DequeueCount, ID: *m.MessageID, PopReceipt: *m.PopReceipt,
				InsertionTime: deref(m.InsertionTime), ExpirationTime: deref(m.ExpirationTime), NextVisibleTime: deref(m.TimeNextVisible),
			})
			if err != nil {
				return res, err
			}
			res.Invocations++
			r, err := h.Invoke(ctx, function, body)
			if err != nil {
				return res, err
			}
			switch {
			case r.OK:
				res.Succeeded++
				if _, err := h.apply(ctx, r); err != nil {
					return res, err
				}
				if _, err := q.DeleteMessage(ctx, *m.MessageID, *m.PopReceipt, nil); err != nil {
					return res, err
				}
			case *m.DequeueCount >= MaxDequeueCount:
				res.Poisoned++
				if _, err := poison.EnqueueMessage(ctx, *m.MessageText, nil); err != nil {
					return res, err
				}
				if _, err := q.DeleteMessage(ctx, *m.MessageID, *m.PopReceipt, nil); err != nil {
					return res, err
				}
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
