package xelcmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/handler/internal/testsupport"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
	"github.com/xelwatch/xelwatch/xel/xeltest/fixtures"
)

// auditFile writes a synthetic audit file of about size bytes.
func auditFile(t *testing.T, dir, name string, size int64, seed int64) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := xeltest.SyntheticAuditFile(&buf, size, seed); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

// eventLines decodes b with package xel: the lines generic mode must print.
func eventLines(t *testing.T, b []byte) []string {
	t.Helper()
	r, err := xel.NewReader(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for {
		ev, err := r.Next()
		if err != nil {
			return lines
		}
		lines = append(lines, string(ev.AppendJSON(nil)))
	}
}

// auditCount counts the audit records of b.
func auditCount(t *testing.T, b []byte) int {
	t.Helper()
	xr, err := xel.NewReader(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range audit.NewReader(xr, "x", &audit.ReaderOptions{FlushIncomplete: true}).All() {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func run(ctx context.Context, stdin []byte, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = Decode(ctx, args, nil, bytes.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func TestDecode(t *testing.T) {
	dir := t.TempDir()
	a, aBytes := auditFile(t, dir, "a.xel", 200<<10, 1)
	b, bBytes := auditFile(t, dir, "b.sqlaudit", 100<<10, 2)
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not xel"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.xel"), 0o755); err != nil { // a directory is skipped, and said
		t.Fatal(err)
	}
	if err := os.Symlink(b, filepath.Join(dir, "c.xel")); err != nil { // a link to a file is followed
		t.Fatal(err)
	}
	empty := t.TempDir()
	bad := filepath.Join(t.TempDir(), "bad.xel")
	if err := os.WriteFile(bad, []byte("PK\x03\x04 this is a zip file, not xel"), 0o644); err != nil {
		t.Fatal(err)
	}
	aLines, bLines := eventLines(t, aBytes), eventLines(t, bBytes)
	if len(aLines) < 50 || len(bLines) < 20 {
		t.Fatalf("synthetic files too small: %d and %d events", len(aLines), len(bLines))
	}

	tests := []struct {
		name       string
		args       []string
		stdin      []byte
		wantCode   int
		wantStdout []string // exact lines, when not nil
		stdoutHas  string
		stderrHas  string
		stderrNone bool
	}{
		{name: "help", args: []string{"--help"}, wantCode: 0, stdoutHas: "usage: xelwatch decode", stderrNone: true},
		{name: "short help", args: []string{"-h"}, wantCode: 0, stdoutHas: "--format", stderrNone: true},
		{name: "no path", args: nil, wantCode: 2, stderrHas: "no PATH given"},
		{name: "unknown flag", args: []string{"--bogus", a}, wantCode: 2, stderrHas: "flag provided but not defined"},
		{name: "unknown format", args: []string{"--format", "xml", a}, wantCode: 2, stderrHas: `unknown format "xml"`},
		{name: "missing file", args: []string{filepath.Join(dir, "nope.xel")}, wantCode: 1, stderrHas: "xelwatch decode: " + filepath.Join(dir, "nope.xel") + ": "},
		{name: "file", args: []string{a}, wantCode: 0, wantStdout: aLines, stderrNone: true},
		{name: "two files", args: []string{b, a}, wantCode: 0, wantStdout: append(slices.Clone(bLines), aLines...), stderrNone: true},
		{name: "directory in name order", args: []string{dir}, wantCode: 1, wantStdout: slices.Concat(aLines, bLines, bLines),
			stderrHas: "xelwatch decode: " + filepath.Join(dir, "sub.xel") + ": skipped: directory\n"},
		{name: "empty directory", args: []string{empty}, wantCode: 0, wantStdout: nil, stderrNone: true},
		{name: "stdin", args: []string{"-"}, stdin: aBytes, wantCode: 0, wantStdout: aLines, stderrNone: true},
		{name: "not xel", args: []string{bad}, wantCode: 1, stderrHas: "xelwatch decode: " + bad + ": xel: bad magic at offset 0"},
		{name: "good, bad, good", args: []string{b, bad, a}, wantCode: 1, wantStdout: slices.Concat(bLines, aLines), stderrHas: bad + ": xel: bad magic at offset 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(context.Background(), tt.stdin, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if tt.wantStdout != nil || tt.stdoutHas == "" {
				if got := lines(stdout); !slices.Equal(got, tt.wantStdout) {
					t.Errorf("stdout: got %d lines, want %d", len(got), len(tt.wantStdout))
				}
			}
			if !strings.Contains(stdout, tt.stdoutHas) {
				t.Errorf("stdout %q lacks %q", stdout, tt.stdoutHas)
			}
			if !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("stderr %q lacks %q", stderr, tt.stderrHas)
			}
			if tt.stderrNone && stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
			if code == 1 && strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr has %d lines, want one: %q", strings.Count(stderr, "\n"), stderr)
			}
		})
	}
}

