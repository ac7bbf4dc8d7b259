package hostsim

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// hostValue converts a .NET-side value as GetHttpScriptInvocationContextValue
// does: strings and numbers are JSON-serialized and then embedded as a JSON
// string (so strings arrive double-encoded and numbers as "1"); times are
// ISO strings; objects stay objects.
func hostValue(v any) any {
	switch x := v.(type) {
	case string:
		b, _ := json.Marshal(x)
		return string(b)
	case int, int32, int64:
		b, _ := json.Marshal(x)
		return string(b)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.Format("2006-01-02T15:04:05-07:00")
	default:
		return v
	}
}

func sys(function string) map[string]any {
	return map[string]any{"MethodName": function, "UtcNow": time.Now().UTC().Format("2006-01-02T15:04:05.0000000Z"), "RandGuid": uuid()}
}

// metadata drops keys ending in "trigger" (case-insensitive), as the host
// does, and adds sys.
func metadata(function string, m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if strings.HasSuffix(strings.ToLower(k), "trigger") {
			continue
		}
		out[k] = hostValue(v)
	}
	out["sys"] = sys(function)
	return out
}

// BlobEvent describes the blob a trigger announces.
type BlobEvent struct {
	URI          string // full blob URL (Azurite: path-style)
	Name         string // path parameter {name}
	Length       int64
	BlobType     int // 0 block, 1 page, 2 append
	LastModified time.Time
	// Bytes, when set, is shipped base64 as with dataType binary instead
	// of the deferred-binding descriptor.
	Bytes []byte
}

// BlobInvocation encodes a blob trigger invocation (deferred binding).
func BlobInvocation(function string, b BlobEvent) ([]byte, error) {
	var data any = map[string]any{
		"Source": "AzureStorageBlobs", "Version": "1.0",
		"Content":     map[string]any{"IsEmpty": b.Length == 0, "Length": b.Length, "MediaType": "application/octet-stream"},
		"ContentType": "application/json",
	}
	if b.Bytes != nil {
		data = b.Bytes // []byte marshals as base64, as Newtonsoft does
	}
	lm := b.LastModified
	if lm.IsZero() {
		lm = time.Now().UTC()
	}
	md := metadata(function, map[string]any{
		"BlobTrigger": "sqldbauditlogs/" + b.Name, // dropped, as by the host
		"Uri":         b.URI,
		"Properties": map[string]any{
			"LastModified": lm.Format("2006-01-02T15:04:05-07:00"), "CreatedOn": lm.Format("2006-01-02T15:04:05-07:00"),
			"Metadata": map[string]any{}, "BlobType": b.BlobType, "ContentLength": b.Length,
			"ContentType": "application/octet-stream", "ETag": map[string]any{}, "AcceptRanges": "bytes",
		},
		"Metadata": map[string]any{},
		"name":     b.Name,
	})
	return json.Marshal(map[string]any{"Data": map[string]any{"blob": data}, "Metadata": md})
}

// QueueMessage is one dequeued message.
type QueueMessage struct {
	Text                                           string // decoded message text
	DequeueCount                                   int64
	ID, PopReceipt                                 string
	InsertionTime, ExpirationTime, NextVisibleTime time.Time
}

// QueueInvocation encodes a queue trigger invocation: Data.message is the
// text, double-encoded; a JSON-object message has its top-level non-array
// properties merged into Metadata (objects as objects, scalars as strings).
func QueueInvocation(function string, m QueueMessage) ([]byte, error) {
	md := map[string]any{}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(m.Text), &obj) == nil {
		for k, raw := range obj {
			var o map[string]any
			var a []any
			switch {
			case json.Unmarshal(raw, &a) == nil:
				continue
			case json.Unmarshal(raw, &o) == nil:
				md[k] = o
			default:
				var s string
				if json.Unmarshal(raw, &s) != nil {
					s = string(raw)
				}
				md[k] = s
			}
		}
	}
	for k, v := range map[string]any{
		"QueueTrigger": m.Text, "DequeueCount": m.DequeueCount, "Id": m.ID, "PopReceipt": m.PopReceipt,
		"InsertionTime": m.InsertionTime, "ExpirationTime": m.ExpirationTime, "NextVisibleTime": m.NextVisibleTime,
	} {
		md[k] = v // real metadata overwrites merged keys of the same name
	}
	return json.Marshal(map[string]any{
		"Data":     map[string]any{"message": hostValue(m.Text)},
		"Metadata": metadata(function, md),
	})
}

// TimerInvocation encodes a timer invocation of a schedule firing more
// than once a minute (ScheduleStatus null).
func TimerInvocation(function string) []byte {
	b, _ := json.Marshal(map[string]any{
		"Data":     map[string]any{"timer": map[string]any{"Schedule": map[string]any{"AdjustForDST": true}, "ScheduleStatus": nil, "IsPastDue": false}},
		"Metadata": metadata(function, nil),
	})
	return b
}
