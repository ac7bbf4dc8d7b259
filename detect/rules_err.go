package detect

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Error numbers travel in additional_information, as XML the service
// writes and an attacker may shape: <error_code>18456</error_code> (or
// 0x4818) with <error_state>, or <failure_reason>Err 18456, Level 14,
// State 8, …</failure_reason>; some writers use <error> and <state>. They
// are read by hand, from the first maxAddInfoScan bytes, without an XML
// parser: nothing is expanded, nothing allocated.
const maxAddInfoScan = 16 << 10

// hasErrorInfo is the cheap test for records whose additional_information
// may carry an error number.
func hasErrorInfo(ai string) bool {
	if len(ai) > maxAddInfoScan {
		ai = ai[:maxAddInfoScan]
	}
	return strings.Contains(ai, "<error") || strings.Contains(ai, "<failure_reason")
}

// errorInfo returns the error number and state of an additional_information
// value (0 when absent).
func errorInfo(ai string) (code, state int) {
	if ai == "" {
		return 0, 0
	}
	if len(ai) > maxAddInfoScan {
		ai = ai[:maxAddInfoScan]
	}
	code, ok := tagNumber(ai, "<error_code>")
	if !ok {
		code, ok = tagNumber(ai, "<error>")
	}
	if ok {
		state, _ = tagNumber(ai, "<error_state>")
		if state == 0 {
			state, _ = tagNumber(ai, "<state>")
		}
		return code, state
	}
	// <failure_reason>Err 18456, Level 14, State 8, ...
	i := strings.Index(ai, "<failure_reason>")
	if i < 0 {
		return 0, 0
	}
	rest := skipSpace(strings.TrimPrefix(skipSpace(ai[i+len("<failure_reason>"):]), "<![CDATA["))
	if !hasFold(rest, "err") {
		return 0, 0
	}
	code, _ = leadingNumber(skipSpace(rest[3:]))
	if j := strings.Index(strings.ToLower(rest[:min(len(rest), 128)]), "state"); j >= 0 {
		state, _ = leadingNumber(skipSpace(rest[j+5:]))
	}
	return code, state
}

func skipSpace(s string) string { return strings.TrimLeft(s, " \t\r\n") }

// tagNumber reads the number that follows tag.
func tagNumber(s, tag string) (int, bool) {
	i := strings.Index(s, tag)
	if i < 0 {
		return 0, false
	}
	rest := skipSpace(strings.TrimPrefix(skipSpace(s[i+len(tag):]), "<![CDATA["))
	return leadingNumber(rest)
}

// leadingNumber parses a decimal (at most 9 digits) or 0x hexadecimal (at
// most 8 digits) number at the start of s.
func leadingNumber(s string) (int, bool) {
	if len(s) > 2 && s[0] == '0' && s[1]|0x20 == 'x' {
		j := 2
		for j < len(s) && j < 10 && strings.IndexByte("0123456789abcdefABCDEF", s[j]) >= 0 {
			j++
		}
		v, err := strconv.ParseInt(s[2:j], 16, 64)
		return int(v), err == nil
	}
	j := 0
	for j < len(s) && j < 9 && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	v, err := strconv.Atoi(s[:j])
	return v, err == nil
}

// Error numbers of the error-spike rules.
var (
	syntaxErrors     = map[int]bool{102: true, 105: true}                                                                      // incorrect syntax, unclosed quotation mark
	credentialErrors = map[int]bool{18456: true, 18452: true, 18470: true, 18486: true, 18487: true, 18488: true, 18489: true} // login failed, untrusted domain, disabled, locked out, expired, must change
	firewallErrors   = map[int]bool{40615: true, 40914: true}                                                                  // blocked by the server firewall, by a virtual network rule
)

// failureReasons explains the states of error 18456.
var failureReasons = map[int]string{
	2: "no such login", 5: "no such login", 6: "Windows login used with SQL authentication", 7: "login disabled and wrong password",
	8: "wrong password", 9: "invalid password", 11: "valid login, no server access", 12: "valid login, no server access",
	18: "password must be changed", 38: "database not available", 40: "default database not available", 58: "SQL authentication not allowed",
}

func loginFailureWhy(ev *Event) string {
	code, state := errorInfo(ev.rec.AdditionalInformation)
	if code == 0 {
		return ""
	}
	why := fmt.Sprintf(", error %d", code)
	if state != 0 {
		why += fmt.Sprintf(" state %d", state)
		if r := failureReasons[state]; r != "" && code == 18456 {
			why += " (" + r + ")"
		}
	}
	return why
}

// auth008 reports a failed login, once per principal and client address
// per throttle window (informational).
func auth008(m *matcher, ev *Event) ([]hit, error) {
	if !isLoginFailure(ev) {
		return nil, nil
	}
	ck, ok := clientKey(ev)
	if !ok {
		return nil, nil
	}
	w := m.cfg.cfg.ThrottleWindow
	win, dk, err := m.fire(lowerKey(ck, ev.Principal()), ev, w)
	if err != nil || !win {
		return nil, err
	}
	return []hit{{key: dk, why: fmt.Sprintf("failed login for %q from %s%s (first in %s)", ev.Principal(), ev.ClientIP(), loginFailureWhy(ev), w)}}, nil
}

