package detectcmd

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/sethvargo/go-envconfig"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/detect/sigma"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/sigmarules"
)

// loadSigma loads the Sigma rules of flag (comma-separated paths) or, when
// it is empty, of XELWATCH_SIGMA_RULES; nil when neither is set. Skipped
// rules are listed on stderr.
func loadSigma(ctx context.Context, flag string, env envconfig.Lookuper, stderr io.Writer) (*sigmarules.Rules, error) {
	var (
		rs  *sigmarules.Rules
		err error
	)
	if flag != "" {
		// The flag's paths, split like the setting's; an error names the
		// flag, not the setting it overrides.
		if rs, err = sigmarules.Load(ctx, strings.Split(flag, ",")); err != nil {
			err = fmt.Errorf("invalid --sigma: %w", err)
		}
	} else {
		rs, err = config.LoadSigma(ctx, env)
	}
	if err != nil || rs == nil {
		return nil, err
	}
	for _, s := range rs.Skipped {
		fmt.Fprintf(stderr, "sigma: skipped %s\n", s)
	}
	return rs, nil
}

// withSigma adds the Sigma rules (if any) to eng; a rule that fails on a
// record is reported on stderr and treated as not matching.
func withSigma(ctx context.Context, eng *detect.Engine, flag string, env envconfig.Lookuper, stderr io.Writer) (*detect.Engine, error) {
	rs, err := loadSigma(ctx, flag, env, stderr)
	if err != nil || rs == nil || len(rs.Rules) == 0 {
		return eng, err
	}
	set, err := sigma.NewSet(rs.Rules, sigma.Options{OnError: func(rule string, err error) {
		fmt.Fprintf(stderr, "sigma: %s: %v (treated as no match)\n", rule, err)
	}})
	if err != nil {
		return nil, err
	}
	return eng.WithExtensions(set), nil
}
