package detect

import (
	"fmt"
	"strings"

	"github.com/xelwatch/xelwatch/detect/tsql"
)

var highServerRoles = map[string]bool{"sysadmin": true, "securityadmin": true, "serveradmin": true, "setupadmin": true, "processadmin": true, "dbcreator": true, "bulkadmin": true}

var highDBRoles = map[string]bool{"db_owner": true, "db_securityadmin": true, "db_accessadmin": true, "db_backupoperator": true, "db_ddladmin": true}

// roleAdds finds "ALTER [SERVER] ROLE r ADD MEMBER m" and
// sp_addsrvrolemember / sp_addrolemember calls in a statement.
func roleAdds(st *tsql.Statement, server bool) (role, member string, ok bool) {
	toks := st.Tokens
	for i := 0; i+1 < len(toks); i++ {
		t := toks[i]
		if server && t.Is("sp_addsrvrolemember") || !server && t.Is("sp_addrolemember") {
			var args []string
			for j := i + 1; j < len(toks) && len(args) < 2; j++ {
				if toks[j].IsPunct(";") {
					break
				}
				if toks[j].Kind == tsql.String || (toks[j].Kind == tsql.Word && j > i+1) {
					args = append(args, strings.ToLower(toks[j].Text))
				}
			}
			if len(args) == 2 {
				if server {
					return args[1], args[0], true // (login, role)
				}
				return args[0], args[1], true // (role, member)
			}
		}
		if !t.Is("alter") {
			continue
		}
		j := i + 1
		if server {
			if !toks[j].Is("server") {
				continue
			}
			j++
		} else if toks[j].Is("server") {
			continue
		}
		if j+3 < len(toks) && toks[j].Is("role") && toks[j+2].Is("add") && toks[j+3].Is("member") {
			m := ""
			if j+4 < len(toks) {
				m = toks[j+4].Text
			}
			return toks[j+1].Text, m, true
		}
	}
	return "", "", false
}

func prv001(m *matcher, ev *Event) ([]hit, error) {
	if ev.action == "APRL" && ev.class == "SG" {
		if role := ev.Object(); highServerRoles[role] {
			return []hit{{why: fmt.Sprintf("%s added %s to server role %s", ev.Principal(), memberOf(ev), role)}}, nil
		}
		return nil, nil
	}
	if ev.action == "APRL" || ev.hints()&(hintMember|hintProc) == 0 {
		return nil, nil
	}
	if role, member, ok := roleAdds(ev.Statement(), true); ok && highServerRoles[role] {
		return []hit{{why: fmt.Sprintf("statement by %s adds %s to server role %s", ev.Principal(), member, role)}}, nil
	}
	return nil, nil
}

func memberOf(ev *Event) string {
	r := ev.Record()
	switch {
	case r.TargetServerPrincipalName != "":
		return r.TargetServerPrincipalName
	case r.TargetDatabasePrincipalName != "":
		return r.TargetDatabasePrincipalName
	}
	return "a principal"
}

func prv002(m *matcher, ev *Event) ([]hit, error) {
	if ev.action == "APRL" && ev.class == "RL" {
		if role := ev.Object(); highDBRoles[role] {
			return []hit{{why: fmt.Sprintf("%s added %s to database role %s in %s", ev.Principal(), memberOf(ev), role, ev.Database())}}, nil
		}
		return nil, nil
	}
	if ev.action == "APRL" || ev.hints()&(hintMember|hintProc) == 0 {
		return nil, nil
	}
	if role, member, ok := roleAdds(ev.Statement(), false); ok && highDBRoles[role] {
		return []hit{{why: fmt.Sprintf("statement by %s adds %s to database role %s", ev.Principal(), member, role)}}, nil
	}
	return nil, nil
}

var dangerousPermissions = [][]string{
	{"control", "server"}, {"alter", "any", "login"}, {"alter", "any", "server", "audit"},
	{"alter", "any", "database", "audit"}, {"impersonate"}, {"backup", "database"}, {"backup", "log"},
	{"alter", "any", "server", "role"}, {"alter", "any", "credential"}, {"unsafe", "assembly"},
}

func prv003(m *matcher, ev *Event) ([]hit, error) {
	if (ev.action != "G" && ev.action != "GWG") || (ev.class != "SR" && ev.class != "DB") {
		return nil, nil
	}
	st := ev.Statement()
	for _, p := range dangerousPermissions {
		if st.Sequence(p...) {
			return []hit{{why: fmt.Sprintf("%s granted %s %s", ev.Principal(), strings.ToUpper(strings.Join(p, " ")), grantee(ev))}}, nil
		}
	}
	// GRANT CONTROL [ON DATABASE::x] TO y: full control of a database.
	if st.Sequence("grant", "control") {
		return []hit{{why: fmt.Sprintf("%s granted CONTROL %s", ev.Principal(), grantee(ev))}}, nil
	}
	return nil, nil
}

func grantee(ev *Event) string {
	if g := memberOf(ev); g != "a principal" {
		return "to " + g
	}
	return ""
}

