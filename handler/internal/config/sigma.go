package config

import (
	"context"
	"fmt"
	"reflect"

	"github.com/sethvargo/go-envconfig"

	"github.com/xelwatch/xelwatch/handler/internal/sigmarules"
)

// Sigma returns the Sigma rules of XELWATCH_SIGMA_RULES, loaded by Load
// (nil when the setting is empty).
func (c *Config) Sigma() *sigmarules.Rules { return c.sigma }

// loadSigma loads the rules of the setting; an error names the setting,
// each bad file and why.
func loadSigma(ctx context.Context, paths []string) (*sigmarules.Rules, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	rs, err := sigmarules.Load(ctx, paths)
	if err != nil {
		return nil, fmt.Errorf("%w XELWATCH_SIGMA_RULES: %w", errInvalid, err)
	}
	return rs, nil
}

// LoadSigma reads only XELWATCH_SIGMA_RULES from l and loads its rules
// (nil when unset), for the scan and rules commands.
func LoadSigma(ctx context.Context, l envconfig.Lookuper) (*sigmarules.Rules, error) {
	var d Detect
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &d, Lookuper: l}); err != nil {
		return nil, fmt.Errorf("detect: %s: %w", settingIn(reflect.TypeFor[Detect](), err.Error()), err)
	}
	return loadSigma(ctx, d.SigmaRules)
}
