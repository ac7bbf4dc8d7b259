package detect

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

func isLoginFailure(ev *Event) bool { return ev.action == "LGIF" || ev.action == "DBAF" }

// failKey groups failures by server and client address.
func clientKey(ev *Event) (string, bool) {
	ip := strings.TrimSpace(ev.ClientIP())
	if ip == "" {
		return "", false
	}
	return lowerKey(ev.Server(), ip), true
}

// fire claims the firing of a windowed rule for key: the first record to
// complete the condition holds the claim for the window, and only it (or
// a replay of it) produces the finding, whose id is derived from the key
// and the holder.
func (m *matcher) fire(key string, ev *Event, window time.Duration) (bool, string, error) {
	won, err := m.claim(claimPrefix+lowerKey(m.rule.ID, key), entryFor(ev, ""), window)
	if err != nil || !won {
		return false, "", err
	}
	return true, key + "|" + ev.ID(), nil
}

// State key prefixes of claims ("fired|<rule>|<key>") and of the
// AUTH-001/002 marks per server ("attack|<server>").
const (
	claimPrefix = "fired|"
	markPrefix  = "attack|"
)

// maxMarks bounds the AUTH-001/002 marks kept per server for AUTH-003.
const maxMarks = 64

// markAttack remembers an AUTH-001/002 source and its principals for
// AUTH-003, in one key per server so that a login costs one state read.
func (m *matcher) markAttack(ev *Event, principals []string) error {
	w := m.cfg.cfg.SuccessAfterFailures
	base := entryFor(ev, "")
	marks := []Entry{withValue(base, "ip:"+strings.ToLower(ev.ClientIP()))}
	for i, p := range principals {
		if i >= 16 {
			break
		}
		marks = append(marks, withValue(base, "principal:"+strings.ToLower(p)))
	}
	_, err := m.state.Update(m.ctx, markPrefix+lowerKey(ev.Server()), base.Time.Add(w), func(cur []Entry) []Entry {
		return merge(cur, w, maxMarks, true, marks...)
	})
	return err
}

func withValue(e Entry, v string) Entry {
	e.Value = v
	return e
}

func auth001(m *matcher, ev *Event) ([]hit, error) {
	if !isLoginFailure(ev) {
		return nil, nil
	}
	key, ok := clientKey(ev)
	if !ok {
		return nil, nil
	}
	c := m.cfg.cfg
	in, err := m.observe(lowerKey("fail", key), entryFor(ev, ev.Principal()), c.BruteForceWindow, c.StateMaxEntries)
	if err != nil || len(in) < c.BruteForceThreshold {
		return nil, err
	}
	win, dk, err := m.fire(key, ev, c.BruteForceWindow)
	if err != nil || !win {
		return nil, err
	}
	principals := distinctValues(in)
	if err := m.markAttack(ev, principals); err != nil {
		return nil, err
	}
	var earlier []Entry
	for _, x := range in {
		if x.ID != ev.ID() {
			earlier = append(earlier, x)
		}
	}
	return []hit{{key: dk, earlier: evidences(earlier),
		why: fmt.Sprintf("%d failed logins from %s within %s (threshold %d), principals: %s", len(in), ev.ClientIP(), c.BruteForceWindow, c.BruteForceThreshold, strings.Join(principals, ", "))}}, nil
}

func distinctValues(es []Entry) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range es {
		k := strings.ToLower(e.Value)
		if e.Value != "" && !seen[k] {
			seen[k] = true
			out = append(out, e.Value)
		}
	}
	sort.Strings(out)
	return out
}

func auth002(m *matcher, ev *Event) ([]hit, error) {
	if !isLoginFailure(ev) || ev.Principal() == "" {
		return nil, nil
	}
	key, ok := clientKey(ev)
	if !ok {
		return nil, nil
	}
	c := m.cfg.cfg
	w := c.SprayWindow
	en := entryFor(ev, ev.Principal())
	// One entry per principal (the latest), so that many failures of one
	// principal cannot push the others out of the bounded list. What the
	// list keeps depends only on the failures seen, not on their order,
	// so a replay leaves it unchanged.
	all, err := m.state.Update(m.ctx, lowerKey("spray", key), en.Time.Add(w), func(cur []Entry) []Entry {
		newest := en.Time
		for _, x := range cur {
			if x.Time.After(newest) {
				newest = x.Time
			}
		}
		next := make([]Entry, 0, len(cur)+1)
		replaced := false
		for _, x := range cur {
			if x.Time.Before(newest.Add(-w)) {
				continue
			}
			if strings.EqualFold(x.Value, en.Value) {
				if cmpEntry(en, x) >= 0 {
					x = en
				}
				replaced = true
			}
			next = append(next, x)
		}
		if !replaced && !en.Time.Before(newest.Add(-w)) {
			next = append(next, en)
		}
		slices.SortFunc(next, cmpEntry)
		if len(next) > c.StateMaxEntries {
			next = next[len(next)-c.StateMaxEntries:]
		}
		return next
	})
	if err != nil {
		return nil, err
	}
	var in []Entry
	for i := range all {
		x := &all[i]
		if !x.Time.After(en.Time) && en.Time.Sub(x.Time) <= w && m.sees(x) {
			in = append(in, *x)
		}
	}
	if len(in) < c.SprayThreshold {
		return nil, nil
	}
	win, dk, err := m.fire(key, ev, w)
	if err != nil || !win {
		return nil, err
	}
	principals := distinctValues(in)
	if err := m.markAttack(ev, principals); err != nil {
		return nil, err
	}
	var earlier []Entry
	for _, x := range in {
		if x.ID != ev.ID() {
			earlier = append(earlier, x)
		}
	}
	return []hit{{key: dk, earlier: evidences(earlier),
		why: fmt.Sprintf("%d distinct principals failed to log in from %s within %s (threshold %d): %s", len(principals), ev.ClientIP(), w, c.SprayThreshold, strings.Join(principals, ", "))}}, nil
}

