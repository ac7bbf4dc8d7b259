package control

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/xelwatch/xelwatch/detect"
)

type fakeCred struct{}

func (fakeCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// fakeARM serves the auditing policy endpoints; answer decides per path.
func fakeARM(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*arm.ClientOptions, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	o := &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: srv.URL,
			Services:                     map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Endpoint: srv.URL, Audience: srv.URL}},
		},
		Transport: srv.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}}
	return o, &calls
}

const (
	srvURI = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Sql/servers/srv1/auditingSettings/default"
	dbURI  = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Sql/servers/srv1/databases/db1/extendedAuditingSettings/default"
)

func TestARMStateReads(t *testing.T) {
	var paths []string
	opts, _ := fakeARM(t, func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		state := "Enabled"
		if strings.Contains(r.URL.Path, "/databases/") {
			state = "Disabled"
		}
		w.Write([]byte(`{"id":"x","name":"default","properties":{"state":"` + state + `","retentionDays":0}}`))
	})
	a := NewARMState(fakeCred{}, opts, nil)
	if st, note := a.AuditState(context.Background(), srvURI); st != detect.AuditStateEnabled || note != "Enabled" {
		t.Errorf("server: %v %q", st, note)
	}
	if st, _ := a.AuditState(context.Background(), dbURI); st != detect.AuditStateDisabled {
		t.Errorf("database: %v", st)
	}
	want := []string{"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Sql/servers/srv1/auditingSettings/default",
		"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Sql/servers/srv1/databases/db1/auditingSettings/default"}
	if strings.Join(paths, ",") != strings.Join(want, ",") {
		t.Errorf("paths %q, want %q", paths, want)
	}
}

// TestARMStateDegrades: without the role, on another error, on a timeout
// the state is unknown with a note, and each kind is warned about once.
func TestARMStateDegrades(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	opts, _ := fakeARM(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"error":{"code":"AuthorizationFailed","message":"no"}}`))
	})
	a := NewARMState(fakeCred{}, opts, log)
	for range 3 {
		st, note := a.AuditState(context.Background(), srvURI)
		if st != detect.AuditStateUnknown || !strings.Contains(note, "no Reader role") {
			t.Fatalf("403: %v %q", st, note)
		}
	}
	if n := strings.Count(logs.String(), "auditing state read failed"); n != 1 {
		t.Errorf("%d warnings for three 403s, want 1:\n%s", n, logs.String())
	}
	if st, note := a.AuditState(context.Background(), "/subscriptions/s1/providers/Microsoft.Web/sites/x"); st != detect.AuditStateUnknown || note == "" {
		t.Errorf("not a SQL resource: %v %q", st, note)
	}

	ctx, cancel := context.WithCancel(context.Background())
	topts, _ := fakeARM(t, func(w http.ResponseWriter, r *http.Request) {
		cancel() // the caller gives up while Resource Manager is silent
		<-r.Context().Done()
	})
	st, note := NewARMState(fakeCred{}, topts, nil).AuditState(ctx, srvURI)
	if st != detect.AuditStateUnknown || !strings.Contains(note, "timed out") {
		t.Errorf("timeout: %v %q", st, note)
	}
}
