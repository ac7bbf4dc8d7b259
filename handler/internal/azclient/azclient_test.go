package azclient_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/handler/internal/azclient"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
)

// TestDefaultPolicy: the zero Policy (what config.Load leaves, so what
// production runs) is the documented one, with a per-try bound, and its
// worst case fits in half the cursor lease, so that an operation hung on
// every try fails before the blob it works on can be taken over.
func TestDefaultPolicy(t *testing.T) {
	r := azclient.ClientOptions(azclient.Policy{}).Retry
	if r.TryTimeout != azclient.TryTimeout || r.TryTimeout <= 0 || r.MaxRetries != azclient.MaxRetries ||
		r.RetryDelay != azclient.RetryDelay || r.MaxRetryDelay != azclient.MaxRetryDelay {
		t.Fatalf("zero policy gives %+v", r)
	}
	worst := azclient.Policy{}.WorstCase()
	if worst <= 4*azclient.TryTimeout || worst >= ingest.DefaultLease/2 {
		t.Errorf("worst case %v, want above 4 tries of %v and under half the lease (%v)", worst, azclient.TryTimeout, ingest.DefaultLease/2)
	}
	if got := azclient.DefaultPolicy().WorstCase(); got != worst {
		t.Errorf("DefaultPolicy().WorstCase() = %v, zero policy %v", got, worst)
	}
	p := azclient.Policy{TryTimeout: time.Second, MaxRetries: 1, RetryDelay: time.Second, MaxRetryDelay: time.Second}
	if got := azclient.ClientOptions(p).Retry; got.TryTimeout != time.Second || got.MaxRetries != 1 {
		t.Errorf("explicit policy not kept: %+v", got)
	}
}

func TestBuildErrors(t *testing.T) {
	const key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	_, err := azclient.Tables(azclient.Account{Name: "S", ConnectionString: "AccountName=x;AccountKey=" + key + ";Broken"})
	if err == nil || strings.Contains(err.Error(), key) {
		t.Errorf("malformed connection string: err %v (must fail without quoting the key)", err)
	}
	if _, err := azclient.Queues(azclient.Account{Name: "S"}); !errors.Is(err, azclient.ErrMissingURL) {
		t.Errorf("no connection string, no URL: %v", err)
	}
	if _, err := azclient.Blobs(azclient.Account{Name: "S", BlobServiceURL: "https://a.blob.core.windows.net"}); err == nil {
		t.Error("URL without a credential accepted")
	}
}
