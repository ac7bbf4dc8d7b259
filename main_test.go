package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

func TestRunHelpListsCommands(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, envconfig.MapLookuper(nil), nil, &out, &errb); err != nil {
		t.Fatalf("run --help: %v", err)
	}
	for _, c := range []string{"serve", "decode", "scan", "rules", "query", "detections", "cursors", "watch", "demo"} {
		if !strings.Contains(out.String(), "  "+c+" ") {
			t.Errorf("--help does not list %s:\n%s", c, out.String())
		}
	}
}

func TestRunArgs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string // in stderr
	}{
		{name: "no-args-no-port", args: nil, wantCode: 2, wantErr: "usage"},
		{name: "unknown", args: []string{"frobnicate"}, wantCode: 2, wantErr: `unknown command "frobnicate"`},
		{name: "serve/bad-setting", args: []string{"serve"}, env: map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "1", "XELWATCH_IDLE_CLOSE": "forever"}, wantCode: 2, wantErr: "XELWATCH_IDLE_CLOSE"},
		{name: "serve/no-storage", args: []string{"serve", "--addr", "127.0.0.1:0"}, wantCode: 2, wantErr: "AzureWebJobsStorage"},
		{name: "serve/no-port", args: []string{"serve"}, env: map[string]string{"AzureWebJobsStorage": "x"}, wantCode: 2, wantErr: "FUNCTIONS_CUSTOMHANDLER_PORT"},
		{name: "query/no-server", args: []string{"query"}, wantCode: 2, wantErr: "--server"},
		{name: "query/bad-time", args: []string{"query", "--server", "s", "--from", "yesterday"}, wantCode: 2, wantErr: "--from"},
		{name: "watch/bad-interval", args: []string{"watch", "--interval", "1ms"}, wantCode: 2, wantErr: "usage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			err := run(context.Background(), tc.args, envconfig.MapLookuper(tc.env), nil, &out, &errb)
			code := 0
			if err != nil {
				c, ok := err.(exitCode)
				if !ok {
					t.Fatalf("err = %v, want an exit code", err)
				}
				code = int(c)
			}
			if code != tc.wantCode || !strings.Contains(errb.String(), tc.wantErr) {
				t.Errorf("code %d, stderr %q; want %d and %q", code, errb.String(), tc.wantCode, tc.wantErr)
			}
		})
	}
}

func TestEverySubcommandHasHelp(t *testing.T) {
	t.Parallel()
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			err := run(context.Background(), []string{c.name, "--help"}, envconfig.MapLookuper(nil), strings.NewReader(""), &out, &errb)
			if err != nil {
				t.Errorf("%s --help: %v", c.name, err)
			}
			if !strings.Contains(strings.ToLower(out.String()+errb.String()), "usage") {
				t.Errorf("%s --help printed no usage: %q", c.name, out.String()+errb.String())
			}
		})
	}
}

// TestServeListensFirstAndStops: with FUNCTIONS_CUSTOMHANDLER_PORT set and
// no arguments, run serves; GET / answers at once (before warm-up, which
// cannot finish: the storage endpoint is closed); cancel stops it.
func TestServeListensFirstAndStops(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	dead := "http://127.0.0.1:" + freePort(t) + "/devstoreaccount1"
	env := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": port,
		"AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=" +
			dead + ";QueueEndpoint=" + dead + ";TableEndpoint=" + dead + ";",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- run(ctx, nil, envconfig.MapLookuper(env), nil, &out, &out) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + port + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("GET / = %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening after 5s: %v", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	resp, err := http.Post("http://127.0.0.1:"+port+"/AuditBlob", "application/json", strings.NewReader(`{"Data":{},"Metadata":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("invocation during warm-up = %d, want 503", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(35 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

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
