package detect

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		set     func(*Config)
		setting string // the error must name it
	}{
		{"bad cidr", func(c *Config) { c.AllowedClientIPs = []string{"10.0.0.0/33"} }, "XELWATCH_ALLOWED_CLIENT_IPS"},
		{"bad ip", func(c *Config) { c.AllowedClientIPs = []string{"not-an-ip"} }, "XELWATCH_ALLOWED_CLIENT_IPS"},
		{"bad window day", func(c *Config) { c.MaintenanceWindows = []string{"Caturday 01:00-02:00"} }, "XELWATCH_MAINTENANCE_WINDOWS"},
		{"bad window time", func(c *Config) { c.MaintenanceWindows = []string{"Sat 25:00-26:00"} }, "XELWATCH_MAINTENANCE_WINDOWS"},
		{"bad window zone", func(c *Config) { c.MaintenanceWindows = []string{"Sat 01:00-02:00 Mars/Olympus"} }, "XELWATCH_MAINTENANCE_WINDOWS"},
		{"unknown disabled rule", func(c *Config) { c.DisabledRules = []string{"EXF-999"} }, "XELWATCH_DISABLED_RULES"},
		{"bad severity", func(c *Config) { c.SeverityOverrides = map[string]string{"EXF-001": "urgent"} }, "XELWATCH_SEVERITY_OVERRIDES"},
		{"unknown override rule", func(c *Config) { c.SeverityOverrides = map[string]string{"NOPE-1": "high"} }, "XELWATCH_SEVERITY_OVERRIDES"},
		{"threshold too small", func(c *Config) { c.BruteForceThreshold = 0 }, "XELWATCH_BRUTE_FORCE_THRESHOLD"},
		{"repeat threshold too small", func(c *Config) { c.FailedLoginRepeatThreshold = 0 }, "XELWATCH_FAILED_LOGIN_REPEAT_THRESHOLD"},
		{"syntax threshold too large", func(c *Config) { c.SyntaxErrorThreshold = 1001 }, "XELWATCH_SYNTAX_ERROR_THRESHOLD"},
		{"error window too long", func(c *Config) { c.ErrorWindow = 8 * 24 * time.Hour }, "XELWATCH_ERROR_WINDOW"},
		{"state smaller than an error threshold", func(c *Config) { c.CredentialErrorThreshold = 100 }, "XELWATCH_STATE_MAX_ENTRIES"},
		{"negative window", func(c *Config) { c.CorrelationWindow = -time.Hour }, "XELWATCH_CORRELATION_WINDOW"},
		{"state smaller than threshold", func(c *Config) { c.StateMaxEntries = 4 }, "XELWATCH_STATE_MAX_ENTRIES"},
		{"oversized threshold within a split piece", func(c *Config) { c.OversizedStatementChars = 4000 }, "XELWATCH_OVERSIZED_STATEMENT_CHARS"},
		{"url without host", func(c *Config) { c.AllowedBackupDestinations = []string{"https://"} }, "XELWATCH_ALLOWED_BACKUP_DESTINATIONS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tt.set(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.setting) {
				t.Errorf("error %q does not name %s", err, tt.setting)
			}
			if _, err := New(c, NewMemoryState()); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
}

func TestMergeRules(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c.AllowedPrincipals = []string{`CONTOSO\dba`}
	err := c.MergeRules([]byte(`{
	  "allowed_backup_destinations": ["https://backupacct.blob.core.windows.net/sql/"],
	  "allowed_principals": ["CONTOSO\\svc-backup"],
	  "maintenance_windows": ["Sun 00:00-04:00 UTC"],
	  "rules": {"AUD-005": {"severity": "critical"}, "EXE-008": {"enabled": false},
	            "EXF-002": {"allowed_principals": ["CONTOSO\\alice"]}}
	}`))
	if err != nil {
		t.Fatalf("MergeRules: %v", err)
	}
	if got, want := strings.Join(c.AllowedPrincipals, ";"), `CONTOSO\dba;CONTOSO\svc-backup`; got != want {
		t.Errorf("principals = %q, want %q (environment first, then file)", got, want)
	}
	fs := run(t, c, []audit.Record{rec("BA", "DB", approvedURL), rec("CR", "A", "CREATE SERVER AUDIT x TO APPLICATION_LOG", at(time.Minute))})
	if got := summary(fs, "EXF-002"); len(got) != 0 {
		t.Errorf("EXF-002 = %q, want none (alice allow-listed for this rule)", got)
	}
	if got, want := summary(fs, "AUD-005"), []string{"AUD-005/critical"}; !slices.Equal(got, want) {
		t.Errorf("AUD-005 = %q, want %q", got, want)
	}

	bad := []struct{ name, body, want string }{
		{"unknown field", `{"allowed_principal": ["x"]}`, "unknown field"},
		{"unknown rule", `{"rules": {"EXF-404": {"enabled": false}}}`, "EXF-404"},
		{"bad severity", `{"rules": {"EXF-001": {"severity": "huge"}}}`, "EXF-001"},
		{"bad cidr", `{"rules": {"AUTH-004": {"allowed_client_ips": ["300.1.1.1"]}}}`, "allowed_client_ips"},
		{"not json", `allowed: x`, "XELWATCH_RULES_FILE"},
		{"trailing data", `{} {}`, "trailing"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			err := c.MergeRules([]byte(tt.body))
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestMaintenanceWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		window string
		at     time.Time
		want   bool
	}{
		{"Sat 01:00-05:00 UTC", time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC), true},
		{"Sat 01:00-05:00 UTC", time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC), false},
		{"Sat 01:00-05:00 UTC", time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC), false},
		{"Mon-Fri 22:00-02:00", time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC), true}, // Friday night
		{"Mon-Fri 22:00-02:00", time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC), true},  // Saturday morning, Friday's window
		{"Mon-Fri 22:00-02:00", time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC), false}, // Sunday morning
		{"Fri-Mon 00:00-01:00", time.Date(2026, 11, 22, 0, 30, 0, 0, time.UTC), true}, // Sunday, wrapping day range
		{"daily 02:00-03:00 Europe/Paris", time.Date(2026, 11, 18, 1, 30, 0, 0, time.UTC), true},
	}
	for _, tt := range tests {
		t.Run(tt.window+"@"+tt.at.Format(time.RFC3339), func(t *testing.T) {
			w, err := parseWindow(tt.window)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.contains(tt.at); got != tt.want {
				t.Errorf("contains = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzRulesFile feeds arbitrary rules files to the merge and validation:
// errors, never panics.
func FuzzRulesFile(f *testing.F) {
	f.Add([]byte(`{"allowed_backup_destinations": ["https://a.blob.core.windows.net/c/", "\\\\h\\s"], "maintenance_windows": ["Sat 01:00-05:00 UTC"], "rules": {"EXF-002": {"severity": "low", "allowed_client_ips": ["10.0.0.0/8"]}}}`))
	f.Add([]byte(`{"rules": {"AUTH-004": {"enabled": false}}, "severity_overrides": {"AUD-005": "high"}}`))
	f.Add([]byte(`{"maintenance_windows": ["Mon-Sun 23:00-01:00 Europe/Paris"]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c := DefaultConfig()
		if err := c.MergeRules(doc); err != nil {
			return
		}
		if _, err := New(c, NewMemoryStateLimits(1, 0)); err != nil && !strings.HasPrefix(err.Error(), "detect: ") {
			t.Fatalf("error without package prefix: %v", err)
		}
	})
}
