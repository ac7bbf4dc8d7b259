package control

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/detect"
)

// resourceEvent is a Resource Manager event in the documented schema
// (Azure Resource Manager as an Event Grid source: authorization, claims,
// correlationId, httpRequest, operationName, resourceProvider,
// resourceUri, status, subscriptionId, tenantId).
func resourceEvent(mut func(ev, data map[string]any)) []byte {
	uri := "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Sql/servers/srv1/auditingSettings/default"
	data := map[string]any{
		"authorization": map[string]any{"scope": uri, "action": "Microsoft.Sql/servers/auditingSettings/write", "evidence": map[string]any{"role": "Contributor"}},
		"claims": map[string]any{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "mallory@contoso.com", "appid": "app-1",
			"http://schemas.microsoft.com/identity/claims/objectidentifier": "oid-1", "iat": "1795300000"},
		"correlationId":    "corr-1",
		"httpRequest":      map[string]any{"clientRequestId": "cr-1", "clientIpAddress": "203.0.113.7", "method": "PUT", "url": "https://management.azure.com" + uri},
		"operationName":    "Microsoft.Sql/servers/auditingSettings/write",
		"resourceProvider": "Microsoft.Sql", "resourceUri": uri, "status": "Succeeded", "subscriptionId": "s1", "tenantId": "t1",
	}
	ev := map[string]any{"id": "ev-1", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "subject": uri, "eventTime": "2026-11-21T20:30:05.2716744Z",
		"dataVersion": "2", "metadataVersion": "1", "topic": "/subscriptions/s1", "data": data}
	if mut != nil {
		mut(ev, data)
	}
	b, _ := json.Marshal(ev)
	return b
}

func TestDecodeResourceEvent(t *testing.T) {
	ev, err := Decode(resourceEvent(nil))
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "ev-1" || ev.Operation != "Microsoft.Sql/servers/auditingSettings/write" || ev.Status != "Succeeded" ||
		ev.CallerIP != "203.0.113.7" || ev.CorrelationID != "corr-1" || ev.Caller != "mallory@contoso.com (app app-1, oid oid-1)" ||
		!strings.HasSuffix(ev.Resource, "/servers/srv1/auditingSettings/default") || ev.Time.IsZero() {
		t.Fatalf("decoded %+v", ev.ControlEvent)
	}
}

