package store

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/jsonx"
)

// Service limits on one entity.
const (
	// MaxEntitySize is the service's limit on one entity (1 MiB), as the
	// service counts it (see entitySize).
	MaxEntitySize = 1 << 20
	// MaxProperties is the number of user properties an entity may have
	// (255 minus PartitionKey, RowKey, Timestamp).
	MaxProperties = 252
	// MaxPieceUnits is how many UTF-16 code units one string property
	// piece holds; the service limit is 64 KiB = 32,767 code units.
	MaxPieceUnits = 32000
)

// Entity is one AuditEvents entity ready for a transaction: its keys and
// its JSON payload, including the @odata.type annotations.
type Entity struct {
	PartitionKey string
	RowKey       string
	JSON         []byte
	// Size is the entity's size as the service counts it against
	// MaxEntitySize.
	Size int

	rec  int  // 1 + index of the record it stores in an upsert (0: none)
	main bool // the record's row (not a continuation entity)
}

// Property names of an AuditEvents entity: the fn_get_audit_file columns,
// then the catalog names, then xelwatch's own.
const (
	PropServer     = "xw_server"      // server the row was filed under (from the blob path)
	PropDatabase   = "xw_database"    // database the row was filed under (the record's database_name, else the blob path's)
	PropBlob       = "xw_blob"        // blob name the record was read from
	PropIngestedAt = "xw_ingested_at" // when this row was last written
	PropEventIndex = "event_index"
	PropParts      = "split_parts" // number of raw records a split record was reassembled from
	PropDegraded   = "xw_degraded" // why the row is stored reduced; absent when whole
)

// BuildEntity returns the AuditEvents entity of rec. server comes from
// the blob path (when empty, the record's server_instance_name); the
// database is the record's database_name, and database (from the blob
// path) only when the record names none (see eventFiling). blob is the blob (or local file) name;
// ingestedAt is recorded as xw_ingested_at. Every column of rec becomes a
// typed property; long strings are split (see the package doc). A record
// that cannot fit one entity gives an error wrapping ErrTooLarge: see
// BuildRecord for the continuation entities that hold such a record.
func BuildEntity(server, database, blob string, ingestedAt time.Time, rec *audit.Record) (Entity, error) {
	return buildEntity(server, database, blob, "", ingestedAt, rec, nil, layout{})
}

// BuildRecord returns the entities that store rec (see the package doc,
// "Large records"): its row, whole when it fits one entity, else with the
// statement and additional_information spilled to continuation entities
// (which follow the row), and as a last resort with its other long
// strings cut. degraded says why the row is reduced ("" when whole). It
// never fails.
func BuildRecord(server, database, blob string, ingestedAt time.Time, rec *audit.Record) (ents []Entity, degraded string) {
	return buildRecord(server, database, blob, "", ingestedAt, rec)
}

func buildRecord(server, database, blob, fileHash string, ingestedAt time.Time, rec *audit.Record) ([]Entity, string) {
	for _, l := range []layout{{}, {spill: true}, {spill: true, cut: degradedCut}} {
		w, err := writeRecord(server, database, blob, fileHash, ingestedAt, rec, nil, l)
		if err == nil {
			return w.entities(), w.degraded
		}
	}
	// Cannot happen: the cut layout bounds every string. Store the
	// minimal row rather than nothing.
	return buildMinimal(server, database, blob, fileHash, ingestedAt, rec, "too large for one entity even with its strings cut")
}

// eventFiling is the server and database a record's row is filed under.
// The server is the blob path's (server, when not empty), else the
// record's server_instance_name. The database is the record's
// database_name, else the blob path's (database): Azure SQL Database's
// server-level audit writes the records of every database of a server
// under <server>/master/…, so the path names "master" for all of them,
// while each record names its own database. Both are attacker-chosen
// text; the keys escape and bound them (eventPartitionPrefix), the row
// keeps them whole (xw_server, xw_database) with the blob (xw_blob).
func eventFiling(server, database string, rec *audit.Record) (string, string) {
	if server == "" {
		server = rec.ServerInstanceName
	}
	if rec.DatabaseName != "" {
		database = rec.DatabaseName
	}
	return server, database
}

// buildMinimal is the row stored for a record the service refused
// (reason): its keys, every fixed-size column, strings cut to minimalCut
// and the statement and additional_information to minimalText UTF-16
// units (with the length and SHA-256 of each whole), no continuation.
func buildMinimal(server, database, blob, fileHash string, ingestedAt time.Time, rec *audit.Record, reason string) ([]Entity, string) {
	w, _ := writeRecord(server, database, blob, fileHash, ingestedAt, rec, nil, layout{minimal: true, refused: reason})
	return w.entities(), w.degraded
}

