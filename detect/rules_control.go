package detect

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// SourceAzure marks a rule that reads Azure events (Event Grid: Resource
// Manager operations and Blob storage), not only audit records.
const SourceAzure = "azure"

// Event Grid event types the platform rules read.
const (
	EventResourceWriteSuccess  = "Microsoft.Resources.ResourceWriteSuccess"
	EventResourceWriteFailure  = "Microsoft.Resources.ResourceWriteFailure"
	EventResourceDeleteSuccess = "Microsoft.Resources.ResourceDeleteSuccess"
	EventResourceDeleteFailure = "Microsoft.Resources.ResourceDeleteFailure"
	EventResourceActionSuccess = "Microsoft.Resources.ResourceActionSuccess"
	EventResourceActionFailure = "Microsoft.Resources.ResourceActionFailure"
	EventBlobDeleted           = "Microsoft.Storage.BlobDeleted"
)

// ResourceEventTypes are the Resource Manager event types AuditControl
// subscribes to.
var ResourceEventTypes = []string{
	EventResourceWriteSuccess, EventResourceWriteFailure,
	EventResourceDeleteSuccess, EventResourceDeleteFailure,
	EventResourceActionSuccess, EventResourceActionFailure,
}

// Watched Resource Manager operations, by rule (compared case-insensitively).
var (
	opsAuditSettings = []string{
		"Microsoft.Sql/servers/auditingSettings/write",
		"Microsoft.Sql/servers/extendedAuditingSettings/write",
		"Microsoft.Sql/servers/devOpsAuditingSettings/write",
		"Microsoft.Sql/servers/databases/auditingSettings/write",
		"Microsoft.Sql/servers/databases/extendedAuditingSettings/write",
	}
	opsDiagnostics = []string{
		"Microsoft.Insights/diagnosticSettings/write",
		"Microsoft.Insights/diagnosticSettings/delete",
	}
	opsAuditStorage = []string{
		"Microsoft.Storage/storageAccounts/write",
		"Microsoft.Storage/storageAccounts/delete",
		"Microsoft.Storage/storageAccounts/blobServices/containers/delete",
		"Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/delete",
		"Microsoft.Storage/storageAccounts/managementPolicies/write",
		"Microsoft.Storage/storageAccounts/managementPolicies/delete",
		"Microsoft.Storage/storageAccounts/listKeys/action",
	}
	opsPipeline = []string{
		"Microsoft.EventGrid/systemTopics/eventSubscriptions/write",
		"Microsoft.EventGrid/systemTopics/eventSubscriptions/delete",
		"Microsoft.EventGrid/systemTopics/delete",
		"Microsoft.EventGrid/eventSubscriptions/write",
		"Microsoft.EventGrid/eventSubscriptions/delete",
		"Microsoft.Web/sites/stop/action",
		"Microsoft.Web/sites/delete",
		"Microsoft.Web/sites/config/write",
	}
	opExport = "Microsoft.Sql/servers/databases/export/action"
)

// OperationNames are every Resource Manager operation a platform rule
// watches: the Event Grid subscription's advanced filter (StringIn on
// data.operationName) lists exactly these (infra/ checks it).
func OperationNames() []string {
	var out []string
	for _, l := range [][]string{opsAuditSettings, opsDiagnostics, opsAuditStorage, opsPipeline, {opExport}} {
		out = append(out, l...)
	}
	return out
}

const (
	roleEvents   = "EventGrid EventSubscription Contributor (deployer, on the watched scope)"
	roleReader   = "Reader on the SQL servers (xelwatch identity, only with XELWATCH_AUDIT_STATE_READ)"
	roleCursorRd = "Storage Table Data Contributor on the app account (xelwatch identity, AuditCursors; already granted)"
)