func TestDecodeDamaged(t *testing.T) {
	dir := t.TempDir()
	_, full := auditFile(t, dir, "full.xel", 300<<10, 3)
	all := eventLines(t, full)
	// Cut inside the third buffer: the events of the first buffers come
	// out, then one error line naming the file and the offset.
	var offs []int64
	r, _ := xel.NewReader(bytes.NewReader(full), nil)
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if !slices.Contains(offs, ev.Offset) {
			offs = append(offs, ev.Offset)
		}
	}
	if len(offs) < 3 {
		t.Fatalf("need 3 event buffers, have %d", len(offs))
	}
	cut := offs[2] + 1000
	path := filepath.Join(dir, "cut.xel")
	if err := os.WriteFile(path, full[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	var want []string
	r, _ = xel.NewReader(bytes.NewReader(full), nil)
	for i := 0; ; i++ {
		ev, err := r.Next()
		if err != nil || ev.Offset >= offs[2] {
			break
		}
		want = append(want, all[i])
	}
	for _, args := range [][]string{{path}, {"-"}} {
		t.Run(args[0], func(t *testing.T) {
			stdout, stderr, code := run(context.Background(), full[:cut], args...)
			if code != 1 {
				t.Errorf("exit code = %d, want 1", code)
			}
			if got := lines(stdout); !slices.Equal(got, want) {
				t.Errorf("stdout: %d lines, want the %d events before the damage", len(got), len(want))
			}
			wantErr := "xelwatch decode: " + args[0] + ": xel: buffer of "
			if !strings.HasPrefix(stderr, wantErr) || !strings.HasSuffix(stderr, "at offset "+itoa(offs[2])+"\n") {
				t.Errorf("stderr = %q, want %q... at offset %d", stderr, wantErr, offs[2])
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestDecodeCSV(t *testing.T) {
	dir := t.TempDir()
	a, aBytes := auditFile(t, dir, "a.xel", 100<<10, 4)
	stdout, stderr, code := run(context.Background(), nil, "--format", "csv", a, a)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := eventLines(t, aBytes)
	if got, want := len(rows), 1+2*len(want); got != want {
		t.Fatalf("got %d rows, want %d (one header for both files)", got, want)
	}
	if h := strings.Join(rows[0], ","); h != "name,timestamp,package,file_offset,fields,actions" {
		t.Errorf("header = %q", h)
	}
	for i, row := range rows[1 : 1+len(want)] {
		var ev struct {
			Name      string          `json:"name"`
			Timestamp string          `json:"timestamp"`
			Fields    json.RawMessage `json:"fields"`
			Actions   json.RawMessage `json:"actions"`
		}
		if err := json.Unmarshal([]byte(want[i]), &ev); err != nil {
			t.Fatal(err)
		}
		got := []string{row[0], row[1], row[4], row[5]}
		exp := []string{ev.Name, ev.Timestamp, string(ev.Fields), string(ev.Actions)}
		if !slices.Equal(got, exp) {
			t.Fatalf("row %d = %q, want %q", i+1, got, exp)
		}
		if row[2] == "" || row[3] == "" {
			t.Fatalf("row %d lacks package or file_offset: %q", i+1, row)
		}
	}
}

func TestDecodeAudit(t *testing.T) {
	dir := t.TempDir()
	a, aBytes := auditFile(t, dir, "a.xel", 200<<10, 5)
	n := auditCount(t, aBytes)
	if n == 0 {
		t.Fatal("synthetic file has no audit records")
	}
	t.Run("jsonl", func(t *testing.T) {
		stdout, stderr, code := run(context.Background(), nil, "--audit", a)
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		got := lines(stdout)
		if len(got) != n {
			t.Fatalf("got %d records, want %d", len(got), n)
		}
		for i, l := range got {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			if m["file_name"] != a {
				t.Fatalf("line %d: file_name = %v, want %s", i, m["file_name"], a)
			}
		}
	})
	t.Run("csv", func(t *testing.T) {
		stdout, stderr, code := run(context.Background(), nil, "--audit", "--format", "csv", a)
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != n+1 || !slices.Equal(rows[0], audit.CSVHeader()) {
			t.Fatalf("got %d rows (header %q), want %d rows with the audit header", len(rows), rows[0], n+1)
		}
	})
}

// TestDecodeHostileFolder: a damaged file does not stop the files after
// it, and every audit-named entry that is not a regular file is reported
// instead of opened (a FIFO would block) or dropped silently.
func TestDecodeHostileFolder(t *testing.T) {
	dir := t.TempDir()
	_, bBytes := auditFile(t, dir, "b.xel", 100<<10, 7)
	if err := os.WriteFile(filepath.Join(dir, "a.xel"), bBytes[:4], 0o644); err != nil { // only the magic
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "c.xel"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"d.xel": "gone.xel", "e.xel": "e.xel", "f.sqlaudit": "c.xel"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{dir}, {"--audit", dir}} {
		var stdout, stderr string
		var code int
		testsupport.NoHang(t, func() { stdout, stderr, code = run(context.Background(), nil, args...) })
		if code != 1 {
			t.Errorf("%q: exit %d, want 1", args, code)
		}
		if args[0] == dir {
			if got, want := lines(stdout), eventLines(t, bBytes); !slices.Equal(got, want) {
				t.Errorf("stdout: %d lines, want b.xel's %d events", len(got), len(want))
			}
		} else if got, want := len(lines(stdout)), auditCount(t, bBytes); got != want {
			t.Errorf("--audit: %d records, want b.xel's %d", got, want)
		}
		p := func(n string) string { return "xelwatch decode: " + filepath.Join(dir, n) + ": " }
		want := []string{ // what the folder's listing leaves out, then decoding
			p("c.xel") + "skipped: FIFO (not a regular file)",
			p("d.xel") + "skipped: dangling symbolic link",
			p("e.xel") + "skipped: symbolic link loop",
			p("f.sqlaudit") + "skipped: FIFO (not a regular file)",
			p("a.xel") + "xel: file header cut short at offset 4",
		}
		if got := lines(stderr); !slices.Equal(got, want) {
			t.Errorf("%q: stderr\n%s\nwant\n%s", args, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// Named on the command line, a FIFO is refused, not opened.
	fifo := filepath.Join(dir, "c.xel")
	testsupport.NoHang(t, func() {
		_, stderr, code := run(context.Background(), nil, fifo)
		if code != 1 || stderr != "xelwatch decode: "+fifo+": skipped: FIFO (not a regular file)\n" {
			t.Errorf("FIFO argument: exit %d, stderr %q", code, stderr)
		}
	})
}

// TestDecodeStdinInterrupted: decoding a pipe that never closes stops
// when the context ends (SIGINT/SIGTERM in the binary).
func TestDecodeStdinInterrupted(t *testing.T) {
	var buf bytes.Buffer
	if err := xeltest.SyntheticAuditFile(&buf, 100<<10, 8); err != nil {
		t.Fatal(err)
	}
	all := eventLines(t, buf.Bytes())
	pr, pw := io.Pipe() // never closed by the writer
	defer pr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		stdout, stderr string
		code           int
	}
	res := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := Decode(ctx, []string{"-"}, nil, pr, &out, &errb)
		res <- result{out.String(), errb.String(), code}
	}()
	if _, err := pw.Write(buf.Bytes()); err != nil { // returns once decode has read it all
		t.Fatal(err)
	}
	cancel()
	select {
	case r := <-res:
		if r.code != 1 || r.stderr != "xelwatch decode: interrupted: context canceled\n" {
			t.Errorf("exit %d, stderr %q; want 1 and one interrupted line", r.code, r.stderr)
		}
		if got := lines(r.stdout); !slices.Equal(got, all[:len(got)]) {
			t.Errorf("stdout is not a prefix of the events")
		}
	case <-time.After(time.Minute):
		t.Fatal("decode - did not return after the context ended")
	}
}

func TestDecodeCanceled(t *testing.T) {
	dir := t.TempDir()
	a, _ := auditFile(t, dir, "a.xel", 50<<10, 6)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, stderr, code := run(ctx, nil, a)
	if code != 1 || !strings.Contains(stderr, "context canceled") {
		t.Errorf("exit %d, stderr %q; want 1 and context canceled", code, stderr)
	}
}

func TestDecodeFixtures(t *testing.T) {
	for _, f := range fixtures.Files(t) {
		t.Run(filepath.Base(f.Rel), func(t *testing.T) {
			stdout, stderr, code := run(context.Background(), nil, f.Path)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			got := lines(stdout)
			if len(got) != f.Events {
				t.Fatalf("got %d lines, want %d events", len(got), f.Events)
			}
			want := oracleFirstName(t, f)
			var first struct{ Name string }
			if err := json.Unmarshal([]byte(got[0]), &first); err != nil || (want != "" && first.Name != want) {
				t.Errorf("first event %q (%v), oracle says %q", first.Name, err, want)
			}
		})
	}
}

// oracleFirstName reads the name of the first event of a plain (not
// gzipped) oracle file, or "" to skip the check.
func oracleFirstName(t *testing.T, f fixtures.File) string {
	fh, err := os.Open(f.Oracle)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if strings.HasSuffix(f.Oracle, ".gz") {
		return ""
	}
	line, err := bufio.NewReader(fh).ReadString('\n')
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	var ev struct{ Name string }
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Name
}
