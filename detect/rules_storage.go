package detect

// Storage rules: raised by ingestion and the sweep from what they see of
// the audit storage (blob lengths, bytes already read, growth over time),
// not from audit records. They are not part of the record catalog
// (Catalog, the Engine's configuration); StorageRules lists them for the
// documentation and the `rules` command.
const (
	RuleBlobShortened = "AUD-014"
	RuleBlobRewritten = "AUD-015"
	RuleStreamSilent  = "AUD-016"
)

// HeartbeatRule is the rule id of the heartbeat message (not a
// detection): it travels the notification path like a finding, so that a
// receiver can alert when heartbeats stop.
const HeartbeatRule = "XW-HEARTBEAT"

// StorageRules are the storage rules, in id order.
var StorageRules = []RuleInfo{
	{ID: RuleBlobShortened, Title: "Audit blob shortened or replaced", Severity: High, Technique: "T1070", Phase: 1,
		Groups:    []string{"(audit storage)"},
		Condition: "an audit blob is shorter than the bytes xelwatch already read from it (an append blob never shrinks: it was deleted and created again, or overwritten); names the blob, the old and new lengths and the rows xelwatch still holds from it, then reads the blob again as a new generation"},
	{ID: RuleBlobRewritten, Title: "Audit blob rewritten", Severity: Critical, Technique: "T1565.001", Phase: 1,
		Groups:    []string{"(audit storage)"},
		Condition: "bytes xelwatch already read changed: the SHA-256 of the last 64 KiB read before the cursor (and of the first 4 KiB) no longer matches, the blob's creation time changed (deleted and created again) or it is no longer of the same blob type; verified with one bounded range read before a grown blob is read on, or when its ETag changed; the blob is then read again as a new generation"},
	{ID: RuleStreamSilent, Title: "Audit stream went silent", Severity: High, Technique: "T1562.008", Phase: 1,
		Groups:    []string{"(audit storage)"},
		Condition: "no file of an audit stream (server/database/audit of the blob path) grew for longer than the stream's XELWATCH_SILENCE_MAX_GAP (off by default); a new file of the stream counts as growth; reported once per silence"},
}

// StorageRule returns the storage rule id.
func StorageRule(id string) (RuleInfo, bool) {
	for _, r := range StorageRules {
		if r.ID == id {
			return r, true
		}
	}
	return RuleInfo{}, false
}

// knownRule reports whether id names a rule the configuration may
// disable or re-rate: the record catalog, the platform rules and the
// storage rules.
func knownRule(id string) bool {
	_, storage := StorageRule(id)
	return storage || ruleByID(id) != nil
}

// StorageRule returns the storage rule id as e's configuration has it
// (severity override applied); false when it is disabled or unknown.
func (e *Engine) StorageRule(id string) (RuleInfo, bool) {
	info, ok := StorageRule(id)
	if !ok {
		return RuleInfo{}, false
	}
	info.Severity, ok = e.configured(id, info.Severity)
	return info, ok
}

// configured is the severity of rule id as the configuration has it: its
// override, else def; false when the rule is disabled.
func (e *Engine) configured(id string, def Severity) (Severity, bool) {
	if e.cfg.disabled[id] {
		return 0, false
	}
	if s, ok := e.cfg.severity[id]; ok {
		return s, true
	}
	return def, true
}