func prv004(m *matcher, ev *Event) ([]hit, error) {
	r := ev.Record()
	loginClass := ev.class == "LX" || ev.class == "SL" || ev.class == "WL" || ev.class == "WG"
	target := ev.Object()
	if target == "" {
		target = strings.ToLower(r.TargetServerPrincipalName)
	}
	privileged := m.cfg.privileged.has(target)
	sev := Severity(0)
	if privileged {
		sev = High
	}
	switch {
	case ev.action == "CR" && loginClass:
		return []hit{{why: fmt.Sprintf("%s created login %s", ev.Principal(), target)}}, nil
	case ev.action == "LGEA":
		return []hit{{sev: sev, why: fmt.Sprintf("%s enabled login %s", ev.Principal(), target)}}, nil
	case ev.action == "AL" && loginClass:
		st := ev.Statement()
		var what []string
		if st.Sequence("enable") {
			what = append(what, "ENABLE")
		}
		if st.Sequence("check_policy", "=", "off") {
			what = append(what, "CHECK_POLICY = OFF")
		}
		if st.Sequence("check_expiration", "=", "off") {
			what = append(what, "CHECK_EXPIRATION = OFF")
		}
		if len(what) == 0 {
			return nil, nil
		}
		return []hit{{sev: sev, why: fmt.Sprintf("%s altered login %s: %s", ev.Principal(), target, strings.Join(what, ", "))}}, nil
	case ev.action == "PWR":
		t := r.TargetServerPrincipalName
		if t == "" {
			t = ev.Object()
		}
		if t == "" || strings.EqualFold(t, ev.Principal()) {
			return nil, nil
		}
		return []hit{{sev: sev, why: fmt.Sprintf("%s reset the password of %s", ev.Principal(), t)}}, nil
	}
	return nil, nil
}

func prv005(m *matcher, ev *Event) ([]hit, error) {
	if ev.action != "IMP" {
		if ev.hints()&hintExecute == 0 {
			return nil, nil
		}
		st := ev.Statement()
		toks := st.Tokens
		for i := 0; i+4 < len(toks); i++ {
			if (toks[i].Is("execute") || toks[i].Is("exec")) && toks[i+1].Is("as") && (toks[i+2].Is("login") || toks[i+2].Is("user")) && toks[i+3].IsPunct("=") {
				if t := toks[i+4].Text; m.cfg.privileged.has(t) {
					return []hit{{why: fmt.Sprintf("%s ran EXECUTE AS %s = '%s'", ev.Principal(), strings.ToUpper(toks[i+2].Text), t)}}, nil
				}
			}
		}
		return nil, nil
	}
	r := ev.Record()
	for _, t := range []string{r.TargetServerPrincipalName, r.TargetDatabasePrincipalName, ev.Object()} {
		if t != "" && m.cfg.privileged.has(t) {
			return []hit{{why: fmt.Sprintf("%s impersonated privileged principal %s", ev.SessionPrincipal(), t)}}, nil
		}
	}
	return nil, nil
}

func prv006(m *matcher, ev *Event) ([]hit, error) {
	if ev.action == "EX" && ev.Object() == "sp_procoption" {
		return []hit{{why: fmt.Sprintf("%s executed sp_procoption: a procedure set to run at server startup persists across restarts", ev.Principal())}}, nil
	}
	if ev.hints()&hintProc == 0 {
		return nil, nil
	}
	st := ev.Statement()
	if st.HasWord("sp_procoption") {
		for _, s := range st.Strings() {
			if strings.EqualFold(strings.TrimSpace(s), "startup") {
				return []hit{{why: fmt.Sprintf("%s called sp_procoption ... 'startup': auto-executed procedure at server start", ev.Principal())}}, nil
			}
		}
	}
	return nil, nil
}

func prv007(m *matcher, ev *Event) ([]hit, error) {
	if ev.action != "TO" || (ev.class != "DB" && ev.class != "SG") {
		return nil, nil
	}
	what := "database"
	if ev.class == "SG" {
		what = "server role"
	}
	return []hit{{why: fmt.Sprintf("%s changed the owner of %s %s (ALTER AUTHORIZATION) to %s", ev.Principal(), what, ev.Object(), memberOf(ev))}}, nil
}

func prv008(m *matcher, ev *Event) ([]hit, error) {
	switch ev.action {
	case "DPRL":
		return []hit{{why: fmt.Sprintf("%s removed %s from role %s", ev.Principal(), memberOf(ev), ev.Object())}}, nil
	case "LGDA":
		return []hit{{why: fmt.Sprintf("%s disabled login %s", ev.Principal(), ev.Object())}}, nil
	}
	if !batchActions[ev.action] || ev.hints()&(hintWord|hintProc) == 0 {
		return nil, nil
	}
	if st := ev.Statement(); !st.HasWord("member") && st.Words("sp_droprolemember", "sp_dropsrvrolemember") == "" {
		return nil, nil
	}
	if role, member, ok := roleDrops(ev.Statement()); ok {
		return []hit{{why: fmt.Sprintf("statement by %s removes %s from role %s", ev.Principal(), member, role)}}, nil
	}
	return nil, nil
}
