package notify

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/detect"
)

func TestConfig(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantNames []string
		wantErr   string
		check     func(t *testing.T, c Config)
	}{
		{name: "none", env: nil, wantNames: nil, check: func(t *testing.T, c Config) {
			if c.MinSeverity != detect.Low || c.Timeout != 10*time.Second {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "all", env: map[string]string{
			"XELWATCH_WEBHOOK_URL":         "https://example.com/hook",
			"XELWATCH_WEBHOOK_SECRET":      "k",
			"XELWATCH_TEAMS_WEBHOOK_URL":   "https://prod.westeurope.logic.azure.com/workflows/x?sig=TOPSECRETTOKEN",
			"XELWATCH_SLACK_WEBHOOK_URL":   "https://hooks.slack.com/services/T/B/TOPSECRETTOKEN",
			"XELWATCH_NOTIFY_MIN_SEVERITY": "High",
			"XELWATCH_NOTIFY_TIMEOUT":      "3s",
		}, wantNames: []string{"webhook", "teams", "slack"}, check: func(t *testing.T, c Config) {
			if c.MinSeverity != detect.High || c.Timeout != 3*time.Second {
				t.Errorf("parsed %v %v", c.MinSeverity, c.Timeout)
			}
		}},
		{name: "bad url", env: map[string]string{"XELWATCH_SLACK_WEBHOOK_URL": "hooks.slack.com/services/TOPSECRETTOKEN"},
			wantErr: "XELWATCH_SLACK_WEBHOOK_URL is not an absolute http(s) URL"},
		{name: "timeout above half the lease", env: map[string]string{"XELWATCH_NOTIFY_TIMEOUT": "5m"},
			wantErr: "XELWATCH_NOTIFY_TIMEOUT=5m0s"},
		{name: "negative timeout", env: map[string]string{"XELWATCH_NOTIFY_TIMEOUT": "-1s"},
			wantErr: "XELWATCH_NOTIFY_TIMEOUT=-1s"},
		{name: "secret without url", env: map[string]string{"XELWATCH_WEBHOOK_SECRET": "k"},
			wantErr: "XELWATCH_WEBHOOK_SECRET is set but XELWATCH_WEBHOOK_URL is not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c Config
			if err := envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &c, Lookuper: envconfig.MapLookuper(tt.env)}); err != nil {
				t.Fatal(err)
			}
			chans, err := c.Channels()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "TOPSECRET") {
					t.Fatalf("error leaks the value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, ch := range chans {
				names = append(names, ch.Name())
			}
			if fmt.Sprint(names) != fmt.Sprint(tt.wantNames) {
				t.Fatalf("channels %v, want %v", names, tt.wantNames)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestSecretRedacted(t *testing.T) {
	s := Secret("https://hooks.slack.com/services/T/B/TOPSECRETTOKEN")
	c := Config{SlackURL: s, WebhookSecret: "TOPSECRETKEY"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "url", s, "config", c)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%#v": fmt.Sprintf("%#v", c),
		"%+v": fmt.Sprintf("%+v", c), "slog": buf.String(),
	} {
		if strings.Contains(out, "TOPSECRET") {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
	}
	if s.Reveal() != "https://hooks.slack.com/services/T/B/TOPSECRETTOKEN" {
		t.Fatal("Reveal changed the value")
	}
	if Secret("").String() != "" {
		t.Fatal("an empty secret should print empty (unset)")
	}
}