func auth003(m *matcher, ev *Event) ([]hit, error) {
	if ev.action != "LGIS" && ev.action != "DBAS" {
		return nil, nil
	}
	w := m.cfg.cfg.SuccessAfterFailures
	t := ev.Time()
	all, err := m.lookup(markPrefix+lowerKey(ev.Server()), t.Add(-w), t)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	ipv, pv := "ip:"+strings.ToLower(ev.ClientIP()), "principal:"+strings.ToLower(ev.Principal())
	var mark *Entry
	for i := range all {
		if (ev.ClientIP() != "" && all[i].Value == ipv) || (ev.Principal() != "" && all[i].Value == pv) {
			mark = &all[i]
		}
	}
	if mark == nil {
		return nil, nil
	}
	// One finding per server, client address and principal per window,
	// whichever AUTH-001/002 mark matched: the id does not depend on the
	// marks the state still holds.
	win, dk, err := m.fire(lowerKey(ev.Server(), ev.ClientIP(), ev.Principal()), ev, w)
	if err != nil || !win {
		return nil, err
	}
	rule := "AUTH-001/002"
	if mark.Evidence != nil {
		rule = "the failures from " + mark.Evidence.ClientIP
	}
	return []hit{{key: dk, earlier: evidences([]Entry{*mark}),
		why: fmt.Sprintf("%s logged in from %s at %s, %s after a brute-force/spray finding (%s) on this source or principal", ev.Principal(), ev.ClientIP(), t.Format("15:04:05Z"), t.Sub(mark.Time).Round(time.Second), rule)}}, nil
}

// publicIP reports whether s is a routable address (not private,
// loopback, link-local, CGNAT or unspecified).
func publicIP(s string) bool {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return false
	}
	a = a.Unmap()
	if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() || a.IsLinkLocalMulticast() {
		return false
	}
	if a.Is4() && netip.MustParsePrefix("100.64.0.0/10").Contains(a) {
		return false
	}
	return true
}

func auth004(m *matcher, ev *Event) ([]hit, error) {
	if !isLoginFailure(ev) || !publicIP(ev.ClientIP()) || m.cfg.clientIPs.has(ev.ClientIP()) {
		return nil, nil
	}
	key, _ := clientKey(ev)
	win, dk, err := m.fire(key, ev, m.cfg.cfg.ThrottleWindow)
	if err != nil || !win {
		return nil, err
	}
	return []hit{{key: dk, why: fmt.Sprintf("failed login for %s from public address %s (first in %s)", ev.Principal(), ev.ClientIP(), m.cfg.cfg.ThrottleWindow)}}, nil
}

func auth006(m *matcher, ev *Event) ([]hit, error) {
	app, host := ev.Application(), ev.Record().HostName
	if app == "" && host == "" {
		return nil, nil
	}
	found, onHost := m.cfg.toolCache.lookup(app, host, func() (string, bool) {
		return findTool(m.cfg.tools, app, host)
	})
	where := "application " + app
	if onHost {
		where = "host " + host
	}
	if found == "" || m.cfg.applications.has(app) {
		return nil, nil
	}
	key := lowerKey(ev.Server(), ev.ClientIP(), found)
	win, dk, err := m.fire(key, ev, m.cfg.cfg.ThrottleWindow)
	if err != nil || !win {
		return nil, err
	}
	return []hit{{key: dk, why: fmt.Sprintf("%s names attack tool %q (principal %s, client %s)", where, found, ev.Principal(), ev.ClientIP())}}, nil
}

// toolCache remembers the attack-tool verdict per (application, host):
// a few distinct pairs carry almost all logins.
type toolCache struct {
	mu sync.Mutex
	m  map[[2]string]toolVerdict
}

type toolVerdict struct {
	tool   string
	onHost bool
}

const maxToolCache = 4096

func (c *toolCache) lookup(app, host string, compute func() (string, bool)) (string, bool) {
	k := [2]string{app, host}
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return v.tool, v.onHost
	}
	v.tool, v.onHost = compute()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxToolCache {
		c.m = map[[2]string]toolVerdict{}
	}
	c.m[k] = v
	c.mu.Unlock()
	return v.tool, v.onHost
}
