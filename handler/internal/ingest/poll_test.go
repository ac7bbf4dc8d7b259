package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/handler/internal/testsupport"
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

// TestPollHostileFolder: a local folder with a FIFO, a dangling link and
// a link loop under audit file names. The listing leaves them out and
// reports them, a link to a regular file is listed with the target's
// size, the poll ingests the regular files, and a name swapped for a FIFO
// after the listing is refused by Properties and ReaderAt, never opened
// in a way that blocks (the one-minute net only turns a hang into a
// failure).
func TestPollHostileFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sub := filepath.Join(dir, "MSSQL", "Audit")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	file := auditFile(t, 60)
	if err := os.WriteFile(filepath.Join(sub, "Audit_1_0_1.sqlaudit"), file, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(sub, "Audit_1_0_3.sqlaudit"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"Audit_1_0_2.sqlaudit": "Audit_1_0_1.sqlaudit", "gone.sqlaudit": "nowhere.sqlaudit", "loop.xel": "loop.xel"} {
		if err := os.Symlink(target, filepath.Join(sub, link)); err != nil {
			t.Fatal(err)
		}
	}
	d := NewDirBlobs(dir)
	var skipped []string
	d.OnSkip = func(err error) {
		skipped = append(skipped, strings.TrimPrefix(err.Error(), sub+string(filepath.Separator)))
	}
	ctx := context.Background()
	testsupport.NoHang(t, func() {
		items, err := d.List(ctx, "", 100)
		if err != nil {
			t.Error(err)
			return
		}
		var names []string
		for _, it := range items {
			names = append(names, it.Name)
			if it.Size != int64(len(file)) {
				t.Errorf("%s: size %d, want %d", it.Name, it.Size, len(file))
			}
		}
		if want := []string{"MSSQL/Audit/Audit_1_0_1.sqlaudit", "MSSQL/Audit/Audit_1_0_2.sqlaudit"}; !slices.Equal(names, want) {
			t.Errorf("listed %q, want %q", names, want)
		}
		want := []string{"Audit_1_0_3.sqlaudit: skipped: FIFO (not a regular file)", "gone.sqlaudit: skipped: dangling symbolic link", "loop.xel: skipped: symbolic link loop"}
		if !slices.Equal(skipped, want) {
			t.Errorf("skipped %q, want %q", skipped, want)
		}
	})
	rows := NewMemoryRows()
	p := New(d, NewMemoryCursors(), rows, nil, XEL{}, nil, Options{})
	testsupport.NoHang(t, func() {
		if _, err := p.Poll(ctx, SweepOptions{IdleClose: time.Hour}); err != nil {
			t.Error(err)
		}
	})
	if got := len(rows.Records()); got != 120 {
		t.Errorf("rows = %d, want 120 (the file and the link to it)", got)
	}
	testsupport.NoHang(t, func() {
		fifo := "MSSQL/Audit/Audit_1_0_3.sqlaudit"
		if _, err := d.Properties(ctx, fifo); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Properties of a FIFO: %v, want an error other than not found", err)
		}
		if _, err := d.ReaderAt(ctx, fifo, 4096).ReadAt(make([]byte, 512), 0); err == nil || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("ReadAt of a FIFO: %v, want it refused", err)
		}
		if _, err := d.Properties(ctx, "MSSQL/Audit/gone.sqlaudit"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Properties of a dangling link: %v, want not found", err)
		}
	})
}

