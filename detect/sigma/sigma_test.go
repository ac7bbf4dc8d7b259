package sigma

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// Rules written for these tests in the style of SigmaHQ's MSSQL rules
// (windows/application, EventID 33205, Data|contains), not copies.
const ruleXPCmdshell = `title: Shell command through xp_cmdshell (test)
id: 5a4f2c5e-1b7d-4d7e-9a57-0c1e7c1f0a01
status: test
description: A statement runs xp_cmdshell.
author: xelwatch tests
date: 2026-12-03
tags:
    - attack.execution
    - attack.t1505.001
logsource:
    product: windows
    service: application
detection:
    selection:
        Provider_Name|contains: 'MSSQL'
        EventID: 33205
        Data|contains|all:
            - 'object_name:xp_cmdshell'
            - 'statement:EXEC'
    condition: selection
falsepositives:
    - Administrators
level: high
`

const ruleSysadmin = `title: Login added to sysadmin (test)
id: 9b0e7d4a-2222-4c3b-8e0f-4b3c2d1e0f02
logsource:
    product: mssql
detection:
    selection:
        action_id: APRL
        object_name: sysadmin
    filter_service:
        server_principal_name|startswith: 'svc_'
    condition: selection and not filter_service
level: informational
tags:
    - attack.persistence
    - attack.t1098
`

func rec(action, object, stmt string) *audit.Record {
	return &audit.Record{
		EventTime: time.Date(2026, 12, 3, 10, 0, 0, 123456700, time.UTC), SequenceNumber: 1, AuditSchemaVersion: 1,
		ActionID: action, ClassType: "X", Succeeded: true, SessionID: 55, ServerInstanceName: `SQL01\PROD`,
		DatabaseName: "master", SchemaName: "sys", ObjectName: object, Statement: stmt,
		ServerPrincipalName: `CONTOSO\mallory`, SessionServerPrincipalName: `CONTOSO\mallory`,
		ServerPrincipalSID: []byte{1, 5, 0, 0xab}, PermissionBitmask: []byte{0x20},
		FileName: "sql01/master/a.sqlaudit", AuditFileOffset: 4096, EventIndex: 3,
	}
}

func mustParse(t testing.TB, name, src string) *Rule {
	t.Helper()
	r, err := Parse(name, []byte(src))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return r
}

