package handler

import (
	"fmt"
	"net/http"
)

// handleAuditSweep runs one sweep on the timer. The timer payload
// ({"Schedule":…,"ScheduleStatus":…,"IsPastDue":…}) carries nothing the
// sweep needs. Storage errors on some blobs are logged and the invocation
// still succeeds with the detections of the blobs that committed: failing
// it would drop those (the host discards Outputs on non-2xx) while the
// failed blobs' cursors are unchanged and the next tick retries them.
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
		for _, br := range res.Results {
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
		if len(msgs) > 0 {
			outputs[bindingDetections] = msgs
		}
		logs = append(logs, fmt.Sprintf("sweep: %d blobs, %d discovered, %d closed, %d rows, %d detections, budget spent: %v",
			len(res.Results), res.Discovered, res.Closed, rows, findings, res.Budget))
		d.Log.InfoContext(ctx, "sweep done", "blobs", len(res.Results), "discovered", res.Discovered,
			"closed", res.Closed, "rows", rows, "detections", findings)
		writeOK(w, outputs, logs...)
	})
}
