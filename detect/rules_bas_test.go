package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

const day = 24 * time.Hour

func rows(n int64) func(*audit.Record) { return func(r *audit.Record) { r.ResponseRows = n } }
func affected(n int64) func(*audit.Record) {
	return func(r *audit.Record) { r.AffectedRows = n }
}

// history is alice's statements on days 0..3 with these response rows.
func history(peaks ...int64) []audit.Record {
	var out []audit.Record
	for i, n := range peaks {
		out = append(out, rec("BCM", "", "SELECT * FROM dbo.Orders", rows(n), at(time.Duration(i)*day)))
	}
	return out
}

func init() {
	login := func(opts ...func(*audit.Record)) audit.Record { return rec("LGIS", "LX", "", opts...) }
	ruleCases["BAS-001"] = []ruleCase{
		{name: "unfamiliar principal after the learning period", recs: []audit.Record{login(), login(by("mallory"), at(8*day))}, want: []string{"BAS-001/low"}, whyHas: "principal mallory not seen on server sql01 within 30 days"},
		{name: "unfamiliar principal's statement", recs: []audit.Record{login(), rec("BCM", "", "SELECT 1", by("mallory"), at(8*day))}, want: []string{"BAS-001/low"}},
		{name: "during the learning period", recs: []audit.Record{login(), login(by("mallory"), at(6*day))}},
		{name: "known principal", recs: []audit.Record{login(), login(at(29 * day))}},
		{name: "once per principal", recs: []audit.Record{login(), login(by("mallory"), at(8*day)), login(by("mallory"), at(8*day+time.Hour)), login(by("MALLORY"), at(9*day))}, want: []string{"BAS-001/low"}},
		{name: "back after the window", recs: []audit.Record{login(), login(by("bob"), at(day)), login(by("bob"), at(20*day)), login(by("bob"), at(35*day)), login(at(40 * day))}, want: []string{"BAS-001/low"}, whyHas: `CONTOSO\alice not seen`},
		{name: "failed login is no sighting", recs: []audit.Record{login(), rec("LGIF", "LX", "", failed, by("mallory"), at(8*day))}},
		{name: "other server", recs: []audit.Record{login(), login(server("sql02"), at(8*day))}},
		{name: "no learning period", cfg: func(c *Config) { c.BaselineLearning = 0 }, recs: []audit.Record{login()}, want: []string{"BAS-001/low"}},
		{name: "disabled", cfg: func(c *Config) { c.DisabledRules = []string{"BAS-001"} }, recs: []audit.Record{login(), login(by("mallory"), at(8*day))}},
		{name: "per-rule allow-list", cfg: func(c *Config) {
			c.Rules = map[string]RuleConfig{"BAS-001": {AllowedPrincipals: []string{"mallory"}}}
		}, recs: []audit.Record{login(), login(by("mallory"), ip("10.0.1.8"), at(8*day))}},
	}
	ruleCases["BAS-002"] = []ruleCase{
		{name: "new client network", recs: []audit.Record{login(), login(ip("203.0.113.7"), at(8*day))}, want: []string{"BAS-002/low"}, whyHas: "client network 203.0.113.0/24 (address 203.0.113.7)"},
		{name: "same network", recs: []audit.Record{login(), login(ip("10.0.0.99"), at(8*day))}},
		{name: "new application", recs: []audit.Record{login(), rec("BCM", "", "SELECT 1", app("sqlcmd"), at(8*day))}, want: []string{"BAS-002/low"}, whyHas: `application "sqlcmd"`},
		{name: "both, one finding", recs: []audit.Record{login(), login(app("sqlcmd"), ip("fd00::1"), at(8*day))}, want: []string{"BAS-002/low"}, whyHas: "client network fd00::/48 (address fd00::1) and application"},
		{name: "job step details", recs: []audit.Record{login(app("SQLAgent - TSQL JobStep (Job 0x1 : Step 1)")), login(app("SQLAgent - TSQL JobStep (Job 0x9 : Step 3)"), at(8*day))}},
		{name: "new principal learns first", recs: []audit.Record{login(), login(by("bob"), at(8*day)), login(by("bob"), ip("203.0.113.7"), at(9*day))}},
		{name: "during the learning period", recs: []audit.Record{login(), login(ip("203.0.113.7"), at(3*day))}},
		{name: "used again after the window", recs: []audit.Record{login(), login(ip("203.0.113.7"), at(5*day)), login(at(20 * day)), login(ip("203.0.113.8"), at(41*day))}, want: []string{"BAS-002/low"}},
	}
	backup := func(stmt string, opts ...func(*audit.Record)) audit.Record {
		return rec("BA", "DB", stmt, append([]func(*audit.Record){svc}, opts...)...)
	}
	ruleCases["BAS-003"] = []ruleCase{
		{name: "new container", recs: []audit.Record{backup(approvedURL), backup(evilURL, at(8*day))}, want: []string{"BAS-003/medium"}, whyHas: "to https://evilacct.blob.core.windows.net/loot: no backup of server sql01"},
		{name: "same container, another file", recs: []audit.Record{backup(approvedURL), backup("BACKUP DATABASE [Sales] TO URL = N'https://BackupAcct.blob.core.windows.net/sql/2026/12/x.bak?sv=1'", at(8*day))}},
		{name: "new directory", recs: []audit.Record{backup(`BACKUP LOG s TO DISK = '\\backupsrv\sql\a.trn'`), backup(`BACKUP LOG s TO DISK = '\\backupsrv\other\b.trn'`, at(8*day))}, want: []string{"BAS-003/medium"}, whyHas: "directory //backupsrv/other"},
		{name: "second stripe new", recs: []audit.Record{backup(approvedURL), backup("BACKUP DATABASE s TO URL = 'https://backupacct.blob.core.windows.net/sql/1.bak', URL = 'https://evil.blob.core.windows.net/c/2.bak'", at(8*day))}, want: []string{"BAS-003/medium"}, whyHas: "https://evil.blob.core.windows.net/c"},
		{name: "during the learning period", recs: []audit.Record{backup(approvedURL), backup(evilURL, at(2*day))}},
		{name: "failed backup", recs: []audit.Record{backup(approvedURL), backup(evilURL, failed, at(8*day))}},
		{name: "unknown destination is EXF-001's", recs: []audit.Record{backup(approvedURL), backup("BACKUP DATABASE s TO DISK = @p", at(8*day))}},
		{name: "per-rule destination allow-list", cfg: func(c *Config) {
			c.Rules = map[string]RuleConfig{"BAS-003": {AllowedBackupDestinations: []string{"evilacct"}}}
		}, recs: []audit.Record{backup(approvedURL), backup(evilURL, at(8*day))}},
	}
	bcm := func(opts ...func(*audit.Record)) audit.Record {
		return rec("BCM", "", "SELECT * FROM dbo.Customers", opts...)
	}
	ruleCases["BAS-004"] = []ruleCase{
		{name: "mass select", recs: append(history(100, 150, 80, 120), bcm(rows(500_000), at(8*day))), want: []string{"BAS-004/medium"}, whyHas: "response_rows 500000 above the principal's baseline (4 file-days, largest 150"},
		{name: "mass update", recs: append(history(100, 150, 80, 120), bcm(affected(10), at(day)), bcm(affected(40), at(2*day)), bcm(affected(1), at(3*day)), rec("BCM", "", "UPDATE dbo.Customers SET Email = NULL", affected(2_000_000), at(8*day))), want: []string{"BAS-004/medium"}, whyHas: "affected_rows 2000000"},
		{name: "below the floor", recs: append(history(100, 150, 80, 120), bcm(rows(9_999), at(8*day)))},
		{name: "not above the largest peak", recs: append(history(100, 150, 80, 20_000), bcm(rows(19_000), at(8*day)))},
		{name: "not above mean + 3σ", recs: append(history(40_000, 10_000, 60_000, 20_000, 70_000, 45_000), bcm(rows(71_000), at(8*day)))},
		{name: "above mean + 3σ", recs: append(history(40_000, 40_500, 41_000, 39_000, 40_000, 40_200), bcm(rows(50_000), at(8*day))), want: []string{"BAS-004/medium"}},
		{name: "during the learning period", recs: append(history(100, 150, 80, 120), bcm(rows(500_000), at(5*day)))},
		{name: "too little history", recs: append(history(100, 150), bcm(rows(500_000), at(8*day)))},
		{name: "history is the principal's", recs: append(history(100, 150, 80, 120), bcm(by("etl"), rows(5), at(day)), bcm(by("etl"), rows(500_000), at(8*day)))},
		{name: "own file and day not compared", recs: append(history(100, 150, 80, 120), bcm(rows(400_000), at(8*day)), bcm(rows(500_000), at(8*day+time.Minute))), want: []string{"BAS-004/medium", "BAS-004/medium"}},
		{name: "floor setting", cfg: func(c *Config) { c.BaselineRowsFloor = 1_000_000 }, recs: append(history(100, 150, 80, 120), bcm(rows(500_000), at(8*day)))},
	}
}

// TestBaselineConfigErrors: each baseline setting out of range is an
// error naming it.
func TestBaselineConfigErrors(t *testing.T) {
	for name, f := range map[string]func(*Config){
		"XELWATCH_BASELINE_WINDOW":     func(c *Config) { c.BaselineWindow = 91 * day },
		"XELWATCH_BASELINE_LEARNING":   func(c *Config) { c.BaselineLearning = -time.Hour },
		"XELWATCH_BASELINE_MAX_VALUES": func(c *Config) { c.BaselineMaxValues = maxBaselineValues + 1 },
		"XELWATCH_BASELINE_ROWS_K":     func(c *Config) { c.BaselineRowsK = 0 },
		"XELWATCH_BASELINE_ROWS_FLOOR": func(c *Config) { c.BaselineRowsFloor = 0 },
	} {
		c := DefaultConfig()
		f(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s out of range: error %v, want one naming it", name, err)
		}
	}
	if maxBaselineValues >= basBudget || basBudget+2 > maxStateEntries {
		t.Errorf("a baseline key (%d values, %d entries) must fit maxStateEntries %d", maxBaselineValues, basBudget, maxStateEntries)
	}
}
