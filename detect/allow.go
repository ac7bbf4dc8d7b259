package detect

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/xelwatch/xelwatch/detect/tsql"
)

// allowNames matches names case-insensitively; "x*" is a prefix.
type allowNames struct {
	exact    []string
	prefixes []string
}

func newAllowNames(list []string) allowNames {
	var a allowNames
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, ok := strings.CutSuffix(s, "*"); ok {
			a.prefixes = append(a.prefixes, p)
			continue
		}
		a.exact = append(a.exact, s)
	}
	return a
}

func (a allowNames) empty() bool { return len(a.exact) == 0 && len(a.prefixes) == 0 }

// has compares without allocating: allow-lists are short.
func (a allowNames) has(name string) bool {
	if name == "" || a.empty() {
		return false
	}
	n := strings.TrimSpace(name)
	for _, e := range a.exact {
		if strings.EqualFold(n, e) {
			return true
		}
	}
	for _, p := range a.prefixes {
		if len(n) >= len(p) && strings.EqualFold(n[:len(p)], p) {
			return true
		}
	}
	return false
}

type allowIPs []netip.Prefix

func newAllowIPs(list []string) (allowIPs, error) {
	var out allowIPs
	for _, s := range list {
		if strings.TrimSpace(s) == "" {
			continue
		}
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q: not an IP address or CIDR prefix", s)
		}
		out = append(out, p)
	}
	return out, nil
}

func (a allowIPs) has(ip string) bool {
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range a {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// allowDest matches backup destinations.
type allowDest struct {
	urls     []string // lower-case URL prefixes
	accounts []string // lower-case account names or hosts
	paths    []string // lower-case paths, '/' separators
	devices  map[string]bool
}

func newAllowDest(list []string) (allowDest, error) {
	a := allowDest{devices: map[string]bool{}}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		ls := strings.ToLower(s)
		switch {
		case strings.HasPrefix(ls, "https://") || strings.HasPrefix(ls, "http://"):
			if len(ls) <= len("https://") {
				return a, fmt.Errorf("%q: URL without host", s)
			}
			a.urls = append(a.urls, ls)
		case strings.HasPrefix(ls, `\\`) || strings.Contains(ls, `\`) || strings.Contains(ls, "/") || (len(ls) >= 2 && ls[1] == ':'):
			a.paths = append(a.paths, slashes(ls))
		case strings.Contains(ls, "."):
			a.accounts = append(a.accounts, ls)
		default:
			// A bare word is both a storage account name and a device name.
			a.accounts = append(a.accounts, ls)
			a.devices[ls] = true
		}
	}
	return a, nil
}

func slashes(s string) string { return strings.ReplaceAll(s, `\`, "/") }

// hasPrefixFold reports whether s starts with the lower-case p, ignoring
// ASCII case and treating '\' in s as '/'.
func hasPrefixFold(s, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := s[i]
		if c == '\\' {
			c = '/'
		} else if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// prefixAt reports whether s starts with p (lower case, '/' separators)
// at a boundary: p ends with a separator, or s ends there, or the next
// byte of s is a separator.
func prefixAt(s, p string, seps string) bool {
	if !hasPrefixFold(s, p) {
		return false
	}
	if len(s) == len(p) || strings.ContainsRune(seps, rune(p[len(p)-1])) {
		return true
	}
	c := s[len(p)]
	if c == '\\' {
		c = '/'
	}
	return strings.IndexByte(seps, c) >= 0
}

// has reports whether the destination is allow-listed. Unknown
// destinations never are.
func (a allowDest) has(d tsql.Destination) bool {
	v := strings.TrimSpace(d.Value)
	switch d.Kind {
	case tsql.DestURL:
		return a.hasURL(v)
	case tsql.DestDisk, tsql.DestFile, tsql.DestTape:
		if hasPrefixFold(v, "https://") || hasPrefixFold(v, "http://") {
			return a.hasURL(v)
		}
		if strings.Contains(v, "..") {
			return false // no path tricks out of an allowed folder
		}
		for _, ap := range a.paths {
			if prefixAt(v, ap, "/") {
				return true
			}
		}
	case tsql.DestDevice:
		return a.devices[strings.ToLower(v)]
	}
	return false
}

// hasURL matches URL prefixes at a '/', '?' boundary, and account names
// or hosts against the URL host.
func (a allowDest) hasURL(u string) bool {
	for _, p := range a.urls {
		if prefixAt(u, p, "/?") || (len(u)+1 == len(p) && p[len(u)] == '/' && hasPrefixFold(u, p[:len(u)])) {
			return true
		}
	}
	host := u
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	if i := strings.IndexAny(host, "/?"); i >= 0 {
		host = host[:i]
	}
	for _, acct := range a.accounts {
		if strings.EqualFold(host, acct) {
			return true
		}
		if rest, ok := strings.CutSuffix(strings.ToLower(host), ".blob.core.windows.net"); ok && rest == acct {
			return true
		}
	}
	return false
}

// hasHostOf reports whether an outbound URL or UNC path (EXE-008) is
// allow-listed as a backup destination.
func (a allowDest) hasRef(ref string) bool {
	if strings.HasPrefix(ref, `\\`) {
		return a.has(tsql.Destination{Kind: tsql.DestDisk, Value: ref})
	}
	return a.hasURL(ref)
}