// Layout bounds (see the package doc, "Large records").
const (
	// entityBudget is what one entity may take, both as the service
	// counts it and as JSON (the emulator counts the JSON body), with a
	// margin for the service's own accounting.
	entityBudget = MaxEntitySize - 32<<10
	// chunkBudget bounds one continuation entity the same way.
	chunkBudget = 768 << 10
	// maxChunkPieces bounds the properties of a continuation entity.
	maxChunkPieces = 200
	// maxStoredUnits bounds a spilled string (UTF-16 code units): what
	// the audit reader keeps of one record is well below it.
	maxStoredUnits = 4 << 20
	// degradedCut is the length strings other than statement and
	// additional_information are cut to when the row cannot fit
	// otherwise; minimalCut and minimalText are those of the row stored
	// for a record the service refused.
	degradedCut = 1024
	minimalCut  = 256
	minimalText = 4000
	// maxDegraded bounds the xw_degraded text.
	maxDegraded = 2048
	// maxBinary is the service's limit on a binary property.
	maxBinary = 64 << 10
)

// layout decides how a record's strings go into its entities.
type layout struct {
	spill   bool   // statement / additional_information over one piece spill to continuation entities
	cut     int    // other strings cut to this many UTF-16 units (0: whole)
	minimal bool   // the row stored for a refused record
	refused string // the service's refusal (minimal)
}

// buildEntity builds rec's row with layout l and fails with ErrTooLarge
// when it does not fit one entity (or, with l.spill, when a continuation
// would be needed: BuildEntity's contract).
func buildEntity(server, database, blob, fileHash string, ingestedAt time.Time, rec *audit.Record, buf []byte, l layout) (Entity, error) {
	w, err := writeRecord(server, database, blob, fileHash, ingestedAt, rec, buf, l)
	if err != nil {
		return Entity{}, err
	}
	return w.row, nil
}

// writeRecord writes rec's entities with layout l.
func writeRecord(server, database, blob, fileHash string, ingestedAt time.Time, rec *audit.Record, buf []byte, l layout) (*entityWriter, error) {
	server, database = eventFiling(server, database, rec)
	if fileHash == "" {
		file := rec.FileName
		if file == "" {
			file = blob
		}
		fileHash = FileHash(file)
	}
	rk := rowKey(rec, fileHash)
	pk := EventPartitionKey(server, database, rk, rec.EventTime)
	w := &entityWriter{buf: buf[:0], l: l, pk: pk, rk: rk}
	w.begin(pk, rk)
	w.time("event_time", rec.EventTime)
	w.int32("sequence_number", rec.SequenceNumber)
	w.str("action_id", rec.ActionID)
	w.str("action_name", rec.ActionName)
	w.bool("succeeded", rec.Succeeded)
	w.bin("permission_bitmask", rec.PermissionBitmask)
	w.bool("is_column_permission", rec.IsColumnPermission)
	w.int32("session_id", int32(rec.SessionID))
	w.int32("server_principal_id", rec.ServerPrincipalID)
	w.int32("database_principal_id", rec.DatabasePrincipalID)
	w.int32("target_server_principal_id", rec.TargetServerPrincipalID)
	w.int32("target_database_principal_id", rec.TargetDatabasePrincipalID)
	w.int32("object_id", rec.ObjectID)
	w.str("class_type", rec.ClassType)
	w.str("class_type_desc", rec.ClassTypeDesc)
	w.str("session_server_principal_name", rec.SessionServerPrincipalName)
	w.str("server_principal_name", rec.ServerPrincipalName)
	w.bin("server_principal_sid", rec.ServerPrincipalSID)
	w.str("database_principal_name", rec.DatabasePrincipalName)
	w.str("target_server_principal_name", rec.TargetServerPrincipalName)
	w.bin("target_server_principal_sid", rec.TargetServerPrincipalSID)
	w.str("target_database_principal_name", rec.TargetDatabasePrincipalName)
	w.str("server_instance_name", rec.ServerInstanceName)
	w.str("database_name", rec.DatabaseName)
	w.str("schema_name", rec.SchemaName)
	w.str("object_name", rec.ObjectName)
	w.text("statement", rec.Statement)
	w.text("additional_information", rec.AdditionalInformation)
	w.str("file_name", rec.FileName)
	w.int64("audit_file_offset", rec.AuditFileOffset)
	w.int32("user_defined_event_id", int32(rec.UserDefinedEventID))
	w.str("user_defined_information", rec.UserDefinedInformation)
	w.int32("audit_schema_version", rec.AuditSchemaVersion)
	w.bin("sequence_group_id", rec.SequenceGroupID)
	w.int64("transaction_id", rec.TransactionID)
	w.str("client_ip", rec.ClientIP)
	w.str("application_name", rec.ApplicationName)
	w.int64("duration_milliseconds", rec.DurationMilliseconds)
	w.int64("response_rows", rec.ResponseRows)
	w.int64("affected_rows", rec.AffectedRows)
	w.str("connection_id", rec.ConnectionID)
	w.str("data_sensitivity_information", rec.DataSensitivityInformation)
	w.str("host_name", rec.HostName)
	w.str("session_context", rec.SessionContext)
	w.int64("client_tls_version", rec.ClientTLSVersion)
	w.str("client_tls_version_name", rec.ClientTLSVersionName)
	w.int64("database_transaction_id", rec.DatabaseTransactionID)
	w.int64("ledger_start_sequence_number", rec.LedgerStartSequenceNumber)
	w.str("external_policy_permissions_checked", rec.ExternalPolicyPermissionsChecked)
	w.str("obo_middle_tier_app_id", rec.OBOMiddleTierAppID)
	w.bool("is_local_secondary_replica", rec.IsLocalSecondaryReplica)
	w.bool("statement_truncated", rec.StatementTruncated)
	w.bool("incomplete", rec.Incomplete)
	w.int32(PropEventIndex, int32(rec.EventIndex))
	w.int32(PropParts, int32(rec.NumParts()))
	w.str(PropServer, server)
	w.str(PropDatabase, database)
	w.str(PropBlob, blob)
	w.time(PropIngestedAt, ingestedAt)
	if e := rec.Elided; !e.IsZero() {
		// The reader kept the head and the tail of a longer statement.
		at := min(max(e.At, 0), len(rec.Statement))
		w.int64("statement_elided_at", int64(utf16Len(rec.Statement[:at])))
		w.int64("statement_elided_bytes", e.Dropped)
		w.int64("statement_original_length", e.Units)
		w.str("statement_original_sha256", hex.EncodeToString(e.SHA256[:]))
	}
	w.finishDegraded()
	w.end()
	if err := w.check(); err != nil {
		return nil, fmt.Errorf("store: row %s/%s (file offset %d, index %d): %w", pk, rk, rec.AuditFileOffset, rec.EventIndex, err)
	}
	w.row = Entity{PartitionKey: pk, RowKey: rk, JSON: w.buf, Size: w.size, main: true}
	return w, nil
}

