package cli

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/internal/azclient/azclienttest"
	"github.com/xelwatch/xelwatch/handler/internal/config"
)

// TestStoreCutsOffHungServer: the store of the query, detections and
// cursors commands is built through the one client builder, so a listing
// against a server that never answers is cut off per try and retried,
// then fails, instead of hanging the command. The 30 s context is a
// safety net only the old behaviour (no per-try bound) reaches.
func TestStoreCutsOffHungServer(t *testing.T) {
	hung := azclienttest.NewHung(t)
	cfg, err := config.Load(t.Context(), envconfig.MapLookuper(map[string]string{"AzureWebJobsStorage": hung.ConnString()}))
	if err != nil {
		t.Fatal(err)
	}
	pol := azclienttest.FastPolicy()
	cfg.SetClientPolicy(pol)
	st, err := storeFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var lerr error
	for _, err := range st.ListCursors(ctx, "") {
		lerr = err
		break
	}
	if lerr == nil || ctx.Err() != nil || errors.Is(lerr, context.Canceled) {
		t.Fatalf("listing cursors: err %v, caller's context %v; want a failure of its own", lerr, ctx.Err())
	}
	attempts, cut, paths, err := hung.Settle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := int(pol.MaxRetries) + 1; attempts != want || cut != want {
		t.Errorf("%d tries (%d cut off), want %d: %q", attempts, cut, want, paths)
	}
}
