package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
)

// TestSigmaRulesSetting: XELWATCH_SIGMA_RULES is loaded at start; a bad
// rule file stops Load with the setting, the file and the reason.
func TestSigmaRulesSetting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(good, []byte("title: t\nlogsource:\n    product: mssql\ndetection:\n    s:\n        action_id: EX\n    condition: s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("title: t\nlogsource:\n    product: mssql\ndetection:\n    s:\n        - keyword\n    condition: s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"XELWATCH_SIGMA_RULES": good}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sigma() == nil || len(c.Sigma().Rules) != 1 {
		t.Errorf("Sigma() = %+v", c.Sigma())
	}
	if c, err := Load(context.Background(), envconfig.MapLookuper(nil)); err != nil || c.Sigma() != nil {
		t.Errorf("unset: %v, %v", c.Sigma(), err)
	}
	_, err = Load(context.Background(), envconfig.MapLookuper(map[string]string{"XELWATCH_SIGMA_RULES": good + "," + bad}))
	if err == nil || !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), "XELWATCH_SIGMA_RULES") ||
		!strings.Contains(err.Error(), bad+`: search "s": keyword searches`) {
		t.Errorf("bad rule: %v", err)
	}
	rs, err := LoadSigma(context.Background(), envconfig.MapLookuper(map[string]string{"XELWATCH_SIGMA_RULES": dir}))
	if rs != nil || err == nil || !strings.Contains(err.Error(), "bad.yml") {
		t.Errorf("LoadSigma(folder with a bad rule) = %v, %v", rs, err)
	}
}
