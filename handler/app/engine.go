package app

import (
	"context"
	"fmt"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/detect/tablestate"
	"github.com/xelwatch/xelwatch/handler/config"
)

// newEngine builds the detection engine with its windowed state in the
// XELWATCH_STATE_TABLE table, so that correlations work across files,
// invocations and instances.
func newEngine(_ context.Context, cfg *config.Config, a *App) (Evaluator, error) {
	svc, err := cfg.AppStorage().TableServiceClient()
	if err != nil {
		return nil, err
	}
	a.stateTable = svc.NewClient(cfg.StateTable)
	e, err := detect.New(cfg.Detect(), tablestate.New(a.stateTable, nil))
	if err != nil {
		return nil, fmt.Errorf("app: detection engine: %w", err)
	}
	return e, nil
}
