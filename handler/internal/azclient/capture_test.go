package azclient

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// TestCaptureBody: under CaptureBody the policy keeps a copy of a body
// up to max bytes; a longer one is not kept; either way the caller reads
// the whole body, and without the slot nothing happens.
func TestCaptureBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 100))
	}))
	defer srv.Close()
	pl := runtime.NewPipeline("test", "v0", runtime.PipelineOptions{}, &policy.ClientOptions{
		PerRetryPolicies: []policy.Policy{capturePolicy{}},
		Retry:            policy.RetryOptions{MaxRetries: -1},
	})
	get := func(ctx context.Context) string {
		t.Helper()
		req, err := runtime.NewRequest(ctx, http.MethodGet, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := pl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		max  int64
		kept int
	}{{100, 100}, {1000, 100}, {99, 0}} {
		ctx, body := CaptureBody(context.Background(), tc.max)
		if got := get(ctx); len(got) != 100 {
			t.Errorf("max %d: the caller read %d bytes, want 100", tc.max, len(got))
		}
		if got := body(); len(got) != tc.kept {
			t.Errorf("max %d: kept %d bytes, want %d", tc.max, len(got), tc.kept)
		}
	}
	if got := get(context.Background()); len(got) != 100 {
		t.Errorf("without the slot: read %d bytes, want 100", len(got))
	}
}
