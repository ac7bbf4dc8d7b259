package store

import (
	"strings"
	"testing"
)

// TestDecodeRowTamperedChunks: a row claiming more continuation entities
// than the store ever writes (only someone with rights on the table can
// write one) is read as what it holds and flagged, never an error that
// would stop every query crossing it.
func TestDecodeRowTamperedChunks(t *testing.T) {
	raw := []byte(`{"PartitionKey":"srv|db|2026120300","RowKey":"r1","action_id":"BA",` +
		`"statement":"BACKUP DATABASE d TO URL = 'https://x.blob.core.windows.net/c/d.bak'",` +
		`"statement_chunks":100000}`)
	r, err := decodeRow(raw)
	if err != nil || r == nil {
		t.Fatalf("decodeRow = %v, %v; want the row, flagged", r, err)
	}
	if !strings.HasPrefix(r.Record.Statement, "BACKUP DATABASE") {
		t.Errorf("statement = %q, want the row's first part", r.Record.Statement)
	}
	if !strings.Contains(r.Degraded, "continuation entities") {
		t.Errorf("degraded = %q, want the reason", r.Degraded)
	}
}
