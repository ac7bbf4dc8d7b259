package audit

import (
	"slices"
	"sort"
	"strings"
)

//go:generate go run ./internal/gen -ref reference -out tables_gen.go

// ActionInfo is one row of sys.dm_audit_actions as far as the public
// sources reproduce it (reference/audit_actions.csv).
type ActionInfo struct {
	ID    string // trimmed code, e.g. "BA"
	Name  string // e.g. "BACKUP"; for group codes the group name
	Group bool   // the code names an action group (appears in audit specs, not in records)
	XEInt uint32 // the integer stored in .xel files (little-endian ASCII, space-padded)
	// ContainingGroup is the reference's free text: a group name, or how
	// the group depends on class_type (see ActionGroupsFor). Inferred
	// unless GroupConfidence says "documented".
	ContainingGroup string
	GroupConfidence string
	Relevance       string // detection relevance note
	Sources         string
}

// ClassTypeInfo is one row of sys.dm_audit_class_type_map
// (reference/audit_class_types.csv).
type ClassTypeInfo struct {
	Code           string // trimmed, e.g. "DB", "A"
	Desc           string // class_type_desc, e.g. "DATABASE"
	SecurableClass string // securable_class_desc, e.g. "OBJECT"; empty for codes only Elastic lists
	XEInt          uint16
	Relevance      string
	Sources        string
}

// Availability of an action group per engine ("Y", "N" or "" unknown),
// from the 2021 action group matrix.
type Availability struct {
	SQL2014, SQL2016, SQL2017, SQL2019, AzureSQLDB string
}

// ActionGroup is an audit action group and the action ids its records
// carry (reference/audit_action_groups.csv). Membership is
// inferred (docs + Windows 24xxx catalog + Elastic) except where
// Confidence says "documented".
type ActionGroup struct {
	Name           string   // e.g. "BACKUP_RESTORE_GROUP"
	Code           string   // group action id, e.g. "BRDB"
	ActionIDs      []string // action ids logged by the group
	ClassTypes     []string // class types the group covers; nil = any
	ClassTypesOpen bool     // the list ends with "...": similar classes belong too
	ClassTypesNote string   // the reference's class_types text
	LoggedNote     string   // the reference's logged_action_ids text
	Availability   Availability
	Description    string
	Confidence     string
}

// OperationSignature pairs an operation of the Windows 24xxx SQL Server
// event catalog with the action_id and class types its record carries.
type OperationSignature struct {
	WindowsEventID int
	Operation      string
	ActionID       string
	ClassTypes     []string
	Note           string
}

var (
	actionByID    map[string]*ActionInfo
	actionByName  map[string]string // upper-case name → code (actions win over groups)
	classByCode   map[string]*ClassTypeInfo
	groupByName   map[string]*ActionGroup
	groupsByActID map[string][]*ActionGroup
)

func init() {
	actionByID = make(map[string]*ActionInfo, len(actionTable))
	actionByName = make(map[string]string, len(actionTable))
	for i := range actionTable {
		a := &actionTable[i]
		actionByID[a.ID] = a
		key := strings.ToUpper(a.Name)
		if _, dup := actionByName[key]; !dup || !a.Group {
			actionByName[key] = a.ID
		}
	}
	classByCode = make(map[string]*ClassTypeInfo, len(classTypeTable))
	for i := range classTypeTable {
		classByCode[classTypeTable[i].Code] = &classTypeTable[i]
	}
	groupByName = make(map[string]*ActionGroup, len(actionGroupTable))
	groupsByActID = map[string][]*ActionGroup{}
	for i := range actionGroupTable {
		g := &actionGroupTable[i]
		groupByName[g.Name] = g
		for _, id := range g.ActionIDs {
			groupsByActID[id] = append(groupsByActID[id], g)
		}
	}
}

// normCode trims spaces and NULs and upper-cases a code.
func normCode(code string) string {
	code = strings.Trim(code, " \x00\t")
	for i := 0; i < len(code); i++ {
		if c := code[i]; c >= 'a' && c <= 'z' {
			return strings.ToUpper(code)
		}
	}
	return code
}

