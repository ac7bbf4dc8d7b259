package detect

import (
	"fmt"
	"strings"

	"github.com/xelwatch/xelwatch/detect/tsql"
)

// REC-001: reconnaissance of credentials and of the network. Extended
// procedures that map the host (version, drives, domain groups, network
// name) and catalog views that hold password hashes or the firewall's
// rules. xp_dirtree, xp_subdirs, xp_fileexist and xp_regread are EXE-007's.
var reconProcs = []string{"xp_msver", "xp_fixeddrives", "xp_availablemedia", "xp_enumgroups", "xp_loginconfig", "xp_logininfo",
	"xp_getnetname", "xp_ntsec_enumdomains", "xp_regenumkeys", "xp_regenumvalues", "xp_enumerrorlogs", "xp_readerrorlog"}

// selectsAll reports whether the statement has SELECT * (or t.*).
func selectsAll(st *tsql.Statement) bool {
	for i, t := range st.Tokens {
		if t.IsPunct("*") && i > 0 && (st.Tokens[i-1].Is("select") || st.Tokens[i-1].IsPunct(".") || st.Tokens[i-1].IsPunct(",") || st.Tokens[i-1].Is("distinct")) {
			return true
		}
	}
	return false
}

// passwordHashes names how the statement reads password hashes, or "".
func passwordHashes(st *tsql.Statement) string {
	switch {
	case st.HasWord("password_hash"):
		return "password_hash"
	case st.HasWord("loginproperty"):
		for _, s := range st.Strings() {
			if strings.EqualFold(strings.TrimSpace(s), "passwordhash") {
				return "LOGINPROPERTY(…, 'PasswordHash')"
			}
		}
	}
	for _, v := range []string{"sql_logins", "syslogins", "sysxlogins"} {
		if st.HasWord(v) && (selectsAll(st) || st.HasWord("password")) {
			return v + " with its password column"
		}
	}
	return ""
}

func rec001(m *matcher, ev *Event) ([]hit, error) {
	if p := called(ev, reconProcs...); p != "" {
		return []hit{{why: fmt.Sprintf("%s called %s (host and network reconnaissance)", ev.Principal(), p)}}, nil
	}
	if ev.hints()&hintWord == 0 {
		return nil, nil
	}
	st := ev.Statement()
	if what := passwordHashes(st); what != "" {
		return []hit{{sev: Medium, why: fmt.Sprintf("statement by %s reads login password hashes (%s): offline cracking", ev.Principal(), what)}}, nil
	}
	if v := st.Words("firewall_rules", "database_firewall_rules", "ipv6_firewall_rules", "ipv6_database_firewall_rules"); v != "" {
		return []hit{{why: fmt.Sprintf("statement by %s reads sys.%s (which addresses the server admits)", ev.Principal(), v)}}, nil
	}
	return nil, nil
}

// systemXPs are the extended procedures SQL Server ships (lower case).
var systemXPs = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`xp_availablemedia xp_cmdshell xp_create_subdir xp_delete_file xp_delete_files xp_copy_file
		xp_copy_files xp_dirtree xp_enum_oledb_providers xp_enumerrorlogs xp_enumgroups xp_fileexist xp_fixeddrives
		xp_get_script xp_get_tape_devices xp_getnetname xp_grantlogin xp_instance_regaddmultistring
		xp_instance_regdeletekey xp_instance_regdeletevalue xp_instance_regenumkeys xp_instance_regenumvalues
		xp_instance_regread xp_instance_regremovemultistring xp_instance_regwrite xp_logevent xp_loginconfig
		xp_logininfo xp_msver xp_msx_enlist xp_passagentinfo xp_prop_oledb_provider xp_qv xp_readerrorlog
		xp_regaddmultistring xp_regdeletekey xp_regdeletevalue xp_regenumkeys xp_regenumvalues xp_regread
		xp_regremovemultistring xp_regwrite xp_repl_convert_encrypt_sysadmin_wrapper xp_replposteor xp_revokelogin
		xp_servicecontrol xp_sprintf xp_sqlagent_enum_jobs xp_sqlagent_is_starting xp_sqlagent_monitor
		xp_sqlagent_notify xp_sqlagent_param xp_sqlmaint xp_sscanf xp_subdirs xp_sysmail_activate
		xp_sysmail_attachment_load xp_sysmail_format_query xp_ntsec_enumdomains xp_msadenabled xp_dsinfo
		xp_userlock xp_sendmail xp_startmail xp_stopmail xp_readmail xp_deletemail xp_findnextmsg xp_mapdown_bitmap`) {
		m[n] = true
	}
	return m
}()