// spike counts the record under "<prefix>|<key>" within window, and
// fires once per key and window when threshold records (distinct values
// when distinct is set) are seen.
func (m *matcher) spike(ev *Event, prefix, key, value string, threshold int, window time.Duration, distinct bool) (hit, int, error) {
	in, err := m.observe(lowerKey(prefix, key), entryFor(ev, value), window, m.cfg.cfg.StateMaxEntries)
	if err != nil {
		return hit{}, 0, err
	}
	n := len(in)
	if distinct {
		seen := map[string]bool{}
		for _, x := range in {
			seen[x.Value] = true
		}
		n = len(seen)
	}
	if n < threshold {
		return hit{}, 0, nil
	}
	win, dk, err := m.fire(key, ev, window)
	if err != nil || !win {
		return hit{}, 0, err
	}
	var earlier []Entry
	for _, x := range in {
		if x.ID != ev.ID() {
			earlier = append(earlier, x)
		}
	}
	return hit{key: dk, earlier: evidences(earlier)}, n, nil
}

// auth009: failed logins of one principal from one address.
func auth009(m *matcher, ev *Event) ([]hit, error) {
	if !isLoginFailure(ev) {
		return nil, nil
	}
	ck, ok := clientKey(ev)
	if !ok {
		return nil, nil
	}
	c := m.cfg.cfg
	h, n, err := m.spike(ev, "failp", lowerKey(ck, ev.Principal()), "", c.FailedLoginRepeatThreshold, c.FailedLoginRepeatWindow, false)
	if err != nil || n == 0 {
		return nil, err
	}
	h.why = fmt.Sprintf("%d failed logins for %q from %s within %s (threshold %d)%s", n, ev.Principal(), ev.ClientIP(), c.FailedLoginRepeatWindow, c.FailedLoginRepeatThreshold, loginFailureWhy(ev))
	return []hit{h}, nil
}

// errorRecord returns the error number of a record the error rules
// read: a failed login, or a batch or RPC carrying an error.
func errorRecord(ev *Event, codes map[int]bool) (int, bool) {
	switch ev.action {
	case "LGIF", "DBAF", "BCM", "RCM":
	default:
		return 0, false
	}
	if !hasErrorInfo(ev.rec.AdditionalInformation) {
		return 0, false
	}
	code, _ := errorInfo(ev.rec.AdditionalInformation)
	return code, codes[code]
}

// errorSpike is a rule that counts, per client address (and principal,
// with perPrincipal), the records failing with one of codes within
// Config.ErrorWindow and fires once per key and window at threshold.
// With distinct, it counts distinct statements (a retried statement
// counts once).
type errorSpike struct {
	codes        map[int]bool
	prefix       string // state key kind
	perPrincipal bool
	distinct     bool
	threshold    func(Config) int
	why          func(ev *Event, n, code int, c Config) string
}

func (s errorSpike) eval(m *matcher, ev *Event) ([]hit, error) {
	code, ok := errorRecord(ev, s.codes)
	if !ok {
		return nil, nil
	}
	key, ok := clientKey(ev)
	if !ok {
		return nil, nil
	}
	if s.perPrincipal {
		key = lowerKey(key, ev.Principal())
	}
	value := ""
	if s.distinct {
		f := fnv.New64a()
		f.Write([]byte(ev.rec.Statement))
		value = strconv.FormatUint(f.Sum64(), 36)
	}
	c := m.cfg.cfg
	h, n, err := m.spike(ev, s.prefix, key, value, s.threshold(c), c.ErrorWindow, s.distinct)
	if err != nil || n == 0 {
		return nil, err
	}
	h.why = s.why(ev, n, code, c)
	return []hit{h}, nil
}

// auth007: connections refused by the firewall from one address.
var auth007 = errorSpike{codes: firewallErrors, prefix: "fwerr",
	threshold: func(c Config) int { return c.FirewallErrorThreshold },
	why: func(ev *Event, n, code int, c Config) string {
		return fmt.Sprintf("%d connections from %s refused by the firewall within %s (error %d; threshold %d), principal %q", n, ev.ClientIP(), c.ErrorWindow, code, c.FirewallErrorThreshold, ev.Principal())
	}}.eval

// auth010: credential errors of one principal from one address.
var auth010 = errorSpike{codes: credentialErrors, prefix: "crederr", perPrincipal: true,
	threshold: func(c Config) int { return c.CredentialErrorThreshold },
	why: func(ev *Event, n, code int, c Config) string {
		return fmt.Sprintf("%d credential errors (%d) for %q from %s within %s (threshold %d)", n, code, ev.Principal(), ev.ClientIP(), c.ErrorWindow, c.CredentialErrorThreshold)
	}}.eval

// exe012: statements failing with syntax errors from one principal and
// address (distinct statements: a retried statement counts once).
var exe012 = errorSpike{codes: syntaxErrors, prefix: "synerr", perPrincipal: true, distinct: true,
	threshold: func(c Config) int { return c.SyntaxErrorThreshold },
	why: func(ev *Event, n, code int, c Config) string {
		return fmt.Sprintf("%d distinct statements by %q from %s failed with syntax errors (error %d) within %s (threshold %d): injection probing or fuzzing", n, ev.Principal(), ev.ClientIP(), code, c.ErrorWindow, c.SyntaxErrorThreshold)
	}}.eval
