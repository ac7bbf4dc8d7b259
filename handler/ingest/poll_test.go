package ingest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPollLocalFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := auditFile(t, 60)
	sub := filepath.Join(dir, "MSSQL", "Audit")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	old, cur := filepath.Join(sub, "Audit_1_0_1.sqlaudit"), filepath.Join(sub, "Audit_1_0_2.sqlaudit")
	for i, p := range []string{old, cur} {
		if err := os.WriteFile(p, file, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := time.Now().Add(time.Duration(i-2) * time.Minute)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sub, "readme.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cursors, rows := NewMemoryCursors(), NewMemoryRows()
	p := New(NewDirBlobs(dir), cursors, rows, nil, XEL{}, nil, Options{})
	for range 2 {
		if _, err := p.Poll(context.Background(), SweepOptions{IdleClose: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(rows.Records()); got != 120 {
		t.Errorf("rows = %d, want 120", got)
	}
	want := map[string]State{"MSSQL/Audit/Audit_1_0_1.sqlaudit": StateClosed, "MSSQL/Audit/Audit_1_0_2.sqlaudit": StateOpen}
	for b, s := range want {
		c, err := cursors.Get(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != s {
			t.Errorf("%s: state %s, want %s", b, c.State, s)
		}
	}
	// Growth of the current file is picked up.
	f, err := os.OpenFile(cur, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(file[:100]) // a partial buffer: waits
	f.Close()
	if _, err := p.Poll(context.Background(), SweepOptions{IdleClose: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if c, _ := cursors.Get(context.Background(), "MSSQL/Audit/Audit_1_0_2.sqlaudit"); c.State != StateOpen || c.BlobLength != int64(len(file)+100) {
		t.Errorf("cursor after growth = %s len %d", c.State, c.BlobLength)
	}
}
