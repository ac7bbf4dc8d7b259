package audit_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

var t0 = time.Date(2025, 6, 7, 8, 9, 10, 123456700, time.UTC)

// newFile runs fill on a fresh Writer and returns the file bytes.
func newFile(t testing.TB, opts *xeltest.Options, fill func(w *xeltest.Writer) error) ([]byte, *xeltest.Writer) {
	t.Helper()
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := fill(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w
}

// readAll reads every record of data; the error is nil at a clean end.
func readAll(t testing.TB, data []byte, opts *audit.ReaderOptions) ([]*audit.Record, *audit.Reader, error) {
	t.Helper()
	xr, err := xel.NewReader(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("xel.NewReader: %v", err)
	}
	ar := audit.NewReader(xr, "server/db/audit/2025-06-07/08_09_10_000_0.xel", opts)
	var out []*audit.Record
	for {
		rec, err := ar.Next()
		if errors.Is(err, io.EOF) {
			return out, ar, nil
		}
		if err != nil {
			return out, ar, err
		}
		out = append(out, rec)
	}
}

// fullAuditEvent sets every column to a distinct non-zero value (values
// fit the narrowest layout variant: counters below 2^31).
func fullAuditEvent(i int) xeltest.AuditEvent {
	return xeltest.AuditEvent{
		EventTime:                        t0.Add(time.Duration(i) * time.Second),
		SequenceNumber:                   1,
		ActionID:                         "BA",
		Succeeded:                        true,
		PermissionBitmask:                []byte{0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0},
		IsColumnPermission:               true,
		SessionID:                        int16(60 + i),
		ServerPrincipalID:                259,
		DatabasePrincipalID:              1,
		TargetServerPrincipalID:          300,
		TargetDatabasePrincipalID:        5,
		ObjectID:                         5,
		ClassType:                        "DB",
		SessionServerPrincipalName:       "CONTOSO\\alice",
		ServerPrincipalName:              "alice@contoso.com",
		ServerPrincipalSID:               []byte{1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0xAA},
		DatabasePrincipalName:            "dbo",
		TargetServerPrincipalName:        "mallory",
		TargetServerPrincipalSID:         []byte{1, 2, 3},
		TargetDatabasePrincipalName:      "db_owner",
		ServerInstanceName:               "contoso-sql",
		DatabaseName:                     "SalesDb",
		SchemaName:                       "dbo",
		ObjectName:                       "SalesDb",
		Statement:                        "BACKUP DATABASE [SalesDb] TO URL = N'https://x.blob.core.windows.net/c/s.bak' WITH COPY_ONLY -- é 日本 😀",
		AdditionalInformation:            "<tsql_stack><frame nest_level = '1' database_name = 'SalesDb' /></tsql_stack>",
		UserDefinedEventID:               17,
		UserDefinedInformation:           "user info",
		AuditSchemaVersion:               1,
		SequenceGroupID:                  []byte{0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		TransactionID:                    123456789,
		ClientIP:                         "203.0.113.7",
		ApplicationName:                  "Microsoft SQL Server Management Studio - Query",
		DurationMilliseconds:             1500,
		ResponseRows:                     42,
		AffectedRows:                     7,
		ConnectionID:                     xeltest.MustGUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
		DataSensitivityInformation:       "<sensitivity_attributes/>",
		HostName:                         "laptop-17",
		SessionContext:                   "<session_context key='k'/>",
		ClientTLSVersion:                 2048,
		ClientTLSVersionName:             "1.2",
		DatabaseTransactionID:            987654,
		LedgerStartSequenceNumber:        11,
		ExternalPolicyPermissionsChecked: "<permissions/>",
		OBOMiddleTierAppID:               "a1b2c3d4-0000-1111-2222-333344445555",
		IsLocalSecondaryReplica:          true,
	}
}

// wantRecord is the Record FromEvent must produce for a (location
// fields aside).
func wantRecord(a xeltest.AuditEvent) audit.Record {
	conn := ""
	if a.ConnectionID != (xeltest.GUID{}) {
		conn = a.ConnectionID.String()
	}
	return audit.Record{
		EventTime:                        a.EventTime,
		SequenceNumber:                   a.SequenceNumber,
		ActionID:                         strings.TrimSpace(a.ActionID),
		ActionName:                       audit.ActionName(a.ActionID),
		Succeeded:                        a.Succeeded,
		PermissionBitmask:                nilIfEmpty(a.PermissionBitmask),
		IsColumnPermission:               a.IsColumnPermission,
		SessionID:                        a.SessionID,
		ServerPrincipalID:                a.ServerPrincipalID,
		DatabasePrincipalID:              a.DatabasePrincipalID,
		TargetServerPrincipalID:          a.TargetServerPrincipalID,
		TargetDatabasePrincipalID:        a.TargetDatabasePrincipalID,
		ObjectID:                         a.ObjectID,
		ClassType:                        strings.TrimSpace(a.ClassType),
		ClassTypeDesc:                    audit.ClassTypeDesc(a.ClassType),
		SessionServerPrincipalName:       a.SessionServerPrincipalName,
		ServerPrincipalName:              a.ServerPrincipalName,
		ServerPrincipalSID:               nilIfEmpty(a.ServerPrincipalSID),
		DatabasePrincipalName:            a.DatabasePrincipalName,
		TargetServerPrincipalName:        a.TargetServerPrincipalName,
		TargetServerPrincipalSID:         nilIfEmpty(a.TargetServerPrincipalSID),
		TargetDatabasePrincipalName:      a.TargetDatabasePrincipalName,
		ServerInstanceName:               a.ServerInstanceName,
		DatabaseName:                     a.DatabaseName,
		SchemaName:                       a.SchemaName,
		ObjectName:                       a.ObjectName,
		Statement:                        a.Statement,
		AdditionalInformation:            a.AdditionalInformation,
		UserDefinedEventID:               a.UserDefinedEventID,
		UserDefinedInformation:           a.UserDefinedInformation,
		AuditSchemaVersion:               a.AuditSchemaVersion,
		SequenceGroupID:                  nilIfEmpty(a.SequenceGroupID),
		TransactionID:                    a.TransactionID,
		ClientIP:                         a.ClientIP,
		ApplicationName:                  a.ApplicationName,
		DurationMilliseconds:             a.DurationMilliseconds,
		ResponseRows:                     a.ResponseRows,
		AffectedRows:                     a.AffectedRows,
		ConnectionID:                     conn,
		DataSensitivityInformation:       a.DataSensitivityInformation,
		HostName:                         a.HostName,
		SessionContext:                   a.SessionContext,
		ClientTLSVersion:                 a.ClientTLSVersion,
		ClientTLSVersionName:             a.ClientTLSVersionName,
		DatabaseTransactionID:            a.DatabaseTransactionID,
		LedgerStartSequenceNumber:        a.LedgerStartSequenceNumber,
		ExternalPolicyPermissionsChecked: a.ExternalPolicyPermissionsChecked,
		OBOMiddleTierAppID:               a.OBOMiddleTierAppID,
		IsLocalSecondaryReplica:          a.IsLocalSecondaryReplica,
	}
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
