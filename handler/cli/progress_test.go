package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/cli"
	"github.com/xelwatch/xelwatch/handler/internal/progress"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// progressLine is one drawn progress line: \r, the command, what is done.
var progressLine = regexp.MustCompile(`^(decode|scan|watch|query): [0-9]`)

// runWith runs the command with XELWATCH_PROGRESS set to mode (unset when
// empty) and bytes.Buffers as stdout and stderr.
func runWith(t *testing.T, mode string, extra map[string]string, args ...string) (stdout, stderr string) {
	t.Helper()
	env := map[string]string{}
	for k, v := range extra {
		env[k] = v
	}
	if mode != "" {
		env["XELWATCH_PROGRESS"] = mode
	}
	var out, errb bytes.Buffer
	if err := cli.Run(context.Background(), args, envconfig.MapLookuper(env), nil, &out, &errb); err != nil {
		t.Fatalf("%s with XELWATCH_PROGRESS=%q: %v\n%s", args, mode, err, errb.String())
	}
	return out.String(), errb.String()
}

// checkDrawn asserts stderr holds progress lines drawn in place (\r, no
// newline) and cleared at the end, after the prefix the command writes
// without progress, and returns the lines.
func checkDrawn(t *testing.T, stderr, plain string) []string {
	t.Helper()
	rest, ok := strings.CutSuffix(stderr, plain)
	if !ok {
		t.Fatalf("stderr %q does not end with the plain output %q", stderr, plain)
	}
	if strings.Contains(rest, "\n") {
		t.Errorf("progress wrote a newline: %q", rest)
	}
	parts := strings.Split(rest, "\r")
	// "", line, line, ..., spaces (the clear), "".
	if len(parts) < 4 || parts[0] != "" || parts[len(parts)-1] != "" || strings.Trim(parts[len(parts)-2], " ") != "" {
		t.Fatalf("progress output %q: want \\rLINE...\\rSPACES\\r", rest)
	}
	lines := parts[1 : len(parts)-2]
	for _, l := range lines {
		if !progressLine.MatchString(l) {
			t.Errorf("progress line %q", l)
		}
	}
	if w := len(parts[len(parts)-2]); w < len(strings.TrimRight(lines[len(lines)-1], " ")) {
		t.Errorf("the clear (%d spaces) is narrower than the last line %q", w, lines[len(lines)-1])
	}
	return lines
}

// TestDecodeScanProgress: through cli.Run, as main calls it. With stderr
// a buffer (not a terminal), the default (auto) and never print no
// progress and the same output; always draws progress lines on stderr,
// cleared at the end, and stdout is byte for byte the same.
func TestDecodeScanProgress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := xeltest.SyntheticAuditFile(&buf, 2<<20, 5); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a_0.xel", "b_1.xel"} {
		if err := os.WriteFile(filepath.Join(dir, n), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"decode", dir}, {"decode", "--audit", dir}, {"scan", dir}} {
		t.Run(args[0]+"/"+strings.Join(args[1:len(args)-1], ""), func(t *testing.T) {
			t.Parallel()
			out, plain := runWith(t, "never", nil, args...)
			if len(out) == 0 {
				t.Fatal("no output")
			}
			if strings.Contains(plain, "\r") {
				t.Errorf("never: progress on stderr %q", plain)
			}
			if o, e := runWith(t, "", nil, args...); o != out || e != plain {
				t.Errorf("auto with stderr a buffer: stderr %q (want %q), stdout same: %v", e, plain, o == out)
			}
			o, e := runWith(t, "always", nil, args...)
			if o != out {
				t.Error("always: stdout differs")
			}
			lines := checkDrawn(t, e, plain)
			if want := " / " + progress.Size(2*int64(buf.Len())) + " ("; !strings.HasPrefix(lines[0], args[0]+": ") || !strings.Contains(lines[0], want) {
				t.Errorf("first line %q, want it to count down the two files (%q)", lines[0], want)
			}
		})
	}
	var out, errb bytes.Buffer
	err := cli.Run(context.Background(), []string{"decode", dir}, envconfig.MapLookuper(map[string]string{"XELWATCH_PROGRESS": "sometimes"}), nil, &out, &errb)
	if code, ok := err.(cli.ExitCode); !ok || code != 2 || !strings.Contains(errb.String(), "XELWATCH_PROGRESS") {
		t.Errorf("a bad XELWATCH_PROGRESS: %v, %q; want exit 2 naming it", err, errb.String())
	}
}

