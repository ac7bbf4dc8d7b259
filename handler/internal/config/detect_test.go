package config

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/detect"
)

// TestDetectDefaults keeps the defaults of the settings equal to
// detect.DefaultConfig, which library users start from.
func TestDetectDefaults(t *testing.T) {
	t.Parallel()
	got, err := LoadDetect(context.Background(), envconfig.MapLookuper(nil))
	if err != nil {
		t.Fatalf("LoadDetect: %v", err)
	}
	if want := detect.DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("LoadDetect(empty) = %+v\nwant detect.DefaultConfig() = %+v", got, want)
	}
	c, err := Load(context.Background(), envconfig.MapLookuper(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(c.Detect(), got) {
		t.Errorf("Load().Detect() = %+v, want %+v", c.Detect(), got)
	}
}

func TestDetectEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"XELWATCH_ALLOWED_BACKUP_DESTINATIONS": "https://backupacct.blob.core.windows.net/sql/,backupacct2",
		"XELWATCH_ALLOWED_PRINCIPALS":          `CONTOSO\svc-backup`,
		"XELWATCH_ALLOWED_CLIENT_IPS":          "10.0.1.0/24,192.0.2.7",
		"XELWATCH_MAINTENANCE_WINDOWS":         "Sat 01:00-05:00 UTC,Mon-Fri 22:00-02:00",
		"XELWATCH_DISABLED_RULES":              "EXE-008",
		"XELWATCH_SEVERITY_OVERRIDES":          "AUD-005:high,exf-002:medium",
		"XELWATCH_BRUTE_FORCE_THRESHOLD":       "12",
		"XELWATCH_CORRELATION_WINDOW":          "90m",
	}
	for name, load := range map[string]func() (detect.Config, error){
		"LoadDetect": func() (detect.Config, error) {
			return LoadDetect(context.Background(), envconfig.MapLookuper(env))
		},
		"Load": func() (detect.Config, error) {
			c, err := Load(context.Background(), envconfig.MapLookuper(env))
			if err != nil {
				return detect.Config{}, err
			}
			return c.Detect(), nil
		},
	} {
		c, err := load()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, want := len(c.AllowedBackupDestinations), 2; got != want {
			t.Errorf("%s: destinations = %d, want %d", name, got, want)
		}
		if c.BruteForceThreshold != 12 || c.CorrelationWindow != 90*time.Minute {
			t.Errorf("%s: threshold/window = %d/%s, want 12/1h30m", name, c.BruteForceThreshold, c.CorrelationWindow)
		}
		if got, want := c.SeverityOverrides["exf-002"], "medium"; got != want {
			t.Errorf("%s: override = %q, want %q", name, got, want)
		}
	}
}

func TestDetectErrors(t *testing.T) {
	t.Parallel()
	big := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(big, []byte(`{"attack_tools": ["`+strings.Repeat("x", maxRulesFile)+`"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		setting string // the error must name it
	}{
		{"bad cidr", map[string]string{"XELWATCH_ALLOWED_CLIENT_IPS": "10.0.0.0/33"}, "XELWATCH_ALLOWED_CLIENT_IPS"},
		{"bad window zone", map[string]string{"XELWATCH_MAINTENANCE_WINDOWS": "Sat 01:00-02:00 Mars/Olympus"}, "XELWATCH_MAINTENANCE_WINDOWS"},
		{"unknown disabled rule", map[string]string{"XELWATCH_DISABLED_RULES": "EXF-999"}, "XELWATCH_DISABLED_RULES"},
		{"bad severity", map[string]string{"XELWATCH_SEVERITY_OVERRIDES": "EXF-001:urgent"}, "XELWATCH_SEVERITY_OVERRIDES"},
		{"threshold too small", map[string]string{"XELWATCH_BRUTE_FORCE_THRESHOLD": "0"}, "XELWATCH_BRUTE_FORCE_THRESHOLD"},
		{"error threshold too small", map[string]string{"XELWATCH_SYNTAX_ERROR_THRESHOLD": "0"}, "XELWATCH_SYNTAX_ERROR_THRESHOLD"},
		{"threshold not a number", map[string]string{"XELWATCH_SPRAY_THRESHOLD": "five"}, "XELWATCH_SPRAY_THRESHOLD"},
		{"bad duration", map[string]string{"XELWATCH_BRUTE_FORCE_WINDOW": "ten minutes"}, "XELWATCH_BRUTE_FORCE_WINDOW"},
		{"state not a number", map[string]string{"XELWATCH_STATE_MAX_ENTRIES": "many"}, "XELWATCH_STATE_MAX_ENTRIES"},
		{"state smaller than threshold", map[string]string{"XELWATCH_STATE_MAX_ENTRIES": "4"}, "XELWATCH_STATE_MAX_ENTRIES"},
		{"oversized threshold within a split piece", map[string]string{"XELWATCH_OVERSIZED_STATEMENT_CHARS": "4000"}, "XELWATCH_OVERSIZED_STATEMENT_CHARS"},
		{"missing rules file", map[string]string{"XELWATCH_RULES_FILE": "/nonexistent/rules.json"}, "XELWATCH_RULES_FILE"},
		{"rules file too large", map[string]string{"XELWATCH_RULES_FILE": big}, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadDetect(context.Background(), envconfig.MapLookuper(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.setting) {
				t.Errorf("LoadDetect: err = %v, want one naming %s", err, tt.setting)
			}
			_, err = Load(context.Background(), envconfig.MapLookuper(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.setting) {
				t.Errorf("Load: err = %v, want one naming %s", err, tt.setting)
			}
		})
	}
}

func TestDetectRulesFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(p, []byte(`{
	  "allowed_principals": ["CONTOSO\\svc-backup"],
	  "rules": {"AUD-005": {"severity": "critical"}, "EXE-008": {"enabled": false}}
	}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadDetect(context.Background(), envconfig.MapLookuper(map[string]string{
		"XELWATCH_RULES_FILE":         p,
		"XELWATCH_ALLOWED_PRINCIPALS": `CONTOSO\dba`,
	}))
	if err != nil {
		t.Fatalf("LoadDetect: %v", err)
	}
	if got, want := strings.Join(c.AllowedPrincipals, ";"), `CONTOSO\dba;CONTOSO\svc-backup`; got != want {
		t.Errorf("principals = %q, want %q (environment first, then file)", got, want)
	}
	if got, want := c.Rules["AUD-005"].Severity, "critical"; got != want {
		t.Errorf("AUD-005 severity = %q, want %q", got, want)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"rules": {"EXF-404": {}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDetect(context.Background(), envconfig.MapLookuper(map[string]string{"XELWATCH_RULES_FILE": bad})); err == nil || !strings.Contains(err.Error(), "EXF-404") {
		t.Errorf("err = %v, want one naming EXF-404", err)
	}
}
