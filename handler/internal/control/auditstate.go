package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/sql/armsql"
	"github.com/xelwatch/xelwatch/detect"
)

// ReadTimeout bounds one state read (all tries): the invocation must not
// wait on Resource Manager, the finding goes out either way.
const ReadTimeout = 10 * time.Second

// ARMState reads the auditing policy through Resource Manager with
// armsql (read only: the Reader role on the SQL servers is enough). Any
// failure (no role: 403, not found, a timeout) degrades to
// AuditStateUnknown with a note, and is logged as a warning once per
// kind of failure, not per event.
type ARMState struct {
	cred    azcore.TokenCredential
	options *arm.ClientOptions
	log     *slog.Logger
	warned  sync.Map // failure kind → true
}

// NewARMState returns a reader using cred (the app's managed identity).
// options may name another cloud or endpoint (tests: an httptest server);
// nil is the public cloud. Retries are bounded to fit ReadTimeout.
func NewARMState(cred azcore.TokenCredential, options *arm.ClientOptions, log *slog.Logger) *ARMState {
	o := arm.ClientOptions{}
	if options != nil {
		o = *options
	}
	if o.Retry.MaxRetries == 0 {
		o.Retry = policy.RetryOptions{MaxRetries: 1, TryTimeout: ReadTimeout / 2, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: time.Second}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ARMState{cred: cred, options: &o, log: log}
}

// sqlTarget is what a resource id says: subscription, resource group,
// server, database ("" for the server).
type sqlTarget struct{ sub, rg, server, db string }

func parseSQLTarget(uri string) (sqlTarget, bool) {
	segs := strings.Split(strings.Trim(uri, "/"), "/")
	var t sqlTarget
	for i := 0; i+1 < len(segs); i++ {
		switch {
		case strings.EqualFold(segs[i], "subscriptions") && t.sub == "":
			t.sub = segs[i+1]
		case strings.EqualFold(segs[i], "resourceGroups") && t.rg == "":
			t.rg = segs[i+1]
		case strings.EqualFold(segs[i], "servers") && i > 0 && strings.EqualFold(segs[i-1], "Microsoft.Sql"):
			t.server = segs[i+1]
		case strings.EqualFold(segs[i], "databases") && t.server != "" && t.db == "":
			t.db = segs[i+1]
		}
	}
	return t, t.sub != "" && t.rg != "" && t.server != ""
}

// AuditState implements StateReader.
func (a *ARMState) AuditState(ctx context.Context, resourceURI string) (detect.AuditState, string) {
	t, ok := parseSQLTarget(resourceURI)
	if !ok {
		return detect.AuditStateUnknown, "unknown (resource id names no SQL server)"
	}
	ctx, cancel := context.WithTimeout(ctx, ReadTimeout)
	defer cancel()
	var state *armsql.BlobAuditingPolicyState
	var err error
	devops := strings.Contains(strings.ToLower(resourceURI), "/devopsauditingsettings")
	switch {
	case t.db != "":
		var c *armsql.DatabaseBlobAuditingPoliciesClient
		if c, err = armsql.NewDatabaseBlobAuditingPoliciesClient(t.sub, a.cred, a.options); err == nil {
			var r armsql.DatabaseBlobAuditingPoliciesClientGetResponse
			if r, err = c.Get(ctx, t.rg, t.server, t.db, nil); err == nil && r.Properties != nil {
				state = r.Properties.State
			}
		}
	case devops:
		var c *armsql.ServerDevOpsAuditSettingsClient
		if c, err = armsql.NewServerDevOpsAuditSettingsClient(t.sub, a.cred, a.options); err == nil {
			var r armsql.ServerDevOpsAuditSettingsClientGetResponse
			if r, err = c.Get(ctx, t.rg, t.server, "Default", nil); err == nil && r.Properties != nil {
				state = r.Properties.State
			}
		}
	default:
		var c *armsql.ServerBlobAuditingPoliciesClient
		if c, err = armsql.NewServerBlobAuditingPoliciesClient(t.sub, a.cred, a.options); err == nil {
			var r armsql.ServerBlobAuditingPoliciesClientGetResponse
			if r, err = c.Get(ctx, t.rg, t.server, nil); err == nil && r.Properties != nil {
				state = r.Properties.State
			}
		}
	}
	if err != nil {
		kind, note := failure(ctx, err)
		if _, dup := a.warned.LoadOrStore(kind, true); !dup {
			a.log.WarnContext(ctx, "auditing state read failed; AUD-008 findings say the state is unknown (logged once per kind)",
				"kind", kind, "err", clean(err.Error(), 512))
		}
		return detect.AuditStateUnknown, note
	}
	switch {
	case state == nil:
		return detect.AuditStateUnknown, "unknown (the policy has no state)"
	case *state == armsql.BlobAuditingPolicyStateDisabled:
		return detect.AuditStateDisabled, "Disabled"
	case *state == armsql.BlobAuditingPolicyStateEnabled:
		return detect.AuditStateEnabled, "Enabled"
	}
	return detect.AuditStateUnknown, fmt.Sprintf("unknown (state %q)", clean(string(*state), 32))
}

// failure classifies a read error for the log and the finding.
func failure(ctx context.Context, err error) (kind, note string) {
	var re *azcore.ResponseError
	switch {
	case errors.As(err, &re) && (re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusUnauthorized):
		return "forbidden", "unknown (no Reader role on the server)"
	case errors.As(err, &re) && re.StatusCode == http.StatusNotFound:
		return "not-found", "unknown (server not found: deleted, or in another subscription)"
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return "timeout", "unknown (the read timed out)"
	case errors.As(err, &re):
		return fmt.Sprintf("status-%d", re.StatusCode), fmt.Sprintf("unknown (Resource Manager answered %d)", re.StatusCode)
	}
	return "error", "unknown (the read failed)"
}