// TestPollHoldsBackFolderAfterFailure: a file whose read fails holds back
// the later files of its folder (read in name order, so that the rules
// see the audit in order) but not the other folders; the next poll reads
// the folder from the failed file on, in order.
func TestPollHoldsBackFolderAfterFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := auditFile(t, 30)
	names := []string{"A/Audit_1_0_1.sqlaudit", "A/Audit_1_0_2.sqlaudit", "A/Audit_1_0_3.sqlaudit", "B/Audit_2_0_1.sqlaudit"}
	for i, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, file, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := time.Now().Add(time.Duration(i-10) * time.Minute)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	cursors, rows := NewMemoryCursors(), NewMemoryRows()
	var order []string
	down := true
	rows.Fail = func(blob string) error {
		if down && blob == names[0] {
			return errors.New("storage down")
		}
		if len(order) == 0 || order[len(order)-1] != blob {
			order = append(order, blob)
		}
		return nil
	}
	p := New(NewDirBlobs(dir), cursors, rows, nil, XEL{}, nil, Options{})
	if _, err := p.Poll(context.Background(), SweepOptions{IdleClose: time.Hour}); err == nil {
		t.Fatal("poll with a failing file: no error")
	}
	if want := []string{names[3]}; !slices.Equal(order, want) {
		t.Errorf("first poll read %q, want only the other folder's %q", order, want)
	}
	for _, n := range names[1:3] {
		if _, err := cursors.Get(context.Background(), n); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s was touched after the failure of an earlier file of its folder (%v)", n, err)
		}
	}
	down, order = false, nil
	if _, err := p.Poll(context.Background(), SweepOptions{IdleClose: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if want := names[:3]; !slices.Equal(order, want) {
		t.Errorf("second poll read %q, want %q in order", order, want)
	}
}

// TestDirListKeepsNewest: a folder holding more audit files than a poll
// lists gives the newest (last by name, as a rollover sequence's names
// sort), so that old, closed files can never hide the file being written.
func TestDirListKeepsNewest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var names []string
	for i := range 5 {
		n := fmt.Sprintf("Audit_1_0_%d.sqlaudit", i)
		names = append(names, n)
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	items, err := NewDirBlobs(dir).List(context.Background(), "", 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.Name)
	}
	if want := names[3:]; !slices.Equal(got, want) {
		t.Errorf("List(max 2) = %q, want the newest %q", got, want)
	}
}

// progressLog records what a sweep or poll reports.
type progressLog struct {
	total int64
	sets  []int64
}

func (p *progressLog) SetTotal(n int64) { p.total = n }
func (p *progressLog) Set(n int64)      { p.sets = append(p.sets, n) }

// TestPollProgress: a poll reports the listed files' total size up
// front, then bytes that only grow, ending at the total when every file
// was read (with a file larger than 1,024 records, so also from within
// a run); a second poll over files read before reaches it at once.
func TestPollProgress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big, small := auditFile(t, 3000), auditFile(t, 40)
	for n, b := range map[string][]byte{"Audit_1_0_1.sqlaudit": big, "Audit_1_0_2.sqlaudit": small} {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	total := int64(len(big) + len(small))
	p := New(NewDirBlobs(dir), NewMemoryCursors(), NewMemoryRows(), nil, XEL{}, nil, Options{})
	for pass := range 2 {
		var pl progressLog
		if _, err := p.Poll(context.Background(), SweepOptions{IdleClose: time.Hour, Progress: &pl}); err != nil {
			t.Fatal(err)
		}
		if pl.total != total {
			t.Errorf("pass %d: total %d, want %d", pass, pl.total, total)
		}
		if !slices.IsSorted(pl.sets) || len(pl.sets) == 0 || pl.sets[len(pl.sets)-1] != total {
			t.Errorf("pass %d: progress %v, want growing to %d", pass, pl.sets, total)
		}
		if pass == 0 && !slices.ContainsFunc(pl.sets, func(n int64) bool { return n > 0 && n < int64(len(big)) }) {
			t.Errorf("pass 0: progress %v: nothing reported while the big file was read", pl.sets)
		}
	}
}

// TestSweepProgress: a sweep reports the bytes its runs read (no total:
// it is not known before the blobs are read).
func TestSweepProgress(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)
	f := newFixture(t, Options{Now: func() time.Time { return now }})
	file := auditFile(t, 50)
	f.blobs.Append("srv1/db1/aud/2026-11-21/10_00_00_000_0.xel", file, now)
	f.blobs.Append("srv2/db1/aud/2026-11-21/10_00_00_000_0.xel", file, now)
	var pl progressLog
	if _, err := f.p.Sweep(context.Background(), SweepOptions{Progress: &pl}); err != nil {
		t.Fatal(err)
	}
	if pl.total != 0 || !slices.IsSorted(pl.sets) || len(pl.sets) == 0 || pl.sets[len(pl.sets)-1] != int64(2*len(file)) {
		t.Errorf("total %d, progress %v; want no total and growing to %d", pl.total, pl.sets, 2*len(file))
	}
}
