package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/handler/internal/demo"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
)

const testSub = "00000000-0000-0000-0000-000000000001"

// armEventJSON is a Resource Manager event in the documented schema
// ("Azure Resource Manager as an Event Grid source").
func armEventJSON(t *testing.T, id, typ, op, uri string, at time.Time) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"subject": uri, "eventType": typ, "id": id, "eventTime": at.Format(time.RFC3339Nano),
		"dataVersion": "2", "metadataVersion": "1", "topic": "/subscriptions/" + testSub,
		"data": map[string]any{
			"authorization": map[string]any{"scope": uri, "action": op, "evidence": map[string]any{"role": "Contributor", "principalType": "User"}},
			"claims": map[string]any{
				"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":     "mallory@contoso.com",
				"http://schemas.microsoft.com/identity/claims/objectidentifier": "11111111-2222-3333-4444-555555555555",
				"appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
			},
			"correlationId": "corr-" + id,
			"httpRequest": map[string]any{"clientRequestId": "cr-" + id, "clientIpAddress": "203.0.113.7", "method": "PUT",
				"url": "https://management.azure.com" + uri + "?api-version=2023-08-01"},
			"operationName": op, "resourceProvider": strings.SplitN(op, "/", 2)[0], "resourceUri": uri, "status": "Succeeded",
			"subscriptionId": testSub, "tenantId": "00000000-0000-0000-0000-0000000000aa",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blobDeletedJSON is a Microsoft.Storage.BlobDeleted event (Blob storage
// as an Event Grid source).
func blobDeletedJSON(t *testing.T, id, account, container, name string, at time.Time) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"topic":     "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/" + account,
		"subject":   "/blobServices/default/containers/" + container + "/blobs/" + name,
		"eventType": "Microsoft.Storage.BlobDeleted", "eventTime": at.Format(time.RFC3339Nano), "id": id,
		"data": map[string]any{"api": "DeleteBlob", "requestId": "req-" + id, "contentType": "application/octet-stream", "blobType": "AppendBlob",
			"url": "https://" + account + ".blob.core.windows.net/" + container + "/" + name, "sequencer": "0000000000000000000000000000000000000000000000a1",
			"storageDiagnostics": map[string]any{"batchId": "b-" + id}},
		"dataVersion": "", "metadataVersion": "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// delivered counts webhook deliveries by rule.
func (w *webhook) byRule() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for id, n := range w.delivered {
		out[w.rules[id]] += n
	}
	return out
}

// TestE2EAuditControl drives AuditControl as Event Grid and the host do:
// an ARM audit-disable event notifies once, also when redelivered; an
// ARM audit change followed by a BACKUP record of the same server gives
// AUD-012; an ingested (open) blob deleted gives one AUD-013 naming its
// rows; a deletion at retention age gives nothing.
func TestE2EAuditControl(t *testing.T) {
	conn := azuritetest.ConnString(t)
	ctx := context.Background()
	hook, url := newWebhook(t, nil)
	a := startApp(t, conn, map[string]string{"XELWATCH_WEBHOOK_URL": url, "XELWATCH_WEBHOOK_SECRET": "s3cret"})
	server := "/subscriptions/" + testSub + "/resourceGroups/rg-sql/providers/Microsoft.Sql/servers/demo-sqlsrv"

	// 1. Audit settings written through ARM (the server behind the demo file).
	change := armEventJSON(t, "4a6c8b1e-0000-4000-8000-00000000a001", "Microsoft.Resources.ResourceWriteSuccess",
		"Microsoft.Sql/servers/auditingSettings/write", server+"/auditingSettings/default", demo.SampleStart.Add(5*time.Minute))
	for i := range 2 { // delivered, then redelivered by Event Grid
		r, err := a.host.TriggerEventGrid(ctx, "AuditControl", change)
		if err != nil || !r.Delivered || r.Deliveries != 1 || r.Messages != 1 {
			t.Fatalf("delivery %d: %+v err %v; body %s", i, r, err, r.Last.Body)
		}
		a.drain(ctx)
		if got := hook.byRule(); got["AUD-008"] != 1 || len(got) != 1 {
			t.Fatalf("after delivery %d: webhook %v, want one AUD-008", i, got)
		}
	}

	// 2. The audit file of that server: its BACKUP follows the ARM change.
	file := demo.Sample()
	name := a.blobName("09_00_00_000_0.xel")
	ab := a.appendBlob(ctx, name)
	appendBytes(t, ctx, ab, file)
	a.trigger(ctx, name, int64(len(file)))
	a.drain(ctx)
	got := hook.byRule()
	if got["AUD-012"] != 1 || got["AUD-008"] != 1 {
		t.Fatalf("after the backup record: webhook %v, want one AUD-012", got)
	}
	rows := len(demoRecords(t, file))

	// 3. The blob deleted while its cursor is open.
	del := blobDeletedJSON(t, "del-1", "auditacct", a.vars["XELWATCH_AUDIT_CONTAINER"], name, time.Now().UTC())
	r, err := a.host.TriggerEventGrid(ctx, "AuditControl", del)
	if err != nil || !r.Delivered || r.Messages != 1 {
		t.Fatalf("BlobDeleted: %+v err %v; body %s", r, err, r.Last.Body)
	}
	why := string(r.Last.Outputs["detections"])
	if !strings.Contains(why, "AUD-013") || !strings.Contains(why, name) || !strings.Contains(why, " "+itoa(rows)+" rows") {
		t.Errorf("AUD-013 output %s: want the blob and its %d rows", why, rows)
	}
	a.drain(ctx)
	if got := hook.byRule(); got["AUD-013"] != 1 {
		t.Fatalf("webhook %v, want one AUD-013", got)
	}

	// 4. A file deleted at retention age, never read: nothing.
	old := "demo-sqlsrv/salesdb/SqlDbAuditing_ServerAudit/" + time.Now().UTC().AddDate(0, 0, -30).Format("2006-01-02") + "/09_00_00_000_0.xel"
	r, err = a.host.TriggerEventGrid(ctx, "AuditControl", blobDeletedJSON(t, "del-2", "auditacct", a.vars["XELWATCH_AUDIT_CONTAINER"], old, time.Now().UTC()))
	if err != nil || !r.Delivered || r.Messages != 0 {
		t.Fatalf("retention delete: %+v err %v; body %s", r, err, r.Last.Body)
	}
	// A malformed event is acknowledged, not retried.
	r, err = a.host.TriggerEventGrid(ctx, "AuditControl", []byte(`{"id":"x","eventType":"Microsoft.Resources.ResourceWriteSuccess","eventTime":"2026-11-21T09:00:00Z","data":{"operationName":5}}`))
	if err != nil || !r.Delivered || r.Deliveries != 1 || r.Messages != 0 {
		t.Fatalf("malformed: %+v err %v", r, err)
	}
	a.drain(ctx)
	for rule, n := range hook.byRule() {
		if n != 1 {
			t.Errorf("rule %s delivered %d times", rule, n)
		}
	}
	if q := a.poisonCount(ctx); q != 0 {
		t.Errorf("poison %d", q)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
