package hostsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// EventGridBinding is AuditControl's trigger binding name.
const EventGridBinding = "event"

// EventGridMaxDeliveries is how often hostsim delivers a failing event
// (Event Grid's default retry policy is 30 attempts over 24 hours; a test
// needs only a few).
const EventGridMaxDeliveries = 3

// EventGridInvocation encodes an eventGridTrigger invocation as the host
// does for a custom handler (Microsoft.Azure.WebJobs.Extensions.EventGrid
// in Azure/azure-sdk-for-net): the trigger value is the event as a JToken,
// converted to the string a script function asks for by default with
// JToken.ToString(Formatting.Indented), which the host then serializes as
// a .NET string: Data.<binding> is the indented event text JSON-encoded
// twice. The binding data is {"data": event.data} (EventGridTrigger
// AttributeBindingProvider), an object in Metadata.data; plus sys.
func EventGridInvocation(function string, event []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(event, &obj); err != nil {
		return nil, fmt.Errorf("hostsim: event is not a JSON object: %w", err)
	}
	var text bytes.Buffer
	if err := json.Indent(&text, event, "", "  "); err != nil {
		return nil, err
	}
	md := map[string]any{"sys": sys(function)}
	if d, ok := obj["data"]; ok {
		md["data"] = d
	}
	return json.Marshal(map[string]any{
		"Data":     map[string]any{EventGridBinding: hostValue(text.String())},
		"Metadata": md,
	})
}

// EventGridResult is what TriggerEventGrid did.
type EventGridResult struct {
	Deliveries int
	Delivered  bool // a delivery succeeded (else Event Grid would go on, then dead-letter)
	Messages   int  // queue messages the outputs produced
	Last       Response
}

// TriggerEventGrid delivers one event the way Event Grid and the Event
// Grid extension do: the extension runs the function and answers 202 when
// it succeeded, 500 otherwise, and Event Grid delivers again (here up to
// EventGridMaxDeliveries times). Outputs of a successful invocation are
// applied before the extension answers.
func (h *Host) TriggerEventGrid(ctx context.Context, function string, event []byte) (EventGridResult, error) {
	var res EventGridResult
	body, err := EventGridInvocation(function, event)
	if err != nil {
		return res, err
	}
	for res.Deliveries < EventGridMaxDeliveries {
		res.Deliveries++
		r, err := h.Invoke(ctx, function, body)
		if err != nil {
			return res, err
		}
		res.Last = r
		if r.OK {
			res.Delivered = true
			res.Messages, err = h.apply(ctx, r)
			return res, err
		}
	}
	return res, nil
}
