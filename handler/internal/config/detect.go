package config

import (
	"context"
	"fmt"
	"io"
	"os"
	"reflect"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/detect"
)

// Detect holds the detection settings (package detect is a pure library
// and reads no environment); list values are comma-separated. Entries of
// the optional rules file (RulesFile) are added to the lists from the
// environment. The defaults equal detect.DefaultConfig.
type Detect struct {
	// AllowedBackupDestinations: URL prefixes
	// ("https://acct.blob.core.windows.net/backups/"), storage account
	// names ("acct") or hosts, file path prefixes ("D:\Backups\",
	// "\\backupsrv\sql\") and backup device names.
	AllowedBackupDestinations []string `env:"XELWATCH_ALLOWED_BACKUP_DESTINATIONS"`
	// AllowedPrincipals are the logins trusted for operational actions
	// (backups, audit and role maintenance), compared case-insensitively.
	AllowedPrincipals []string `env:"XELWATCH_ALLOWED_PRINCIPALS"`
	// AllowedApplications are trusted application names (exact,
	// case-insensitive; a trailing '*' makes a prefix).
	AllowedApplications []string `env:"XELWATCH_ALLOWED_APPLICATIONS"`
	// AllowedClientIPs are addresses or CIDR prefixes.
	AllowedClientIPs []string `env:"XELWATCH_ALLOWED_CLIENT_IPS"`
	// MaintenanceWindows like "Sat 01:00-05:00 UTC", "Mon-Fri 22:00-23:30",
	// "daily 02:00-03:00" (UTC unless a zone name follows).
	MaintenanceWindows []string `env:"XELWATCH_MAINTENANCE_WINDOWS"`
	// PrivilegedPrincipals are impersonation targets that PRV-005 watches
	// (in addition to members of sysadmin, which the records do not show).
	PrivilegedPrincipals []string `env:"XELWATCH_PRIVILEGED_PRINCIPALS, default=sa,dbo"`
	// AttackTools are extra tool names that AUTH-006 reports in
	// application or host names (whole words, any case), added to the
	// built-in list; "-name" removes a built-in name, "-*" all of them.
	AttackTools []string `env:"XELWATCH_ATTACK_TOOLS"`

	// RulesFile is an optional JSON file (see detect.RulesFile) with more
	// allow-list entries and per-rule settings, at most maxRulesFile bytes.
	RulesFile string `env:"XELWATCH_RULES_FILE"`
	// SigmaRules lists Sigma rule files and folders (docs/sigma.md),
	// loaded at start by package sigmarules; a bad rule stops the app.
	SigmaRules []string `env:"XELWATCH_SIGMA_RULES"`
	// DisabledRules lists rule ids that never fire.
	DisabledRules []string `env:"XELWATCH_DISABLED_RULES"`
	// SeverityOverrides maps rule id to severity: "EXF-002:medium,AUD-005:high".
	SeverityOverrides map[string]string `env:"XELWATCH_SEVERITY_OVERRIDES"`

	// Thresholds and windows (event time).
	BruteForceThreshold  int           `env:"XELWATCH_BRUTE_FORCE_THRESHOLD, default=8"`           // AUTH-001
	BruteForceWindow     time.Duration `env:"XELWATCH_BRUTE_FORCE_WINDOW, default=10m"`            // AUTH-001
	SprayThreshold       int           `env:"XELWATCH_SPRAY_THRESHOLD, default=5"`                 // AUTH-002
	SprayWindow          time.Duration `env:"XELWATCH_SPRAY_WINDOW, default=30m"`                  // AUTH-002
	SuccessAfterFailures time.Duration `env:"XELWATCH_SUCCESS_AFTER_FAILURES_WINDOW, default=30m"` // AUTH-003
	CorrelationWindow    time.Duration `env:"XELWATCH_CORRELATION_WINDOW, default=60m"`            // AUD-006, EXF-005
	ThrottleWindow       time.Duration `env:"XELWATCH_THROTTLE_WINDOW, default=1h"`                // one finding per key per window (AUTH-004, AUTH-006, AUTH-008)
	// Failed logins of one principal from one address (AUTH-009) and
	// error spikes per principal and address (AUTH-007, AUTH-010, EXE-012).
	FailedLoginRepeatThreshold int           `env:"XELWATCH_FAILED_LOGIN_REPEAT_THRESHOLD, default=3"` // AUTH-009
	FailedLoginRepeatWindow    time.Duration `env:"XELWATCH_FAILED_LOGIN_REPEAT_WINDOW, default=1h"`   // AUTH-009
	SyntaxErrorThreshold       int           `env:"XELWATCH_SYNTAX_ERROR_THRESHOLD, default=3"`        // EXE-012
	CredentialErrorThreshold   int           `env:"XELWATCH_CREDENTIAL_ERROR_THRESHOLD, default=5"`    // AUTH-010
	FirewallErrorThreshold     int           `env:"XELWATCH_FIREWALL_ERROR_THRESHOLD, default=3"`      // AUTH-007
	ErrorWindow                time.Duration `env:"XELWATCH_ERROR_WINDOW, default=1h"`                 // AUTH-007, AUTH-010, EXE-012
	// OversizedStatementChars is the statement length (UTF-16 code
	// units, SQL Server's characters) from which EVA-001 reports padding.
	OversizedStatementChars int `env:"XELWATCH_OVERSIZED_STATEMENT_CHARS, default=65536"` // EVA-001
	// StateMaxEntries bounds the entries kept per state key.
	StateMaxEntries int `env:"XELWATCH_STATE_MAX_ENTRIES, default=64"`

	// Behavioural baselines (BAS-001..004; disable them like any rule).
	// BaselineWindow: how long a principal, client network, application or
	// backup destination counts as seen, and the row-volume history kept.
	BaselineWindow time.Duration `env:"XELWATCH_BASELINE_WINDOW, default=720h"`
	// BaselineLearning: no baseline finding until this long after the
	// first record of the server (or principal, or the server's first
	// backup); 0 disables the learning period.
	BaselineLearning time.Duration `env:"XELWATCH_BASELINE_LEARNING, default=168h"`
	// BaselineMaxValues bounds the client networks plus applications kept
	// per principal, and the backup destinations per server.
	BaselineMaxValues int `env:"XELWATCH_BASELINE_MAX_VALUES, default=64"`
	// BaselineRowsK and BaselineRowsFloor: BAS-004 reports rows above the
	// floor, the principal's largest peak and mean + k·σ of its peaks.
	BaselineRowsK     float64 `env:"XELWATCH_BASELINE_ROWS_K, default=3"`
	BaselineRowsFloor int64   `env:"XELWATCH_BASELINE_ROWS_FLOOR, default=10000"`
}

