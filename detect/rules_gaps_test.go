package detect

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// Cases of the rules that close the gaps against Defender for SQL,
// Sentinel and Sigma (issue 13); TestRules and TestPrefilterDeclared run
// them with the others.
func init() {
	for id, cs := range gapCases {
		ruleCases[id] = append(ruleCases[id], cs...)
	}
}

// errInfo sets additional_information as the service writes it for an
// error.
func errInfo(code, state int) func(*audit.Record) {
	return func(r *audit.Record) {
		r.AdditionalInformation = fmt.Sprintf(`<action_info xmlns="http://schemas.microsoft.com/sqlserver/2008/sqlaudit_data"><pooled_connection>0</pooled_connection><error_code>%d</error_code><error_state>%d</error_state><address>%s</address></action_info>`, code, state, r.ClientIP)
	}
}

// errRecs makes n records of action failing with code, from one principal
// and address, step apart; stmt(i) is each one's statement.
func errRecs(n int, action string, code int, step time.Duration, stmt func(i int) string) []audit.Record {
	return repeat(n, func(i int) audit.Record {
		return rec(action, "", stmt(i), failed, by("webapp"), ip("203.0.113.5"), at(time.Duration(i)*step), app("Core .Net SqlClient Data Provider"), errInfo(code, 1))
	})
}

func stmtN(i int) string { return fmt.Sprintf("SELECT * FROM dbo.Products WHERE name = 'x%d''", i) }
func noStmt(int) string  { return "" }

func bcm(stmt string, opts ...func(*audit.Record)) audit.Record {
	return rec("BCM", "", stmt, append([]func(*audit.Record){app("Core .Net SqlClient Data Provider"), by("webapp")}, opts...)...)
}

