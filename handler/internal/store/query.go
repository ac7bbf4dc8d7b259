package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// odataString quotes s as an OData string literal: single quotes doubled.
func odataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// odataDateTime formats t as an OData DateTime literal.
func odataDateTime(t time.Time) string {
	return "datetime'" + string(appendDateTime(nil, t.UTC())) + "'"
}

// EventQuery selects AuditEvents rows. Server is required; an empty
// Database means every database of the server. From is inclusive, To
// exclusive; a zero bound is open.
type EventQuery struct {
	Server    string
	Database  string
	From      time.Time
	To        time.Time
	ActionID  string // exact action_id, e.g. "BA"; empty: any
	Principal string // server_principal_name or session_server_principal_name; empty: any
}

// validate checks q's required server and its time range.
func (q EventQuery) validate() error {
	if q.Server == "" {
		return fmt.Errorf("store: query events: server is required")
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return fmt.Errorf("store: query events: from %s is not before to %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	return nil
}

// Filters returns the OData filters QueryEvents sends for q, which must
// name its database: one per shard (s00 … s0f), then one for the legacy
// unsharded partitions (see the package doc, "Migration"). Each is a
// PartitionKey range over the hour partitions of one shard, a RowKey
// range over the time prefix (row keys start with the event time, so the
// range is exact in every partition), plus the column conditions; each
// yields its rows in event-time order.
func (q EventQuery) Filters() ([]string, error) {
	if err := q.validate(); err != nil {
		return nil, err
	}
	if q.Database == "" {
		return nil, fmt.Errorf("store: query events: filters of a whole server depend on its databases (QueryEvents finds them)")
	}
	return q.databaseFilters(eventPartitionPrefix(q.Server, q.Database)), nil
}

// databaseFilters returns the filters of the database whose partitions
// start with prefix ("<server>|<database>|", escaped): EventShards shard
// ranges, then the legacy range.
func (q EventQuery) databaseFilters(prefix string) []string {
	out := make([]string, 0, EventShards+1)
	for i := range EventShards {
		out = append(out, q.rangeFilter(prefix+shardKey(i)+string(KeySep)))
	}
	return append(out, q.rangeFilter(prefix))
}

// rangeFilter is the filter of the hour partitions "<p>yyyyMMddHH"
// between From and To, with q's row conditions. Without bounds it spans
// every hour: from p to p + ":" (the successor of '9'), which leaves out
// the sharded partitions ("<p>s…") when p is a legacy prefix.
func (q EventQuery) rangeFilter(p string) string {
	var c []string
	if q.From.IsZero() {
		c = append(c, "PartitionKey ge "+odataString(p))
	} else {
		c = append(c, "PartitionKey ge "+odataString(p+q.From.UTC().Format(hourLayout)),
			"RowKey ge "+odataString(timeKey(q.From)))
	}
	if q.To.IsZero() {
		c = append(c, "PartitionKey lt "+odataString(p+":"))
	} else {
		c = append(c, "PartitionKey le "+odataString(p+q.To.UTC().Format(hourLayout)),
			"RowKey lt "+odataString(timeKey(q.To)))
	}
	if q.ActionID != "" {
		c = append(c, "action_id eq "+odataString(q.ActionID))
	}
	if q.Principal != "" {
		p := odataString(q.Principal)
		c = append(c, "(server_principal_name eq "+p+" or session_server_principal_name eq "+p+")")
	}
	return strings.Join(c, " and ")
}

// Row is one AuditEvents row read back.
type Row struct {
	PartitionKey string
	RowKey       string
	Server       string // xw_server
	Database     string // xw_database
	Blob         string // xw_blob
	IngestedAt   time.Time
	// Record holds every column; Parts is nil (only its count is stored,
	// in SplitParts). A statement or additional_information spilled to
	// continuation entities is whole once QueryEvents has read them
	// (decodeRow alone gives its first piece).
	Record     audit.Record
	SplitParts int
	// Degraded says why the row is stored reduced (xw_degraded), and
	// whether a spilled text could not be read back whole; "" otherwise.
	Degraded string

	spilled []spilledText // texts whose rest is in continuation entities
}

// spilledText is a string column spilled to continuation entities, as the
// row describes it.
type spilledText struct {
	column string
	chunks int
	units  int64
	sha256 string
}

// QueryEvents yields the rows matching q, streaming: for each database
// (q.Database, or every database of the server in key order) its rows in
// event-time order, ties in row key order. The rows of a database lie in
// EventShards partitions per hour plus, for rows written before the
// shards, one legacy partition per hour; each is read with its own range
// scan (Filters), in pages of at most queryPageRows entities, and the
// scans are merged (mergeSorted), so memory stays bounded by the number
// of scans times the page size, whatever the range. A row found both
// under its legacy and its sharded key (a blob replayed after the
// upgrade) is yielded once, from its shard.
//
// Each row comes with its spilled statement and additional_information
// read back from their continuation entities and checked against the
// length and SHA-256 in the row (a row whose text cannot be read back
// whole keeps its first piece and says so in Degraded). Iteration stops
// at the first error, which is yielded.
func (s *Store) QueryEvents(ctx context.Context, q EventQuery) iter.Seq2[*Row, error] {
	if err := q.validate(); err != nil {
		return func(yield func(*Row, error) bool) { yield(nil, err) }
	}
	return func(yield func(*Row, error) bool) {
		if q.Database != "" {
			s.queryDatabase(ctx, q, eventPartitionPrefix(q.Server, q.Database), yield)
			return
		}
		for prefix, err := range s.databasePrefixes(ctx, eventServerPrefix(q.Server)) {
			if err != nil {
				yield(nil, err)
				return
			}
			if !s.queryDatabase(ctx, q, prefix, yield) {
				return
			}
		}
	}
}

// queryPageRows bounds the entities one page of one scan holds: a query
// holds at most EventShards+1 pages at a time.
const queryPageRows = 100

// queryDatabase yields the rows of the database whose partitions start
// with prefix, merged in row key order; it reports whether the caller
// may go on (false: the consumer stopped or an error was yielded).
func (s *Store) queryDatabase(ctx context.Context, q EventQuery, prefix string, yield func(*Row, error) bool) bool {
	filters := q.databaseFilters(prefix)
	scans := make([]iter.Seq2[*Row, error], len(filters))
	for i, f := range filters {
		scans[i] = s.scanRows(ctx, f)
	}
	last := ""
	for r, err := range mergeSorted(scans, func(a, b *Row) int { return strings.Compare(a.RowKey, b.RowKey) }) {
		if err != nil {
			yield(nil, err)
			return false
		}
		if r.RowKey == last {
			// The same record under its legacy key, after its shard's
			// copy (scans tie in filter order, legacy last).
			continue
		}
		last = r.RowKey
		if len(r.spilled) > 0 {
			if err := s.readSpilled(ctx, r); err != nil {
				yield(nil, err)
				return false
			}
		}
		if !yield(r, nil) {
			return false
		}
	}
	return true
}

// scanRows yields the rows (not the continuation entities) one filter
// selects, in key order.
func (s *Store) scanRows(ctx context.Context, filter string) iter.Seq2[*Row, error] {
	top := int32(queryPageRows)
	return func(yield func(*Row, error) bool) {
		for r, err := range listEntities(ctx, s.events, &aztables.ListEntitiesOptions{Filter: &filter, Top: &top}, "events", decodeRow) {
			if err == nil && r == nil {
				continue // a continuation entity
			}
			if !yield(r, err) || err != nil {
				return
			}
		}
	}
}

// databasePrefixes yields the partition key prefixes
// "<server>|<database>|" of the databases with rows under serverPrefix
// ("<server>|"), in key order: a skip scan asking for one partition key
// at a time, then jumping past that database's partitions, so it costs
// one small request per database however many rows each holds.
func (s *Store) databasePrefixes(ctx context.Context, serverPrefix string) iter.Seq2[string, error] {
	end := serverPrefix[:len(serverPrefix)-1] + string(KeySep+1)
	top := int32(1)
	sel := "PartitionKey"
	return func(yield func(string, error) bool) {
		lo := "PartitionKey ge " + odataString(serverPrefix)
		for {
			filter := lo + " and PartitionKey lt " + odataString(end)
			var pk string
			found := false
			for k, err := range listEntities(ctx, s.events, &aztables.ListEntitiesOptions{Filter: &filter, Top: &top, Select: &sel}, "databases", decodePartitionKey) {
				if err != nil {
					yield("", err)
					return
				}
				pk, found = k, true
				break
			}
			if !found {
				return
			}
			rest, inServer := strings.CutPrefix(pk, serverPrefix)
			db, _, ok := strings.Cut(rest, string(KeySep))
			if !ok || !inServer {
				// Not an event partition key (no one writes these):
				// skip it.
				lo = "PartitionKey gt " + odataString(pk)
				continue
			}
			prefix := serverPrefix + db + string(KeySep)
			if !yield(prefix, nil) {
				return
			}
			lo = "PartitionKey ge " + odataString(serverPrefix+db+string(KeySep+1))
		}
	}
}

// decodePartitionKey reads the PartitionKey of an entity.
func decodePartitionKey(raw []byte) (string, error) {
	var e struct{ PartitionKey string }
	if err := json.Unmarshal(raw, &e); err != nil {
		return "", fmt.Errorf("store: decode partition key: %w", err)
	}
	return e.PartitionKey, nil
}

// readSpilled completes r's spilled texts from its continuation entities.
func (s *Store) readSpilled(ctx context.Context, r *Row) error {
	lo := r.RowKey + chunkKeySep
	hi := r.RowKey + string(rune(chunkKeySep[0]+1))
	filter := "PartitionKey eq " + odataString(r.PartitionKey) + " and RowKey gt " + odataString(lo) + " and RowKey lt " + odataString(hi)
	var chunks []chunk
	for c, err := range listEntities(ctx, s.events, &aztables.ListEntitiesOptions{Filter: &filter}, "continuations", decodeChunk) {
		if err != nil {
			return fmt.Errorf("store: row %s/%s: %w", r.PartitionKey, r.RowKey, err)
		}
		if len(chunks) >= 2*maxChunks {
			break
		}
		chunks = append(chunks, c)
	}
	r.complete(chunks)
	return nil
}

// chunk is one continuation entity read back.
type chunk struct {
	partOf string
	column string
	n      int
	text   string
}

func decodeChunk(raw []byte) (chunk, error) {
	var e aztables.EDMEntity
	if err := json.Unmarshal(raw, &e); err != nil {
		return chunk{}, fmt.Errorf("store: decode continuation: %w", err)
	}
	p := props(e.Properties)
	v, err := joinParts(e.Properties, propValue)
	if err != nil {
		return chunk{}, fmt.Errorf("store: continuation %s: %w", e.RowKey, err)
	}
	return chunk{partOf: p.str(PropPartOf), column: p.str(propColumn), n: int(p.int32(propChunk)), text: v}, nil
}

// complete joins r's spilled texts with their continuation entities and
// checks each against the length and SHA-256 in the row: a text that
// does not match keeps its first piece, and Degraded says so.
func (r *Row) complete(chunks []chunk) {
	if len(r.spilled) == 0 {
		return
	}
	for _, sp := range r.spilled {
		pieces := make([]string, sp.chunks)
		for _, c := range chunks {
			if c.partOf == r.RowKey && c.column == sp.column && c.n >= 1 && c.n <= sp.chunks {
				pieces[c.n-1] = c.text
			}
		}
		field := &r.Record.Statement
		if sp.column == "additional_information" {
			field = &r.Record.AdditionalInformation
		}
		whole := *field + strings.Join(pieces, "")
		if int64(utf16Len(whole)) != sp.units || sha256Hex(whole) != sp.sha256 {
			note := sp.column + ": continuation entities missing or altered, first piece only"
			if r.Degraded != "" {
				note = r.Degraded + "; " + note
			}
			r.Degraded = note
			continue
		}
		*field = whole
	}
	r.spilled = nil
	if e := &r.Record.Elided; !e.IsZero() {
		e.At = unitsToBytes(r.Record.Statement, e.At)
	}
}

// unitsToBytes converts an offset in UTF-16 code units of s to bytes.
func unitsToBytes(s string, units int) int {
	return len(prefixUnits(s, units))
}

// listEntities pages through a table query and decodes each entity.
// Iteration stops after the first error, which is yielded.
func listEntities[T any](ctx context.Context, c *aztables.Client, opts *aztables.ListEntitiesOptions, what string, decode func(raw []byte) (T, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		pager := c.NewListEntitiesPager(opts)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				var zero T
				yield(zero, fmt.Errorf("store: list %s: %w", what, classify(err)))
				return
			}
			for _, raw := range page.Entities {
				v, err := decode(raw)
				if !yield(v, err) || err != nil {
					return
				}
			}
		}
	}
}

