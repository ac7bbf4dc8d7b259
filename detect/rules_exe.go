package detect

import (
	"fmt"
	"strings"
)

// called reports the first of names that the record executes: the object
// of an EX record, or a word of the statement (never a string literal).
func called(ev *Event, names ...string) string {
	if ev.action == "EX" {
		obj := ev.Object()
		for _, n := range names {
			if obj == n {
				return n
			}
		}
	}
	if ev.hints()&hintProc == 0 {
		return ""
	}
	return ev.Statement().Words(names...)
}

func exe001(m *matcher, ev *Event) ([]hit, error) {
	if called(ev, "xp_cmdshell") == "" {
		return nil, nil
	}
	return []hit{{why: fmt.Sprintf("%s executed xp_cmdshell (operating system command from SQL Server)", ev.Principal())}}, nil
}

var dangerousOptions = map[string]bool{
	"xp_cmdshell": true, "ole automation procedures": true, "clr enabled": true, "clr strict security": true,
	"external scripts enabled": true, "ad hoc distributed queries": true, "database mail xps": true, "show advanced options": true,
}

func exe002(m *matcher, ev *Event) ([]hit, error) {
	if ev.action != "ALST" && called(ev, "sp_configure") == "" {
		return nil, nil
	}
	if ev.action == "ALST" && ev.hints()&hintProc == 0 {
		return nil, nil
	}
	for _, c := range ev.Statement().Configure() {
		if !dangerousOptions[c.Option] || !c.HasValue {
			continue
		}
		v := strings.TrimSpace(c.Value)
		// "clr strict security" is dangerous when turned off; the others when on.
		if (c.Option == "clr strict security" && v == "0") || (c.Option != "clr strict security" && v == "1") {
			return []hit{{why: fmt.Sprintf("%s ran sp_configure '%s', %s", ev.Principal(), c.Option, v)}}, nil
		}
	}
	return nil, nil
}

func exe003(m *matcher, ev *Event) ([]hit, error) {
	if p := called(ev, "sp_oacreate", "sp_oamethod", "sp_oasetproperty", "sp_oagetproperty", "sp_oadestroy"); p != "" {
		return []hit{{why: fmt.Sprintf("%s called %s (OLE automation from T-SQL)", ev.Principal(), p)}}, nil
	}
	return nil, nil
}

func exe004(m *matcher, ev *Event) ([]hit, error) {
	switch {
	case ev.action == "XU":
		return []hit{{why: fmt.Sprintf("%s issued an UNSAFE ASSEMBLY command", ev.Principal())}}, nil
	case ev.action == "XA":
		return []hit{{why: fmt.Sprintf("%s issued an EXTERNAL ACCESS ASSEMBLY command", ev.Principal())}}, nil
	case (ev.action == "CR" || ev.action == "AL") && ev.class == "AS":
		st := ev.Statement()
		for _, ps := range []string{"unsafe", "external_access"} {
			if st.Sequence("permission_set", "=", ps) {
				return []hit{{why: fmt.Sprintf("%s created/altered assembly %s WITH PERMISSION_SET = %s", ev.Principal(), ev.Object(), strings.ToUpper(ps))}}, nil
			}
		}
		return nil, nil
	}
	if p := called(ev, "sp_add_trusted_assembly", "sp_addextendedproc"); p != "" {
		return []hit{{why: fmt.Sprintf("%s called %s", ev.Principal(), p)}}, nil
	}
	return nil, nil
}

func exe005(m *matcher, ev *Event) ([]hit, error) {
	if called(ev, "sp_execute_external_script") == "" {
		return nil, nil
	}
	return []hit{{why: fmt.Sprintf("%s called sp_execute_external_script (R/Python in the server)", ev.Principal())}}, nil
}

func exe006(m *matcher, ev *Event) ([]hit, error) {
	p := called(ev, "sp_add_jobstep", "sp_add_job")
	if p == "" {
		return nil, nil
	}
	for _, proc := range []string{"sp_add_jobstep", "sp_add_job"} {
		if v, ok := ev.Statement().NamedArg(proc, "@subsystem"); ok {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "cmdexec", "powershell", "activescripting":
				return []hit{{why: fmt.Sprintf("%s called %s with @subsystem = '%s' (operating system job step)", ev.Principal(), proc, v)}}, nil
			}
		}
	}
	return nil, nil
}

func exe007(m *matcher, ev *Event) ([]hit, error) {
	p := called(ev, "xp_regwrite", "xp_regdeletekey", "xp_regdeletevalue", "xp_regread", "xp_dirtree", "xp_subdirs", "xp_fileexist")
	if p == "" {
		return nil, nil
	}
	why := fmt.Sprintf("%s called %s", ev.Principal(), p)
	if ev.hints()&hintUNC != 0 {
		for _, r := range ev.Statement().Outbound() {
			if strings.HasPrefix(r, `\\`) {
				why += fmt.Sprintf(" with UNC path %s (forces NTLM authentication to that host)", r)
				break
			}
		}
	}
	return []hit{{why: why}}, nil
}

var builtinAllowedRefs = []string{"http://schemas.microsoft.com/", "https://schemas.microsoft.com/", "http://www.w3.org/"}

func exe008(m *matcher, ev *Event) ([]hit, error) {
	if ev.hints()&(hintURL|hintUNC) == 0 {
		return nil, nil
	}
	st := ev.Statement()
	if st.Backup() != nil || st.Credential() != nil {
		return nil, nil // EXF-001/005/006/007 judge backup and credential destinations
	}
	var bad []string
	for _, r := range st.Outbound() {
		allowed := m.refAllowed(r)
		for _, p := range builtinAllowedRefs {
			if strings.HasPrefix(strings.ToLower(r), p) {
				allowed = true
			}
		}
		if !allowed {
			bad = append(bad, r)
		}
	}
	if len(bad) == 0 {
		return nil, nil
	}
	return []hit{{why: fmt.Sprintf("statement by %s references outbound location(s) outside the allow-list: %s", ev.Principal(), strings.Join(bad, ", "))}}, nil
}

var watchedNames = []string{"xp_cmdshell", "sp_oacreate", "sp_oamethod", "sp_configure", "sp_execute_external_script", "xp_regwrite", "xp_dirtree", "sp_addsrvrolemember", "sp_procoption", "openrowset", "sp_add_jobstep"}

func exe010(m *matcher, ev *Event) ([]hit, error) {
	if ev.hints()&(hintProc|hintChar|hintHex) == 0 {
		return nil, nil
	}
	st := ev.Statement()
	built := st.Obfuscated()
	if len(built) == 0 {
		return nil, nil
	}
	lits := st.Strings()
	for _, b := range built {
		for _, w := range watchedNames {
			if !strings.Contains(b, w) {
				continue
			}
			plain := false
			for _, l := range lits {
				if containsFold(l, w) {
					plain = true
				}
			}
			if !plain {
				return []hit{{why: fmt.Sprintf("statement by %s builds %q from pieces (concatenation, CHAR(), 0x literals)", ev.Principal(), w)}}, nil
			}
		}
	}
	return nil, nil
}

func exe011(m *matcher, ev *Event) ([]hit, error) {
	p := called(ev, "sp_set_firewall_rule", "sp_set_database_firewall_rule", "sp_delete_firewall_rule", "sp_delete_database_firewall_rule")
	if p == "" {
		return nil, nil
	}
	return []hit{{why: fmt.Sprintf("%s called %s (Azure SQL firewall change from T-SQL)", ev.Principal(), p)}}, nil
}
