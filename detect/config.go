package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// Config is the detection configuration. Field tags name the environment
// variables (app settings); list values are comma-separated. Entries of
// the optional rules file (RulesFile) are added to the lists from the
// environment.
type Config struct {
	// AllowedBackupDestinations: URL prefixes
	// ("https://acct.blob.core.windows.net/backups/"), storage account
	// names ("acct") or hosts, file path prefixes ("D:\Backups\",
	// "\\backupsrv\sql\") and backup device names.
	AllowedBackupDestinations []string `env:"XELWATCH_ALLOWED_BACKUP_DESTINATIONS" json:"allowed_backup_destinations"`
	// AllowedPrincipals are the logins trusted for operational actions
	// (backups, audit and role maintenance), compared case-insensitively.
	AllowedPrincipals []string `env:"XELWATCH_ALLOWED_PRINCIPALS" json:"allowed_principals"`
	// AllowedApplications are trusted application names (exact,
	// case-insensitive; a trailing '*' makes a prefix).
	AllowedApplications []string `env:"XELWATCH_ALLOWED_APPLICATIONS" json:"allowed_applications"`
	// AllowedClientIPs are addresses or CIDR prefixes.
	AllowedClientIPs []string `env:"XELWATCH_ALLOWED_CLIENT_IPS" json:"allowed_client_ips"`
	// MaintenanceWindows like "Sat 01:00-05:00 UTC", "Mon-Fri 22:00-23:30",
	// "daily 02:00-03:00" (UTC unless a zone name follows).
	MaintenanceWindows []string `env:"XELWATCH_MAINTENANCE_WINDOWS" json:"maintenance_windows"`
	// PrivilegedPrincipals are impersonation targets that PRV-005 watches
	// (in addition to members of sysadmin, which the records do not show).
	PrivilegedPrincipals []string `env:"XELWATCH_PRIVILEGED_PRINCIPALS, default=sa,dbo" json:"privileged_principals"`
	// AttackTools are extra lower-case substrings of application or host
	// names that AUTH-006 reports, added to the built-in list.
	AttackTools []string `env:"XELWATCH_ATTACK_TOOLS" json:"attack_tools"`

	// RulesFile is an optional JSON file (see RulesFile type) with more
	// allow-list entries and per-rule settings.
	RulesFile string `env:"XELWATCH_RULES_FILE" json:"-"`
	// DisabledRules lists rule ids that never fire.
	DisabledRules []string `env:"XELWATCH_DISABLED_RULES" json:"disabled_rules"`
	// SeverityOverrides maps rule id to severity: "EXF-002:medium,AUD-005:high".
	SeverityOverrides map[string]string `env:"XELWATCH_SEVERITY_OVERRIDES" json:"severity_overrides"`

	// Thresholds and windows (event time).
	BruteForceThreshold  int           `env:"XELWATCH_BRUTE_FORCE_THRESHOLD, default=8" json:"-"`           // AUTH-001
	BruteForceWindow     time.Duration `env:"XELWATCH_BRUTE_FORCE_WINDOW, default=10m" json:"-"`            // AUTH-001
	SprayThreshold       int           `env:"XELWATCH_SPRAY_THRESHOLD, default=5" json:"-"`                 // AUTH-002
	SprayWindow          time.Duration `env:"XELWATCH_SPRAY_WINDOW, default=30m" json:"-"`                  // AUTH-002
	SuccessAfterFailures time.Duration `env:"XELWATCH_SUCCESS_AFTER_FAILURES_WINDOW, default=30m" json:"-"` // AUTH-003
	CorrelationWindow    time.Duration `env:"XELWATCH_CORRELATION_WINDOW, default=60m" json:"-"`            // AUD-006, EXF-005
	ThrottleWindow       time.Duration `env:"XELWATCH_THROTTLE_WINDOW, default=1h" json:"-"`                // one finding per key per window (AUTH-004, AUTH-006)
	// OversizedStatementChars is the statement length (UTF-16 code
	// units, SQL Server's characters) from which EVA-001 reports padding.
	OversizedStatementChars int `env:"XELWATCH_OVERSIZED_STATEMENT_CHARS, default=65536" json:"-"` // EVA-001
	// StateMaxEntries bounds the entries kept per state key.
	StateMaxEntries int `env:"XELWATCH_STATE_MAX_ENTRIES, default=64" json:"-"`

	// Rules holds per-rule settings from the rules file.
	Rules map[string]RuleConfig `json:"rules"`
}

