package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
)

// TestE2ESigmaRules: with XELWATCH_SIGMA_RULES set, AuditBlob driven as
// the host does on Azurite evaluates the Sigma rules over every record of
// the padded file (a backup whose WITH COPY_ONLY follows 600,000
// characters, split by SQL Server into 151 records): the matching rules'
// findings go through the outbox, queue and notifier to the webhook once
// each, beside the catalog's; the near miss stays silent.
func TestE2ESigmaRules(t *testing.T) {
	conn := azuritetest.ConnString(t)
	ctx := context.Background()
	rules := t.TempDir()
	for name, src := range map[string]string{
		// SigmaHQ style: the Data text of event 33205, reassembled.
		"copy_only.yml": "title: COPY_ONLY backup to a blob URL (test)\nid: e2e-copy-only\nlevel: high\ntags: [attack.t1537]\n" +
			"logsource:\n    product: windows\n    service: application\ndetection:\n    selection:\n        EventID: 33205\n" +
			"        Data|contains|all:\n            - 'action_id:BA'\n            - 'blob.core.windows.net'\n            - 'WITH COPY_ONLY'\n    condition: selection\n",
		// Columns: the audit switched off.
		"audit_off.yml": "title: Server audit off (test)\nid: e2e-audit-off\nlevel: critical\nlogsource:\n    product: mssql\n" +
			"detection:\n    selection:\n        action_id: AL\n        statement|contains: 'STATE = OFF'\n    condition: selection\n",
		// Near miss: no xp_cmdshell in the file.
		"xp.yml": "title: xp_cmdshell (test)\nid: e2e-xp\nlogsource:\n    product: mssql\ndetection:\n    selection:\n        object_name: xp_cmdshell\n    condition: selection\n",
	} {
		if err := os.WriteFile(filepath.Join(rules, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hook, url := newWebhook(t, nil)
	a := startApp(t, conn, map[string]string{"XELWATCH_WEBHOOK_URL": url, "XELWATCH_SIGMA_RULES": rules})
	file, _, _ := paddedAuditFile(t)
	name := a.blobName("03_00_00_000_0.xel")
	appendBytes(t, ctx, a.appendBlob(ctx, name), file)
	a.trigger(ctx, name, int64(len(file)))
	if q := a.drain(ctx); q.Poisoned != 0 {
		t.Errorf("%d detections poisoned", q.Poisoned)
	}
	// A second trigger of the same blob (a redelivered event) sends nothing new.
	a.trigger(ctx, name, int64(len(file)))
	a.drain(ctx)

	hook.mu.Lock()
	defer hook.mu.Unlock()
	byRule := map[string]int{}
	for id, n := range hook.delivered {
		byRule[hook.rules[id]] += n
	}
	for rule, want := range map[string]int{"SIG-e2e-copy-only": 1, "SIG-e2e-audit-off": 1, "SIG-e2e-xp": 0, "EXF-001": 1, "AUD-001": 1} {
		if byRule[rule] != want {
			t.Errorf("%s: %d deliveries, want %d (all: %v)", rule, byRule[rule], want, byRule)
		}
	}
}
