package store

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// ODataString quotes s as an OData string literal: single quotes doubled.
func ODataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ODataDateTime formats t as an OData DateTime literal.
func ODataDateTime(t time.Time) string {
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

// Filter returns the OData filter of q: a PartitionKey range over the hour
// partitions of server/database, a RowKey range over the time prefix (row
// keys start with the event time, so the range is exact in every
// partition), plus the column conditions.
func (q EventQuery) Filter() (string, error) {
	if q.Server == "" {
		return "", fmt.Errorf("store: query events: server is required")
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return "", fmt.Errorf("store: query events: from %s is not before to %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	var prefix string
	if q.Database != "" {
		prefix = eventPartitionPrefix(q.Server, q.Database)
	} else {
		// "<server>|" then any database: the successor of the separator
		// bounds the range.
		prefix = limitUnits(EscapeKey(q.Server), maxComponentUnits) + string(KeySep)
	}
	var c []string
	if q.From.IsZero() {
		c = append(c, "PartitionKey ge "+ODataString(prefix))
	} else {
		if q.Database != "" {
			c = append(c, "PartitionKey ge "+ODataString(prefix+q.From.UTC().Format(hourLayout)))
		} else {
			c = append(c, "PartitionKey ge "+ODataString(prefix))
		}
		c = append(c, "RowKey ge "+ODataString(timeKey(q.From)))
	}
	if q.Database != "" && !q.To.IsZero() {
		c = append(c, "PartitionKey le "+ODataString(prefix+q.To.UTC().Format(hourLayout)))
	} else {
		c = append(c, "PartitionKey lt "+ODataString(prefix[:len(prefix)-1]+string(KeySep+1)))
	}
	if !q.To.IsZero() {
		c = append(c, "RowKey lt "+ODataString(timeKey(q.To)))
	}
	if q.ActionID != "" {
		c = append(c, "action_id eq "+ODataString(q.ActionID))
	}
	if q.Principal != "" {
		p := ODataString(q.Principal)
		c = append(c, "(server_principal_name eq "+p+" or session_server_principal_name eq "+p+")")
	}
	return strings.Join(c, " and "), nil
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
	// in SplitParts).
	Record     audit.Record
	SplitParts int
}

// QueryEvents yields the rows matching q in key order (by server,
// database, hour, then event time). Iteration stops at the first error,
// which is yielded.
func (s *Store) QueryEvents(ctx context.Context, q EventQuery) iter.Seq2[*Row, error] {
	filter, err := q.Filter()
	if err != nil {
		return func(yield func(*Row, error) bool) { yield(nil, err) }
	}
	return listEntities(ctx, s.events, &aztables.ListEntitiesOptions{Filter: &filter}, "events", DecodeRow)
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

// DecodeRow parses an AuditEvents entity as returned by the service.
func DecodeRow(raw []byte) (*Row, error) {
	var e aztables.EDMEntity
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("store: decode row: %w", err)
	}
	p := props(e.Properties)
	var joinErr error
	str := func(n string) string {
		v, err := JoinParts(e.Properties, n)
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
	return r, nil
}

// JoinParts returns the string property name of an entity's properties,
// joined back from name, name_1, … when it was split (name_parts > 1).
func JoinParts(properties map[string]any, name string) (string, error) {
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
