package audit

import "time"

// Record is one normalized audit record: every column of
// sys.fn_get_audit_file, plus the action and class names that the
// engine's catalog views (sys.dm_audit_actions, sys.dm_audit_class_type_map)
// would join in, plus what xelwatch needs to key and reassemble records.
//
// Columns absent from a file (older engines, Azure-only columns) stay at
// their zero value, as fn_get_audit_file returns NULL/0 for them.
type Record struct {
	EventTime                        time.Time // UTC
	SequenceNumber                   int32
	ActionID                         string // trimmed code, e.g. "BA", "LGIF"
	ActionName                       string // e.g. "BACKUP"; empty for unknown codes
	Succeeded                        bool
	PermissionBitmask                []byte
	IsColumnPermission               bool
	SessionID                        int16
	ServerPrincipalID                int32
	DatabasePrincipalID              int32
	TargetServerPrincipalID          int32
	TargetDatabasePrincipalID        int32
	ObjectID                         int32
	ClassType                        string // trimmed code, e.g. "DB", "A"
	ClassTypeDesc                    string // e.g. "DATABASE"; empty for unknown codes
	SessionServerPrincipalName       string
	ServerPrincipalName              string
	ServerPrincipalSID               []byte
	DatabasePrincipalName            string
	TargetServerPrincipalName        string
	TargetServerPrincipalSID         []byte
	TargetDatabasePrincipalName      string
	ServerInstanceName               string
	DatabaseName                     string
	SchemaName                       string
	ObjectName                       string
	Statement                        string // reassembled when the record was split
	AdditionalInformation            string // reassembled when the record was split
	FileName                         string
	AuditFileOffset                  int64
	UserDefinedEventID               int16
	UserDefinedInformation           string
	AuditSchemaVersion               int32
	SequenceGroupID                  []byte
	TransactionID                    int64
	ClientIP                         string
	ApplicationName                  string
	DurationMilliseconds             int64
	ResponseRows                     int64
	AffectedRows                     int64
	ConnectionID                     string // lower-case GUID text, empty when absent
	DataSensitivityInformation       string
	HostName                         string
	SessionContext                   string
	ClientTLSVersion                 int64
	ClientTLSVersionName             string
	DatabaseTransactionID            int64
	LedgerStartSequenceNumber        int64
	ExternalPolicyPermissionsChecked string
	OBOMiddleTierAppID               string
	IsLocalSecondaryReplica          bool

	// EventIndex is the position of the (first) audit_event of this record
	// within its buffer; (FileName, AuditFileOffset, EventIndex) identifies
	// a record uniquely and deterministically.
	EventIndex int
	// StatementTruncated reports that Statement or AdditionalInformation
	// may be cut: the last piece seen is at the 4000-character column
	// limit and no continuation followed (Azure SQL Database truncates
	// there instead of splitting; or the next part was never seen), or
	// the text was over ReaderOptions.MaxRecordBytes (see Elided).
	StatementTruncated bool
	// Incomplete reports that parts of a split record are known to be
	// missing: it starts with a continuation (sequence_number > 1) whose
	// earlier parts were not seen, or has a gap in sequence numbers.
	Incomplete bool

	// Elided describes the middle of Statement that a Reader dropped to
	// keep the record within ReaderOptions.MaxRecordBytes (Statement then
	// holds the head and the tail of the text as written, and
	// StatementTruncated is set); zero when nothing was dropped.
	Elided Elision

	// Parts holds the raw records a split record was reassembled from
	// (sequence_number 1..n), each with its own statement piece (no text
	// once the record is over ReaderOptions.MaxRecordBytes); nil when the
	// record was not split. A Reader keeps at most
	// ReaderOptions.MaxParts of them (the first ones and the last);
	// PartCount counts them all.
	Parts []Record
	// PartCount is the number of raw records a split record was
	// reassembled from, when larger than len(Parts). Use NumParts.
	PartCount int
}

// NumParts returns the number of raw records the record was reassembled
// from (0 when it was not split).
func (r *Record) NumParts() int { return max(r.PartCount, len(r.Parts)) }

// Elision is what a Reader dropped from the middle of a statement longer
// than ReaderOptions.MaxRecordBytes: Statement keeps the text's first
// bytes and its last bytes, joined at At, so that what precedes and what
// ends a padded statement (BACKUP … TO URL = …, /* megabytes */, WITH
// COPY_ONLY) are both seen. The length and the SHA-256 describe the whole
// text as written.
type Elision struct {
	At      int      // byte offset in Statement where the dropped text was
	Dropped int64    // bytes (UTF-8) dropped
	Units   int64    // UTF-16 code units (SQL Server characters) of the whole statement
	SHA256  [32]byte // SHA-256 of the whole statement, UTF-8
}

// IsZero reports whether nothing was dropped.
func (e Elision) IsZero() bool { return e.Dropped == 0 }
