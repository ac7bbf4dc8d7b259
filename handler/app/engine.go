package app

import (
	"context"

	"github.com/xelwatch/xelwatch/handler/config"
)

// newEngine builds the detection engine from cfg (until package detect
// exposes it, no detections).
func newEngine(ctx context.Context, cfg *config.Config, a *App) (Evaluator, error) {
	return nil, nil
}
