package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
)

type fakeIngester struct {
	mu       sync.Mutex
	blobs    []string
	findings []detect.Finding
	err      error
	sweeps   int
	sweepErr error
}

func (f *fakeIngester) Ingest(_ context.Context, blob string, _ ingest.RunOptions) (ingest.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blobs = append(f.blobs, blob)
	if f.err != nil {
		return ingest.Result{}, f.err
	}
	return ingest.Result{Blob: blob, Outcome: ingest.OutcomeRead, Rows: 3, Findings: f.findings}, nil
}

func (f *fakeIngester) Sweep(_ context.Context, so ingest.SweepOptions) (ingest.SweepResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweeps++
	return ingest.SweepResult{Results: []ingest.Result{{Blob: "a.xel", Rows: 2, Findings: f.findings}}}, f.sweepErr
}

type fakeNotifier struct {
	mu  sync.Mutex
	got []detect.Finding
	err error
}

func (f *fakeNotifier) Notify(_ context.Context, fd detect.Finding) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, fd)
	return f.err
}

func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var sampleFinding = detect.Finding{DetectionID: "AUD-001-abc", Rule: "AUD-001", Title: "Audit disabled", Severity: detect.Critical,
	Time: time.Date(2026, 11, 21, 20, 31, 40, 0, time.UTC), Server: "srv1"}

// post sends an invocation the way the host does.
func post(t *testing.T, h http.Handler, fn, body string, contentType string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/"+fn, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-Azure-Functions-InvocationId", "6a7c3d2e-0000-4000-8000-000000000001")
	req.Header.Set("User-Agent", "Azure-Functions-Host/4.1037.0")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// response checks what the host checks: JSON content type and a JSON body.
func response(t *testing.T, w *httptest.ResponseRecorder) map[string]json.RawMessage {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json (the host fails anything else)", ct)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", w.Body.String(), err)
	}
	return body
}

const hostCT = "application/json; charset=utf-8"

func TestAuditBlob(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		body       string
		ct         string
		ingestErr  error
		wantStatus int
		wantBlob   string
	}{
		{name: "deferred/azure-url", body: golden(t, "auditblob-deferred.json"), ct: hostCT, wantStatus: 200,
			wantBlob: "srv1/db1/SqlDbAuditing_ServerAudit/2026-11-21/20_31_39_123_0.xel"},
		{name: "binary/azurite-url-RO", body: golden(t, "auditblob-binary-azurite.json"), ct: hostCT, wantStatus: 200,
			wantBlob: "srv1/db1/SqlDbAuditing_ServerAudit/2026-11-21/RO/20_31_39_123_0.xel"},
		{name: "single-encoded-uri", body: `{"Data":{},"Metadata":{"Uri":"https://a.blob.core.windows.net/sqldbauditlogs/s/d/a/2026-11-21/x.xel"}}`,
			ct: hostCT, wantStatus: 200, wantBlob: "s/d/a/2026-11-21/x.xel"},
		{name: "name-only", body: `{"Data":{},"Metadata":{"name":"\"s/d/a/2026-11-21/x.xel\""}}`, ct: hostCT, wantStatus: 200, wantBlob: "s/d/a/2026-11-21/x.xel"},
		{name: "escaped-uri", body: `{"Data":{},"Metadata":{"Uri":"\"https://a.blob.core.windows.net/sqldbauditlogs/my%20srv/d/a/2026-11-21/x.xel\""}}`,
			ct: hostCT, wantStatus: 200, wantBlob: "my srv/d/a/2026-11-21/x.xel"},
		{name: "transient", body: golden(t, "auditblob-deferred.json"), ct: hostCT, ingestErr: errors.New("503"), wantStatus: 500,
			wantBlob: "srv1/db1/SqlDbAuditing_ServerAudit/2026-11-21/20_31_39_123_0.xel"},
		{name: "bad/empty-body", body: ``, ct: hostCT, wantStatus: 400},
		{name: "bad/not-json", body: `<xml/>`, ct: hostCT, wantStatus: 400},
		{name: "bad/array", body: `[1,2]`, ct: hostCT, wantStatus: 400},
		{name: "bad/no-data-no-metadata", body: `{}`, ct: hostCT, wantStatus: 400},
		{name: "bad/trailing-garbage", body: `{"Data":{},"Metadata":{}} x`, ct: hostCT, wantStatus: 400},
		{name: "bad/content-type", body: golden(t, "auditblob-deferred.json"), ct: "text/plain", wantStatus: 400},
		{name: "bad/no-uri", body: `{"Data":{},"Metadata":{"sys":{}}}`, ct: hostCT, wantStatus: 400},
		{name: "bad/uri-number", body: `{"Data":{},"Metadata":{"Uri":42}}`, ct: hostCT, wantStatus: 400},
		{name: "bad/other-container", body: `{"Data":{},"Metadata":{"Uri":"\"https://a.blob.core.windows.net/other/x.xel\""}}`, ct: hostCT, wantStatus: 400},
		{name: "bad/container-only", body: `{"Data":{},"Metadata":{"Uri":"\"https://a.blob.core.windows.net/sqldbauditlogs/\""}}`, ct: hostCT, wantStatus: 400},
		{name: "bad/huge", body: `{"Data":{"blob":"` + strings.Repeat("A", MaxBodyBytes) + `"}}`, ct: hostCT, wantStatus: 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ing := &fakeIngester{err: tc.ingestErr, findings: []detect.Finding{sampleFinding}}
			h := NewServer(Deps{Ingester: ing, Notifier: &fakeNotifier{}, Container: "sqldbauditlogs"})
			w := post(t, h, FuncAuditBlob, tc.body, tc.ct)
			body := response(t, w)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.wantStatus, w.Body.String())
			}
			var gotBlob string
			if len(ing.blobs) > 0 {
				gotBlob = ing.blobs[0]
			}
			if gotBlob != tc.wantBlob {
				t.Errorf("ingested %q, want %q", gotBlob, tc.wantBlob)
			}
			if w.Code != 200 {
				return
			}
			var out struct {
				Detections []map[string]json.RawMessage `json:"detections"`
			}
			if err := json.Unmarshal(body["Outputs"], &out); err != nil {
				t.Fatalf("Outputs: %v", err)
			}
			if len(out.Detections) != 1 || out.Detections[0]["detection"] == nil {
				t.Fatalf("Outputs.detections = %s, want one {\"detection\":…} object", body["Outputs"])
			}
			var f detect.Finding
			if err := json.Unmarshal(out.Detections[0]["detection"], &f); err != nil || f.DetectionID != sampleFinding.DetectionID {
				t.Errorf("detection = %+v (%v), want id %s", f, err, sampleFinding.DetectionID)
			}
		})
	}
}

