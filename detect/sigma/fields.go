package sigma

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// EventID33205 is the Windows Application log event id under which SQL
// Server writes audit records when the audit's target is
// APPLICATION_LOG; SigmaHQ's MSSQL rules select it.
const EventID33205 = "33205"

// field is one name a rule can read, and how to compute it from a
// record. Names are matched case-insensitively at load and rewritten to
// this spelling.
type field struct {
	name    string
	numeric bool // gt/gte/lt/lte allowed
	get     func(r *audit.Record) string
}

func itoa[T ~int16 | ~int32 | ~int64 | ~int](v T) string { return strconv.FormatInt(int64(v), 10) }

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// fields lists, in order: the Windows event fields of an event 33205
// (EventID, Provider_Name, Channel, Computer, Data and its alias
// Message), then every audit column under its sys.fn_get_audit_file name
// (values as in the 33205 text, see columnText), then xelwatch's
// action_name and class_type_desc.
var fields = []field{
	{name: "EventID", numeric: true, get: func(*audit.Record) string { return EventID33205 }},
	{name: "Provider_Name", get: providerName},
	{name: "Channel", get: func(*audit.Record) string { return "Application" }},
	{name: "Computer", get: computer},
	{name: "Data", get: Render33205},
	{name: "Message", get: Render33205},
	{name: "event_time", get: func(r *audit.Record) string { return eventTime(r) }},
	{name: "sequence_number", numeric: true, get: func(r *audit.Record) string { return itoa(r.SequenceNumber) }},
	{name: "action_id", get: func(r *audit.Record) string { return strings.TrimSpace(r.ActionID) }},
	{name: "action_name", get: func(r *audit.Record) string { return r.ActionName }},
	{name: "succeeded", get: func(r *audit.Record) string { return boolText(r.Succeeded) }},
	{name: "permission_bitmask", get: func(r *audit.Record) string { return bitmask(r.PermissionBitmask) }},
	{name: "is_column_permission", get: func(r *audit.Record) string { return boolText(r.IsColumnPermission) }},
	{name: "session_id", numeric: true, get: func(r *audit.Record) string { return itoa(r.SessionID) }},
	{name: "server_principal_id", numeric: true, get: func(r *audit.Record) string { return itoa(r.ServerPrincipalID) }},
	{name: "database_principal_id", numeric: true, get: func(r *audit.Record) string { return itoa(r.DatabasePrincipalID) }},
	{name: "target_server_principal_id", numeric: true, get: func(r *audit.Record) string { return itoa(r.TargetServerPrincipalID) }},
	{name: "target_database_principal_id", numeric: true, get: func(r *audit.Record) string { return itoa(r.TargetDatabasePrincipalID) }},
	{name: "object_id", numeric: true, get: func(r *audit.Record) string { return itoa(r.ObjectID) }},
	{name: "class_type", get: func(r *audit.Record) string { return strings.TrimSpace(r.ClassType) }},
	{name: "class_type_desc", get: func(r *audit.Record) string { return r.ClassTypeDesc }},
	{name: "session_server_principal_name", get: func(r *audit.Record) string { return r.SessionServerPrincipalName }},
	{name: "server_principal_name", get: func(r *audit.Record) string { return r.ServerPrincipalName }},
	{name: "server_principal_sid", get: func(r *audit.Record) string { return hex.EncodeToString(r.ServerPrincipalSID) }},
	{name: "database_principal_name", get: func(r *audit.Record) string { return r.DatabasePrincipalName }},
	{name: "target_server_principal_name", get: func(r *audit.Record) string { return r.TargetServerPrincipalName }},
	{name: "target_server_principal_sid", get: func(r *audit.Record) string { return hex.EncodeToString(r.TargetServerPrincipalSID) }},
	{name: "target_database_principal_name", get: func(r *audit.Record) string { return r.TargetDatabasePrincipalName }},
	{name: "server_instance_name", get: func(r *audit.Record) string { return r.ServerInstanceName }},
	{name: "database_name", get: func(r *audit.Record) string { return r.DatabaseName }},
	{name: "schema_name", get: func(r *audit.Record) string { return r.SchemaName }},
	{name: "object_name", get: func(r *audit.Record) string { return r.ObjectName }},
	{name: "statement", get: func(r *audit.Record) string { return r.Statement }},
	{name: "additional_information", get: func(r *audit.Record) string { return r.AdditionalInformation }},
	{name: "file_name", get: func(r *audit.Record) string { return r.FileName }},
	{name: "audit_file_offset", numeric: true, get: func(r *audit.Record) string { return itoa(r.AuditFileOffset) }},
	{name: "user_defined_event_id", numeric: true, get: func(r *audit.Record) string { return itoa(r.UserDefinedEventID) }},
	{name: "user_defined_information", get: func(r *audit.Record) string { return r.UserDefinedInformation }},
	{name: "audit_schema_version", numeric: true, get: func(r *audit.Record) string { return itoa(r.AuditSchemaVersion) }},
	{name: "sequence_group_id", get: func(r *audit.Record) string { return guidText(r.SequenceGroupID) }},
	{name: "transaction_id", numeric: true, get: func(r *audit.Record) string { return itoa(r.TransactionID) }},
	{name: "client_ip", get: func(r *audit.Record) string { return r.ClientIP }},
	{name: "application_name", get: func(r *audit.Record) string { return r.ApplicationName }},
	{name: "duration_milliseconds", numeric: true, get: func(r *audit.Record) string { return itoa(r.DurationMilliseconds) }},
	{name: "response_rows", numeric: true, get: func(r *audit.Record) string { return itoa(r.ResponseRows) }},
	{name: "affected_rows", numeric: true, get: func(r *audit.Record) string { return itoa(r.AffectedRows) }},
	{name: "connection_id", get: func(r *audit.Record) string { return strings.ToUpper(r.ConnectionID) }},
	{name: "data_sensitivity_information", get: func(r *audit.Record) string { return r.DataSensitivityInformation }},
	{name: "host_name", get: func(r *audit.Record) string { return r.HostName }},
	{name: "session_context", get: func(r *audit.Record) string { return r.SessionContext }},
	{name: "client_tls_version", numeric: true, get: func(r *audit.Record) string { return itoa(r.ClientTLSVersion) }},
	{name: "client_tls_version_name", get: func(r *audit.Record) string { return r.ClientTLSVersionName }},
	{name: "database_transaction_id", numeric: true, get: func(r *audit.Record) string { return itoa(r.DatabaseTransactionID) }},
	{name: "ledger_start_sequence_number", numeric: true, get: func(r *audit.Record) string { return itoa(r.LedgerStartSequenceNumber) }},
	{name: "external_policy_permissions_checked", get: func(r *audit.Record) string { return r.ExternalPolicyPermissionsChecked }},
	{name: "obo_middle_tier_app_id", get: func(r *audit.Record) string { return r.OBOMiddleTierAppID }},
	{name: "is_local_secondary_replica", get: func(r *audit.Record) string { return boolText(r.IsLocalSecondaryReplica) }},
}

// fieldIndex maps lower-case names to their index in fields.
var fieldIndex = func() map[string]int {
	m := make(map[string]int, len(fields))
	for i, f := range fields {
		m[strings.ToLower(f.name)] = i
	}
	return m
}()

// FieldNames lists the field names rules can read, in documentation
// order.
func FieldNames() []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.name
	}
	return out
}

// providerName is the event source SQL Server registers: MSSQLSERVER
// for a default instance, MSSQL$NAME for a named one (server_instance_name
// HOST\NAME).
func providerName(r *audit.Record) string {
	if _, inst, ok := strings.Cut(r.ServerInstanceName, `\`); ok && inst != "" {
		return "MSSQL$" + inst
	}
	return "MSSQLSERVER"
}

// computer is the host part of server_instance_name.
func computer(r *audit.Record) string {
	host, _, _ := strings.Cut(r.ServerInstanceName, `\`)
	return host
}
