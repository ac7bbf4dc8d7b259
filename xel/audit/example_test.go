package audit_test

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

func ExampleReader() {
	// A synthetic audit file: a backup and a 9000-character batch that
	// SQL Server splits into three audit_event records.
	var file bytes.Buffer
	w, _ := xeltest.NewWriter(&file, nil)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	_ = w.WriteAudit(xeltest.AuditEvent{EventTime: at, ActionID: "BA", ClassType: "DB", SessionID: 51,
		ServerPrincipalName: "mallory", DatabaseName: "SalesDb",
		Statement: "BACKUP DATABASE [SalesDb] TO URL = N'https://x.blob.core.windows.net/c/s.bak' WITH COPY_ONLY"})
	_ = w.WriteAudit(xeltest.AuditEvent{EventTime: at, ActionID: "BCM", ClassType: "DB", SessionID: 52,
		Statement: strings.Repeat("x", 9000)})
	_ = w.Close()

	xr, _ := xel.NewReader(bytes.NewReader(file.Bytes()), nil)
	ar := audit.NewReader(xr, "server/SalesDb/audit/2025-01-02/03_04_05_000_0.xel", &audit.ReaderOptions{FlushIncomplete: true})
	for rec, err := range ar.All() {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("%s %s %s/%s groups=%v statement=%d chars parts=%d\n",
			rec.EventTime.Format(time.RFC3339), rec.ActionID, rec.ActionName, rec.ClassTypeDesc,
			audit.ActionGroupsFor(rec.ActionID, rec.ClassType), len(rec.Statement), len(rec.Parts))
	}
	// Output:
	// 2025-01-02T03:04:05Z BA BACKUP/DATABASE groups=[BACKUP_RESTORE_GROUP] statement=92 chars parts=0
	// 2025-01-02T03:04:05Z BCM BATCH COMPLETED/DATABASE groups=[BATCH_COMPLETED_GROUP] statement=9000 chars parts=3
}