func TestAuditBlobNoFindingsHasEmptyOutputs(t *testing.T) {
	t.Parallel()
	h := NewServer(Deps{Ingester: &fakeIngester{}, Container: "sqldbauditlogs"})
	w := post(t, h, FuncAuditBlob, golden(t, "auditblob-deferred.json"), hostCT)
	body := response(t, w)
	if got := string(body["Outputs"]); got != "{}" {
		t.Errorf("Outputs = %s, want {} (no queue message)", got)
	}
}

func TestAuditSweep(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		body       string
		sweepErr   error
		wantStatus int
		wantSweeps int
		wantMsgs   int
	}{
		{name: "timer", body: golden(t, "auditsweep-timer.json"), wantStatus: 200, wantSweeps: 1, wantMsgs: 1},
		{name: "partial-failure-keeps-detections", body: golden(t, "auditsweep-timer.json"), sweepErr: errors.New("table 503"), wantStatus: 200, wantSweeps: 1, wantMsgs: 1},
		{name: "bad/not-json", body: `timer`, wantStatus: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ing := &fakeIngester{findings: []detect.Finding{sampleFinding}, sweepErr: tc.sweepErr}
			h := NewServer(Deps{Ingester: ing, Container: "sqldbauditlogs"})
			w := post(t, h, FuncAuditSweep, tc.body, hostCT)
			body := response(t, w)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tc.wantStatus)
			}
			if ing.sweeps != tc.wantSweeps {
				t.Errorf("sweeps = %d, want %d", ing.sweeps, tc.wantSweeps)
			}
			if w.Code != 200 {
				return
			}
			var out struct {
				Detections []json.RawMessage `json:"detections"`
			}
			_ = json.Unmarshal(body["Outputs"], &out)
			if len(out.Detections) != tc.wantMsgs {
				t.Errorf("messages = %d, want %d", len(out.Detections), tc.wantMsgs)
			}
		})
	}
}