// platform are the rules that Azure events drive (AUD-008..013). AUD-012
// also listens on BA/BAL records (its Actions): the record half of the
// correlation runs in Engine.Evaluate with the record rules.
var platform = []*rule{
	{RuleInfo: RuleInfo{ID: "AUD-008", Title: "Azure SQL audit settings changed through Resource Manager", Severity: High, Technique: "T1562.008", Phase: 3,
		Source: SourceAzure, EventTypes: ResourceEventTypes, Operations: opsAuditSettings, Roles: []string{roleEvents, roleReader},
		Condition: "a Resource Manager write of a server's or database's auditingSettings, extendedAuditingSettings or devOpsAuditingSettings (Azure SQL Database auditing is set only there: no audit record shows it); critical when the optional state read (XELWATCH_AUDIT_STATE_READ) finds auditing now Disabled; a failed attempt is reported one step lower, as attempted"}},
	{RuleInfo: RuleInfo{ID: "AUD-009", Title: "Diagnostic settings of a SQL resource changed or deleted", Severity: High, Technique: "T1562.008", Phase: 3,
		Source: SourceAzure, EventTypes: ResourceEventTypes, Operations: opsDiagnostics, Roles: []string{roleEvents},
		Condition: "Microsoft.Insights/diagnosticSettings write or delete whose resource lies under Microsoft.Sql/servers or Microsoft.Sql/managedInstances (audit logs sent to Log Analytics or Event Hubs, the Managed Instance audit path); attempts one step lower"}},
	{RuleInfo: RuleInfo{ID: "AUD-010", Title: "Audit storage account tampered with", Severity: High, Technique: "T1485", Phase: 3,
		Source: SourceAzure, EventTypes: ResourceEventTypes, Operations: opsAuditStorage, Roles: []string{roleEvents},
		Condition: "a write or delete of the audit storage account (XELWATCH_AUDIT_ACCOUNT_ID), a container or immutability policy deleted, a lifecycle management policy written or deleted, or its keys listed (shared-key access is the way around its role assignments); critical for a delete; attempts one step lower; silent while XELWATCH_AUDIT_ACCOUNT_ID is unset"}},
	{RuleInfo: RuleInfo{ID: "AUD-011", Title: "xelwatch's own pipeline tampered with", Severity: High, Technique: "T1562.001", Phase: 3,
		Source: SourceAzure, EventTypes: ResourceEventTypes, Operations: opsPipeline, Roles: []string{roleEvents},
		Condition: "an Event Grid subscription (or system topic) feeding xelwatch written or deleted (XELWATCH_WATCHED_TOPICS, and any event subscription scoped to the audit account), or the xelwatch function app (XELWATCH_APP_RESOURCE_ID) stopped, deleted or reconfigured; critical for a delete or stop; attempts one step lower"}},
	{RuleInfo: RuleInfo{ID: "AUD-012", Title: "Audit changed through Resource Manager, then backup or export", Severity: Critical, Technique: "T1562.008", Phase: 3, Windowed: true,
		Groups: []string{grpBackup}, Actions: []string{"BA", "BAL"},
		Source: SourceAzure, EventTypes: ResourceEventTypes, Operations: append(append([]string{}, opsAuditSettings...), append(opsDiagnostics, opExport)...), Roles: []string{roleEvents},
		Condition: "a successful AUD-008 or AUD-009 change on a server, and on the same server (names compared case-insensitively, the part before the first dot) within the correlation window a BA/BAL audit record or a database export (Microsoft.Sql/servers/databases/export/action), in either arrival order; one finding per backup record or export event"},
		match: aud012},
	{RuleInfo: RuleInfo{ID: "AUD-013", Title: "Audit blob deleted", Severity: High, Technique: "T1070", Phase: 3,
		Source: SourceAzure, EventTypes: []string{EventBlobDeleted}, Operations: []string{"DeleteBlob", "DeleteFile"}, Roles: []string{roleEvents, roleCursorRd},
		Condition: "a blob of the audit container deleted while xelwatch's cursor on it is still open, or younger than XELWATCH_DELETE_MIN_AGE (24h; Azure SQL retention deletes older files); names the rows xelwatch still holds from it (the stored copy is the evidence); silent for blobs outside the audit container. Detection key <container>/<blob>"}},
}

