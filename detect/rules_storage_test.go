package detect

import (
	"strings"
	"testing"
)

func TestStorageRulesAreConfigurable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DisabledRules = []string{"aud-014"}
	cfg.SeverityOverrides = map[string]string{"AUD-016": "critical"}
	e, err := New(cfg, NewMemoryState())
	if err != nil {
		t.Fatalf("New with storage rules configured: %v", err)
	}
	if _, ok := e.StorageRule(RuleBlobShortened); ok {
		t.Errorf("AUD-014 is disabled but StorageRule reports it enabled")
	}
	if info, ok := e.StorageRule(RuleStreamSilent); !ok || info.Severity != Critical {
		t.Errorf("AUD-016 = %+v, %v; want enabled at critical", info, ok)
	}
	if info, ok := e.StorageRule(RuleBlobRewritten); !ok || info.Severity != Critical {
		t.Errorf("AUD-015 = %+v, %v; want enabled at its catalog severity", info, ok)
	}
	if _, ok := e.StorageRule("AUD-001"); ok {
		t.Errorf("a record rule is not a storage rule")
	}
	cfg = DefaultConfig()
	cfg.DisabledRules = []string{"AUD-099"}
	if _, err := New(cfg, NewMemoryState()); err == nil || !strings.Contains(err.Error(), "AUD-099") {
		t.Errorf("unknown rule accepted: %v", err)
	}
}