var gapCases = map[string][]ruleCase{
	"AUTH-001": {
		{name: "threshold of one accepted", cfg: func(c *Config) { c.BruteForceThreshold = 1 }, recs: fails(1, "10.2.0.9", same("sa"), 0), want: []string{"AUTH-001/medium"}},
	},
	"AUTH-006": {
		{name: "defender test application", recs: []audit.Record{rec("LGIS", "LX", "", app("NetSparker"))}, want: []string{"AUTH-006/high"}, whyHas: `"netsparker"`},
		{name: "burp suite", recs: []audit.Record{rec("LGIF", "LX", "", app("Burp Suite Professional"))}, want: []string{"AUTH-006/high"}},
		{name: "version glued to the name", recs: []audit.Record{rec("LGIF", "LX", "", app("Nessus10"))}, want: []string{"AUTH-006/high"}},
		{name: "multi-word tool", recs: []audit.Record{rec("LGIF", "LX", "", app("OWASP-ZAP/2.14"))}, want: []string{"AUTH-006/high"}},
		{name: "tool name inside a word", recs: []audit.Record{rec("LGIS", "LX", "", app("Dapper.SqlMapper"), host("HYDRAULICS-01"))}},
		{name: "built-in name removed", cfg: func(c *Config) { c.AttackTools = []string{"-nmap"} }, recs: []audit.Record{rec("LGIS", "LX", "", app("nmap"))}},
		{name: "every built-in removed", cfg: func(c *Config) { c.AttackTools = []string{"-*", "inhouse-scan"} }, recs: []audit.Record{rec("LGIS", "LX", "", app("sqlmap"))}},
		{name: "configured multi-word name", cfg: func(c *Config) { c.AttackTools = []string{"-*", "inhouse scan"} }, recs: []audit.Record{rec("LGIS", "LX", "", app("InHouse_Scan v2"))}, want: []string{"AUTH-006/high"}},
	},
	"PRV-008": {
		{name: "drop member statement", recs: []audit.Record{bcm("ALTER SERVER ROLE [securityadmin] DROP MEMBER [CONTOSO\\dba]")}, want: []string{"PRV-008/low"}, whyHas: "from role securityadmin"},
		{name: "database role statement", recs: []audit.Record{bcm("ALTER ROLE db_datareader DROP MEMBER bob")}, want: []string{"PRV-008/low"}},
		{name: "sp_droprolemember", recs: []audit.Record{bcm("EXEC sp_droprolemember 'db_owner', 'bob'")}, want: []string{"PRV-008/low"}},
		{name: "member in a literal", recs: []audit.Record{bcm("SELECT 'ALTER ROLE r DROP MEMBER m' AS hint")}},
	},
	"EXE-003": {
		{name: "sp_OADestroy alone", recs: []audit.Record{bcm("EXEC sp_OADestroy @obj")}, want: []string{"EXE-003/high"}},
	},
	"AUTH-007": {
		{name: "three firewall refusals", recs: errRecs(3, "DBAF", 40615, time.Minute, noStmt), want: []string{"AUTH-007/low"}, whyHas: "error 40615"},
		{name: "batch records with the firewall error", recs: errRecs(4, "BCM", 40914, time.Minute, stmtN), want: []string{"AUTH-007/low"}},
		{name: "threshold setting", cfg: func(c *Config) { c.FirewallErrorThreshold = 1 }, recs: errRecs(1, "BCM", 40615, 0, stmtN), want: []string{"AUTH-007/low"}},
		{name: "two refusals", recs: errRecs(2, "DBAF", 40615, time.Minute, noStmt)},
		{name: "credential errors", recs: errRecs(3, "DBAF", 18456, time.Minute, noStmt)},
		{name: "spread over three hours", recs: errRecs(3, "DBAF", 40615, 90*time.Minute, noStmt)},
	},
	"AUTH-008": {
		{name: "one failed login", recs: []audit.Record{rec("LGIF", "LX", "", failed, by("sa"), errInfo(18456, 8))}, want: []string{"AUTH-008/informational"}, whyHas: "error 18456 state 8 (wrong password)"},
		{name: "hex error code", recs: []audit.Record{rec("DBAF", "DB", "", failed, func(r *audit.Record) {
			r.AdditionalInformation = "<error_code>0x4818</error_code><error_state>5</error_state>"
		})}, want: []string{"AUTH-008/informational"}, whyHas: "no such login"},
		{name: "failure reason text", recs: []audit.Record{rec("DBAF", "DB", "", failed, func(r *audit.Record) {
			r.AdditionalInformation = "<action_info><failure_reason><![CDATA[Err 18456, Level 14, State 7, Login failed]]></failure_reason></action_info>"
		})}, want: []string{"AUTH-008/informational"}, whyHas: "state 7"},
		{name: "throttled per principal and address", recs: fails(4, "10.2.0.9", same("sa"), time.Minute), want: []string{"AUTH-008/informational"}},
		{name: "two principals", recs: fails(2, "10.2.0.9", func(i int) string { return fmt.Sprintf("u%d", i) }, time.Minute), want: []string{"AUTH-008/informational", "AUTH-008/informational"}},
		{name: "sent when overridden", cfg: func(c *Config) { c.SeverityOverrides = map[string]string{"AUTH-008": "low"} }, recs: fails(1, "10.2.0.9", same("sa"), 0), want: []string{"AUTH-008/low"}},
		{name: "successful login", recs: []audit.Record{rec("LGIS", "LX", "", by("sa"))}},
	},
	"AUTH-009": {
		{name: "three failures", recs: fails(3, "10.2.0.9", same("sa"), time.Minute), want: []string{"AUTH-009/informational"}, whyHas: `3 failed logins for "sa" from 10.2.0.9`},
		{name: "thirty failures fire once", recs: fails(30, "10.2.0.9", same("sa"), 10*time.Second), want: []string{"AUTH-009/informational"}},
		{name: "two failures", recs: fails(2, "10.2.0.9", same("sa"), time.Minute)},
		{name: "three principals", recs: fails(3, "10.2.0.9", func(i int) string { return fmt.Sprintf("u%d", i) }, time.Minute)},
		{name: "three over three hours", recs: fails(3, "10.2.0.9", same("sa"), 90*time.Minute)},
	},
	"AUTH-010": {
		{name: "five credential errors", recs: errRecs(5, "DBAF", 18456, time.Minute, noStmt), want: []string{"AUTH-010/medium"}, whyHas: "5 credential errors (18456)"},
		{name: "batch records with the login error", recs: errRecs(5, "RCM", 18456, time.Minute, stmtN), want: []string{"AUTH-010/medium"}},
		{name: "threshold setting", cfg: func(c *Config) { c.CredentialErrorThreshold = 1 }, recs: errRecs(1, "BCM", 18488, 0, stmtN), want: []string{"AUTH-010/medium"}},
		{name: "four errors", recs: errRecs(4, "DBAF", 18456, time.Minute, noStmt)},
		{name: "no error number", recs: fails(5, "203.0.113.5", same("webapp"), time.Minute)},
		{name: "firewall errors", recs: errRecs(5, "DBAF", 40615, time.Minute, noStmt)},
	},
	"EXE-009": {
		{name: "defender tautology", recs: []audit.Record{bcm("SELECT * FROM sys.databases WHERE database_id like '1' OR 1=1 -- 5b7c1e1c-7d3a-4f0e-9d51-0c7c2b0f9a11'")}, want: []string{"EXE-009/high"}, whyHas: "OR 1=1"},
		{name: "string tautology", recs: []audit.Record{bcm("SELECT * FROM dbo.Users WHERE name = '' OR 'a'='a'")}, want: []string{"EXE-009/high"}, whyHas: "tautology"},
		{name: "tautology behind a comment and parentheses", recs: []audit.Record{bcm("SELECT * FROM dbo.Users WHERE id = 7 Or/**/(2>1)")}, want: []string{"EXE-009/high"}},
		{name: "boolean blind", recs: []audit.Record{bcm("SELECT * FROM dbo.Products WHERE id = 5 AND 1=1")}, want: []string{"EXE-009/high"}},
		{name: "union null padding", recs: []audit.Record{bcm("SELECT name, price FROM dbo.Products WHERE id = 1 UNION ALL SELECT NULL, NULL, NULL-- -")}, want: []string{"EXE-009/high"}, whyHas: "3 NULLs"},
		{name: "union column-count probe", recs: []audit.Record{bcm("SELECT a FROM dbo.t WHERE id = 1 UNION SELECT 1,2,3")}, want: []string{"EXE-009/high"}},
		{name: "union reading password hashes", recs: []audit.Record{bcm("SELECT title, body FROM dbo.News WHERE id = 4 UNION SELECT name, password_hash FROM sys.sql_logins")}, want: []string{"EXE-009/high"}, whyHas: "sys.sql_logins"},
		{name: "union reading the version", recs: []audit.Record{bcm("SELECT title FROM dbo.News WHERE id = 4 UNION SELECT @@version")}, want: []string{"EXE-009/high"}},
		{name: "comment truncation", recs: []audit.Record{bcm("SELECT * FROM dbo.Users WHERE username = 'admin'--' AND password = 'x'")}, want: []string{"EXE-009/high"}, whyHas: "swallows a closing quote"},
		{name: "stacked query after a quote", recs: []audit.Record{bcm("SELECT * FROM dbo.Orders WHERE ref = '1'; DROP TABLE dbo.Orders;--'")}, want: []string{"EXE-009/high"}},
		{name: "stacked waitfor", recs: []audit.Record{bcm("SELECT * FROM dbo.Products WHERE id = 1; WAITFOR DELAY '0:0:5'--")}, want: []string{"EXE-009/high"}, whyHas: "time-based"},
		{name: "string tautology right after where", recs: []audit.Record{bcm("SELECT * FROM dbo.Users WHERE 'x'='x'")}, want: []string{"EXE-009/high"}},
		{name: "waitfor after a call with a literal", recs: []audit.Record{bcm("EXEC dbo.GetUser @name = 'bob'; WAITFOR DELAY '00:00:05'")}, want: []string{"EXE-009/high"}},
		{name: "waitfor glued to a value", recs: []audit.Record{bcm("SELECT * FROM dbo.Products WHERE id = 1 WAITFOR DELAY '0:0:5'")}, want: []string{"EXE-009/high"}},
		{name: "conditional waitfor", recs: []audit.Record{bcm("IF (ASCII(SUBSTRING(DB_NAME(), 1, 1)) > 64) WAITFOR DELAY '0:0:5'")}, want: []string{"EXE-009/high"}},
		{name: "unclosed quotation mark", recs: []audit.Record{bcm("select * from sys.databases where database_id like ''' --5b7c1e1c123", failed, errInfo(105, 1))}, want: []string{"EXE-009/medium"}, whyHas: "unclosed quotation mark"},
		{name: "rpc record", recs: []audit.Record{rec("RCM", "", "SELECT * FROM dbo.Users WHERE name = '' OR ''=''")}, want: []string{"EXE-009/high"}},
		// Benign look-alikes.
		{name: "tautology in a string literal", recs: []audit.Record{bcm("INSERT INTO dbo.WafLog (pattern) VALUES ('OR 1=1'), (''' OR ''a''=''a')")}},
		{name: "tautology in a comment", recs: []audit.Record{bcm("SELECT * FROM dbo.t WHERE id = @id -- never OR 1=1 here")}},
		{name: "query builder where 1=1", recs: []audit.Record{bcm("SELECT * FROM dbo.Orders WHERE 1=1 AND status = @p0 AND 1 = @p1")}},
		{name: "metadata query where 1=0", recs: []audit.Record{bcm("SELECT * FROM dbo.Orders WHERE 1=0")}},
		{name: "orm parameters", recs: []audit.Record{bcm("exec sp_executesql N'SELECT [u].[Id] FROM [Users] AS [u] WHERE [u].[Name] = @__name_0 OR [u].[Email] = @__email_1',N'@__name_0 nvarchar(50),@__email_1 nvarchar(50)',@__name_0=N'bob',@__email_1=N'b@x.io'")}},
		{name: "empty contains in an orm", recs: []audit.Record{bcm("SELECT [o].[Id] FROM [Orders] AS [o] WHERE [o].[Status] = 1 AND 0 = 1")}},
		{name: "case when 1=1", recs: []audit.Record{bcm("SELECT CASE WHEN 1=1 THEN 'a' ELSE 'b' END")}},
		{name: "reporting union with null padding", recs: []audit.Record{bcm("SELECT a, b, NULL, NULL FROM dbo.t1 WHERE x = 1 UNION ALL SELECT a, NULL, NULL, d FROM dbo.t2")}},
		{name: "catalog listing union", recs: []audit.Record{bcm("SELECT name FROM sys.tables WHERE type = 'U' UNION ALL SELECT name FROM sys.views")}},
		{name: "apostrophes in comments", recs: []audit.Record{bcm("UPDATE dbo.Notes SET txt = 'don''t' WHERE id = 1 -- fix the customer's note\nSELECT 1 -- the 'old' code")}},
		{name: "waitfor alone", recs: []audit.Record{bcm("WAITFOR DELAY '00:00:05'")}},
		{name: "waitfor in a loop", recs: []audit.Record{bcm("WHILE 1=1 BEGIN SELECT TOP 1 * FROM dbo.Queue WHERE ready = 1; WAITFOR DELAY '00:00:05' END")}},
		{name: "agent job polling", recs: []audit.Record{rec("BCM", "", "SELECT 1 FROM dbo.Queue WHERE ready = 1; WAITFOR DELAY '00:00:10'", app("SQLAgent - TSQL JobStep (Job 0x9 : Step 2)"))}},
		{name: "waitfor after a call with variables", recs: []audit.Record{bcm("EXEC dbo.usp_Poll @batch = @n; WAITFOR DELAY '00:00:05'")}},
		{name: "where with a numeric constant only", recs: []audit.Record{bcm("SELECT * FROM dbo.t WHERE 1 = 1")}},
		{name: "if without data", recs: []audit.Record{bcm("IF @retry = 1 WAITFOR DELAY '00:00:01'")}},
		{name: "literal cut at 4000 characters", recs: []audit.Record{bcm("INSERT INTO dbo.Log (msg) VALUES ('" + strings.Repeat("x", 4100))}},
	},
	"EXE-012": {
		{name: "three syntax errors", recs: errRecs(3, "BCM", 102, time.Minute, stmtN), want: []string{"EXE-012/medium"}, whyHas: "3 distinct statements"},
		{name: "unclosed quotes", recs: errRecs(5, "RCM", 105, 10*time.Second, stmtN), want: []string{"EXE-012/medium"}},
		{name: "threshold setting", cfg: func(c *Config) { c.SyntaxErrorThreshold = 1 }, recs: errRecs(1, "BCM", 105, 0, stmtN), want: []string{"EXE-012/medium"}},
		{name: "one statement retried", recs: errRecs(5, "BCM", 102, time.Minute, func(int) string { return "SELECT * FROM" })},
		{name: "invalid object errors", recs: errRecs(5, "BCM", 208, time.Minute, stmtN)},
		{name: "two errors", recs: errRecs(2, "BCM", 102, time.Minute, stmtN)},
	},
	"EXE-013": {
		{name: "maggie backdoor", recs: []audit.Record{rec("EX", "X", "EXEC maggie 'whoami'", obj("maggie"))}, want: []string{"EXE-013/high"}, whyHas: "does not ship"},
		{name: "unknown xp in a batch", recs: []audit.Record{bcm("EXEC master.dbo.xp_sqlshell 'whoami'")}, want: []string{"EXE-013/high"}, whyHas: "xp_sqlshell"},
		{name: "legacy procedure", recs: []audit.Record{bcm("EXEC sp_password NULL, 'N3w!', 'sa'")}, want: []string{"EXE-013/medium"}},
		{name: "system xp", recs: []audit.Record{rec("EX", "X", "EXEC xp_msver", obj("xp_msver"))}},
		{name: "system sp extended procedure", recs: []audit.Record{rec("EX", "X", "", obj("sp_executesql"))}},
		{name: "xp name as a column", recs: []audit.Record{bcm("SELECT xp_custom FROM dbo.t")}},
	},
	"REC-001": {
		{name: "xp_msver", recs: []audit.Record{bcm("EXEC master.dbo.xp_msver")}, want: []string{"REC-001/low"}, whyHas: "xp_msver"},
		{name: "password hashes", recs: []audit.Record{bcm("SELECT name, password_hash FROM sys.sql_logins")}, want: []string{"REC-001/medium"}, whyHas: "password hashes"},
		{name: "select star from sql_logins", recs: []audit.Record{bcm("SELECT * FROM master.sys.sql_logins")}, want: []string{"REC-001/medium"}},
		{name: "loginproperty", recs: []audit.Record{bcm("SELECT name, LOGINPROPERTY(name, 'PasswordHash') FROM sys.server_principals")}, want: []string{"REC-001/medium"}},
		{name: "firewall rules", recs: []audit.Record{bcm("SELECT * FROM sys.firewall_rules")}, want: []string{"REC-001/low"}},
		{name: "EX record", recs: []audit.Record{rec("EX", "X", "", obj("xp_enumgroups"))}, want: []string{"REC-001/low"}},
		{name: "login list without hashes", recs: []audit.Record{bcm("SELECT name, is_disabled FROM sys.sql_logins")}},
		{name: "name in a literal", recs: []audit.Record{bcm("SELECT 'sys.firewall_rules', 'xp_msver'")}},
		{name: "allow-listed dba", recs: []audit.Record{rec("BCM", "", "EXEC xp_msver", by(`CONTOSO\dba`), ip("10.0.1.7"))}},
	},
	"PRV-009": {
		{name: "datareader member", recs: []audit.Record{rec("APRL", "RL", "", obj("db_datareader"), func(r *audit.Record) { r.TargetDatabasePrincipalName = "bob" })}, want: []string{"PRV-009/low"}, whyHas: "bob to database role db_datareader"},
		{name: "alter role statement", recs: []audit.Record{bcm("ALTER ROLE [reporting] ADD MEMBER [bob]")}, want: []string{"PRV-009/low"}},
		{name: "sp_addrolemember", recs: []audit.Record{bcm("EXEC sp_addrolemember 'db_datawriter', 'bob'")}, want: []string{"PRV-009/low"}},
		{name: "user-defined server role", recs: []audit.Record{rec("APRL", "SG", "", obj("monitoring"))}, want: []string{"PRV-009/low"}},
		{name: "db_owner is PRV-002", recs: []audit.Record{rec("APRL", "RL", "", obj("db_owner"))}},
		{name: "member dropped", recs: []audit.Record{bcm("ALTER ROLE reporting DROP MEMBER bob")}},
		{name: "allow-listed dba", recs: []audit.Record{rec("APRL", "RL", "", obj("db_datareader"), by(`CONTOSO\dba`), ip("10.0.1.7"))}},
	},
}

