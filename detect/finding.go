package detect

import "time"

// Finding is one detection: a rule that matched, the records that made it
// match and why. Findings travel as JSON on the detections queue (64 KiB
// per message) and are stored in the Detections table, so every string in
// a Finding is bounded (statement excerpts, evidence count).
type Finding struct {
	// DetectionID is stable: the same rule on the same input records gives
	// the same id on every replay, so notifiers can deduplicate.
	DetectionID string     `json:"detection_id"`
	Rule        string     `json:"rule"`      // catalog id, e.g. "EXF-001"
	Title       string     `json:"title"`     // catalog title
	Severity    Severity   `json:"severity"`  // after configuration overrides
	Technique   string     `json:"technique"` // MITRE ATT&CK id, e.g. "T1537"
	Why         string     `json:"why"`       // human explanation of the match
	Time        time.Time  `json:"time"`      // event time of the record that completed the match
	Server      string     `json:"server"`
	Database    string     `json:"database,omitempty"`
	Principal   string     `json:"principal,omitempty"`
	Records     []Evidence `json:"records"`
}

// Evidence identifies one audit record behind a finding and carries the
// columns a responder needs first.
type Evidence struct {
	EventTime       time.Time `json:"event_time"`
	ActionID        string    `json:"action_id"`
	ClassType       string    `json:"class_type,omitempty"`
	Succeeded       bool      `json:"succeeded"`
	Server          string    `json:"server"`
	Database        string    `json:"database,omitempty"`
	Principal       string    `json:"principal,omitempty"`
	ClientIP        string    `json:"client_ip,omitempty"`
	Application     string    `json:"application,omitempty"`
	Statement       string    `json:"statement,omitempty"` // excerpt, bounded
	FileName        string    `json:"file_name"`
	AuditFileOffset int64     `json:"audit_file_offset"`
	EventIndex      int       `json:"event_index"`
}
