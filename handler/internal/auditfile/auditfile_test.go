package auditfile

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"syscall"
	"testing"

	"github.com/xelwatch/xelwatch/handler/internal/testsupport"
)

// hostile builds a folder with every kind of entry under an audit name.
func hostile(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("a.xel", "aaaa")
	write("b.XEL", "bb")
	write("notes.txt", "not audit")
	write("sub/c.sqlaudit", "ccc")
	link("a.xel", "link.xel")
	link("nowhere.xel", "dangling.xel")
	link("loop.xel", "loop.xel")
	link("sub", "linkdir.xel")
	if err := os.Mkdir(filepath.Join(dir, "dir.xel"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"fifo.xel", "fifo.txt"} {
		if err := syscall.Mkfifo(filepath.Join(dir, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link("fifo.xel", "fifolink.xel")
	return dir
}

func reasons(errs []error) map[string]string {
	m := map[string]string{}
	for _, err := range errs {
		var se *SkipError
		if errors.As(err, &se) {
			m[filepath.Base(se.Path)] = se.Reason
		} else {
			m[err.Error()] = "?"
		}
	}
	return m
}

func TestWalk(t *testing.T) {
	t.Parallel()
	dir := hostile(t)
	for _, tc := range []struct {
		recursive bool
		files     []string
		skipped   map[string]string
	}{
		{false, []string{"a.xel", "b.XEL", "link.xel"}, map[string]string{
			"dangling.xel": "dangling symbolic link", "loop.xel": "symbolic link loop", "dir.xel": "directory",
			"fifo.xel": "FIFO", "fifolink.xel": "FIFO", "linkdir.xel": "symbolic link to a directory (not followed)"}},
		{true, []string{"a.xel", "b.XEL", "link.xel", "sub/c.sqlaudit"}, map[string]string{
			"dangling.xel": "dangling symbolic link", "loop.xel": "symbolic link loop",
			"fifo.xel": "FIFO", "fifolink.xel": "FIFO", "linkdir.xel": "symbolic link to a directory (not followed)"}},
	} {
		var skipped []error
		var files []File
		var err error
		testsupport.NoHang(t, func() {
			files, err = Walk(context.Background(), dir, WalkOptions{Recursive: tc.recursive, Skip: func(e error) { skipped = append(skipped, e) }})
		})
		if err != nil {
			t.Fatalf("recursive=%v: %v", tc.recursive, err)
		}
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
			if f.Path != filepath.Join(dir, filepath.FromSlash(f.Name)) || !f.Info.Mode().IsRegular() {
				t.Errorf("%s: path %s, mode %v", f.Name, f.Path, f.Info.Mode())
			}
		}
		if !slices.Equal(names, tc.files) {
			t.Errorf("recursive=%v: files %q, want %q", tc.recursive, names, tc.files)
		}
		if got := reasons(skipped); !mapsEqual(got, tc.skipped) {
			t.Errorf("recursive=%v: skipped %v, want %v", tc.recursive, got, tc.skipped)
		}
		if i := slices.IndexFunc(files, func(f File) bool { return f.Name == "link.xel" }); i >= 0 && files[i].Info.Size() != 4 {
			t.Errorf("link.xel: size %d, want the target's 4", files[i].Info.Size())
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestWalkLimitsAndRoot(t *testing.T) {
	t.Parallel()
	dir := hostile(t)
	files, err := Walk(context.Background(), dir, WalkOptions{MaxFiles: 2})
	if !errors.Is(err, ErrTooMany) || len(files) != 2 {
		t.Errorf("MaxFiles 2: %d files, err %v; want 2 and ErrTooMany", len(files), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Walk(ctx, dir, WalkOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err %v", err)
	}
	// A root given through a symbolic link is walked.
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Symlink(dir, root); err != nil {
		t.Fatal(err)
	}
	if files, err := Walk(context.Background(), root, WalkOptions{}); err != nil || len(files) != 3 {
		t.Errorf("linked root: %d files, err %v; want 3", len(files), err)
	}
	// A root that is not a folder is an error, not a hang.
	testsupport.NoHang(t, func() {
		if _, err := Walk(context.Background(), filepath.Join(dir, "fifo.xel"), WalkOptions{}); err == nil {
			t.Error("FIFO root: no error")
		}
	})
	if _, err := Walk(context.Background(), filepath.Join(dir, "missing"), WalkOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing root: %v", err)
	}
}

func TestWalkUnreadableSubfolder(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root reads any folder")
	}
	dir := hostile(t)
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	var skipped []error
	files, err := Walk(context.Background(), dir, WalkOptions{Recursive: true, Skip: func(e error) { skipped = append(skipped, e) }})
	if err != nil || len(files) != 4 {
		t.Fatalf("%d files, err %v; want 4 and no error", len(files), err)
	}
	if got := reasons(skipped)["locked"]; got != "unreadable" {
		t.Errorf("locked folder: reason %q, want unreadable (%v)", got, skipped)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := hostile(t)
	short, err := os.MkdirTemp("", "xw") // a socket path must be short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	sock := filepath.Join(short, "s.xel")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	want := map[string]string{
		filepath.Join(dir, "a.xel"):        "",
		filepath.Join(dir, "link.xel"):     "",
		filepath.Join(dir, "fifo.xel"):     "FIFO",
		filepath.Join(dir, "fifolink.xel"): "FIFO",
		filepath.Join(dir, "dangling.xel"): "dangling symbolic link",
		filepath.Join(dir, "loop.xel"):     "symbolic link loop",
		filepath.Join(dir, "dir.xel"):      "directory",
		os.DevNull:                         "device",
		sock:                               "socket",
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		testsupport.NoHang(t, func() {
			f, fi, err := Open(p)
			var se *SkipError
			switch {
			case want[p] == "" && (err != nil || fi.Size() != 4):
				t.Errorf("%s: %v", p, err)
			case want[p] != "" && (!errors.As(err, &se) || se.Reason != want[p]):
				t.Errorf("%s: err %v, want skipped as %s", p, err, want[p])
			}
			if f != nil {
				f.Close()
			}
		})
	}
	if _, _, err := Open(filepath.Join(dir, "missing.xel")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

// TestOpenChecksTheOpenedFile: a path that passed the stat check and was
// then swapped for a FIFO is opened without blocking and refused by the
// fstat check (openAs is that second half of Open).
func TestOpenChecksTheOpenedFile(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "swapped.xel")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	testsupport.NoHang(t, func() {
		f, _, err := openAs(fifo, fs.FileMode.IsRegular)
		var se *SkipError
		if !errors.As(err, &se) || se.Reason != "FIFO" {
			t.Errorf("err %v, want skipped as FIFO", err)
		}
		if f != nil {
			f.Close()
		}
	})
}

func TestSkipErrorText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&SkipError{Path: "d/p.xel", Reason: "FIFO"}, "d/p.xel: skipped: FIFO (not a regular file)"},
		{&SkipError{Path: "d/l.xel", Reason: "dangling symbolic link", Err: fs.ErrNotExist}, "d/l.xel: skipped: dangling symbolic link"},
		{&SkipError{Path: "d/s", Reason: "unreadable", Err: &fs.PathError{Op: "open", Path: "d/s", Err: fs.ErrPermission}}, "d/s: skipped: unreadable: permission denied"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// TestWalkBoundKeepsFirstNames: over MaxFiles, Walk returns the first
// MaxFiles files by name (what DirBlobs.List and Poll promise), not the
// first ones the folder happens to list, and entries it skips do not end
// the walk before a regular file: otherwise a folder with many files (or
// many FIFOs and dangling links under audit names) hides later files from
// watch --dir forever.
func TestWalkBoundKeepsFirstNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var names []string
	for i := range 200 {
		names = append(names, fmtName(i))
	}
	// Created in an order that is neither sorted nor reversed.
	for i := range names {
		n := names[(i*73)%len(names)]
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Walk(context.Background(), dir, WalkOptions{MaxFiles: 10})
	if !errors.Is(err, ErrTooMany) {
		t.Errorf("err %v; want ErrTooMany", err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Name)
	}
	if want := names[:10]; !slices.Equal(got, want) {
		t.Errorf("MaxFiles 10: %q; want the first names %q", got, want)
	}
	files, err = Walk(context.Background(), dir, WalkOptions{MaxFiles: 10, Last: true})
	if !errors.Is(err, ErrTooMany) {
		t.Errorf("Last: err %v; want ErrTooMany", err)
	}
	got = got[:0]
	for _, f := range files {
		got = append(got, f.Name)
	}
	if want := names[len(names)-10:]; !slices.Equal(got, want) {
		t.Errorf("MaxFiles 10, Last: %q; want the last names %q", got, want)
	}

	// 200 dangling links under audit names beside one regular file.
	dir = t.TempDir()
	for i := range 200 {
		if err := os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, fmtName(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "z.xel"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var skipped int
	files, _ = Walk(context.Background(), dir, WalkOptions{MaxFiles: 10, Skip: func(error) { skipped++ }})
	if len(files) != 1 || files[0].Name != "z.xel" {
		t.Errorf("files %v beside 200 dangling links; want z.xel", files)
	}
	if skipped == 0 || skipped > 10 {
		t.Errorf("%d skipped reported; want 1..10", skipped)
	}
}

func fmtName(i int) string {
	return "a" + string(rune('0'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10)) + ".xel"
}
