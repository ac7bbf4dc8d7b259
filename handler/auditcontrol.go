package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/xelwatch/xelwatch/handler/internal/control"
)

// Controller processes one Event Grid event (*control.Processor).
type Controller interface {
	Process(ctx context.Context, raw []byte) (control.Result, error)
}

// handleAuditControl runs the platform rules on one Event Grid event
// (eventGridTrigger, binding "event"): Resource Manager operations and
// BlobDeleted of the audit account.
//
// How the host passes the event (Azure/azure-sdk-for-net,
// sdk/eventgrid/Microsoft.Azure.WebJobs.Extensions.EventGrid: the trigger
// binds to JToken, Config/EventGridExtensionConfigProvider.cs registers
// JToken→string with Formatting.Indented, and for a script function
// without dataType the host asks for string, JobHostMetadataProvider
// .GetDefaultType "common default"): Data.event is the event's JSON text,
// which GetHttpScriptInvocationContextValue serializes as a .NET string,
// so it arrives JSON-encoded twice like a queue message. Metadata.data is
// the event's data object (the binding data of
// TriggerBinding/EventGridTriggerAttributeBindingProvider.cs), sent as an
// object. Both encodings of Data.event (string once or twice, or an
// object) are accepted. handler/testdata/README.md has the details.
//
// A malformed event is acknowledged (2xx, logged): Event Grid would retry
// it for 24 hours for nothing. A transient storage error answers 500: the
// extension answers Event Grid 500 and it redelivers; ids derive from the
// event id, so the notifier sends each finding once.
func handleAuditControl(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		req, err := decodeInvocation(w, r)
		if err != nil {
			d.Log.WarnContext(ctx, "bad AuditControl body", "err", err.Error())
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if d.Control == nil {
			writeError(w, http.StatusServiceUnavailable, "AuditControl is not configured")
			return
		}
		raw, err := eventGridInput(req)
		if err == nil {
			var res control.Result
			res, err = d.Control.Process(ctx, raw)
			if err == nil {
				outputs, err := detectionOutputs(res.Findings)
				if err != nil {
					d.Log.ErrorContext(ctx, "encode detections", "err", err.Error())
					writeError(w, http.StatusInternalServerError, err.Error())
					return
				}
				d.Log.InfoContext(ctx, "control event", "event_type", res.Type, "operation", res.Op, "outcome", res.Outcome, "detections", len(res.Findings))
				writeOK(w, outputs, fmt.Sprintf("%s %s: %s, %d detections", res.Type, res.Op, res.Outcome, len(res.Findings)))
				return
			}
		}
		if errors.Is(err, control.ErrMalformed) || errors.Is(err, errBadRequest) {
			d.Log.WarnContext(ctx, "malformed Event Grid event; acknowledged, not retried", "err", err.Error())
			writeOK(w, nil, "malformed event, dropped: "+err.Error())
			return
		}
		d.Log.ErrorContext(ctx, "AuditControl failed; Event Grid will deliver again", "err", err.Error())
		writeError(w, http.StatusInternalServerError, "transient failure, retry")
	})
}

// eventGridInput returns the event's JSON text from Data.event: a string
// holding the JSON (encoded once or twice) or the object itself.
func eventGridInput(req invokeRequest) ([]byte, error) {
	raw, ok := req.Data[bindingEvent]
	if !ok {
		return nil, fmt.Errorf("%w: no Data.%s", errBadRequest, bindingEvent)
	}
	t := strings.TrimSpace(string(raw))
	if strings.HasPrefix(t, "{") {
		return []byte(t), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: Data.%s is neither an object nor a string", errBadRequest, bindingEvent)
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, `"`) {
		var inner string
		if err := json.Unmarshal([]byte(s), &inner); err != nil {
			return nil, fmt.Errorf("%w: Data.%s: bad double encoding", errBadRequest, bindingEvent)
		}
		s = inner
	}
	return []byte(s), nil
}