// RuleConfig is the per-rule part of the rules file. Allow-list entries
// here apply to that rule only, in addition to the global lists (and make
// the actor allow-list apply to the rule even when it does not by
// default).
type RuleConfig struct {
	Enabled                   *bool    `json:"enabled,omitempty"`
	Severity                  string   `json:"severity,omitempty"`
	AllowedPrincipals         []string `json:"allowed_principals,omitempty"`
	AllowedApplications       []string `json:"allowed_applications,omitempty"`
	AllowedClientIPs          []string `json:"allowed_client_ips,omitempty"`
	AllowedBackupDestinations []string `json:"allowed_backup_destinations,omitempty"`
}

// RulesFile is the JSON document XELWATCH_RULES_FILE points to. Unknown
// fields are an error.
//
//	{
//	  "allowed_backup_destinations": ["https://backupacct.blob.core.windows.net/sql/"],
//	  "allowed_principals": ["CONTOSO\\svc-backup"],
//	  "maintenance_windows": ["Sat 01:00-05:00 UTC"],
//	  "rules": {"AUD-005": {"severity": "medium"}, "EXE-008": {"enabled": false}}
//	}
type RulesFile struct {
	AllowedBackupDestinations []string              `json:"allowed_backup_destinations"`
	AllowedPrincipals         []string              `json:"allowed_principals"`
	AllowedApplications       []string              `json:"allowed_applications"`
	AllowedClientIPs          []string              `json:"allowed_client_ips"`
	MaintenanceWindows        []string              `json:"maintenance_windows"`
	PrivilegedPrincipals      []string              `json:"privileged_principals"`
	AttackTools               []string              `json:"attack_tools"`
	DisabledRules             []string              `json:"disabled_rules"`
	SeverityOverrides         map[string]string     `json:"severity_overrides"`
	Rules                     map[string]RuleConfig `json:"rules"`
}

// minOversized is the least XELWATCH_OVERSIZED_STATEMENT_CHARS: two
// pieces of a split statement (SQL Server splits at 4,000 characters).
const minOversized = 8000

// maxRulesFile bounds the rules file read at start.
const maxRulesFile = 1 << 20