// TestWatchQueryProgress: watch --once over a folder and query over a
// range, through cli.Run against Azurite: with XELWATCH_PROGRESS=always
// both draw progress lines on stderr and clear them,
// with stderr a buffer the default draws none, and stdout (watch's log,
// query's rows) never holds a byte of progress.
func TestWatchQueryProgress(t *testing.T) {
	conn := azuritetest.ConnString(t)
	env := map[string]string{
		"AzureWebJobsStorage":       conn,
		"XELWATCH_EVENTS_TABLE":     azuritetest.Name("Ev"),
		"XELWATCH_CURSORS_TABLE":    azuritetest.Name("Cur"),
		"XELWATCH_DETECTIONS_TABLE": azuritetest.Name("Det"),
		"XELWATCH_STATE_TABLE":      azuritetest.Name("St"),
		"XELWATCH_DETECTIONS_QUEUE": azuritetest.Name("det"),
	}
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	var total int64
	for f := range 2 {
		var buf bytes.Buffer
		w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			if err := w.WriteAudit(xeltest.AuditEvent{EventTime: t0.Add(time.Duration(f*30+i) * time.Minute), ActionID: "BCM", ClassType: "DB",
				Succeeded: true, ServerPrincipalName: "app", ServerInstanceName: "srvp", DatabaseName: "db1", Statement: "SELECT 1"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("Audit_0_%d.sqlaudit", f)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		total += int64(buf.Len())
	}
	out, errOut := runWith(t, "always", env, "watch", "--once", "--no-notify", "--dir", dir)
	if strings.Contains(out, "\r") {
		t.Errorf("watch: progress in stdout %q", out)
	}
	lines := checkDrawn(t, errOut, "")
	if want := " / " + progress.Size(total) + " ("; !strings.Contains(lines[0], want) {
		t.Errorf("watch: first progress line %q, want it to count down the folder (%q)", lines[0], want)
	}

	args := []string{"query", "--server", "srvp", "--from", "2026-11-21T10:00:00Z", "--to", "2026-11-21T11:00:00Z"}
	plainOut, plain := runWith(t, "", env, args...)
	if plain != "60 rows\n" {
		t.Fatalf("query without progress: stderr %q", plain)
	}
	out, errOut = runWith(t, "always", env, args...)
	if out != plainOut {
		t.Error("query: stdout differs with progress on")
	}
	lines = checkDrawn(t, errOut, plain)
	if !strings.HasPrefix(lines[0], "query: 0s of 1h00m (0%), 1 rows") {
		t.Errorf("query: first progress line %q", lines[0])
	}
}

// TestProgressClearedBeforeErrors: with progress drawn, a damaged file's
// error line starts on a cleared line (never glued to a progress line),
// and a progress line drawn after it is cleared at the end.
func TestProgressClearedBeforeErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := xeltest.SyntheticAuditFile(&buf, 256<<10, 3); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a_0.xel"), buf.Bytes()[:buf.Len()-1000], 0o644); err != nil { // truncated
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b_1.xel"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := cli.Run(context.Background(), []string{"decode", dir}, envconfig.MapLookuper(map[string]string{"XELWATCH_PROGRESS": "always"}), nil, &out, &errb)
	if code, ok := err.(cli.ExitCode); !ok || code != 1 {
		t.Fatalf("decode of a truncated file: %v, want exit 1", err)
	}
	s := errb.String()
	i := strings.Index(s, "xelwatch decode: ")
	if i < 0 {
		t.Fatalf("no error line in %q", s)
	}
	before := s[:i]
	if !strings.HasPrefix(before, "\r") || !strings.HasSuffix(before, "\r") || strings.Trim(before[strings.LastIndexByte(before[:len(before)-1], '\r')+1:len(before)-1], " ") != "" {
		t.Errorf("the error line does not follow a cleared progress line: %q", before)
	}
	line, rest, _ := strings.Cut(s[i:], "\n")
	if strings.Contains(line, "\r") {
		t.Errorf("progress inside the error line %q", line)
	}
	if rest != "" { // redrawn after the error only if Every had passed: either way cleared
		checkDrawn(t, rest, "")
	}
}