func TestErrorInfo(t *testing.T) {
	for in, want := range map[string][2]int{
		"": {0, 0},
		"<error_code>18456</error_code><error_state>8</error_state>":             {18456, 8},
		"<error_code> 0x4818 </error_code>":                                      {18456, 0},
		"<error>102</error><state>1</state>":                                     {102, 1},
		"<failure_reason>Err 40615, Level 14, State 1, blocked</failure_reason>": {40615, 1},
		"<error_code>99999999999999</error_code>":                                {999999999, 0},
		"<error_code>x</error_code>":                                             {0, 0},
		strings.Repeat(" ", maxAddInfoScan) + "<error_code>102</error_code>":     {0, 0},
		"<error_code>102": {102, 0},
		"<!DOCTYPE x [<!ENTITY a \"&a;&a;\">]><error_code>&a;</error_code>": {0, 0},
	} {
		if c, s := errorInfo(in); c != want[0] || s != want[1] {
			t.Errorf("errorInfo(%.60q) = %d, %d, want %d, %d", in, c, s, want[0], want[1])
		}
	}
}

func TestSeverityScale(t *testing.T) {
	for _, s := range severities {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Severity
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%v: round trip gave %v, %v", s, back, err)
		}
	}
	if Info >= Low || Low != 1 || Critical != 4 {
		t.Errorf("scale Info %d Low %d Critical %d: existing severities must keep their stored values 1-4, Info below them", Info, Low, Critical)
	}
	if _, err := Severity(0).MarshalText(); err == nil {
		t.Error("the zero Severity marshals")
	}
	if s, err := ParseSeverity(" Info "); err != nil || s != Info {
		t.Errorf("ParseSeverity(info) = %v, %v", s, err)
	}
	for _, tc := range []struct {
		s    Severity
		n    int
		want Severity
	}{{Info, 1, Low}, {Low, -1, Info}, {Low, -3, Info}, {High, 1, Critical}, {Critical, 2, Critical}, {Medium, 1, High}} {
		if got := tc.s.shift(tc.n); got != tc.want {
			t.Errorf("%v.shift(%d) = %v, want %v", tc.s, tc.n, got, tc.want)
		}
	}
}

// TestSeverityOverrideToInfo: an escalated hit moves with its rule when
// the rule is overridden to informational (the scale has no 0).
func TestSeverityOverrideToInfo(t *testing.T) {
	cfg := testConfig(t)
	cfg.SeverityOverrides = map[string]string{"PRV-004": "informational"}
	fs := run(t, cfg, []audit.Record{rec("AL", "SL", "ALTER LOGIN sa ENABLE", obj("sa"))})
	if got := summary(fs, "PRV-004"); len(got) != 1 || got[0] != "PRV-004/low" {
		t.Errorf("findings = %q, want PRV-004/low (sa escalates one step above the rule's severity)", got)
	}
}
