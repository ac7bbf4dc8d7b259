package handler

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
)

// Outbox lists the findings ingestion recorded pending before committing
// their cursor and no notifier has seen since (*store.Store).
type Outbox interface {
	ListUndispatched(ctx context.Context, before time.Time, max int) ([]detect.Finding, error)
}

// DefaultRedispatchAfter is how long a finding stays pending before the
// sweep sends it again: well above the usual gap between an invocation's
// answer and the notifier recording its message.
const DefaultRedispatchAfter = 5 * time.Minute

// maxRedispatch bounds the findings one sweep re-emits.
const maxRedispatch = 100

// handleAuditSweep runs one sweep on the timer. The timer payload
// ({"Schedule":…,"ScheduleStatus":…,"IsPastDue":…}) carries nothing the
// sweep needs. Storage errors on some blobs are logged and the invocation
// still succeeds with the detections of the blobs that committed: failing
// it would drop those (the host discards Outputs on non-2xx) while the
// failed blobs' cursors are unchanged and the next tick retries them.
//
// The sweep is also the outbox's relay. Findings leave through the queue
// output binding, which the host applies only after the handler answered,
// whereas the cursor commits inside the invocation; ingestion therefore
// puts every finding in the outbox before the commit, and the notifier
// takes it out when its message arrives. After its own
// ingestion the sweep adds to its output the findings still pending after
// RedispatchAfter (at most maxRedispatch per run, each once): those whose
// invocation's outputs were lost with the host. A finding whose first
// message was merely slow goes out twice; that is harmless because the
// notifier claims each (detection, channel) delivery once.
func handleAuditSweep(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if _, err := decodeInvocation(w, r); err != nil {
			d.Log.WarnContext(ctx, "bad AuditSweep body", "err", err.Error())
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		so := d.Sweep
		so.Owner = r.Header.Get("X-Azure-Functions-InvocationId")
		res, err := d.Ingester.Sweep(ctx, so)
		logs := []string{}
		if err != nil {
			d.Log.ErrorContext(ctx, "sweep incomplete; the next run continues", "err", err.Error())
			logs = append(logs, "sweep incomplete: "+err.Error())
		}
		var rows int
		findings := 0
		outputs := map[string]any{}
		var msgs []any
		// The sweep's own findings (AUD-016, heartbeat) travel like a
		// blob's: already in the outbox, now on the queue output.
		all := append(res.Results, ingest.Result{Findings: res.Findings})
		for _, br := range all {
			rows += br.Rows
			o, err := detectionOutputs(br.Findings)
			if err != nil {
				d.Log.ErrorContext(ctx, "encode detections", "err", err.Error())
				writeError(w, http.StatusInternalServerError, err.Error())
				return
			}
			if m, ok := o[bindingDetections].([]any); ok {
				msgs = append(msgs, m...)
				findings += len(m)
			}
		}
		again, err := redispatch(ctx, d, all)
		if err != nil {
			// Logged, not failed: failing would drop this run's outputs;
			// the next tick lists the pending findings again.
			d.Log.ErrorContext(ctx, "list undispatched detections", "err", err.Error())
			logs = append(logs, "redispatch incomplete: "+err.Error())
		}
		if o, err := detectionOutputs(again); err != nil {
			d.Log.ErrorContext(ctx, "encode detections", "err", err.Error())
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		} else if m, ok := o[bindingDetections].([]any); ok {
			msgs = append(msgs, m...)
		}
		if len(msgs) > 0 {
			outputs[bindingDetections] = msgs
		}
		logs = append(logs, fmt.Sprintf("sweep: %d blobs, %d discovered, %d closed, %d rows, %d detections, %d re-emitted, budget spent: %v",
			len(res.Results), res.Discovered, res.Closed, rows, findings, len(again), res.Budget))
		d.Log.InfoContext(ctx, "sweep done", "blobs", len(res.Results), "discovered", res.Discovered,
			"closed", res.Closed, "rows", rows, "detections", findings, "redispatched", len(again))
		writeOK(w, outputs, logs...)
	})
}

// redispatch returns the pending findings older than RedispatchAfter that
// are not among this sweep's own findings, each once.
func redispatch(ctx context.Context, d Deps, results []ingest.Result) ([]detect.Finding, error) {
	if d.Outbox == nil {
		return nil, nil
	}
	after := d.RedispatchAfter
	if after == 0 {
		after = DefaultRedispatchAfter
	}
	pending, err := d.Outbox.ListUndispatched(ctx, time.Now().Add(-max(after, 0)), maxRedispatch)
	seen := map[string]bool{}
	for _, r := range results {
		for _, f := range r.Findings {
			seen[f.DetectionID] = true
		}
	}
	var out []detect.Finding
	for _, f := range pending {
		if seen[f.DetectionID] {
			continue
		}
		seen[f.DetectionID] = true
		out = append(out, f)
	}
	if err != nil {
		return out, fmt.Errorf("redispatch: %w", err)
	}
	return out, nil
}