// legacyAbuseProcs are procedures of old attack playbooks (the MSTIC
// honeypot list): removed or deprecated, and rarely called today.
var legacyAbuseProcs = []string{"sp_makewebtask", "sp_dropextendedproc", "sp_password"}

// execNames returns the last part of the names a statement executes
// (EXEC [@rc =] a.b.name), at most 16.
func execNames(toks []tsql.Token) []string {
	var out []string
	for i := 0; i < len(toks) && len(out) < 16; i++ {
		if !toks[i].Is("exec") && !toks[i].Is("execute") {
			continue
		}
		j := i + 1
		if j+1 < len(toks) && toks[j].Kind == tsql.Var && toks[j+1].IsPunct("=") {
			j += 2
		}
		last := ""
		for j < len(toks) {
			if toks[j].Kind == tsql.Word {
				last = toks[j].Text
				j++
				if j < len(toks) && toks[j].IsPunct(".") {
					for j < len(toks) && toks[j].IsPunct(".") {
						j++
					}
					continue
				}
			}
			break
		}
		if last != "" {
			out = append(out, last)
		}
	}
	return out
}

func exe013(m *matcher, ev *Event) ([]hit, error) {
	if ev.action == "EX" {
		obj := ev.Object()
		unknownXP := strings.HasPrefix(obj, "xp_") && !systemXPs[obj]
		if unknownXP || (ev.class == "X" && obj != "" && !strings.HasPrefix(obj, "sp_") && !systemXPs[obj]) {
			return []hit{{why: fmt.Sprintf("%s executed extended stored procedure %s, which SQL Server does not ship (a DLL loaded into the server: backdoor such as Maggie)", ev.Principal(), obj)}}, nil
		}
	}
	if ev.hints()&hintProc == 0 {
		return nil, nil
	}
	st := ev.Statement()
	for _, n := range execNames(st.Tokens) {
		if strings.HasPrefix(n, "xp_") && !systemXPs[n] {
			return []hit{{why: fmt.Sprintf("statement by %s executes %s, an extended procedure SQL Server does not ship", ev.Principal(), n)}}, nil
		}
	}
	if p := called(ev, legacyAbuseProcs...); p != "" {
		return []hit{{sev: Medium, why: fmt.Sprintf("%s called %s, a deprecated procedure of SQL Server attack playbooks", ev.Principal(), p)}}, nil
	}
	return nil, nil
}

// prv009: a member added to a role that PRV-001/002 do not watch.
func prv009(m *matcher, ev *Event) ([]hit, error) {
	if ev.action == "APRL" {
		role := ev.Object()
		switch {
		case ev.class == "RL" && !highDBRoles[role]:
			return []hit{{why: fmt.Sprintf("%s added %s to database role %s in %s", ev.Principal(), memberOf(ev), role, ev.Database())}}, nil
		case ev.class == "SG" && !highServerRoles[role]:
			return []hit{{why: fmt.Sprintf("%s added %s to server role %s", ev.Principal(), memberOf(ev), role)}}, nil
		}
		return nil, nil
	}
	if ev.hints()&hintMember == 0 && (ev.hints()&hintProc == 0 || ev.Statement().Words("sp_addrolemember", "sp_addsrvrolemember") == "") {
		return nil, nil
	}
	st := ev.Statement()
	if role, member, ok := roleAdds(st, false); ok && !highDBRoles[role] {
		return []hit{{why: fmt.Sprintf("statement by %s adds %s to database role %s", ev.Principal(), member, role)}}, nil
	}
	if role, member, ok := roleAdds(st, true); ok && !highServerRoles[role] {
		return []hit{{why: fmt.Sprintf("statement by %s adds %s to server role %s", ev.Principal(), member, role)}}, nil
	}
	return nil, nil
}

// roleDrops finds "ALTER [SERVER] ROLE r DROP MEMBER m" and
// sp_droprolemember / sp_dropsrvrolemember calls in a statement.
func roleDrops(st *tsql.Statement) (role, member string, ok bool) {
	toks := st.Tokens
	for i := 0; i+1 < len(toks); i++ {
		t := toks[i]
		if t.Is("sp_droprolemember") || t.Is("sp_dropsrvrolemember") {
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
				if t.Is("sp_dropsrvrolemember") {
					return args[1], args[0], true // (login, role)
				}
				return args[0], args[1], true // (role, member)
			}
			continue
		}
		if !t.Is("alter") {
			continue
		}
		j := i + 1
		if toks[j].Is("server") {
			j++
		}
		if j+3 < len(toks) && toks[j].Is("role") && toks[j+2].Is("drop") && toks[j+3].Is("member") {
			m := ""
			if j+4 < len(toks) {
				m = toks[j+4].Text
			}
			return toks[j+1].Text, m, true
		}
	}
	return "", "", false
}