// decodeRow parses an AuditEvents entity as returned by the service; it
// returns nil for a continuation entity (PropPartOf), which is no row. A
// spilled text holds its first piece (QueryEvents reads the rest).
func decodeRow(raw []byte) (*Row, error) {
	var e aztables.EDMEntity
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("store: decode row: %w", err)
	}
	if _, ok := e.Properties[PropPartOf]; ok {
		return nil, nil
	}
	p := props(e.Properties)
	var joinErr error
	str := func(n string) string {
		v, err := joinParts(e.Properties, n)
		if err != nil && joinErr == nil {
			joinErr = err
		}
		return v
	}
	r := &Row{
		PartitionKey: e.PartitionKey,
		RowKey:       e.RowKey,
		Server:       str(PropServer),
		Database:     str(PropDatabase),
		Blob:         str(PropBlob),
		IngestedAt:   p.time(PropIngestedAt),
		SplitParts:   int(p.int32(PropParts)),
		Record: audit.Record{
			EventTime:                        p.time("event_time"),
			SequenceNumber:                   p.int32("sequence_number"),
			ActionID:                         str("action_id"),
			ActionName:                       str("action_name"),
			Succeeded:                        p.bool("succeeded"),
			PermissionBitmask:                p.bin("permission_bitmask"),
			IsColumnPermission:               p.bool("is_column_permission"),
			SessionID:                        int16(p.int32("session_id")),
			ServerPrincipalID:                p.int32("server_principal_id"),
			DatabasePrincipalID:              p.int32("database_principal_id"),
			TargetServerPrincipalID:          p.int32("target_server_principal_id"),
			TargetDatabasePrincipalID:        p.int32("target_database_principal_id"),
			ObjectID:                         p.int32("object_id"),
			ClassType:                        str("class_type"),
			ClassTypeDesc:                    str("class_type_desc"),
			SessionServerPrincipalName:       str("session_server_principal_name"),
			ServerPrincipalName:              str("server_principal_name"),
			ServerPrincipalSID:               p.bin("server_principal_sid"),
			DatabasePrincipalName:            str("database_principal_name"),
			TargetServerPrincipalName:        str("target_server_principal_name"),
			TargetServerPrincipalSID:         p.bin("target_server_principal_sid"),
			TargetDatabasePrincipalName:      str("target_database_principal_name"),
			ServerInstanceName:               str("server_instance_name"),
			DatabaseName:                     str("database_name"),
			SchemaName:                       str("schema_name"),
			ObjectName:                       str("object_name"),
			Statement:                        str("statement"),
			AdditionalInformation:            str("additional_information"),
			FileName:                         str("file_name"),
			AuditFileOffset:                  p.int64("audit_file_offset"),
			UserDefinedEventID:               int16(p.int32("user_defined_event_id")),
			UserDefinedInformation:           str("user_defined_information"),
			AuditSchemaVersion:               p.int32("audit_schema_version"),
			SequenceGroupID:                  p.bin("sequence_group_id"),
			TransactionID:                    p.int64("transaction_id"),
			ClientIP:                         str("client_ip"),
			ApplicationName:                  str("application_name"),
			DurationMilliseconds:             p.int64("duration_milliseconds"),
			ResponseRows:                     p.int64("response_rows"),
			AffectedRows:                     p.int64("affected_rows"),
			ConnectionID:                     str("connection_id"),
			DataSensitivityInformation:       str("data_sensitivity_information"),
			HostName:                         str("host_name"),
			SessionContext:                   str("session_context"),
			ClientTLSVersion:                 p.int64("client_tls_version"),
			ClientTLSVersionName:             str("client_tls_version_name"),
			DatabaseTransactionID:            p.int64("database_transaction_id"),
			LedgerStartSequenceNumber:        p.int64("ledger_start_sequence_number"),
			ExternalPolicyPermissionsChecked: str("external_policy_permissions_checked"),
			OBOMiddleTierAppID:               str("obo_middle_tier_app_id"),
			IsLocalSecondaryReplica:          p.bool("is_local_secondary_replica"),
			StatementTruncated:               p.bool("statement_truncated"),
			Incomplete:                       p.bool("incomplete"),
			EventIndex:                       int(p.int32(PropEventIndex)),
		},
	}
	if joinErr != nil {
		return nil, fmt.Errorf("store: row %s/%s: %w", e.PartitionKey, e.RowKey, joinErr)
	}
	r.Degraded = p.str(PropDegraded)
	if n := p.int64("statement_original_length"); n > 0 {
		el := audit.Elision{Units: n, At: int(p.int64("statement_elided_at"))}
		if b, err := hex.DecodeString(p.str("statement_original_sha256")); err == nil && len(b) == len(el.SHA256) {
			copy(el.SHA256[:], b)
		}
		// At is in UTF-16 units until the statement is whole.
		el.Dropped = max(p.int64("statement_elided_bytes"), 1)
		r.Record.Elided = el
	}
	for _, col := range []string{"statement", "additional_information"} {
		if k := int(p.int32(col + "_chunks")); k > 0 {
			if k > maxChunks {
				// More than the store ever writes: someone with rights on
				// the table changed the row. Show what the row holds and
				// say so; never let one row stop a query.
				reason := fmt.Sprintf("%s: %d continuation entities, over %d: first part only", col, k, maxChunks)
				r.Degraded = strings.TrimPrefix(r.Degraded+"; "+reason, "; ")
				continue
			}
			r.spilled = append(r.spilled, spilledText{column: col, chunks: k, units: p.int64(col + "_length"), sha256: p.str(col + "_sha256")})
		}
	}
	if len(r.spilled) == 0 && !r.Record.Elided.IsZero() {
		r.Record.Elided.At = unitsToBytes(r.Record.Statement, r.Record.Elided.At)
	}
	return r, nil
}

// maxChunks bounds the continuation entities of one text read back.
const maxChunks = maxStoredUnits/MaxPieceUnits + 1

// joinParts returns the string property name of an entity's properties,
// joined back from name, name_1, … when it was split (name_parts > 1).
func joinParts(properties map[string]any, name string) (string, error) {
	p := props(properties)
	first := p.str(name)
	n := int(p.int32(name + "_parts"))
	if n <= 1 {
		return first, nil
	}
	if n > MaxProperties {
		return "", fmt.Errorf("store: property %s: %d parts", name, n)
	}
	var b strings.Builder
	b.WriteString(first)
	for i := 1; i < n; i++ {
		v, ok := properties[name+"_"+strconv.Itoa(i)].(string)
		if !ok {
			return "", fmt.Errorf("store: property %s: part %d of %d missing", name, i, n)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