func TestNotifier(t *testing.T) {
	t.Parallel()
	msg := func(dequeue, data string) string {
		return `{"Data":{"message":` + data + `},"Metadata":{"DequeueCount":` + dequeue + `}}`
	}
	const okText = `{"detection":{"detection_id":"d1","rule":"EXF-001","severity":"high"}}`
	once, _ := json.Marshal(okText)
	twice, _ := json.Marshal(string(once))
	cases := []struct {
		name       string
		body       string
		notifyErr  error
		wantStatus int
		wantID     string
	}{
		{name: "golden", body: golden(t, "notifier-queue.json"), wantStatus: 200, wantID: "EXF-001-4f2a9c"},
		{name: "double-encoded", body: msg(`"3"`, string(twice)), wantStatus: 200, wantID: "d1"},
		{name: "single-encoded", body: msg(`"1"`, string(once)), wantStatus: 200, wantID: "d1"},
		{name: "object", body: msg(`1`, okText), wantStatus: 200, wantID: "d1"},
		{name: "channel-fails", body: golden(t, "notifier-queue.json"), notifyErr: errors.New("webhook: status 502"), wantStatus: 500, wantID: "EXF-001-4f2a9c"},
		{name: "bad/no-message", body: `{"Data":{},"Metadata":{"DequeueCount":"1"}}`, wantStatus: 400},
		{name: "bad/not-detection", body: msg(`"1"`, `"\"hello!!\""`), wantStatus: 400},
		{name: "bad/unwrapped", body: msg(`"1"`, `"{\"detection_id\":\"d1\",\"rule\":\"r\"}"`), wantStatus: 400},
		{name: "bad/dequeue-count", body: msg(`"abc"`, string(twice)), wantStatus: 400},
		{name: "bad/message-number", body: msg(`"1"`, `12`), wantStatus: 400},
		{name: "bad/truncated-json", body: `{"Data":{"message":"\"{\\\"detection\\\":`, wantStatus: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := &fakeNotifier{err: tc.notifyErr}
			h := NewServer(Deps{Ingester: &fakeIngester{}, Notifier: n, Container: "sqldbauditlogs"})
			w := post(t, h, FuncNotifier, tc.body, hostCT)
			response(t, w)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.wantStatus, w.Body.String())
			}
			var gotID string
			if len(n.got) > 0 {
				gotID = n.got[0].DetectionID
			}
			if gotID != tc.wantID {
				t.Errorf("notified %q, want %q", gotID, tc.wantID)
			}
		})
	}
}

func TestReadinessAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	h := NewServer(Deps{Ingester: &fakeIngester{}, Notifier: &fakeNotifier{}, Container: "sqldbauditlogs"})
	cases := []struct {
		method, path string
		want         int
	}{
		{"GET", "/", 200},
		{"GET", "/AuditBlob", 405},
		{"POST", "/auditblob", 404}, // routes are case-sensitive, like folder names
		{"POST", "/Nope", 404},
	}
	for _, tc := range cases {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, bytes.NewReader(nil)))
			if w.Code != tc.want {
				t.Errorf("%s %s = %d, want %d", tc.method, tc.path, w.Code, tc.want)
			}
		})
	}
}

type panicIngester struct{ *fakeIngester }

func (panicIngester) Ingest(context.Context, string, ingest.RunOptions) (ingest.Result, error) {
	panic("bug")
}

func TestPanicBecomes500(t *testing.T) {
	t.Parallel()
	h := NewServer(Deps{Ingester: panicIngester{&fakeIngester{}}, Container: "sqldbauditlogs"})
	w := post(t, h, FuncAuditBlob, golden(t, "auditblob-deferred.json"), hostCT)
	response(t, w)
	if w.Code != 500 {
		t.Errorf("status = %d, want 500", w.Code)
	}
}

func TestNotReadyAnswers503(t *testing.T) {
	t.Parallel()
	ing := &fakeIngester{}
	h := NewServer(Deps{Ingester: ing, Container: "sqldbauditlogs", Ready: func() error { return errors.New("creating tables") }})
	w := post(t, h, FuncAuditBlob, golden(t, "auditblob-deferred.json"), hostCT)
	response(t, w)
	if w.Code != 503 || len(ing.blobs) != 0 {
		t.Errorf("status = %d, ingested %d; want 503 and nothing", w.Code, len(ing.blobs))
	}
}

