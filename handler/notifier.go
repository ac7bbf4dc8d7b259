package handler

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/xelwatch/xelwatch/handler/internal/queuemsg"
)

// handleNotifier delivers one detection from the queue. Data.message is
// the message text: a (double-encoded) JSON string holding
// {"detection":{…}}, or already an object. Metadata.DequeueCount is a
// string. A channel failure answers 500: the host retries up to
// maxDequeueCount, then moves the message to <queue>-poison; the
// detection record stays (the notifier writes it before delivering).
func handleNotifier(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		req, err := decodeInvocation(w, r)
		if err != nil {
			d.Log.WarnContext(ctx, "bad Notifier body", "err", err.Error())
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		raw, ok := req.Data[bindingMessage]
		if !ok {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("bad Notifier body: no Data.%s", bindingMessage))
			return
		}
		msg, err := messageText(raw)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad Notifier body: "+err.Error())
			return
		}
		f, err := queuemsg.Unmarshal(msg)
		if err != nil {
			d.Log.WarnContext(ctx, "not a detection message", "err", err.Error())
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		attempt := 1
		if raw, ok := req.Metadata["DequeueCount"]; ok {
			n, err := hostInt(raw)
			if err != nil || n < 1 {
				writeError(w, http.StatusBadRequest, "bad Notifier body: Metadata.DequeueCount is not a positive number")
				return
			}
			attempt = int(min(n, 1<<20))
		}
		if err := d.Notifier.Notify(ctx, f); err != nil {
			d.Log.ErrorContext(ctx, "notify failed; the host will retry", "detection_id", f.DetectionID, "attempt", attempt, "err", err.Error())
			writeError(w, http.StatusInternalServerError, "notify "+f.DetectionID+": "+err.Error())
			return
		}
		writeOK(w, nil, fmt.Sprintf("detection %s (%s) handled, attempt %d", f.DetectionID, f.Rule, attempt))
	})
}

// messageText returns the queue message's text from Data.message: a JSON
// string encoded once or twice, or the JSON object itself.
func messageText(raw json.RawMessage) ([]byte, error) {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return raw, nil
		}
		break
	}
	s, err := hostString(raw)
	if err != nil {
		return nil, fmt.Errorf("queue message in Data.%s: %w", bindingMessage, err)
	}
	return []byte(s), nil
}
