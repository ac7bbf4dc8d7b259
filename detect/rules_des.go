package detect

import (
	"fmt"
	"strings"
)

func des001(m *matcher, ev *Event) ([]hit, error) {
	if ev.action == "DR" && ev.class == "DB" {
		return []hit{{sev: High, why: fmt.Sprintf("DROP DATABASE %s by %s", ev.Object(), ev.Principal())}}, nil
	}
	if ev.action == "DR" && ev.class != "U" || ev.action != "DR" && ev.hints()&hintDrop == 0 {
		return nil, nil
	}
	if m.actorAllowed(ev) {
		return nil, nil
	}
	if ev.action == "DR" && ev.class == "U" {
		return []hit{{why: fmt.Sprintf("DROP TABLE %s.%s by %s", ev.Record().SchemaName, ev.Object(), ev.Principal())}}, nil
	}
	if ev.action == "DR" || ev.hints()&hintDrop == 0 {
		return nil, nil
	}
	toks := ev.Statement().Tokens
	for i := 0; i+2 < len(toks); i++ {
		if !(toks[i].Is("drop") || toks[i].Is("truncate")) || !toks[i+1].Is("table") {
			continue
		}
		j := i + 2
		if toks[j].Is("if") && j+2 < len(toks) && toks[j+1].Is("exists") {
			j += 2
		}
		if j >= len(toks) {
			continue
		}
		name := toks[j].Text
		if strings.HasPrefix(name, "#") || strings.HasPrefix(name, "@") || name == "" {
			continue
		}
		return []hit{{why: fmt.Sprintf("%s TABLE %s by %s", strings.ToUpper(toks[i].Text), name, ev.Principal())}}, nil
	}
	return nil, nil
}

func des003(m *matcher, ev *Event) ([]hit, error) {
	if ev.action != "RS" {
		return nil, nil
	}
	if b := backupOf(ev); b != nil && b.Restore && b.Has("replace") {
		return []hit{{why: fmt.Sprintf("%s WITH REPLACE by %s overwrites an existing database", describeBackup(ev, b), ev.Principal())}}, nil
	}
	return nil, nil
}

func des004(m *matcher, ev *Event) ([]hit, error) {
	if ev.action != "ALLR" {
		return nil, nil
	}
	return []hit{{why: fmt.Sprintf("ledger change (ALLR) on %s by %s: dropping or converting a ledger table removes its tamper evidence", ev.Object(), ev.Principal())}}, nil
}

func des005(m *matcher, ev *Event) ([]hit, error) {
	switch ev.action {
	case "SVSD":
		return []hit{{why: fmt.Sprintf("SQL Server stopped (SVSD) by %s", ev.Principal())}}, nil
	case "SVPD":
		return []hit{{why: fmt.Sprintf("SQL Server paused (SVPD) by %s", ev.Principal())}}, nil
	}
	return nil, nil
}
