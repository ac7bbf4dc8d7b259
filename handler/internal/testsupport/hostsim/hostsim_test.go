package hostsim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, b []byte) map[string]map[string]json.RawMessage {
	t.Helper()
	var m map[string]map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func golden(t *testing.T, name string) map[string]map[string]json.RawMessage {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return load(t, b)
}

// kind classifies a raw JSON value the way the handler must tell them
// apart: a double-encoded string, a plain string, an object, a number.
func kind(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.HasPrefix(s, `"`) {
			return "string2"
		}
		return "string"
	}
	switch strings.TrimSpace(string(raw))[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case 'n':
		return "null"
	}
	return "number"
}

// TestEncodingMatchesGolden checks the harness against the golden bodies
// (shaped after real captures), so that it is not only checked against
// itself.
func TestEncodingMatchesGolden(t *testing.T) {
	t.Parallel()
	blob, err := BlobInvocation("AuditBlob", BlobEvent{URI: "https://a.blob.core.windows.net/sqldbauditlogs/s/d/a/2026-11-21/x.xel", Name: "s/d/a/2026-11-21/x.xel", Length: 10, BlobType: 2})
	if err != nil {
		t.Fatal(err)
	}
	queue, err := QueueInvocation("Notifier", QueueMessage{Text: `{"detection":{"detection_id":"d","rule":"r"}}`, DequeueCount: 1, ID: "i", PopReceipt: "p",
		InsertionTime: time.Now(), ExpirationTime: time.Now(), NextVisibleTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	eg, err := EventGridInvocation("AuditControl", []byte(`{"id":"1","eventType":"Microsoft.Resources.ResourceWriteSuccess","subject":"/s","eventTime":"2026-11-21T20:30:05Z","dataVersion":"2","metadataVersion":"1","topic":"/subscriptions/x","data":{"operationName":"Microsoft.Sql/servers/auditingSettings/write"}}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		got    []byte
		golden string
	}{
		{"eventgrid", eg, "auditcontrol-eventgrid.json"},
		{"blob", blob, "auditblob-deferred.json"},
		{"queue", queue, "notifier-queue.json"},
		{"timer", TimerInvocation("AuditSweep"), "auditsweep-timer.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, want := load(t, tc.got), golden(t, tc.golden)
			for _, part := range []string{"Data", "Metadata"} {
				var gk, wk []string
				for k := range got[part] {
					gk = append(gk, k)
				}
				for k := range want[part] {
					wk = append(wk, k)
				}
				slices.Sort(gk)
				slices.Sort(wk)
				if !slices.Equal(gk, wk) {
					t.Errorf("%s keys = %v, golden %v", part, gk, wk)
				}
				for k, w := range want[part] {
					if g, ok := got[part][k]; ok && kind(g) != kind(w) && !(kind(w) == "null" || kind(g) == "null") {
						t.Errorf("%s.%s is %s, golden %s", part, k, kind(g), kind(w))
					}
				}
				for k := range got[part] {
					if strings.HasSuffix(strings.ToLower(k), "trigger") {
						t.Errorf("%s.%s sent: the host drops keys ending in trigger", part, k)
					}
				}
			}
		})
	}
}

func TestInvokeInterpretsLikeHost(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		ct     string
		body   string
		wantOK bool
	}{
		{"ok", 200, "application/json", `{"Outputs":{"detections":[{"detection":{}}]},"Logs":["x"]}`, true},
		{"ok-lowercase-keys", 200, "application/json; charset=utf-8", `{"outputs":{},"logs":[]}`, true},
		{"server-error", 500, "application/json", `{"Outputs":{"detections":[{}]}}`, false},
		{"bad-request", 400, "application/json", `{}`, false},
		{"text-plain", 200, "text/plain", `{}`, false},
		{"empty-body", 200, "application/json", ``, false},
		{"not-json", 200, "application/json", `ok`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var gotHeaders http.Header
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotHeaders = r.Header.Clone()
				w.Header().Set("Content-Type", tc.ct)
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			h := New(srv.URL)
			if err := h.WaitReady(context.Background()); err != nil {
				t.Fatal(err)
			}
			r, err := h.Invoke(context.Background(), "AuditBlob", TimerInvocation("AuditBlob"))
			if err != nil {
				t.Fatal(err)
			}
			if r.OK != tc.wantOK {
				t.Errorf("OK = %v, want %v", r.OK, tc.wantOK)
			}
			if !r.OK && r.Outputs != nil {
				t.Errorf("outputs of a failed invocation kept: %v", r.Outputs)
			}
			if gotHeaders.Get("X-Azure-Functions-InvocationId") == "" || !strings.HasPrefix(gotHeaders.Get("User-Agent"), "Azure-Functions-Host/") {
				t.Errorf("host headers missing: %v", gotHeaders)
			}
		})
	}
}

func TestTriggerBlobRetriesThenPoisons(t *testing.T) {
	t.Parallel()
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(503)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	h := New(srv.URL)
	res, err := h.TriggerBlob(context.Background(), "AuditBlob", BlobEvent{URI: srv.URL + "/acct/c/x.xel", Name: "x.xel"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if calls != PoisonThreshold || !res.Poisoned || len(h.PoisonBlobs) != 1 {
		t.Errorf("calls = %d, poisoned = %v (%v); want %d attempts then poison", calls, res.Poisoned, h.PoisonBlobs, PoisonThreshold)
	}
}
