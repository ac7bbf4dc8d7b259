package app

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/detect/tablestate"
	"github.com/xelwatch/xelwatch/handler/config"
)

// newEngine builds the detection engine with its windowed state in the
// XELWATCH_STATE_TABLE table, so that correlations work across files,
// invocations and instances.
// svc is the app account's table service client Build made.
func newEngine(_ context.Context, cfg *config.Config, a *App, svc *aztables.ServiceClient) (Evaluator, error) {
	a.stateTable = svc.NewClient(cfg.StateTable)
	a.state = tablestate.New(a.stateTable, nil)
	e, err := detect.New(cfg.Detect(), a.state)
	if err != nil {
		return nil, fmt.Errorf("app: detection engine: %w", err)
	}
	return e, nil
}
