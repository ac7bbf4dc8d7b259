package detect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config is the detection configuration. It is plain data: the
// application reads it from its environment (package
// handler/internal/config, which names each setting; the names in errors
// below are those settings) and adds the entries of the optional rules
// file with MergeRules. Start from DefaultConfig.
type Config struct {
	// AllowedBackupDestinations: URL prefixes
	// ("https://acct.blob.core.windows.net/backups/"), storage account
	// names ("acct") or hosts, file path prefixes ("D:\Backups\",
	// "\\backupsrv\sql\") and backup device names.
	AllowedBackupDestinations []string `json:"allowed_backup_destinations"`
	// AllowedPrincipals are the logins trusted for operational actions
	// (backups, audit and role maintenance), compared case-insensitively.
	AllowedPrincipals []string `json:"allowed_principals"`
	// AllowedApplications are trusted application names (exact,
	// case-insensitive; a trailing '*' makes a prefix).
	AllowedApplications []string `json:"allowed_applications"`
	// AllowedClientIPs are addresses or CIDR prefixes.
	AllowedClientIPs []string `json:"allowed_client_ips"`
	// MaintenanceWindows like "Sat 01:00-05:00 UTC", "Mon-Fri 22:00-23:30",
	// "daily 02:00-03:00" (UTC unless a zone name follows).
	MaintenanceWindows []string `json:"maintenance_windows"`
	// PrivilegedPrincipals are impersonation targets that PRV-005 watches
	// (in addition to members of sysadmin, which the records do not show).
	PrivilegedPrincipals []string `json:"privileged_principals"`
	// AttackTools are extra tool names that AUTH-006 reports in
	// application or host names, added to the built-in list; matched
	// case-insensitively as whole words ("burp suite" matches "Burp Suite
	// Pro" but not "Burpee"). An entry "-name" removes a built-in name,
	// "-*" all of them.
	AttackTools []string `json:"attack_tools"`

	// DisabledRules lists rule ids that never fire.
	DisabledRules []string `json:"disabled_rules"`
	// SeverityOverrides maps rule id to severity: "EXF-002:medium,AUD-005:high".
	SeverityOverrides map[string]string `json:"severity_overrides"`

	// Thresholds and windows (event time).
	BruteForceThreshold  int           `json:"-"` // AUTH-001
	BruteForceWindow     time.Duration `json:"-"` // AUTH-001
	SprayThreshold       int           `json:"-"` // AUTH-002
	SprayWindow          time.Duration `json:"-"` // AUTH-002
	SuccessAfterFailures time.Duration `json:"-"` // AUTH-003
	CorrelationWindow    time.Duration `json:"-"` // AUD-006, EXF-005
	ThrottleWindow       time.Duration `json:"-"` // one finding per key per window (AUTH-004, AUTH-006, AUTH-008)
	// FailedLoginRepeatThreshold failed logins of one principal from one
	// address within FailedLoginRepeatWindow make an AUTH-009 finding.
	FailedLoginRepeatThreshold int           `json:"-"` // AUTH-009
	FailedLoginRepeatWindow    time.Duration `json:"-"` // AUTH-009
	// Error spikes: records carrying the error numbers of a rule in
	// additional_information, per principal and client address within
	// ErrorWindow (EXE-012 counts distinct statements).
	SyntaxErrorThreshold     int           `json:"-"` // EXE-012
	CredentialErrorThreshold int           `json:"-"` // AUTH-010
	FirewallErrorThreshold   int           `json:"-"` // AUTH-007
	ErrorWindow              time.Duration `json:"-"` // AUTH-007, AUTH-010, EXE-012
	// OversizedStatementChars is the statement length (UTF-16 code
	// units, SQL Server's characters) from which EVA-001 reports padding.
	OversizedStatementChars int `json:"-"` // EVA-001
	// StateMaxEntries bounds the entries kept per state key.
	StateMaxEntries int `json:"-"`

	// Behavioural baselines (BAS-001..004, see rules_bas.go).
	// BaselineWindow is how long a sighting counts: a principal, client
	// network, application or backup destination not seen within it is
	// new again, and row-volume history older than it is ignored.
	BaselineWindow time.Duration `json:"-"`
	// BaselineLearning is the learning period: a baseline reports nothing
	// until this long after the first record it kept for its scope (the
	// server for BAS-001, the principal for BAS-002/004, the server's first
	// backup for BAS-003). Zero: no learning period.
	BaselineLearning time.Duration `json:"-"`
	// BaselineMaxValues bounds the values (client networks plus
	// applications, backup destinations) kept per principal or server.
	BaselineMaxValues int `json:"-"`
	// BaselineRowsK and BaselineRowsFloor: BAS-004 reports a record whose
	// response_rows or affected_rows exceed the floor, the largest peak of
	// the principal's history and its mean + k·σ.
	BaselineRowsK     float64 `json:"-"`
	BaselineRowsFloor int64   `json:"-"`

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

// Validate reports whether New would accept c: a bad value is an error
// naming the setting.
func (c Config) Validate() error {
	_, err := compile(c)
	return err
}

// MergeRules merges a rules file document (the bytes of the file
// XELWATCH_RULES_FILE names) into c: list entries are added after those
// already in c, map entries replace them.
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
	tools        []toolName // built-in and configured attack tools (AUTH-006)
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
	k.tools = compileTools(c.AttackTools)
	for _, id := range c.DisabledRules {
		id = strings.ToUpper(strings.TrimSpace(id))
		if id == "" {
			continue
		}
		if !knownRule(id) {
			return nil, fmt.Errorf("detect: XELWATCH_DISABLED_RULES: unknown rule %q", id)
		}
		k.disabled[id] = true
	}
	for id, s := range c.SeverityOverrides {
		id = strings.ToUpper(strings.TrimSpace(id))
		if !knownRule(id) {
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
		if !knownRule(uid) {
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
		{"XELWATCH_BRUTE_FORCE_THRESHOLD", c.BruteForceThreshold < 1 || c.BruteForceThreshold > 1000},
		{"XELWATCH_FAILED_LOGIN_REPEAT_THRESHOLD", c.FailedLoginRepeatThreshold < 1 || c.FailedLoginRepeatThreshold > 1000},
		{"XELWATCH_FAILED_LOGIN_REPEAT_WINDOW", c.FailedLoginRepeatWindow <= 0 || c.FailedLoginRepeatWindow > memoryHorizon},
		{"XELWATCH_SYNTAX_ERROR_THRESHOLD", c.SyntaxErrorThreshold < 1 || c.SyntaxErrorThreshold > 1000},
		{"XELWATCH_CREDENTIAL_ERROR_THRESHOLD", c.CredentialErrorThreshold < 1 || c.CredentialErrorThreshold > 1000},
		{"XELWATCH_FIREWALL_ERROR_THRESHOLD", c.FirewallErrorThreshold < 1 || c.FirewallErrorThreshold > 1000},
		{"XELWATCH_ERROR_WINDOW", c.ErrorWindow <= 0 || c.ErrorWindow > memoryHorizon},
		{"XELWATCH_SPRAY_THRESHOLD", c.SprayThreshold < 2 || c.SprayThreshold > 1000},
		{"XELWATCH_BRUTE_FORCE_WINDOW", c.BruteForceWindow <= 0 || c.BruteForceWindow > memoryHorizon},
		{"XELWATCH_SPRAY_WINDOW", c.SprayWindow <= 0 || c.SprayWindow > memoryHorizon},
		{"XELWATCH_SUCCESS_AFTER_FAILURES_WINDOW", c.SuccessAfterFailures <= 0 || c.SuccessAfterFailures > memoryHorizon},
		{"XELWATCH_CORRELATION_WINDOW", c.CorrelationWindow <= 0 || c.CorrelationWindow > memoryHorizon},
		{"XELWATCH_THROTTLE_WINDOW", c.ThrottleWindow <= 0 || c.ThrottleWindow > memoryHorizon},
		{"XELWATCH_STATE_MAX_ENTRIES", c.StateMaxEntries < 1 || c.StateMaxEntries > maxStateEntries},
		{"XELWATCH_OVERSIZED_STATEMENT_CHARS", c.OversizedStatementChars < minOversized || c.OversizedStatementChars > 1<<30},
		{"XELWATCH_BASELINE_WINDOW", c.BaselineWindow < time.Hour || c.BaselineWindow > maxBaselineWindow},
		{"XELWATCH_BASELINE_LEARNING", c.BaselineLearning < 0 || c.BaselineLearning > maxBaselineWindow},
		{"XELWATCH_BASELINE_MAX_VALUES", c.BaselineMaxValues < 1 || c.BaselineMaxValues > maxBaselineValues},
		{"XELWATCH_BASELINE_ROWS_K", !(c.BaselineRowsK > 0 && c.BaselineRowsK <= 100)},
		{"XELWATCH_BASELINE_ROWS_FLOOR", c.BaselineRowsFloor < 1 || c.BaselineRowsFloor > 1<<50},
	}
	for _, ck := range checks {
		if ck.bad {
			return nil, fmt.Errorf("detect: %s: value out of range", ck.name)
		}
	}
	if c.StateMaxEntries < max(c.BruteForceThreshold, c.SprayThreshold, c.FailedLoginRepeatThreshold,
		c.SyntaxErrorThreshold, c.CredentialErrorThreshold, c.FirewallErrorThreshold) {
		return nil, errors.New("detect: XELWATCH_STATE_MAX_ENTRIES: must be at least the brute-force, spray, failed-login and error thresholds")
	}
	return k, nil
}

// DefaultConfig returns the configuration with every default applied and
// no allow-lists. handler/internal/config declares the same defaults on
// its environment settings (a test there keeps them equal).
func DefaultConfig() Config {
	return Config{
		PrivilegedPrincipals:       []string{"sa", "dbo"},
		BruteForceThreshold:        8,
		BruteForceWindow:           10 * time.Minute,
		SprayThreshold:             5,
		SprayWindow:                30 * time.Minute,
		SuccessAfterFailures:       30 * time.Minute,
		CorrelationWindow:          60 * time.Minute,
		ThrottleWindow:             time.Hour,
		OversizedStatementChars:    65536,
		StateMaxEntries:            64,
		BaselineWindow:             30 * 24 * time.Hour,
		BaselineLearning:           7 * 24 * time.Hour,
		BaselineMaxValues:          64,
		BaselineRowsK:              3,
		BaselineRowsFloor:          10000,
		FailedLoginRepeatThreshold: 3,
		FailedLoginRepeatWindow:    time.Hour,
		SyntaxErrorThreshold:       3,
		CredentialErrorThreshold:   5,
		FirewallErrorThreshold:     3,
		ErrorWindow:                time.Hour,
	}
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
