package detect

import "strings"

// builtinAttackTools are the tools AUTH-006 looks for in application and
// host names: SQL attack and post-exploitation tools, password guessers,
// and web and vulnerability scanners (Defender for SQL's own "harmful
// application" test logs in as NetSparker). XELWATCH_ATTACK_TOOLS adds
// names, and removes built-in ones with a leading '-'.
var builtinAttackTools = []string{
	// SQL injection and SQL Server attack tools.
	"sqlmap", "havij", "sqlninja", "bbqsql", "jsql", "sqlsus", "impacket", "mssqlclient", "powerupsql",
	"mssqlpwner", "sqlrecon", "sqlping", "metasploit", "msfconsole", "meterpreter", "crackmapexec", "netexec",
	"evil-winrm",
	// Network scanners and password guessers.
	"nmap", "masscan", "ncrack", "hydra", "medusa", "patator",
	// Web application and vulnerability scanners.
	"acunetix", "netsparker", "invicti", "burp", "burpsuite", "w3af", "nessus", "openvas", "nikto", "appscan",
	"webinspect", "arachni", "skipfish", "wapiti", "owasp zap", "zaproxy", "nuclei",
}

// toolName is an attack tool name split into words (see nameWords).
type toolName struct {
	name  string // as configured, lower case
	words []string
}

// compileTools returns the built-in tools and the configured ones, minus
// those removed by a "-name" entry ("-*" removes every built-in name).
func compileTools(configured []string) []toolName {
	var add []string
	removed := map[string]bool{}
	all := false
	for _, t := range configured {
		t = strings.ToLower(strings.TrimSpace(t))
		switch {
		case t == "-*":
			all = true
		case strings.HasPrefix(t, "-"):
			removed[strings.Join(nameWords(t[1:]), " ")] = true
		case t != "":
			add = append(add, t)
		}
	}
	var out []toolName
	for i, list := range [][]string{builtinAttackTools, add} {
		for _, t := range list {
			w := nameWords(t)
			if len(w) == 0 || (i == 0 && (all || removed[strings.Join(w, " ")])) {
				continue
			}
			out = append(out, toolName{name: t, words: w})
		}
	}
	return out
}

// nameWords splits a name into lower-case words: runs of ASCII letters or
// of digits, everything else separating them ("sqlmap/1.8" is sqlmap 1
// 8, "Nessus10" is nessus 10, "w3af" is w 3 af). Other characters
// (non-ASCII letters) stay inside words. At most 64 words are kept.
func nameWords(s string) []string {
	var out []string
	class := func(c byte) int {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= 0x80:
			return 1
		case c >= '0' && c <= '9':
			return 2
		}
		return 0
	}
	for i := 0; i < len(s) && len(out) < 64; {
		k := class(s[i])
		if k == 0 {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && class(s[j]) == k {
			j++
		}
		out = append(out, strings.ToLower(s[i:j]))
		i = j
	}
	return out
}

// hasWords reports whether the words of t appear consecutively in ws.
func hasWords(ws []string, t []string) bool {
outer:
	for i := 0; i+len(t) <= len(ws); i++ {
		for k := range t {
			if ws[i+k] != t[k] {
				continue outer
			}
		}
		return true
	}
	return false
}

// findTool returns the first configured tool named in app or host, and
// whether it was found in the host name.
func findTool(tools []toolName, app, host string) (string, bool) {
	aw, hw := nameWords(app), nameWords(host)
	for _, t := range tools {
		if hasWords(aw, t.words) {
			return t.name, false
		}
		if hasWords(hw, t.words) {
			return t.name, true
		}
	}
	return "", false
}

// containsFold reports whether s contains the lower-case ASCII sub,
// ignoring case, without allocating.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if hasFold(s[i:], sub) {
			return true
		}
	}
	return false
}
