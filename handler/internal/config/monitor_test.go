package config

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

func TestSilenceSetting(t *testing.T) {
	t.Parallel()
	c, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{
		"XELWATCH_SILENCE_MAX_GAP": " contoso-test-*:off, contoso-*/sales*:30m ,contoso-*:2h,*:6h",
		"XELWATCH_HEARTBEAT":       "24h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Silence()
	for _, tc := range []struct {
		server, db string
		want       time.Duration
	}{
		{"contoso-test-1", "salesdb", 0},
		{"Contoso-Prod", "SalesDB", 30 * time.Minute},
		{"contoso-prod", "hr", 2 * time.Hour},
		{"fabrikam", "x", 6 * time.Hour},
	} {
		if got := p.Gap(tc.server, tc.db, "SqlDbAuditing_ServerAudit"); got != tc.want {
			t.Errorf("Gap(%s/%s) = %v, want %v", tc.server, tc.db, got, tc.want)
		}
	}
	if !p.Enabled() || c.Heartbeat != 24*time.Hour {
		t.Errorf("enabled %v heartbeat %v", p.Enabled(), c.Heartbeat)
	}
	off, err := Load(context.Background(), envconfig.MapLookuper(nil))
	if err != nil || off.Silence().Enabled() || off.Heartbeat != 0 {
		t.Errorf("defaults: silence %v heartbeat %v err %v, want both off", off.Silence().Enabled(), off.Heartbeat, err)
	}
}

func TestSilenceSettingErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ env map[string]string }{
		{map[string]string{"XELWATCH_SILENCE_MAX_GAP": "contoso-*"}},
		{map[string]string{"XELWATCH_SILENCE_MAX_GAP": "contoso-*:soon"}},
		{map[string]string{"XELWATCH_SILENCE_MAX_GAP": "contoso-*:10s"}},
		{map[string]string{"XELWATCH_SILENCE_MAX_GAP": "contoso-*:1000h"}},
		{map[string]string{"XELWATCH_SILENCE_MAX_GAP": ":30m"}},
		{map[string]string{"XELWATCH_SILENCE_MAX_GAP": "a/b/c/d:30m"}},
		{map[string]string{"XELWATCH_SILENCE_MAX_GAP": "a//c:30m"}},
		{map[string]string{"XELWATCH_SILENCE_MAX_GAP": "*:30m,*:1h"}},
		{map[string]string{"XELWATCH_SILENCE_MAX_GAP": strings.Repeat("a:1h,", 70) + "b:1h"}},
		{map[string]string{"XELWATCH_HEARTBEAT": "10s"}},
		{map[string]string{"XELWATCH_HEARTBEAT": "1500ms"}},
		{map[string]string{"XELWATCH_HEARTBEAT": "720h"}},
	} {
		_, err := Load(context.Background(), envconfig.MapLookuper(tc.env))
		var name string
		for k := range tc.env {
			name = k
		}
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: err %v, want one naming %s", tc.env, err, name)
		}
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true}, {"a*c", "abcd", false},
		{"*-prod-*", "x-prod-y", true}, {"abc", "abc", true}, {"abc", "ab", false}, {"a**b", "ab", true},
	} {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}