func mustSet(t testing.TB, rules ...*Rule) *Set {
	t.Helper()
	s, err := NewSet(rules, Options{OnError: func(id string, err error) { t.Errorf("%s: %v", id, err) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func eval(t testing.TB, s *Set, r *audit.Record) []detect.Finding {
	t.Helper()
	fs, err := s.Evaluate(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestSigmaHQStyleRuleRunsUnmodified(t *testing.T) {
	s := mustSet(t, mustParse(t, "xp.yml", ruleXPCmdshell))
	for _, c := range []struct {
		name string
		r    *audit.Record
		want bool
	}{
		{"exec xp_cmdshell", rec("EX", "xp_cmdshell", "EXEC xp_cmdshell 'whoami'"), true},
		{"lower-case exec", rec("EX", "xp_cmdshell", "exec master..xp_cmdshell 'dir'"), true},
		{"other procedure", rec("EX", "xp_dirtree", "EXEC xp_dirtree 'c:\\'"), false},
		{"xp_cmdshell in a select", rec("SL", "xp_cmdshell", "SELECT * FROM sys.configurations WHERE name = 'xp_cmdshell'"), false},
		{"statement only mentions it", rec("BCM", "", "EXEC dbo.p 'xp_cmdshell'"), false},
	} {
		fs := eval(t, s, c.r)
		if got := len(fs) == 1; got != c.want {
			t.Errorf("%s: %d findings, want match %v", c.name, len(fs), c.want)
			continue
		}
		if !c.want {
			continue
		}
		f := fs[0]
		if f.Rule != "SIG-5a4f2c5e-1b7d-4d7e-9a57-0c1e7c1f0a01" || f.Severity != detect.High || f.Technique != "T1505.001" ||
			f.Title != "Shell command through xp_cmdshell (test)" {
			t.Errorf("%s: finding %+v", c.name, f)
		}
		if f.Why != `Sigma rule "Shell command through xp_cmdshell (test)" matched (selection)` {
			t.Errorf("why = %q", f.Why)
		}
		if len(f.Records) != 1 || f.Records[0].FileName != c.r.FileName || f.Records[0].AuditFileOffset != 4096 || f.Records[0].EventIndex != 3 {
			t.Errorf("evidence %+v", f.Records)
		}
		if f.Principal != `CONTOSO\mallory` || f.Server != `SQL01\PROD` || f.DetectionID == "" {
			t.Errorf("finding %+v", f)
		}
		// Replay-stable: the same record gives the same id, another place another.
		again := eval(t, s, c.r)
		other := *c.r
		other.EventIndex++
		moved := eval(t, s, &other)
		if again[0].DetectionID != f.DetectionID || moved[0].DetectionID == f.DetectionID {
			t.Errorf("detection ids %s, %s, %s", f.DetectionID, again[0].DetectionID, moved[0].DetectionID)
		}
	}
}

func TestColumnFieldsAndNegation(t *testing.T) {
	s := mustSet(t, mustParse(t, "sysadmin.yml", ruleSysadmin))
	add := rec("APRL", "sysadmin", "ALTER SERVER ROLE [sysadmin] ADD MEMBER [eve]")
	fs := eval(t, s, add)
	if len(fs) != 1 || fs[0].Severity != detect.Info || fs[0].Technique != "T1098" || fs[0].Rule != "SIG-9b0e7d4a-2222-4c3b-8e0f-4b3c2d1e0f02" {
		t.Fatalf("findings %+v", fs)
	}
	svc := rec("APRL", "sysadmin", "ALTER SERVER ROLE [sysadmin] ADD MEMBER [eve]")
	svc.ServerPrincipalName = "svc_deploy"
	if fs := eval(t, s, svc); len(fs) != 0 {
		t.Errorf("filtered principal: %+v", fs)
	}
	// A statement that mimics the filter does not fool a column field.
	forged := rec("APRL", "sysadmin", "ALTER SERVER ROLE [sysadmin] ADD MEMBER [eve] -- \nserver_principal_name:svc_x")
	if fs := eval(t, s, forged); len(fs) != 1 {
		t.Errorf("forged statement: %d findings", len(fs))
	}
	if fs := eval(t, s, rec("APRL", "db_owner", "")); len(fs) != 0 {
		t.Errorf("other role: %+v", fs)
	}
}

func TestParseErrors(t *testing.T) {
	base := func(detection string) string {
		return "title: t\nlogsource:\n    product: mssql\ndetection:\n" + detection
	}
	for _, c := range []struct{ name, src, want string }{
		{"bad yaml", "title: [unclosed\n", "invalid rule"},
		{"missing detection", "title: t\nlogsource:\n    product: mssql\n", "missing detection"},
		{"missing condition", base("    selection:\n        action_id: EX\n"), "missing detection"},
		{"missing title", "logsource:\n    product: mssql\ndetection:\n    s:\n        action_id: EX\n    condition: s\n", "missing title"},
		{"unknown modifier", base("    s:\n        statement|wide|contains: x\n    condition: s\n"), "unknown modifier wide"},
		{"unknown field", base("    s:\n        Image|endswith: cmd.exe\n    condition: s\n"), `unknown field "Image"`},
		{"keywords", base("    s:\n        - xp_cmdshell\n    condition: s\n"), "keyword searches"},
		{"aggregation", base("    s:\n        action_id: LGIF\n    condition: s | count() by client_ip > 10\n"), "aggregations"},
		{"undefined search", base("    s:\n        action_id: EX\n    condition: s and t\n"), `unknown search "t"`},
		{"pattern matches nothing", base("    s:\n        action_id: EX\n    condition: 1 of sel*\n"), "matches no search"},
		{"bad condition", base("    s:\n        action_id: EX\n    condition: s and (\n"), "invalid rule"},
		{"bad regex", base("    s:\n        statement|re: 'a(b'\n    condition: s\n"), "regular expression"},
		{"long regex", base("    s:\n        statement|re: '" + strings.Repeat("a", MaxRegexLen+1) + "'\n    condition: s\n"), "longer than"},
		{"numeric on text", base("    s:\n        statement|gt: 5\n    condition: s\n"), "numeric field"},
		{"placeholder", base("    s:\n        server_principal_name: '%admins%'\n    condition: s\n"), "placeholder"},
		{"nested value", base("    s:\n        statement:\n            a: b\n    condition: s\n"), "not a string"},
		{"bad level", "title: t\nlevel: severe\nlogsource:\n    product: mssql\ndetection:\n    s:\n        action_id: EX\n    condition: s\n", "unknown level"},
		{"two documents", "title: a\n---\ntitle: b\n", "several YAML documents"},
		{"too large", "title: t\n#" + strings.Repeat("x", MaxRuleBytes), "larger than"},
		{"not utf-8", "title: \xff\n", "UTF-8"},
		{"deep nesting", base("    s:\n        action_id: EX\n    condition: " + strings.Repeat("(", MaxNesting+1) + "s" + strings.Repeat(")", MaxNesting+1) + "\n"), "nested more than"},
		{"long line", base("    s:\n        action_id: EX\n    condition: " + strings.Repeat("s or ", MaxLineLen/5) + "s\n"), "line longer than"},
	} {
		_, err := Parse("rules/"+c.name+".yml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "rules/"+c.name+".yml") {
			t.Errorf("%s: err = %v, want it to name the file and say %q", c.name, err, c.want)
		}
		var skip *SkipError
		if errors.As(err, &skip) {
			t.Errorf("%s: a skip, not an error", c.name)
		}
	}
}

func TestSkippedLogsources(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"process creation", "title: t\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    s:\n        Image|endswith: cmd.exe\n    condition: s\n", "not SQL Server audit"},
		{"application log, other program", "title: t\nlogsource:\n    product: windows\n    service: application\ndetection:\n    s:\n        Provider_Name: MsiInstaller\n        EventID: 1033\n    condition: s\n", "without a search for EventID 33205"},
		{"deprecated", "title: t\nstatus: deprecated\nlogsource:\n    product: mssql\ndetection:\n    s:\n        action_id: EX\n    condition: s\n", "status deprecated"},
		{"linux", "title: t\nlogsource:\n    product: linux\ndetection:\n    s:\n        foo: bar\n    condition: s\n", "not SQL Server audit"},
	} {
		_, err := Parse(c.name, []byte(c.src))
		var skip *SkipError
		if !errors.As(err, &skip) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want a skip saying %q", c.name, err, c.want)
		}
	}
}

func TestRuleIDs(t *testing.T) {
	noID := "title: t\nlogsource:\n    product: mssql\ndetection:\n    s:\n        action_id: EX\n    condition: s\n"
	a := mustParse(t, "team/Drop Table.yml", noID)
	b := mustParse(t, "team/Drop Table.yml", noID+"level: low\n")
	c := mustParse(t, "other/Drop Table.yml", noID)
	if a.Info.ID != b.Info.ID || !strings.HasPrefix(a.Info.ID, "SIG-Drop_Table-") || a.Info.ID == c.Info.ID {
		t.Errorf("file-derived ids %q %q %q", a.Info.ID, b.Info.ID, c.Info.ID)
	}
	bad := mustParse(t, "x.yml", "id: 'a b/c'\n"+noID)
	if !strings.HasPrefix(bad.Info.ID, "SIG-x-") {
		t.Errorf("unusable sigma id gave %q", bad.Info.ID)
	}
	if _, err := NewSet([]*Rule{a, b}, Options{}); err == nil || !strings.Contains(err.Error(), "same rule id") {
		t.Errorf("duplicate ids: %v", err)
	}
}

// TestOneOfAndAllOf covers condition forms the evaluator needs rewritten
// ("1 of name") or handles itself (patterns, them).
func TestConditionForms(t *testing.T) {
	src := func(cond string) string {
		return "title: t\nlogsource:\n    product: mssql\ndetection:\n    sel_exec:\n        action_id: EX\n    sel_obj:\n        object_name|startswith: xp_\n    condition: " + cond + "\n"
	}
	r := rec("EX", "xp_cmdshell", "EXEC xp_cmdshell 'x'")
	other := rec("EX", "sp_who", "EXEC sp_who")
	for cond, want := range map[string][2]bool{
		"1 of sel_exec":             {true, true},
		"all of sel_*":              {true, false},
		"1 of sel_*":                {true, true},
		"all of them":               {true, false},
		"sel_exec and not sel_obj":  {false, true},
		"(sel_exec or sel_obj)":     {true, true},
		"all of sel_obj":            {true, false},
		"not 1 of sel_* or sel_obj": {true, false},
	} {
		s := mustSet(t, mustParse(t, "c.yml", src(cond)))
		if got := [2]bool{len(eval(t, s, r)) == 1, len(eval(t, s, other)) == 1}; got != want {
			t.Errorf("%s: matches %v, want %v", cond, got, want)
		}
	}
}