// TestRoutesMatchFunctionFolders: the host posts to /<folder name>, and the
// mux is case-sensitive.
func TestRoutesMatchFunctionFolders(t *testing.T) {
	t.Parallel()
	dirs, err := filepath.Glob(filepath.Join("..", "functions", "*", "function.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no functions/*/function.json: %v", err)
	}
	mux := http.NewServeMux() // NewServer's routes, without its body reader around them
	addRoutes(mux, Deps{Ingester: &fakeIngester{}, Notifier: &fakeNotifier{}, Container: "sqldbauditlogs"})
	var folders []string
	for _, fj := range dirs {
		name := filepath.Base(filepath.Dir(fj))
		folders = append(folders, name)
		b, err := os.ReadFile(fj)
		if err != nil {
			t.Fatal(err)
		}
		var def struct {
			Bindings []map[string]any `json:"bindings"`
		}
		if err := json.Unmarshal(b, &def); err != nil {
			t.Fatalf("%s: %v", fj, err)
		}
		triggers := 0
		for _, bd := range def.Bindings {
			if typ, _ := bd["type"].(string); strings.HasSuffix(typ, "Trigger") {
				triggers++
			}
		}
		if triggers != 1 {
			t.Errorf("%s: %d triggers, want 1", fj, triggers)
		}
		req := httptest.NewRequest(http.MethodPost, "/"+name, nil)
		if _, pattern := mux.Handler(req); pattern != "POST /"+name {
			t.Errorf("folder %s: route pattern %q, want %q", name, pattern, "POST /"+name)
		}
	}
	for _, fn := range []string{FuncAuditBlob, FuncAuditSweep, FuncNotifier} {
		found := false
		for _, f := range folders {
			found = found || f == fn
		}
		if !found {
			t.Errorf("route %s has no functions/%s/function.json", fn, fn)
		}
	}
}

// TestFunctionBindings pins the binding choices the handler depends on.
func TestFunctionBindings(t *testing.T) {
	t.Parallel()
	read := func(name string) []map[string]any {
		b, err := os.ReadFile(filepath.Join("..", "functions", name, "function.json"))
		if err != nil {
			t.Fatal(err)
		}
		var def struct {
			Bindings []map[string]any `json:"bindings"`
		}
		if err := json.Unmarshal(b, &def); err != nil {
			t.Fatal(err)
		}
		return def.Bindings
	}
	byName := func(bs []map[string]any, n string) map[string]any {
		for _, b := range bs {
			if b["name"] == n {
				return b
			}
		}
		t.Fatalf("no binding %q", n)
		return nil
	}
	blob := byName(read(FuncAuditBlob), "blob")
	if props, _ := blob["properties"].(map[string]any); props["supportsDeferredBinding"] != true {
		t.Errorf("AuditBlob: supportsDeferredBinding not set: the host would ship whole blobs")
	}
	if blob["path"] != "%XELWATCH_AUDIT_CONTAINER%/{name}" || blob["connection"] != "AuditStorage" {
		t.Errorf("AuditBlob trigger = %v", blob)
	}
	for _, fn := range []string{FuncAuditBlob, FuncAuditSweep} {
		out := byName(read(fn), bindingDetections)
		if out["type"] != "queue" || out["direction"] != "out" || out["queueName"] != "%XELWATCH_DETECTIONS_QUEUE%" {
			t.Errorf("%s output = %v", fn, out)
		}
	}
	q := byName(read(FuncNotifier), bindingMessage)
	if q["type"] != "queueTrigger" || q["queueName"] != "%XELWATCH_DETECTIONS_QUEUE%" {
		t.Errorf("Notifier trigger = %v", q)
	}
	if byName(read(FuncAuditSweep), "timer")["schedule"] != "%XELWATCH_SWEEP_SCHEDULE%" {
		t.Errorf("AuditSweep schedule is not the setting")
	}
}