func TestDecodeHostile(t *testing.T) {
	huge := strings.Repeat("A", 200_000)
	cases := []struct {
		name      string
		raw       []byte
		malformed bool
		check     func(t *testing.T, ev *Event)
	}{
		{"not json", []byte("{"), true, nil},
		{"array", []byte(`[{"id":"x"}]`), true, nil},
		{"too big", append([]byte(`{"id":"`), make([]byte, MaxEventBytes)...), true, nil},
		{"no id", resourceEvent(func(ev, _ map[string]any) { delete(ev, "id") }), true, nil},
		{"no time", resourceEvent(func(ev, _ map[string]any) { delete(ev, "eventTime") }), true, nil},
		{"bad time", resourceEvent(func(ev, _ map[string]any) { ev["eventTime"] = "yesterday" }), true, nil},
		{"no data", resourceEvent(func(ev, _ map[string]any) { delete(ev, "data") }), true, nil},
		{"data is a string", resourceEvent(func(ev, _ map[string]any) { ev["data"] = "x" }), true, nil},
		{"id is a number", resourceEvent(func(ev, _ map[string]any) { ev["id"] = 12 }), true, nil},
		{"operation is a number", resourceEvent(func(_, d map[string]any) { d["operationName"] = 7 }), true, nil},
		{"no operation", resourceEvent(func(_, d map[string]any) { delete(d, "operationName") }), true, nil},
		{"httpRequest is an array", resourceEvent(func(_, d map[string]any) { d["httpRequest"] = []int{1} }), true, nil},
		{"claims of odd shapes", resourceEvent(func(_, d map[string]any) {
			d["claims"] = map[string]any{"amr": []string{"pwd", "mfa"}, "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": 5, "name": "eve"}
		}), false, func(t *testing.T, ev *Event) {
			if ev.Caller != "eve" {
				t.Errorf("caller %q", ev.Caller)
			}
		}},
		{"claims not an object", resourceEvent(func(_, d map[string]any) { d["claims"] = "x" }), false, func(t *testing.T, ev *Event) {
			if ev.Caller != "" || ev.Operation == "" {
				t.Errorf("caller %q op %q", ev.Caller, ev.Operation)
			}
		}},
		{"huge and hostile strings", resourceEvent(func(ev, d map[string]any) {
			ev["id"] = huge
			d["resourceUri"] = "/subscriptions/s/providers/Microsoft.Sql/servers/x\n[critical] fake line" + huge
			d["claims"] = map[string]any{"upn": "a\u202e\x1b[31mb" + huge + "\xff"}
			d["httpRequest"] = map[string]any{"clientIpAddress": huge}
		}), false, func(t *testing.T, ev *Event) {
			for _, s := range []string{ev.ID, ev.Resource, ev.Caller, ev.CallerIP} {
				if len(s) > maxResource+len("…") || !utf8.ValidString(s) || strings.ContainsAny(s, "\n\x1b") {
					t.Errorf("field of %d bytes, %.60q", len(s), s)
				}
			}
		}},
		{"unknown type is not an error", resourceEvent(func(ev, _ map[string]any) {
			ev["eventType"] = "Contoso.Items.ItemReceived"
			ev["data"] = map[string]any{"x": 1}
		}), false, nil},
		{"blob deleted", []byte(`{"id":"b1","eventType":"Microsoft.Storage.BlobDeleted","eventTime":"2026-11-21T20:30:05Z","topic":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/auditacct","subject":"/blobServices/default/containers/sqldbauditlogs/blobs/srv1/db/a/2026-11-21/20_00_00_000_0.xel","dataVersion":"","metadataVersion":"1","data":{"api":"DeleteBlob","requestId":"r1","contentType":"application/octet-stream","blobType":"AppendBlob","url":"https://auditacct.blob.core.windows.net/sqldbauditlogs/srv1/db/a/2026-11-21/20_00_00_000_0.xel","sequencer":"0000","storageDiagnostics":{"batchId":"b"}}}`), false,
			func(t *testing.T, ev *Event) {
				if ev.BlobContainer != "sqldbauditlogs" || ev.BlobName != "srv1/db/a/2026-11-21/20_00_00_000_0.xel" || ev.Operation != "DeleteBlob" {
					t.Errorf("blob %+v", ev)
				}
			}},
		{"blob deleted, subject not a blob", []byte(`{"id":"b1","eventType":"Microsoft.Storage.BlobDeleted","eventTime":"2026-11-21T20:30:05Z","subject":"/x","data":{"api":"DeleteBlob"}}`), true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Decode(tc.raw)
			if tc.malformed {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				if len(err.Error()) > 2048 {
					t.Errorf("error of %d bytes", len(err.Error()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, ev)
			}
		})
	}
}

func TestBlobCreated(t *testing.T) {
	got, ok := blobCreated("2026-11-21", "20_31_39_123_0.xel")
	if !ok || got.Format("2006-01-02T15:04:05") != "2026-11-21T20:31:39" {
		t.Errorf("got %v %v", got, ok)
	}
	for _, bad := range [][2]string{{"today", "20_31_39_123_0.xel"}, {"2026-11-21", "audit.xel"}, {"2026-11-21", "99_31_39_1_0.xel"}} {
		if _, ok := blobCreated(bad[0], bad[1]); ok {
			t.Errorf("%v parsed", bad)
		}
	}
}

// FuzzDecode: no input panics, every error is ErrMalformed, and decoded
// fields are bounded valid text.
func FuzzDecode(f *testing.F) {
	f.Add(resourceEvent(nil))
	f.Add(resourceEvent(func(ev, _ map[string]any) { ev["eventType"] = detect.EventResourceActionFailure }))
	f.Add([]byte(`{"id":"b1","eventType":"Microsoft.Storage.BlobDeleted","eventTime":"2026-11-21T20:30:05Z","subject":"/blobServices/default/containers/c/blobs/a","data":{"api":"DeleteBlob"}}`))
	f.Add([]byte(`{"id":"1","eventType":"Microsoft.Resources.ResourceDeleteSuccess","eventTime":"2026-11-21T20:30:05Z","data":{"operationName":"x","claims":{"a":[1]}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := Decode(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		for _, s := range []string{ev.ID, ev.Type, ev.Operation, ev.Resource, ev.Caller, ev.CallerIP, ev.Status, ev.CorrelationID, ev.Subject, ev.Topic} {
			if len(s) > maxResource+len("…") || !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n") {
				t.Fatalf("unbounded or unclean field %.80q", s)
			}
		}
	})
}
