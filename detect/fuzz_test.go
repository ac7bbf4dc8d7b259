package detect

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// FuzzEvaluate runs arbitrary statements under every action id any rule
// listens to: no panic, bounded findings.
func FuzzEvaluate(f *testing.F) {
	for _, s := range []string{evilURL, approvedURL, "ALTER SERVER AUDIT a WITH (STATE = OFF) WHERE x = 1",
		"ALTER SERVER ROLE sysadmin ADD MEMBER", "ALTER ROLE", "DROP TABLE IF EXISTS", "TRUNCATE TABLE",
		"EXECUTE AS LOGIN =", "sp_addsrvrolemember 'a'", "EXEC sp_add_jobstep @subsystem", "'xp_' + CHAR(",
		"CREATE CREDENTIAL [https://x.blob.core.windows.net/c] WITH IDENTITY = 'SHARED ACCESS SIGNATURE'",
		"exec sp_configure @configname = 'xp_cmdshell', @configvalue", `xp_dirtree '\\h\s'`,
		"SELECT a FROM t WHERE id = 1 UNION ALL SELECT NULL,NULL FROM sys.sql_logins", "x' OR 'a'='a' --'", "1; WAITFOR DELAY '0:0:5'--",
		"IF (ASCII(1)>2) WAITFOR TIME", "<error_code>0x4818</error_code><failure_reason>Err 102, State", "EXEC xp_sqlshell"} {
		f.Add(s, uint8(0), "10.0.0.1")
	}
	var actions []string
	seen := map[string]bool{}
	for _, r := range Catalog() {
		for _, a := range r.Actions {
			if !seen[a] {
				seen[a] = true
				actions = append(actions, a)
			}
		}
	}
	classes := []string{"", "DB", "A", "SA", "DA", "CD", "DC", "CR", "MK", "SK", "SG", "RL", "SR", "LX", "SL", "AS", "U", "X"}
	e, err := New(testConfig(f), NewMemoryStateLimits(1000, 1<<20))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, stmt string, sel uint8, client string) {
		for i, a := range actions {
			r := rec(a, classes[(int(sel)+i)%len(classes)], stmt, ip(client), obj(stmt), target(stmt),
				at(time.Duration(sel)*time.Minute))
			r.AuditFileOffset = int64(i)
			if sel%2 == 1 {
				r.AdditionalInformation = stmt // error numbers
			}
			fs, err := e.Evaluate(context.Background(), &r)
			if err != nil {
				t.Fatal(err)
			}
			for _, fd := range fs {
				b, err := json.Marshal(fd)
				if err != nil || len(b) > 48<<10 {
					t.Fatalf("finding %s: %d bytes, err %v", fd.Rule, len(b), err)
				}
			}
		}
	})
}