func TestHostString(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string
		err      bool
	}{
		{in: `"\"stringTest\""`, want: "stringTest"},
		{in: `"plain"`, want: "plain"},
		{in: `"\"a \\\"quoted\\\" b\""`, want: `a "quoted" b`},
		{in: `"\""`, want: `"`},
		{in: `12`, err: true},
		{in: `{}`, err: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := hostString(json.RawMessage(tc.in))
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("hostString(%s) = %q, %v; want %q, err %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzInvocations(f *testing.F) {
	for _, n := range []string{"auditblob-deferred.json", "auditblob-binary-azurite.json", "notifier-queue.json", "auditsweep-timer.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	h := NewServer(Deps{Ingester: &fakeIngester{}, Notifier: &fakeNotifier{}, Container: "sqldbauditlogs"})
	f.Fuzz(func(t *testing.T, body string) {
		for _, fn := range []string{FuncAuditBlob, FuncAuditSweep, FuncNotifier} {
			req := httptest.NewRequest(http.MethodPost, "/"+fn, strings.NewReader(body))
			req.Header.Set("Content-Type", hostCT)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code == 500 {
				t.Fatalf("%s: 500 on a body the fakes accept: %s", fn, w.Body.String())
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s: response is not JSON", fn)
			}
		}
	})
}

type fakeOutbox struct {
	mu       sync.Mutex
	findings []detect.Finding
	err      error
	before   time.Time
	max      int
}

func (f *fakeOutbox) ListUndispatched(_ context.Context, before time.Time, max int) ([]detect.Finding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.before, f.max = before, max
	return f.findings, f.err
}

// TestAuditSweepRedispatch: pending findings join the sweep's output once
// each, minus those the sweep emits itself; a listing error keeps the
// invocation (and the rest of its output) successful.
func TestAuditSweepRedispatch(t *testing.T) {
	t.Parallel()
	lost := detect.Finding{DetectionID: "EXF-001-lost", Rule: "EXF-001", Severity: detect.High, Time: sampleFinding.Time}
	cases := []struct {
		name       string
		outbox     *fakeOutbox
		after      time.Duration
		wantIDs    []string
		wantBefore time.Duration // before ≈ now - wantBefore
		wantLog    string
	}{
		{name: "no-outbox", wantIDs: []string{sampleFinding.DetectionID}},
		{name: "default-age", outbox: &fakeOutbox{findings: []detect.Finding{lost}},
			wantIDs: []string{sampleFinding.DetectionID, lost.DetectionID}, wantBefore: DefaultRedispatchAfter},
		{name: "at-once-dedup", outbox: &fakeOutbox{findings: []detect.Finding{sampleFinding, lost, lost}}, after: -1,
			wantIDs: []string{sampleFinding.DetectionID, lost.DetectionID}, wantBefore: 0},
		{name: "custom-age", outbox: &fakeOutbox{findings: []detect.Finding{lost}}, after: time.Hour,
			wantIDs: []string{sampleFinding.DetectionID, lost.DetectionID}, wantBefore: time.Hour},
		{name: "list-error-keeps-output", outbox: &fakeOutbox{findings: []detect.Finding{lost}, err: errors.New("table 503")},
			wantIDs: []string{sampleFinding.DetectionID, lost.DetectionID}, wantBefore: DefaultRedispatchAfter, wantLog: "redispatch incomplete"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ing := &fakeIngester{findings: []detect.Finding{sampleFinding}}
			d := Deps{Ingester: ing, Container: "sqldbauditlogs", RedispatchAfter: tc.after}
			if tc.outbox != nil {
				d.Outbox = tc.outbox
			}
			start := time.Now()
			w := post(t, NewServer(d), FuncAuditSweep, golden(t, "auditsweep-timer.json"), hostCT)
			end := time.Now()
			body := response(t, w)
			if w.Code != 200 {
				t.Fatalf("status = %d, want 200; body %s", w.Code, w.Body.String())
			}
			var out struct {
				Detections []struct {
					Detection detect.Finding `json:"detection"`
				} `json:"detections"`
			}
			if err := json.Unmarshal(body["Outputs"], &out); err != nil {
				t.Fatalf("Outputs %s: %v", body["Outputs"], err)
			}
			var got []string
			for _, m := range out.Detections {
				got = append(got, m.Detection.DetectionID)
			}
			if strings.Join(got, ",") != strings.Join(tc.wantIDs, ",") {
				t.Errorf("emitted %v, want %v", got, tc.wantIDs)
			}
			if tc.outbox != nil {
				lo, hi := start.Add(-tc.wantBefore), end.Add(-tc.wantBefore)
				if tc.outbox.before.Before(lo) || tc.outbox.before.After(hi) {
					t.Errorf("listed before %s, want between %s and %s", tc.outbox.before, lo, hi)
				}
				if tc.outbox.max != maxRedispatch {
					t.Errorf("listed max %d, want %d", tc.outbox.max, maxRedispatch)
				}
			}
			if tc.wantLog != "" && !strings.Contains(string(body["Logs"]), tc.wantLog) {
				t.Errorf("Logs = %s, want %q", body["Logs"], tc.wantLog)
			}
		})
	}
}