// entityWriter appends an entity's JSON and tracks its service size and
// property count; for a record it also collects the continuation
// entities of spilled strings and what was cut.
type entityWriter struct {
	buf   []byte
	size  int
	props int

	l        layout
	pk, rk   string
	row      Entity
	chunks   []Entity
	cuts     []string // "name (N characters)" of strings cut
	degraded string   // xw_degraded
}

// entities returns the row, then its continuation entities.
func (w *entityWriter) entities() []Entity {
	return append([]Entity{w.row}, w.chunks...)
}

// Service size accounting ("Understanding the Table service data model",
// storage estimation): 4 bytes + 2 per key character, and per property
// 8 bytes + 2 per name character + the value (string 4 + 2 per UTF-16
// unit, binary 4 + length, DateTime/Int64/Double 8, Int32 4, Boolean 1).
func (w *entityWriter) begin(pk, rk string) {
	w.size = 4 + 2*utf16Len(pk) + 2*utf16Len(rk)
	w.buf = append(w.buf, `{"PartitionKey":`...)
	w.buf = appendJSONString(w.buf, pk)
	w.buf = append(w.buf, `,"RowKey":`...)
	w.buf = appendJSONString(w.buf, rk)
}

func (w *entityWriter) end() { w.buf = append(w.buf, '}') }

func (w *entityWriter) name(n string, valueSize int) {
	w.props++
	w.size += 8 + 2*len(n) + valueSize
	w.buf = append(w.buf, ',', '"')
	w.buf = append(w.buf, n...)
	w.buf = append(w.buf, '"', ':')
}

func (w *entityWriter) typ(n, edm string) {
	w.buf = append(w.buf, ',', '"')
	w.buf = append(w.buf, n...)
	w.buf = append(w.buf, `@odata.type":"`...)
	w.buf = append(w.buf, edm...)
	w.buf = append(w.buf, '"')
}

// str writes a string column: whole, or cut to the layout's bound.
func (w *entityWriter) str(n string, s string) {
	c := w.l.cut
	if w.l.minimal {
		c = minimalCut
	}
	if c > 0 {
		if t := prefixUnits(s, c); len(t) < len(s) {
			w.noteCut(n, s)
			s = t
		}
	}
	w.strWhole(n, s)
}