// platformRecordRules are the platform rules that also read records.
func platformRecordRules() []*rule {
	var out []*rule
	for _, r := range platform {
		if r.match != nil && len(r.Actions) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// PlatformCatalog returns the rules driven by Azure events, in order.
func PlatformCatalog() []RuleInfo {
	out := make([]RuleInfo, len(platform))
	for i, r := range platform {
		out[i] = r.RuleInfo
		out[i].Groups = append([]string(nil), r.Groups...)
		out[i].Actions = append([]string(nil), r.Actions...)
		out[i].EventTypes = append([]string(nil), r.EventTypes...)
		out[i].Operations = append([]string(nil), r.Operations...)
		out[i].Roles = append([]string(nil), r.Roles...)
	}
	return out
}

// AuditState is what the optional state read found about auditing.
type AuditState int

// Audit states.
const (
	AuditStateUnknown AuditState = iota // not read, no permission, timed out
	AuditStateEnabled
	AuditStateDisabled
)

// ControlEvent is one Azure event, decoded and bounded by the
// application (handler/internal/control). Every field is attacker-
// influenced: rules only compare and print them.
type ControlEvent struct {
	ID        string // Event Grid event id
	Type      string // Event Grid event type
	Time      time.Time
	Subject   string
	Topic     string
	Operation string // data.operationName (resource events); data.api (blob)
	Resource  string // data.resourceUri (resource events); blob URL (blob)
	Status    string
	// Caller names who acted (UPN, name, app id, object id from the
	// claims; the storage identity for blob events).
	Caller        string
	CallerIP      string
	CorrelationID string
	// AuditState and AuditStateNote: the optional state read (AUD-008).
	AuditState     AuditState
	AuditStateNote string
	// Blob is set for BlobDeleted events.
	Blob *DeletedBlob
}

// DeletedBlob is what the application knows about a deleted blob.
type DeletedBlob struct {
	Container string
	Name      string // within the container
	Server    string // from the blob's path
	Database  string
	Seen      bool  // xelwatch has a cursor on it
	Open      bool  // and the cursor is open
	Rows      int64 // rows stored from it
	Age       time.Duration
	AgeKnown  bool
}

// ControlConfig says which Azure resources are xelwatch's own.
type ControlConfig struct {
	// AuditAccount is the audit storage account: its resource id, or its
	// name. Empty: AUD-010 is silent.
	AuditAccount string
	// AuditContainer is the container SQL auditing writes to.
	AuditContainer string
	// AppResourceID is the function app's resource id (or its name).
	AppResourceID string
	// Topics are the Event Grid system topics feeding xelwatch (resource
	// ids or names).
	Topics []string
	// DeleteMinAge: a blob older than this whose cursor is closed may be
	// deleted (retention).
	DeleteMinAge time.Duration
}

// Control evaluates Azure events against the platform rules, with the
// Engine's configuration and State (AUD-012 correlates through it with
// the record side).
type Control struct {
	e   *Engine
	cfg ControlConfig
}

// NewControl returns the evaluator of Azure events.
func NewControl(e *Engine, cc ControlConfig) (*Control, error) {
	if e == nil {
		return nil, fmt.Errorf("detect: NewControl: nil Engine")
	}
	if cc.DeleteMinAge <= 0 {
		cc.DeleteMinAge = 24 * time.Hour
	}
	return &Control{e: e, cfg: cc}, nil
}

func inFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// ControlRuleFor names the rule an operation belongs to for the
// subscription filter and logs ("" when none watches it).
func ControlRuleFor(op string) string {
	switch {
	case inFold(opsAuditSettings, op):
		return "AUD-008"
	case inFold(opsDiagnostics, op):
		return "AUD-009"
	case inFold(opsAuditStorage, op):
		return "AUD-010"
	case inFold(opsPipeline, op):
		return "AUD-011"
	case strings.EqualFold(op, opExport):
		return "AUD-012"
	}
	return ""
}

// attempted reports a failure event type.
func attempted(typ string) bool { return strings.HasSuffix(typ, "Failure") }

// ServerOf returns the SQL server (or managed instance) name of a
// resource id, normalized (NormServer), and the database name when the id
// is under one.
func ServerOf(resourceURI string) (server, database string) {
	segs := strings.Split(strings.Trim(resourceURI, "/"), "/")
	for i := 0; i+3 < len(segs); i++ {
		if strings.EqualFold(segs[i], "providers") && strings.EqualFold(segs[i+1], "Microsoft.Sql") &&
			(strings.EqualFold(segs[i+2], "servers") || strings.EqualFold(segs[i+2], "managedInstances")) {
			server = NormServer(segs[i+3])
			if i+5 < len(segs) && strings.EqualFold(segs[i+4], "databases") {
				database = segs[i+5]
			}
			return server, database
		}
	}
	return "", ""
}

// NormServer is the server name AUD-012 compares: lower case, the part
// before the first dot (an audit record may carry the host name
// "srv.database.windows.net" where Resource Manager says "srv").
func NormServer(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	return s
}

// underResource reports whether resource id uri is id itself or lies
// under it; id may also be a bare name, then matched against the named
// segment following kind ("storageAccounts", "sites", "systemTopics").
func underResource(uri, id, kind string) bool {
	id = strings.TrimSpace(id)
	if id == "" || uri == "" {
		return false
	}
	if strings.HasPrefix(id, "/") {
		u, p := strings.ToLower(strings.TrimRight(uri, "/")), strings.ToLower(strings.TrimRight(id, "/"))
		return u == p || strings.HasPrefix(u, p+"/")
	}
	segs := strings.Split(strings.Trim(uri, "/"), "/")
	for i := 0; i+1 < len(segs); i++ {
		if strings.EqualFold(segs[i], kind) && strings.EqualFold(segs[i+1], id) {
			return true
		}
	}
	return false
}

// Evaluate returns the findings of one Azure event (nil for an event no
// rule watches). Errors come from the State (AUD-012).
func (c *Control) Evaluate(ctx context.Context, ev *ControlEvent) ([]Finding, error) {
	if ev.Type == EventBlobDeleted {
		return c.blobDeleted(ev), nil
	}
	if !inFold(ResourceEventTypes, ev.Type) {
		return nil, nil
	}
	op := ev.Operation
	var out []Finding
	add := func(ruleID string, sev Severity, why string) {
		if f, ok := c.finding(ruleID, sev, ev, why); ok {
			out = append(out, f)
		}
	}
	server, db := ServerOf(ev.Resource)
	verb := "by"
	if attempted(ev.Type) {
		verb = "attempted by"
	}
	switch rule := ControlRuleFor(op); rule {
	case "AUD-008":
		sev, state := High, "auditing state unknown (not read)"
		if ev.AuditStateNote != "" {
			state = "auditing state " + ev.AuditStateNote
		}
		switch ev.AuditState {
		case AuditStateDisabled:
			sev, state = Critical, "auditing is now DISABLED"
		case AuditStateEnabled:
			state = "auditing still enabled (settings changed)"
		}
		add(rule, sev, fmt.Sprintf("%s on %s %s %s: %s", op, ev.Resource, verb, ev.callerText(), state))
	case "AUD-009":
		if server == "" {
			return nil, nil
		}
		add(rule, High, fmt.Sprintf("%s on %s %s %s: audit logs sent to Log Analytics or Event Hubs may stop", op, ev.Resource, verb, ev.callerText()))
	case "AUD-010":
		if !underResource(ev.Resource, c.cfg.AuditAccount, "storageAccounts") {
			return nil, nil
		}
		sev := High
		if strings.HasSuffix(strings.ToLower(op), "/delete") {
			sev = Critical
		}
		add(rule, sev, fmt.Sprintf("%s on the audit storage account (%s) %s %s", op, ev.Resource, verb, ev.callerText()))
	case "AUD-011":
		if !c.ownPipeline(op, ev.Resource) {
			return nil, nil
		}
		sev := High
		if l := strings.ToLower(op); strings.HasSuffix(l, "/delete") || strings.HasSuffix(l, "/stop/action") {
			sev = Critical
		}
		add(rule, sev, fmt.Sprintf("%s on xelwatch's own resource %s %s %s: detections may stop", op, ev.Resource, verb, ev.callerText()))
	case "AUD-012":
		// An export: a finding only with an audit change before it.
	default:
		return nil, nil
	}
	if attempted(ev.Type) || server == "" || c.e.cfg.disabled["AUD-012"] {
		return out, nil
	}
	fs, err := c.correlate(ctx, ev, server, db)
	return append(out, fs...), err
}

// ownPipeline: Event Grid subscriptions of the watched topics (or scoped
// to the audit account), and the app itself.
func (c *Control) ownPipeline(op, uri string) bool {
	l := strings.ToLower(op)
	switch {
	case strings.HasPrefix(l, "microsoft.web/"):
		return underResource(uri, c.cfg.AppResourceID, "sites")
	case strings.HasPrefix(l, "microsoft.eventgrid/systemtopics/"):
		for _, t := range c.cfg.Topics {
			if underResource(uri, t, "systemTopics") {
				return true
			}
		}
	case strings.HasPrefix(l, "microsoft.eventgrid/eventsubscriptions/"):
		scope := uri
		if i := strings.Index(strings.ToLower(uri), "/providers/microsoft.eventgrid/eventsubscriptions/"); i >= 0 {
			scope = uri[:i]
		}
		if underResource(scope, c.cfg.AuditAccount, "storageAccounts") {
			return true
		}
		for _, t := range c.cfg.Topics {
			if underResource(scope, t, "systemTopics") {
				return true
			}
		}
	}
	return false
}

func (ev *ControlEvent) callerText() string {
	s := ev.Caller
	if s == "" {
		s = "an unknown caller"
	}
	if ev.CallerIP != "" {
		s += " from " + ev.CallerIP
	}
	return s
}

// severityOf applies the configuration to a catalog rule: disabled, or
// overridden (escalations move along, as for record rules).
func (c *Control) severityOf(r *rule, sev Severity) (Severity, bool) {
	if c.e.cfg.disabled[r.ID] {
		return 0, false
	}
	if o, ok := c.e.cfg.severity[r.ID]; ok {
		sev = o.shift(sev.rank() - r.Severity.rank())
	}
	return sev, true
}

// finding builds the finding of an Azure event, keyed on the event id.
func (c *Control) finding(ruleID string, sev Severity, ev *ControlEvent, why string) (Finding, bool) {
	return c.findingKey(ruleID, sev, ev, why, "event:"+strings.ToLower(ev.ID), nil)
}

func (c *Control) findingKey(ruleID string, sev Severity, ev *ControlEvent, why, key string, earlier []Evidence) (Finding, bool) {
	r := ruleByID(ruleID)
	if attempted(ev.Type) {
		sev = sev.shift(-1)
		why = "attempted (" + ev.Status + "): " + why
	}
	sev, ok := c.severityOf(r, sev)
	if !ok {
		return Finding{}, false
	}
	server, db := ServerOf(ev.Resource)
	if ev.Blob != nil {
		server, db = ev.Blob.Server, ev.Blob.Database
	}
	tail := fmt.Sprintf(" [status %s, correlation id %s, event %s]", cut(orDash(ev.Status), 64), cut(orDash(ev.CorrelationID), 128), cut(orDash(ev.ID), 128))
	why = cut(why, maxWhy-len(tail)) + tail
	recs := append(earlier, controlEvidence(ev))
	if len(recs) > MaxEvidence {
		recs = recs[len(recs)-MaxEvidence:]
	}
	return Finding{
		DetectionID: detectionID(r.ID, key, nil),
		Rule:        r.ID, Title: r.Title, Severity: sev, Technique: r.Technique,
		Why:  why,
		Time: ev.Time, Server: cut(server, maxField), Database: cut(db, maxField), Principal: cut(ev.Caller, maxField),
		Records: recs,
	}, true
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// controlEvidence carries an Azure event in the finding's evidence: the
// operation as the action, the resource as the statement, the event id
// as the file.
func controlEvidence(ev *ControlEvent) Evidence {
	server, db := ServerOf(ev.Resource)
	if ev.Blob != nil {
		server, db = ev.Blob.Server, ev.Blob.Database
	}
	return Evidence{
		EventTime: ev.Time, ActionID: cut(ev.Operation, maxField), ClassType: "ARM", Succeeded: !attempted(ev.Type),
		Server: cut(server, maxField), Database: cut(db, maxField), Principal: cut(ev.Caller, maxField), ClientIP: cut(ev.CallerIP, maxField),
		Statement: cut(ev.Resource, MaxExcerpt), FileName: cut("event:"+ev.ID, 1024),
	}
}

// blobDeleted is AUD-013.
func (c *Control) blobDeleted(ev *ControlEvent) []Finding {
	b := ev.Blob
	if b == nil || c.cfg.AuditContainer == "" || b.Container != c.cfg.AuditContainer || b.Name == "" {
		return nil
	}
	if c.cfg.AuditAccount != "" && ev.Topic != "" && !underResource(ev.Topic, c.cfg.AuditAccount, "storageAccounts") {
		return nil
	}
	young := b.AgeKnown && b.Age < c.cfg.DeleteMinAge
	if !(b.Seen && b.Open) && !young {
		return nil // retention, or nothing xelwatch knows about
	}
	var why strings.Builder
	fmt.Fprintf(&why, "audit blob %s/%s deleted by %s", printable(b.Container), printable(cut(b.Name, 1024)), ev.callerText())
	switch {
	case b.Seen && b.Open:
		why.WriteString(" while xelwatch was still reading it (cursor open)")
	case b.Seen:
		fmt.Fprintf(&why, " %s after it was created (retention deletes only files older than %s)", b.Age.Round(time.Second), c.cfg.DeleteMinAge)
	default:
		fmt.Fprintf(&why, " %s after it was created, before xelwatch read any of it", b.Age.Round(time.Second))
	}
	fmt.Fprintf(&why, "; xelwatch holds %d rows from it (table AuditEvents): the stored copy is the evidence", b.Rows)
	key := b.Container + "/" + b.Name
	f, ok := c.findingKey("AUD-013", High, ev, why.String(), key, nil)
	if !ok {
		return nil
	}
	return []Finding{f}
}

// printable makes a name from storage safe to print: valid UTF-8, control
// characters replaced (a blob name may hold any of them).
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// State keys of AUD-012 (server names normalized by NormServer).
func armAuditKey(server string) string  { return "armaudit|" + NormServer(server) }
func armBackupKey(server string) string { return "armbackup|" + NormServer(server) }
func armExportKey(server string) string { return "armexport|" + NormServer(server) }

// maxControlKey bounds a server name used in a state key.
const maxControlKey = 128

// correlate is the Azure half of AUD-012: an audit change remembers
// itself and pairs with backups and exports seen after it; an export
// remembers itself and pairs with the changes before it. Ids: a backup's
// finding is keyed on the backup record (the record half uses the same
// key), an export's on the export event, so either arrival order gives
// one finding.
func (c *Control) correlate(ctx context.Context, ev *ControlEvent, server, db string) ([]Finding, error) {
	if len(server) > maxControlKey || ev.Time.IsZero() {
		return nil, nil
	}
	w := c.e.cfg.cfg.CorrelationWindow
	st := c.e.state
	t := ev.Time
	evd := controlEvidence(ev)
	evd.Statement = cut(ev.Operation+" "+ev.Resource, stateExcerpt)
	en := Entry{ID: "arm:" + strings.ToLower(ev.ID), Time: t, Value: cut(ev.Caller, maxField), Evidence: &evd}
	window := func(key string, from, to time.Time) ([]Entry, error) {
		all, err := st.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		var out []Entry
		for _, e := range all {
			if !e.Time.Before(from) && !e.Time.After(to) {
				out = append(out, e)
			}
		}
		return out, nil
	}
	var out []Finding
	switch ControlRuleFor(ev.Operation) {
	case "AUD-008", "AUD-009":
		if _, err := st.Update(ctx, armAuditKey(server), t.Add(w), func(cur []Entry) []Entry { return merge(cur, w, 16, false, en) }); err != nil {
			return nil, err
		}
		backups, err := window(armBackupKey(server), t, t.Add(w))
		if err != nil {
			return nil, err
		}
		for _, b := range backups {
			why := fmt.Sprintf("audit changed through Resource Manager (%s) by %s at %s, then %s by %s at %s on server %s (within %s)",
				ev.Operation, ev.callerText(), t.Format(time.RFC3339), backupWhat(b), b.Value, b.Time.Format(time.RFC3339), server, w)
			var earlier []Evidence
			if b.Evidence != nil {
				earlier = []Evidence{*b.Evidence}
			}
			if f, ok := c.findingKey("AUD-012", Critical, ev, why, "backup:"+b.ID, earlier); ok {
				f.Time = b.Time
				out = append(out, f)
			}
		}
		exports, err := window(armExportKey(server), t, t.Add(w))
		if err != nil {
			return nil, err
		}
		for _, x := range exports {
			why := fmt.Sprintf("audit changed through Resource Manager (%s) by %s at %s, then database export by %s at %s on server %s (within %s)",
				ev.Operation, ev.callerText(), t.Format(time.RFC3339), x.Value, x.Time.Format(time.RFC3339), server, w)
			var earlier []Evidence
			if x.Evidence != nil {
				earlier = []Evidence{*x.Evidence}
			}
			if f, ok := c.findingKey("AUD-012", Critical, ev, why, "event:"+strings.TrimPrefix(x.ID, "arm:"), earlier); ok {
				f.Time = x.Time
				out = append(out, f)
			}
		}
	case "AUD-012":
		if _, err := st.Update(ctx, armExportKey(server), t.Add(w), func(cur []Entry) []Entry { return merge(cur, w, 16, false, en) }); err != nil {
			return nil, err
		}
		changes, err := window(armAuditKey(server), t.Add(-w), t)
		if err != nil {
			return nil, err
		}
		if len(changes) == 0 {
			return nil, nil
		}
		a := changes[len(changes)-1]
		var earlier []Evidence
		if a.Evidence != nil {
			earlier = []Evidence{*a.Evidence}
		}
		why := fmt.Sprintf("audit changed through Resource Manager by %s at %s, then database %s exported (%s) by %s at %s (within %s)",
			a.Value, a.Time.Format(time.RFC3339), db, ev.Operation, ev.callerText(), t.Format(time.RFC3339), w)
		if f, ok := c.finding("AUD-012", Critical, ev, why); ok {
			f.Records = append(earlier, f.Records...)
			out = append(out, f)
		}
	}
	return out, nil
}

// aud012 is the record half of AUD-012: a BA/BAL record remembers itself
// for audit changes that arrive later, and pairs with the Resource
// Manager audit changes of its server before it.
func aud012(m *matcher, ev *Event) ([]hit, error) {
	srv := ev.Server()
	if srv == "" || len(srv) > maxControlKey || !utf8.ValidString(srv) {
		return nil, nil
	}
	w := m.cfg.cfg.CorrelationWindow
	t := ev.Time()
	if _, err := m.observe(armBackupKey(srv), entryFor(ev, ev.SessionPrincipal()), w, 16); err != nil {
		return nil, err
	}
	before, err := m.lookup(armAuditKey(srv), t.Add(-w), t)
	if err != nil || len(before) == 0 {
		return nil, err
	}
	a := before[len(before)-1]
	what := ""
	if a.Evidence != nil {
		what = " (" + a.Evidence.ActionID + ")"
	}
	return []hit{{
		earlier: evidences([]Entry{a}),
		key:     "backup:" + ev.ID(),
		why: fmt.Sprintf("audit changed through Resource Manager%s by %s at %s, then backup by %s at %s on server %s (within %s)",
			what, a.Value, a.Time.Format(time.RFC3339), ev.SessionPrincipal(), t.Format(time.RFC3339), NormServer(srv), w),
	}}, nil
}

// BlobVanished is AUD-013 as ingestion sees it: the blob of an open cursor
// is gone (the sweep found it missing, whether or not a BlobDeleted event
// arrived). Its detection id is the one AuditControl gives the same
// deletion (keyed on "<container>/<blob>"), so the channels hear of it
// once, whichever sees it first; and if the Event Grid subscription was
// deleted first, the sweep still reports it. False when AUD-013 is
// disabled.
func (e *Engine) BlobVanished(container, blob, server, database string, rows int64, at time.Time) (Finding, bool) {
	r := ruleByID("AUD-013")
	if r == nil {
		return Finding{}, false
	}
	sev, ok := e.configured(r.ID, r.Severity)
	if !ok {
		return Finding{}, false
	}
	name := printable(cut(blob, 1024))
	why := fmt.Sprintf("audit blob %s/%s is gone while xelwatch was still reading it (cursor open; found by the sweep); "+
		"xelwatch holds %d rows from it (table AuditEvents): the stored copy is the evidence", printable(container), name, rows)
	return Finding{
		DetectionID: detectionID(r.ID, container+"/"+blob, nil),
		Rule:        r.ID, Title: r.Title, Severity: sev, Technique: r.Technique,
		Why:  cut(why, maxWhy),
		Time: at.UTC(), Server: cut(server, maxField), Database: cut(database, maxField),
		Records: []Evidence{{EventTime: at.UTC(), ActionID: "BlobVanished", ClassType: "STORAGE", Succeeded: true,
			Server: cut(server, maxField), Database: cut(database, maxField), Statement: cut(container+"/"+name, MaxExcerpt), FileName: cut(blob, 1024)}},
	}, true
}
