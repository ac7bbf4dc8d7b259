package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// TestPackageLayout builds the deployable app and checks its layout.
func TestPackageLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the linux/amd64 package")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	cmd := exec.Command("bash", ".ci/package.sh", "--check")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("package check: ok")) {
		t.Fatalf(".ci/package.sh --check: %v\n%s", err, out)
	}
}

// TestMain lets a test run main in a child process: the test binary
// re-executed with XELWATCH_TEST_RUN_MAIN=1 is the xelwatch binary.
func TestMain(m *testing.M) {
	if os.Getenv("XELWATCH_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSignalStopsDecode runs `xelwatch decode -` on a stdin pipe that
// never closes and sends it SIGTERM or SIGINT once its first output shows
// it is decoding (the handler is installed before). It must exit with
// 143 or 130 and say it was interrupted; with its stdout read, what it
// decoded is flushed; with its stdout stalled (a write that cannot be
// cancelled), it exits anyway. The one-minute net only turns a hang into
// a failure.
func TestSignalStopsDecode(t *testing.T) {
	t.Parallel()
	var file bytes.Buffer
	if err := xeltest.SyntheticAuditFile(&file, 1<<20, 9); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		sig     syscall.Signal
		code    int
		stalled bool
		stderr  string
	}{
		{"SIGTERM", syscall.SIGTERM, 143, false, "xelwatch decode: interrupted: received SIGTERM\n"},
		{"SIGINT", syscall.SIGINT, 130, false, "xelwatch decode: interrupted: received SIGINT\n"},
		{"SIGTERM/stalled-stdout", syscall.SIGTERM, 143, true, "xelwatch: received SIGTERM: exiting without waiting for the command\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "decode", "-")
			cmd.Env = append(os.Environ(), "XELWATCH_TEST_RUN_MAIN=1")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close() // never before the child exits
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go stdin.Write(file.Bytes()) // fails with EPIPE once the child is gone
			done := make(chan []byte, 1)
			go func() {
				first := make([]byte, 1)
				if _, err := io.ReadFull(stdout, first); err != nil {
					done <- nil
					return
				}
				cmd.Process.Signal(tc.sig)
				if tc.stalled {
					cmd.Wait()
					done <- first
					return
				}
				rest, _ := io.ReadAll(stdout)
				cmd.Wait()
				done <- append(first, rest...)
			}()
			var out []byte
			select {
			case out = <-done:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				t.Fatalf("xelwatch decode - did not exit after %s; stderr %q", tc.name, stderr.String())
			}
			if out == nil {
				t.Fatalf("no output; stderr %q", stderr.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if !strings.HasSuffix(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want it to end with %q", stderr.String(), tc.stderr)
			}
			if !tc.stalled && !bytes.HasSuffix(out, []byte("}\n")) {
				t.Errorf("stdout not flushed to a line end: ...%q", out[max(0, len(out)-40):])
			}
		})
	}
}