// ActionName returns the name of an action id code ("BA" → "BACKUP"),
// trimming and upper-casing the code first; "" for unknown codes.
func ActionName(code string) string {
	if a, ok := actionByID[normCode(code)]; ok {
		return a.Name
	}
	return ""
}

// ClassTypeDesc returns the description of a class_type code
// ("DB" → "DATABASE"); "" for unknown codes.
func ClassTypeDesc(code string) string {
	if c, ok := classByCode[normCode(code)]; ok {
		return c.Desc
	}
	return ""
}

// LookupAction returns the reference row of an action id code.
func LookupAction(code string) (ActionInfo, bool) {
	a, ok := actionByID[normCode(code)]
	if !ok {
		return ActionInfo{}, false
	}
	return *a, true
}

// LookupClassType returns the reference row of a class_type code.
func LookupClassType(code string) (ClassTypeInfo, bool) {
	c, ok := classByCode[normCode(code)]
	if !ok {
		return ClassTypeInfo{}, false
	}
	return *c, true
}

// Actions returns every known action and group code, sorted by code.
func Actions() []ActionInfo { return slices.Clone(actionTable) }

// ClassTypes returns every known class_type code, sorted by code.
func ClassTypes() []ClassTypeInfo { return slices.Clone(classTypeTable) }

// ActionGroups returns every action group of the reference table. The
// slices inside are shared: do not modify them.
func ActionGroups() []ActionGroup { return slices.Clone(actionGroupTable) }

// LookupActionGroup returns an action group by name, e.g.
// "AUDIT_CHANGE_GROUP".
func LookupActionGroup(name string) (ActionGroup, bool) {
	g, ok := groupByName[strings.ToUpper(strings.TrimSpace(name))]
	if !ok {
		return ActionGroup{}, false
	}
	return *g, true
}

// OperationSignatures returns the operation → (action_id, class_type)
// pairs of the Windows 24xxx catalog.
func OperationSignatures() []OperationSignature { return slices.Clone(operationTable) }

// ActionGroupsFor returns the names of the action groups whose
// records carry actionID with classType, most specific first:
//
//  1. groups logging actionID whose class list names classType;
//  2. else groups with an open-ended class list ("U, V, P, ...") holding
//     a class of the same securable class as classType (e.g. "IF", an
//     OBJECT, matches SCHEMA_OBJECT_CHANGE_GROUP);
//  3. else groups logging actionID without a class restriction;
//  4. else every group logging actionID (the class did not decide).
//
// With an empty classType every group logging actionID is returned.
// Unknown action ids give nil. Group membership is inferred from public
// sources (see ActionGroup.Confidence), not read from an engine.
func ActionGroupsFor(actionID, classType string) []string {
	cands := groupsByActID[normCode(actionID)]
	if len(cands) == 0 {
		return nil
	}
	ct := normCode(classType)
	pick := func(keep func(*ActionGroup) bool) []string {
		var out []string
		for _, g := range cands {
			if keep(g) {
				out = append(out, g.Name)
			}
		}
		return out
	}
	all := pick(func(*ActionGroup) bool { return true })
	if ct == "" || len(cands) == 1 {
		return all
	}
	if out := pick(func(g *ActionGroup) bool { return slices.Contains(g.ClassTypes, ct) }); out != nil {
		return out
	}
	if c, ok := classByCode[ct]; ok && c.SecurableClass != "" {
		out := pick(func(g *ActionGroup) bool {
			if !g.ClassTypesOpen {
				return false
			}
			for _, gc := range g.ClassTypes {
				if o, ok := classByCode[gc]; ok && o.SecurableClass == c.SecurableClass {
					return true
				}
			}
			return false
		})
		if out != nil {
			return out
		}
	}
	if out := pick(func(g *ActionGroup) bool { return len(g.ClassTypes) == 0 }); out != nil {
		return out
	}
	return all
}

// GroupActionIDs returns the action ids logged by the named group
// (sorted), or nil for an unknown group.
func GroupActionIDs(group string) []string {
	g, ok := groupByName[strings.ToUpper(strings.TrimSpace(group))]
	if !ok {
		return nil
	}
	out := slices.Clone(g.ActionIDs)
	sort.Strings(out)
	return out
}
