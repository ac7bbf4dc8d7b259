package config

import (
	"fmt"
	"strings"
	"time"
)

// Bounds of XELWATCH_SILENCE_MAX_GAP and XELWATCH_HEARTBEAT.
const (
	maxSilenceRules   = 64
	maxSilencePattern = 256
	minSilenceGap     = time.Minute
	maxSilenceGap     = 30 * 24 * time.Hour
	minHeartbeat      = time.Minute
	maxHeartbeat      = 7 * 24 * time.Hour
)

// SilenceRule is one entry of XELWATCH_SILENCE_MAX_GAP: the audit streams
// whose server[/database[/audit]] match Pattern may stay silent for at
// most Gap (zero: not watched).
type SilenceRule struct {
	Pattern string
	Gap     time.Duration
	parts   []string // lower-cased glob per path level
}

// SilencePolicy is XELWATCH_SILENCE_MAX_GAP parsed: rules in the order
// written, the first match wins. The zero value watches nothing.
type SilencePolicy struct{ Rules []SilenceRule }

// Enabled reports whether any stream is watched.
func (p SilencePolicy) Enabled() bool {
	for _, r := range p.Rules {
		if r.Gap > 0 {
			return true
		}
	}
	return false
}

// Gap is the longest the audit stream of server/database/audit may stay
// silent (zero: not watched): the gap of the first rule that matches.
func (p SilencePolicy) Gap(server, database, audit string) time.Duration {
	names := []string{strings.ToLower(server), strings.ToLower(database), strings.ToLower(audit)}
	for _, r := range p.Rules {
		ok := true
		for i, g := range r.parts {
			if !glob(g, names[i]) {
				ok = false
				break
			}
		}
		if ok {
			return r.Gap
		}
	}
	return 0
}

// ParseSilence parses XELWATCH_SILENCE_MAX_GAP: a comma list of
// PATTERN:GAP, where PATTERN is server[/database[/audit]] of the blob
// path, each level a name or a glob with '*' (any run of characters),
// compared without case, and GAP a duration from 1m to 720h, or "off" (or
// 0) to leave the matching streams unwatched. The first matching entry
// wins: "contoso-test-*:off,contoso-*:30m,*:6h".
func ParseSilence(s string) (SilencePolicy, error) {
	var p SilencePolicy
	if strings.TrimSpace(s) == "" {
		return p, nil
	}
	entries := strings.Split(s, ",")
	if len(entries) > maxSilenceRules {
		return p, fmt.Errorf("%d entries (at most %d)", len(entries), maxSilenceRules)
	}
	seen := map[string]bool{}
	for i, e := range entries {
		e = strings.TrimSpace(e)
		at := strings.LastIndexByte(e, ':')
		if at < 0 {
			return p, fmt.Errorf("entry %d %q: want PATTERN:GAP, e.g. contoso-*:30m", i+1, clipValue(e))
		}
		pat, gs := strings.TrimSpace(e[:at]), strings.TrimSpace(e[at+1:])
		if pat == "" || len(pat) > maxSilencePattern {
			return p, fmt.Errorf("entry %d: pattern of %d characters (1 to %d)", i+1, len(pat), maxSilencePattern)
		}
		parts := strings.Split(strings.ToLower(pat), "/")
		if len(parts) > 3 {
			return p, fmt.Errorf("entry %d %q: a pattern is server[/database[/audit]]", i+1, clipValue(pat))
		}
		for _, part := range parts {
			if part == "" || strings.ContainsFunc(part, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' || r == '?' || r == '#' }) {
				return p, fmt.Errorf("entry %d %q: empty level or a character that cannot be in a blob path", i+1, clipValue(pat))
			}
		}
		if seen[strings.Join(parts, "/")] {
			return p, fmt.Errorf("entry %d: pattern %q given twice", i+1, clipValue(pat))
		}
		seen[strings.Join(parts, "/")] = true
		var gap time.Duration
		if !strings.EqualFold(gs, "off") && gs != "0" {
			d, err := time.ParseDuration(gs)
			if err != nil {
				return p, fmt.Errorf("entry %d %q: gap %q is not a duration (e.g. 30m, 6h) or off", i+1, clipValue(pat), clipValue(gs))
			}
			if d < minSilenceGap || d > maxSilenceGap {
				return p, fmt.Errorf("entry %d %q: gap %s is outside %s..%s", i+1, clipValue(pat), d, minSilenceGap, maxSilenceGap)
			}
			gap = d
		}
		p.Rules = append(p.Rules, SilenceRule{Pattern: pat, Gap: gap, parts: parts})
	}
	return p, nil
}

// glob matches name against pattern, where '*' is any run of characters.
func glob(pattern, name string) bool {
	star, restart := -1, 0
	i, j := 0, 0
	for j < len(name) {
		switch {
		case i < len(pattern) && pattern[i] == '*':
			star, restart = i, j
			i++
		case i < len(pattern) && pattern[i] == name[j]:
			i++
			j++
		case star >= 0:
			restart++
			i, j = star+1, restart
		default:
			return false
		}
	}
	for i < len(pattern) && pattern[i] == '*' {
		i++
	}
	return i == len(pattern)
}

// clipValue bounds a piece of a setting quoted in an error.
func clipValue(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// validateMonitor checks XELWATCH_SILENCE_MAX_GAP and XELWATCH_HEARTBEAT
// and keeps the parsed silence policy.
func (c *Config) validateMonitor() []error {
	var errs []error
	p, err := ParseSilence(c.SilenceMaxGap)
	if err != nil {
		errs = append(errs, invalid("XELWATCH_SILENCE_MAX_GAP", "%v", err))
	}
	c.silence = p
	if c.Heartbeat != 0 && (c.Heartbeat < minHeartbeat || c.Heartbeat > maxHeartbeat || c.Heartbeat%time.Second != 0) {
		errs = append(errs, invalid("XELWATCH_HEARTBEAT", "%s: want whole seconds from %s to %s, or 0 (off)", c.Heartbeat, minHeartbeat, maxHeartbeat))
	}
	return errs
}

// Silence is the parsed XELWATCH_SILENCE_MAX_GAP.
func (c *Config) Silence() SilencePolicy { return c.silence }