// LoadConfig reads the configuration from l (XELWATCH_* names), merges the
// rules file if XELWATCH_RULES_FILE is set, and validates everything: a
// bad value is an error naming the setting.
func LoadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: l}); err != nil {
		return Config{}, fmt.Errorf("detect: %s: %w", settingOf(err), err)
	}
	if err := c.LoadRulesFile(); err != nil {
		return Config{}, err
	}
	if _, err := compile(c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LoadRulesFile merges c.RulesFile into c (no-op when empty). Callers that
// embed Config in a larger envconfig tree call it after processing.
func (c *Config) LoadRulesFile() error {
	if c.RulesFile == "" {
		return nil
	}
	f, err := os.Open(c.RulesFile)
	if err != nil {
		return fmt.Errorf("detect: XELWATCH_RULES_FILE: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRulesFile+1))
	if err != nil {
		return fmt.Errorf("detect: XELWATCH_RULES_FILE: read %s: %w", c.RulesFile, err)
	}
	if len(b) > maxRulesFile {
		return fmt.Errorf("detect: XELWATCH_RULES_FILE: %s is larger than %d bytes", c.RulesFile, maxRulesFile)
	}
	return c.MergeRules(b)
}

// MergeRules merges a rules file document into c.
func (c *Config) MergeRules(doc []byte) error {
	var rf RulesFile
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rf); err != nil {
		return fmt.Errorf("detect: XELWATCH_RULES_FILE: %w", err)
	}
	if dec.More() {
		return errors.New("detect: XELWATCH_RULES_FILE: trailing data after the JSON object")
	}
	c.AllowedBackupDestinations = append(c.AllowedBackupDestinations, rf.AllowedBackupDestinations...)
	c.AllowedPrincipals = append(c.AllowedPrincipals, rf.AllowedPrincipals...)
	c.AllowedApplications = append(c.AllowedApplications, rf.AllowedApplications...)
	c.AllowedClientIPs = append(c.AllowedClientIPs, rf.AllowedClientIPs...)
	c.MaintenanceWindows = append(c.MaintenanceWindows, rf.MaintenanceWindows...)
	c.PrivilegedPrincipals = append(c.PrivilegedPrincipals, rf.PrivilegedPrincipals...)
	c.AttackTools = append(c.AttackTools, rf.AttackTools...)
	c.DisabledRules = append(c.DisabledRules, rf.DisabledRules...)
	for k, v := range rf.SeverityOverrides {
		if c.SeverityOverrides == nil {
			c.SeverityOverrides = map[string]string{}
		}
		c.SeverityOverrides[k] = v
	}
	for k, v := range rf.Rules {
		if c.Rules == nil {
			c.Rules = map[string]RuleConfig{}
		}
		c.Rules[k] = v
	}
	return nil
}

// compiled is the validated, indexed form of a Config.
type compiled struct {
	cfg          Config
	destinations allowDest
	principals   allowNames
	applications allowNames
	clientIPs    allowIPs
	windows      []window
	privileged   allowNames
	tools        []string
	disabled     map[string]bool
	severity     map[string]Severity
	perRule      map[string]*ruleAllow
	toolCache    toolCache
}

type ruleAllow struct {
	principals, applications allowNames
	clientIPs                allowIPs
	destinations             allowDest
}

func compile(c Config) (*compiled, error) {
	k := &compiled{cfg: c, disabled: map[string]bool{}, severity: map[string]Severity{}, perRule: map[string]*ruleAllow{}}
	var err error
	if k.destinations, err = newAllowDest(c.AllowedBackupDestinations); err != nil {
		return nil, fmt.Errorf("detect: XELWATCH_ALLOWED_BACKUP_DESTINATIONS: %w", err)
	}
	k.principals = newAllowNames(c.AllowedPrincipals)
	k.applications = newAllowNames(c.AllowedApplications)
	k.privileged = newAllowNames(c.PrivilegedPrincipals)
	if k.clientIPs, err = newAllowIPs(c.AllowedClientIPs); err != nil {
		return nil, fmt.Errorf("detect: XELWATCH_ALLOWED_CLIENT_IPS: %w", err)
	}
	for _, s := range c.MaintenanceWindows {
		w, err := parseWindow(s)
		if err != nil {
			return nil, fmt.Errorf("detect: XELWATCH_MAINTENANCE_WINDOWS: %w", err)
		}
		k.windows = append(k.windows, w)
	}
	for _, t := range c.AttackTools {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			k.tools = append(k.tools, t)
		}
	}
	for _, id := range c.DisabledRules {
		id = strings.ToUpper(strings.TrimSpace(id))
		if id == "" {
			continue
		}
		if ruleByID(id) == nil {
			return nil, fmt.Errorf("detect: XELWATCH_DISABLED_RULES: unknown rule %q", id)
		}
		k.disabled[id] = true
	}
	for id, s := range c.SeverityOverrides {
		id = strings.ToUpper(strings.TrimSpace(id))
		if ruleByID(id) == nil {
			return nil, fmt.Errorf("detect: XELWATCH_SEVERITY_OVERRIDES: unknown rule %q", id)
		}
		sev, err := ParseSeverity(s)
		if err != nil {
			return nil, fmt.Errorf("detect: XELWATCH_SEVERITY_OVERRIDES: %s: %w", id, err)
		}
		k.severity[id] = sev
	}
	for id, rc := range c.Rules {
		uid := strings.ToUpper(strings.TrimSpace(id))
		if ruleByID(uid) == nil {
			return nil, fmt.Errorf("detect: XELWATCH_RULES_FILE: rules: unknown rule %q", id)
		}
		if rc.Enabled != nil && !*rc.Enabled {
			k.disabled[uid] = true
		}
		if rc.Severity != "" {
			sev, err := ParseSeverity(rc.Severity)
			if err != nil {
				return nil, fmt.Errorf("detect: XELWATCH_RULES_FILE: rules: %s: %w", id, err)
			}
			k.severity[uid] = sev
		}
		ra := &ruleAllow{principals: newAllowNames(rc.AllowedPrincipals), applications: newAllowNames(rc.AllowedApplications)}
		if ra.clientIPs, err = newAllowIPs(rc.AllowedClientIPs); err != nil {
			return nil, fmt.Errorf("detect: XELWATCH_RULES_FILE: rules: %s: allowed_client_ips: %w", id, err)
		}
		if ra.destinations, err = newAllowDest(rc.AllowedBackupDestinations); err != nil {
			return nil, fmt.Errorf("detect: XELWATCH_RULES_FILE: rules: %s: allowed_backup_destinations: %w", id, err)
		}
		k.perRule[uid] = ra
	}
	checks := []struct {
		name string
		bad  bool
	}{
		{"XELWATCH_BRUTE_FORCE_THRESHOLD", c.BruteForceThreshold < 2 || c.BruteForceThreshold > 1000},
		{"XELWATCH_SPRAY_THRESHOLD", c.SprayThreshold < 2 || c.SprayThreshold > 1000},
		{"XELWATCH_BRUTE_FORCE_WINDOW", c.BruteForceWindow <= 0 || c.BruteForceWindow > memoryHorizon},
		{"XELWATCH_SPRAY_WINDOW", c.SprayWindow <= 0 || c.SprayWindow > memoryHorizon},
		{"XELWATCH_SUCCESS_AFTER_FAILURES_WINDOW", c.SuccessAfterFailures <= 0 || c.SuccessAfterFailures > memoryHorizon},
		{"XELWATCH_CORRELATION_WINDOW", c.CorrelationWindow <= 0 || c.CorrelationWindow > memoryHorizon},
		{"XELWATCH_THROTTLE_WINDOW", c.ThrottleWindow <= 0 || c.ThrottleWindow > memoryHorizon},
		{"XELWATCH_STATE_MAX_ENTRIES", c.StateMaxEntries < 1 || c.StateMaxEntries > maxStateEntries},
		{"XELWATCH_OVERSIZED_STATEMENT_CHARS", c.OversizedStatementChars < minOversized || c.OversizedStatementChars > 1<<30},
	}
	for _, ck := range checks {
		if ck.bad {
			return nil, fmt.Errorf("detect: %s: value out of range", ck.name)
		}
	}
	if c.StateMaxEntries < c.BruteForceThreshold || c.StateMaxEntries < c.SprayThreshold {
		return nil, errors.New("detect: XELWATCH_STATE_MAX_ENTRIES: must be at least the brute-force and spray thresholds")
	}
	return k, nil
}

// DefaultConfig returns the configuration with every default applied and
// no allow-lists.
func DefaultConfig() Config {
	c, err := LoadConfig(context.Background(), envconfig.MapLookuper(nil))
	if err != nil {
		panic(err) // defaults are constants; covered by tests
	}
	return c
}

// window is one weekly maintenance window.
type window struct {
	days       [7]bool
	start, end int // minutes since midnight, end exclusive; end < start wraps past midnight
	loc        *time.Location
}

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// parseWindow reads "Sat 01:00-05:00 UTC", "Mon-Fri 22:00-02:00",
// "Sat,Sun 00:00-06:00 Europe/Paris", "daily 02:00-03:00".
func parseWindow(s string) (window, error) {
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return window{}, fmt.Errorf("window %q: want \"<days> HH:MM-HH:MM [zone]\"", s)
	}
	w := window{loc: time.UTC}
	if len(f) == 3 {
		loc, err := time.LoadLocation(f[2])
		if err != nil {
			return window{}, fmt.Errorf("window %q: zone: %w", s, err)
		}
		w.loc = loc
	}
	d := strings.ToLower(f[0])
	if d == "daily" || d == "*" {
		for i := range w.days {
			w.days[i] = true
		}
	} else {
		for _, part := range strings.Split(d, ",") {
			a, b, isRange := strings.Cut(part, "-")
			da, ok1 := dayNames[a]
			db := da
			ok2 := true
			if isRange {
				db, ok2 = dayNames[b]
			}
			if !ok1 || !ok2 {
				return window{}, fmt.Errorf("window %q: unknown day %q", s, part)
			}
			for i := da; ; i = (i + 1) % 7 {
				w.days[i] = true
				if i == db {
					break
				}
			}
		}
	}
	a, b, ok := strings.Cut(f[1], "-")
	if !ok {
		return window{}, fmt.Errorf("window %q: want HH:MM-HH:MM", s)
	}
	var err error
	if w.start, err = clock(a); err != nil {
		return window{}, fmt.Errorf("window %q: %w", s, err)
	}
	if w.end, err = clock(b); err != nil {
		return window{}, fmt.Errorf("window %q: %w", s, err)
	}
	if w.start == w.end {
		return window{}, fmt.Errorf("window %q: empty", s)
	}
	return w, nil
}

func clock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("bad time %q (want HH:MM)", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// contains reports whether t falls inside the window. A window that wraps
// past midnight belongs to the day it starts on.
func (w window) contains(t time.Time) bool {
	t = t.In(w.loc)
	m := t.Hour()*60 + t.Minute()
	if w.start < w.end {
		return w.days[t.Weekday()] && m >= w.start && m < w.end
	}
	if m >= w.start {
		return w.days[t.Weekday()]
	}
	return m < w.end && w.days[(t.Weekday()+6)%7]
}

// ipPrefix helper kept here so config errors name the setting.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// settingOf names the environment variable of the Config field that an
// envconfig error (which names the Go field) is about.
func settingOf(err error) string {
	msg := err.Error()
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		if strings.HasPrefix(msg, f.Name+":") {
			if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
				return name
			}
		}
	}
	return "config"
}