// strWhole writes s whole: as one property when it fits, else split across
// n, n_1, n_2, … plus n_parts.
func (w *entityWriter) strWhole(n string, s string) {
	if len(s) > 2*MaxEntitySize {
		// At least len/3 UTF-16 code units whatever the text, so more
		// than MaxEntitySize as the service counts: do not spend time
		// and memory encoding it.
		w.size += 2 * len(s) / 3
		w.props++
		return
	}
	units := utf16Len(s)
	if 2*units > MaxEntitySize {
		w.size += 2 * units
		w.props++
		return
	}
	if units <= MaxPieceUnits {
		w.name(n, 4+2*units)
		w.buf = appendJSONString(w.buf, s)
		return
	}
	pieces := splitString(s, MaxPieceUnits)
	for i, p := range pieces {
		pn := n
		if i > 0 {
			pn = n + "_" + strconv.Itoa(i)
		}
		w.name(pn, 4+2*utf16Len(p))
		w.buf = appendJSONString(w.buf, p)
	}
	w.int32(n+"_parts", int32(len(pieces)))
}

func (w *entityWriter) int32(n string, v int32) {
	w.name(n, 4)
	w.buf = strconv.AppendInt(w.buf, int64(v), 10)
}

func (w *entityWriter) int64(n string, v int64) {
	w.name(n, 8)
	w.buf = append(w.buf, '"')
	w.buf = strconv.AppendInt(w.buf, v, 10)
	w.buf = append(w.buf, '"')
	w.typ(n, "Edm.Int64")
}

func (w *entityWriter) bool(n string, v bool) {
	w.name(n, 1)
	w.buf = strconv.AppendBool(w.buf, v)
}

func (w *entityWriter) bin(n string, v []byte) {
	c := w.l.cut
	if w.l.minimal {
		c = minimalCut
	}
	switch {
	case c > 0 && len(v) > c:
		w.cuts = append(w.cuts, n+" ("+strconv.Itoa(len(v))+" bytes)")
		v = v[:c]
	case len(v) > maxBinary:
		// Not storable as is: make the layout fail so that the next one
		// cuts it.
		w.size += MaxEntitySize
	}
	w.name(n, 4+len(v))
	w.buf = append(w.buf, '"')
	w.buf = base64.StdEncoding.AppendEncode(w.buf, v)
	w.buf = append(w.buf, '"')
	w.typ(n, "Edm.Binary")
}

// Edm.DateTime covers 1601-01-01 to 9999-12-31 UTC; a time outside it
// (the zero time.Time of an absent value) is clamped to the lower bound
// so the row can still be stored, and reads back as the zero time.
var (
	minDateTime = time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDateTime = time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC)
)

func (w *entityWriter) time(n string, t time.Time) {
	t = t.UTC()
	if t.Before(minDateTime) {
		t = minDateTime
	} else if t.After(maxDateTime) {
		t = maxDateTime
	}
	w.name(n, 8)
	w.buf = append(w.buf, '"')
	w.buf = appendDateTime(w.buf, t)
	w.buf = append(w.buf, '"')
	w.typ(n, "Edm.DateTime")
}

func (w *entityWriter) check() error {
	if w.props > MaxProperties {
		return fmt.Errorf("%d properties (limit %d): %w", w.props, MaxProperties, ErrTooLarge)
	}
	if w.size > entityBudget || len(w.buf) > entityBudget {
		return fmt.Errorf("%d bytes, %d of JSON (limit %d): %w", w.size, len(w.buf), entityBudget, ErrTooLarge)
	}
	return nil
}

// appendDateTime writes t (UTC) as the service's ISO 8601 form with 7
// fractional digits.
func appendDateTime(dst []byte, t time.Time) []byte {
	dst = t.AppendFormat(dst, "2006-01-02T15:04:05")
	dst = append(dst, '.')
	ticks := t.Nanosecond() / 100
	var d [7]byte
	for i := 6; i >= 0; i-- {
		d[i] = byte('0' + ticks%10)
		ticks /= 10
	}
	dst = append(dst, d[:]...)
	return append(dst, 'Z')
}

// splitString cuts s into pieces of at most max UTF-16 code units, on rune
// boundaries (a surrogate pair is never split). Joining the pieces gives s
// back. An empty s gives one empty piece.
func splitString(s string, max int) []string {
	if max < 2 {
		max = 2
	}
	var out []string
	start, n := 0, 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n+w > max {
			out = append(out, s[start:i])
			start, n = i, 0
		}
		n += w
	}
	return append(out, s[start:])
}

// appendJSONString appends s as a JSON string exactly as encoding/json
// does (HTML characters and U+2028/U+2029 escaped, invalid UTF-8 as
// U+FFFD), so that the size estimates match what the SDK re-encodes.
func appendJSONString(dst []byte, s string) []byte {
	return jsonx.AppendString(dst, s, jsonx.EncodingJSON)
}
