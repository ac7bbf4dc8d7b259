package detect

import (
	"slices"

	"context"
	"github.com/xelwatch/xelwatch/xel/audit"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(context.Background(), envconfig.MapLookuper(nil))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"BruteForceThreshold", c.BruteForceThreshold, 8},
		{"BruteForceWindow", c.BruteForceWindow, 10 * time.Minute},
		{"SprayThreshold", c.SprayThreshold, 5},
		{"SprayWindow", c.SprayWindow, 30 * time.Minute},
		{"SuccessAfterFailures", c.SuccessAfterFailures, 30 * time.Minute},
		{"CorrelationWindow", c.CorrelationWindow, 60 * time.Minute},
		{"ThrottleWindow", c.ThrottleWindow, time.Hour},
		{"StateMaxEntries", c.StateMaxEntries, 64},
		{"PrivilegedPrincipals", strings.Join(c.PrivilegedPrincipals, ","), "sa,dbo"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestLoadConfigEnv(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(context.Background(), envconfig.MapLookuper(map[string]string{
		"XELWATCH_ALLOWED_BACKUP_DESTINATIONS": "https://backupacct.blob.core.windows.net/sql/,backupacct2",
		"XELWATCH_ALLOWED_PRINCIPALS":          `CONTOSO\svc-backup`,
		"XELWATCH_ALLOWED_CLIENT_IPS":          "10.0.1.0/24,192.0.2.7",
		"XELWATCH_MAINTENANCE_WINDOWS":         "Sat 01:00-05:00 UTC,Mon-Fri 22:00-02:00",
		"XELWATCH_DISABLED_RULES":              "EXE-008",
		"XELWATCH_SEVERITY_OVERRIDES":          "AUD-005:high,exf-002:medium",
		"XELWATCH_BRUTE_FORCE_THRESHOLD":       "12",
		"XELWATCH_CORRELATION_WINDOW":          "90m",
	}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if got, want := len(c.AllowedBackupDestinations), 2; got != want {
		t.Errorf("destinations = %d, want %d", got, want)
	}
	if c.BruteForceThreshold != 12 || c.CorrelationWindow != 90*time.Minute {
		t.Errorf("threshold/window = %d/%s, want 12/1h30m", c.BruteForceThreshold, c.CorrelationWindow)
	}
	e, err := New(c, NewMemoryState())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got, want := e.severity["AUD-005"], High; got != want {
		t.Errorf("AUD-005 severity = %s, want %s", got, want)
	}
	if _, ok := e.severity["EXE-008"]; ok {
		t.Error("EXE-008 enabled, want disabled")
	}
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		setting string // the error must name it
	}{
		{"bad cidr", map[string]string{"XELWATCH_ALLOWED_CLIENT_IPS": "10.0.0.0/33"}, "XELWATCH_ALLOWED_CLIENT_IPS"},
		{"bad ip", map[string]string{"XELWATCH_ALLOWED_CLIENT_IPS": "not-an-ip"}, "XELWATCH_ALLOWED_CLIENT_IPS"},
		{"bad window day", map[string]string{"XELWATCH_MAINTENANCE_WINDOWS": "Caturday 01:00-02:00"}, "XELWATCH_MAINTENANCE_WINDOWS"},
		{"bad window time", map[string]string{"XELWATCH_MAINTENANCE_WINDOWS": "Sat 25:00-26:00"}, "XELWATCH_MAINTENANCE_WINDOWS"},
		{"bad window zone", map[string]string{"XELWATCH_MAINTENANCE_WINDOWS": "Sat 01:00-02:00 Mars/Olympus"}, "XELWATCH_MAINTENANCE_WINDOWS"},
		{"unknown disabled rule", map[string]string{"XELWATCH_DISABLED_RULES": "EXF-999"}, "XELWATCH_DISABLED_RULES"},
		{"bad severity", map[string]string{"XELWATCH_SEVERITY_OVERRIDES": "EXF-001:urgent"}, "XELWATCH_SEVERITY_OVERRIDES"},
		{"unknown override rule", map[string]string{"XELWATCH_SEVERITY_OVERRIDES": "NOPE-1:high"}, "XELWATCH_SEVERITY_OVERRIDES"},
		{"threshold too small", map[string]string{"XELWATCH_BRUTE_FORCE_THRESHOLD": "1"}, "XELWATCH_BRUTE_FORCE_THRESHOLD"},
		{"threshold not a number", map[string]string{"XELWATCH_SPRAY_THRESHOLD": "five"}, "XELWATCH_SPRAY_THRESHOLD"},
		{"bad duration", map[string]string{"XELWATCH_BRUTE_FORCE_WINDOW": "ten minutes"}, "XELWATCH_BRUTE_FORCE_WINDOW"},
		{"negative window", map[string]string{"XELWATCH_CORRELATION_WINDOW": "-1h"}, "XELWATCH_CORRELATION_WINDOW"},
		{"state smaller than threshold", map[string]string{"XELWATCH_STATE_MAX_ENTRIES": "4"}, "XELWATCH_STATE_MAX_ENTRIES"},
		{"oversized threshold within a split piece", map[string]string{"XELWATCH_OVERSIZED_STATEMENT_CHARS": "4000"}, "XELWATCH_OVERSIZED_STATEMENT_CHARS"},
		{"url without host", map[string]string{"XELWATCH_ALLOWED_BACKUP_DESTINATIONS": "https://"}, "XELWATCH_ALLOWED_BACKUP_DESTINATIONS"},
		{"missing rules file", map[string]string{"XELWATCH_RULES_FILE": "/nonexistent/rules.json"}, "XELWATCH_RULES_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadConfig(context.Background(), envconfig.MapLookuper(tt.env))
			if err == nil {
				t.Fatal("LoadConfig succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.setting) {
				t.Errorf("error %q does not name %s", err, tt.setting)
			}
		})
	}
}

func TestRulesFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{
	  "allowed_backup_destinations": ["https://backupacct.blob.core.windows.net/sql/"],
	  "allowed_principals": ["CONTOSO\\svc-backup"],
	  "maintenance_windows": ["Sun 00:00-04:00 UTC"],
	  "rules": {"AUD-005": {"severity": "critical"}, "EXE-008": {"enabled": false},
	            "EXF-002": {"allowed_principals": ["CONTOSO\\alice"]}}
	}`)
	c, err := LoadConfig(context.Background(), envconfig.MapLookuper(map[string]string{
		"XELWATCH_RULES_FILE":         good,
		"XELWATCH_ALLOWED_PRINCIPALS": `CONTOSO\dba`,
	}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
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
			p := write(strings.ReplaceAll(tt.name, " ", "_")+".json", tt.body)
			_, err := LoadConfig(context.Background(), envconfig.MapLookuper(map[string]string{"XELWATCH_RULES_FILE": p}))
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