// maxRulesFile bounds the rules file read at start.
const maxRulesFile = 1 << 20

// Config converts the settings into a detect.Config, merging the rules
// file when RulesFile is set, and validates the result: a bad value is an
// error naming the setting.
func (d Detect) Config() (detect.Config, error) {
	c := detect.Config{
		AllowedBackupDestinations:  d.AllowedBackupDestinations,
		AllowedPrincipals:          d.AllowedPrincipals,
		AllowedApplications:        d.AllowedApplications,
		AllowedClientIPs:           d.AllowedClientIPs,
		MaintenanceWindows:         d.MaintenanceWindows,
		PrivilegedPrincipals:       d.PrivilegedPrincipals,
		AttackTools:                d.AttackTools,
		DisabledRules:              d.DisabledRules,
		SeverityOverrides:          d.SeverityOverrides,
		BruteForceThreshold:        d.BruteForceThreshold,
		BruteForceWindow:           d.BruteForceWindow,
		SprayThreshold:             d.SprayThreshold,
		SprayWindow:                d.SprayWindow,
		SuccessAfterFailures:       d.SuccessAfterFailures,
		CorrelationWindow:          d.CorrelationWindow,
		ThrottleWindow:             d.ThrottleWindow,
		OversizedStatementChars:    d.OversizedStatementChars,
		StateMaxEntries:            d.StateMaxEntries,
		BaselineWindow:             d.BaselineWindow,
		BaselineLearning:           d.BaselineLearning,
		BaselineMaxValues:          d.BaselineMaxValues,
		BaselineRowsK:              d.BaselineRowsK,
		BaselineRowsFloor:          d.BaselineRowsFloor,
		FailedLoginRepeatThreshold: d.FailedLoginRepeatThreshold,
		FailedLoginRepeatWindow:    d.FailedLoginRepeatWindow,
		SyntaxErrorThreshold:       d.SyntaxErrorThreshold,
		CredentialErrorThreshold:   d.CredentialErrorThreshold,
		FirewallErrorThreshold:     d.FirewallErrorThreshold,
		ErrorWindow:                d.ErrorWindow,
	}
	if d.RulesFile != "" {
		doc, err := readRulesFile(d.RulesFile)
		if err != nil {
			return detect.Config{}, err
		}
		if err := c.MergeRules(doc); err != nil {
			return detect.Config{}, err
		}
	}
	if err := c.Validate(); err != nil {
		return detect.Config{}, err
	}
	return c, nil
}

// readRulesFile reads at most maxRulesFile bytes of the rules file.
func readRulesFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("detect: XELWATCH_RULES_FILE: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRulesFile+1))
	if err != nil {
		return nil, fmt.Errorf("detect: XELWATCH_RULES_FILE: read %s: %w", name, err)
	}
	if len(b) > maxRulesFile {
		return nil, fmt.Errorf("detect: XELWATCH_RULES_FILE: %s is larger than %d bytes", name, maxRulesFile)
	}
	return b, nil
}

// LoadDetect reads only the detection settings from l (the scan command
// needs no storage settings), merges the rules file and validates.
func LoadDetect(ctx context.Context, l envconfig.Lookuper) (detect.Config, error) {
	var d Detect
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &d, Lookuper: l}); err != nil {
		return detect.Config{}, fmt.Errorf("detect: %s: %w", settingIn(reflect.TypeFor[Detect](), err.Error()), err)
	}
	return d.Config()
}
