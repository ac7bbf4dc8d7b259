package handler

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/control"
)

type fakeController struct {
	got [][]byte
	res control.Result
	err error
}

func (f *fakeController) Process(_ context.Context, raw []byte) (control.Result, error) {
	f.got = append(f.got, raw)
	return f.res, f.err
}

// TestAuditControlGolden: the golden body (the host's shape: Data.event
// is the indented event text JSON-encoded twice) reaches the processor as
// the event's JSON, and findings become queue outputs.
func TestAuditControlGolden(t *testing.T) {
	fc := &fakeController{res: control.Result{Outcome: control.OutcomeFindings, Findings: []detect.Finding{sampleFinding}}}
	h := NewServer(Deps{Control: fc})
	w := post(t, h, FuncAuditControl, golden(t, "auditcontrol-eventgrid.json"), "application/json; charset=utf-8")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if len(fc.got) != 1 {
		t.Fatalf("processor called %d times", len(fc.got))
	}
	var ev struct {
		ID   string `json:"id"`
		Data struct {
			OperationName string `json:"operationName"`
		} `json:"data"`
	}
	if err := json.Unmarshal(fc.got[0], &ev); err != nil || ev.ID != "4a6c8b1e-0000-4000-8000-00000000a001" || ev.Data.OperationName != "Microsoft.Sql/servers/auditingSettings/write" {
		t.Fatalf("event = %+v, err %v; raw %.200s", ev, err, fc.got[0])
	}
	var resp invokeResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := resp.Outputs[bindingDetections].([]any); len(msgs) != 1 {
		t.Errorf("outputs = %v, want one detection", resp.Outputs)
	}
}

func TestAuditControlEncodings(t *testing.T) {
	const ev = `{"id":"e","eventType":"t","eventTime":"2026-11-21T20:30:05Z","data":{}}`
	once, _ := json.Marshal(ev)
	twice, _ := json.Marshal(string(once))
	for name, data := range map[string]string{"object": ev, "string": string(once), "double": string(twice)} {
		t.Run(name, func(t *testing.T) {
			fc := &fakeController{res: control.Result{Outcome: control.OutcomeNone}}
			w := post(t, NewServer(Deps{Control: fc}), FuncAuditControl, `{"Data":{"event":`+data+`},"Metadata":{}}`, "application/json")
			if w.Code != http.StatusOK || len(fc.got) != 1 || string(fc.got[0]) != ev {
				t.Fatalf("status %d, got %q", w.Code, fc.got)
			}
		})
	}
}

// TestAuditControlOutcomes: malformed input is acknowledged (Event Grid
// must not retry it for a day); a transient error fails the invocation.
func TestAuditControlOutcomes(t *testing.T) {
	cases := []struct {
		name, body string
		err        error
		want       int
	}{
		{"malformed event", `{"Data":{"event":"{}"}}`, control.ErrMalformed, http.StatusOK},
		{"no event binding", `{"Data":{"other":"x"},"Metadata":{}}`, nil, http.StatusOK},
		{"event is a number", `{"Data":{"event":12},"Metadata":{}}`, nil, http.StatusOK},
		{"transient", `{"Data":{"event":"{}"}}`, errors.New("store: 503"), http.StatusInternalServerError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeController{err: tc.err}
			w := post(t, NewServer(Deps{Control: fc}), FuncAuditControl, tc.body, "application/json")
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == http.StatusOK && strings.Contains(w.Body.String(), `"detections"`) {
				t.Errorf("outputs on a dropped event: %s", w.Body)
			}
		})
	}
}
