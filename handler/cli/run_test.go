package cli_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/handler/cli"

	"github.com/sethvargo/go-envconfig"
)

func TestRunHelpListsCommands(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if err := cli.Run(context.Background(), []string{"--help"}, envconfig.MapLookuper(nil), nil, &out, &errb); err != nil {
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
			err := cli.Run(context.Background(), tc.args, envconfig.MapLookuper(tc.env), nil, &out, &errb)
			code := 0
			if err != nil {
				c, ok := err.(cli.ExitCode)
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
	for _, name := range cli.CommandNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			err := cli.Run(context.Background(), []string{name, "--help"}, envconfig.MapLookuper(nil), strings.NewReader(""), &out, &errb)
			if err != nil {
				t.Errorf("%s --help: %v", name, err)
			}
			if !strings.Contains(strings.ToLower(out.String()+errb.String()), "usage") {
				t.Errorf("%s --help printed no usage: %q", name, out.String()+errb.String())
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
	go func() { done <- cli.Run(ctx, nil, envconfig.MapLookuper(env), nil, &out, &out) }()
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
