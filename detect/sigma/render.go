package sigma

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// dataPrefix starts the text of an event 33205.
const dataPrefix = "Audit event: "

// Render33205 renders rec as the Data of a Windows Application log event
// 33205, the way SQL Server writes an audit record there (SQL Server
// 2022 layout): "Audit event: " and one "name:value" pair per line, the
// names and order below, in SQL Server's spelling. Values are verbatim:
// SQL Server escapes nothing, so a statement with line breaks or text
// like "object_name:x" shows in the Data as written (rules that exclude
// on Data can be fooled by a statement; exclude on the column fields
// instead, see docs/sigma.md). action_id is padded to 4 characters and
// class_type to 2, as SQL Server pads them; event_time is UTC with 7
// fractional digits; SIDs are lower-case hex; permission_bitmask is 32
// hex digits; sequence_group_id and connection_id are upper-case GUIDs.
// Statement and additional_information are whole (a record SQL Server
// split at 4000 characters is rendered once, reassembled).
func Render33205(r *audit.Record) string {
	n := len(dataPrefix) + 1200 + len(r.Statement) + len(r.AdditionalInformation) + len(r.UserDefinedInformation) +
		len(r.DataSensitivityInformation) + len(r.SessionContext) + len(r.ExternalPolicyPermissionsChecked) +
		len(r.SessionServerPrincipalName) + len(r.ServerPrincipalName) + len(r.DatabasePrincipalName) +
		len(r.TargetServerPrincipalName) + len(r.TargetDatabasePrincipalName) + len(r.ServerInstanceName) +
		len(r.DatabaseName) + len(r.SchemaName) + len(r.ObjectName) + len(r.ApplicationName) + len(r.HostName) +
		len(r.ClientIP) + len(r.ClientTLSVersionName) + 2*(len(r.ServerPrincipalSID)+len(r.TargetServerPrincipalSID)+len(r.PermissionBitmask)+len(r.SequenceGroupID))
	b := make([]byte, 0, n)
	b = append(b, dataPrefix...)
	num := func(name string, v int64) {
		b = append(b, name...)
		b = append(b, ':')
		b = strconv.AppendInt(b, v, 10)
		b = append(b, '\n')
	}
	str := func(name, v string) {
		b = append(b, name...)
		b = append(b, ':')
		b = append(b, v...)
		b = append(b, '\n')
	}
	num("audit_schema_version", int64(r.AuditSchemaVersion))
	str("event_time", eventTime(r))
	num("sequence_number", int64(r.SequenceNumber))
	str("action_id", padCode(r.ActionID, 4))
	str("succeeded", boolText(r.Succeeded))
	str("is_column_permission", boolText(r.IsColumnPermission))
	num("session_id", int64(r.SessionID))
	num("server_principal_id", int64(r.ServerPrincipalID))
	num("database_principal_id", int64(r.DatabasePrincipalID))
	num("target_server_principal_id", int64(r.TargetServerPrincipalID))
	num("target_database_principal_id", int64(r.TargetDatabasePrincipalID))
	num("object_id", int64(r.ObjectID))
	num("user_defined_event_id", int64(r.UserDefinedEventID))
	num("transaction_id", r.TransactionID)
	str("class_type", padCode(r.ClassType, 2))
	num("duration_milliseconds", r.DurationMilliseconds)
	num("response_rows", r.ResponseRows)
	num("affected_rows", r.AffectedRows)
	num("client_tls_version", r.ClientTLSVersion)
	num("database_transaction_id", r.DatabaseTransactionID)
	num("ledger_start_sequence_number", r.LedgerStartSequenceNumber)
	str("client_ip", r.ClientIP)
	str("permission_bitmask", bitmask(r.PermissionBitmask))
	str("sequence_group_id", guidText(r.SequenceGroupID))
	str("session_server_principal_name", r.SessionServerPrincipalName)
	str("server_principal_name", r.ServerPrincipalName)
	str("server_principal_sid", hex.EncodeToString(r.ServerPrincipalSID))
	str("database_principal_name", r.DatabasePrincipalName)
	str("target_server_principal_name", r.TargetServerPrincipalName)
	str("target_server_principal_sid", hex.EncodeToString(r.TargetServerPrincipalSID))
	str("target_database_principal_name", r.TargetDatabasePrincipalName)
	str("server_instance_name", r.ServerInstanceName)
	str("database_name", r.DatabaseName)
	str("schema_name", r.SchemaName)
	str("object_name", r.ObjectName)
	str("statement", r.Statement)
	str("additional_information", r.AdditionalInformation)
	str("user_defined_information", r.UserDefinedInformation)
	str("application_name", r.ApplicationName)
	str("connection_id", strings.ToUpper(r.ConnectionID))
	str("data_sensitivity_information", r.DataSensitivityInformation)
	str("host_name", r.HostName)
	str("session_context", r.SessionContext)
	str("client_tls_version_name", r.ClientTLSVersionName)
	str("external_policy_permissions_checked", r.ExternalPolicyPermissionsChecked)
	return string(b[:len(b)-1]) // no line break after the last value
}

// dataNames are the names of Render33205's pairs, in order.
var dataNames = []string{
	"audit_schema_version", "event_time", "sequence_number", "action_id", "succeeded", "is_column_permission",
	"session_id", "server_principal_id", "database_principal_id", "target_server_principal_id",
	"target_database_principal_id", "object_id", "user_defined_event_id", "transaction_id", "class_type",
	"duration_milliseconds", "response_rows", "affected_rows", "client_tls_version", "database_transaction_id",
	"ledger_start_sequence_number", "client_ip", "permission_bitmask", "sequence_group_id",
	"session_server_principal_name", "server_principal_name", "server_principal_sid", "database_principal_name",
	"target_server_principal_name", "target_server_principal_sid", "target_database_principal_name",
	"server_instance_name", "database_name", "schema_name", "object_name", "statement", "additional_information",
	"user_defined_information", "application_name", "connection_id", "data_sensitivity_information", "host_name",
	"session_context", "client_tls_version_name", "external_policy_permissions_checked",
}

// eventTime is event_time as SQL Server writes it in the message:
// "2024-10-23 03:11:01.1300947" (UTC).
func eventTime(r *audit.Record) string {
	return r.EventTime.UTC().Format("2006-01-02 15:04:05.0000000")
}

// padCode pads an action or class code with spaces to n characters.
func padCode(code string, n int) string {
	code = strings.TrimSpace(code)
	if len(code) >= n {
		return code
	}
	return code + strings.Repeat(" ", n-len(code))
}

// bitmask is permission_bitmask as 32 hex digits (16 bytes), lower case.
func bitmask(b []byte) string {
	s := hex.EncodeToString(b)
	if len(s) < 32 {
		s = strings.Repeat("0", 32-len(s)) + s
	}
	return s
}

// guidText renders a 16-byte GUID in .NET byte order as upper-case text,
// other lengths as upper-case hex, nothing as "".
func guidText(b []byte) string {
	if len(b) != 16 {
		return strings.ToUpper(hex.EncodeToString(b))
	}
	var g xel.GUID
	copy(g[:], b)
	return strings.ToUpper(g.String())
}
