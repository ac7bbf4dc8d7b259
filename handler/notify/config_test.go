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
			wantErr: "XELWATCH_SLACK_WEBHOOK_URL is not an absolute https URL"},
		{name: "loopback http", env: map[string]string{
			"XELWATCH_WEBHOOK_URL":       "http://127.0.0.1:8080/hook",
			"XELWATCH_TEAMS_WEBHOOK_URL": "http://[::1]:9/teams",
			"XELWATCH_SLACK_WEBHOOK_URL": "http://LOCALHOST/slack",
		}, wantNames: []string{"webhook", "teams", "slack"}},
		{name: "loopback range and mapped", env: map[string]string{
			"XELWATCH_WEBHOOK_URL":       "http://127.9.8.7/hook",
			"XELWATCH_TEAMS_WEBHOOK_URL": "http://[::ffff:127.0.0.1]/teams",
		}, wantNames: []string{"webhook", "teams"}},
		{name: "http webhook", env: map[string]string{"XELWATCH_WEBHOOK_URL": "http://hooks.example/TOPSECRET"},
			wantErr: "XELWATCH_WEBHOOK_URL must be an https URL (http only to 127.0.0.1, [::1] or localhost)"},
		{name: "http teams", env: map[string]string{"XELWATCH_TEAMS_WEBHOOK_URL": "HTTP://prod.westeurope.logic.azure.com/workflows/x?sig=TOPSECRET"},
			wantErr: "XELWATCH_TEAMS_WEBHOOK_URL must be an https URL"},
		{name: "http slack", env: map[string]string{"XELWATCH_SLACK_WEBHOOK_URL": "http://hooks.slack.com/services/T/B/TOPSECRET"},
			wantErr: "XELWATCH_SLACK_WEBHOOK_URL must be an https URL"},
		{name: "http to a name that looks local", env: map[string]string{"XELWATCH_WEBHOOK_URL": "http://127.0.0.1.nip.io/TOPSECRET"},
			wantErr: "XELWATCH_WEBHOOK_URL must be an https URL"},
		{name: "http to an address that is not loopback", env: map[string]string{"XELWATCH_WEBHOOK_URL": "http://10.0.0.1/TOPSECRET"},
			wantErr: "XELWATCH_WEBHOOK_URL must be an https URL"},
		{name: "user and password", env: map[string]string{"XELWATCH_WEBHOOK_URL": "https://soc:TOPSECRET@hooks.example/x"},
			wantErr: "XELWATCH_WEBHOOK_URL must not carry user:password@"},
		{name: "user only, loopback", env: map[string]string{"XELWATCH_SLACK_WEBHOOK_URL": "http://TOPSECRET@127.0.0.1/x"},
			wantErr: "XELWATCH_SLACK_WEBHOOK_URL must not carry user:password@"},
		{name: "other scheme", env: map[string]string{"XELWATCH_TEAMS_WEBHOOK_URL": "ftp://files.example/TOPSECRET"},
			wantErr: "XELWATCH_TEAMS_WEBHOOK_URL is not an absolute https URL"},
		{name: "opaque", env: map[string]string{"XELWATCH_WEBHOOK_URL": "https:TOPSECRET"},
			wantErr: "XELWATCH_WEBHOOK_URL is not an absolute https URL"},
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

// TestConfigNamesEveryBadURL: one start names every bad setting, and no
// value.
func TestConfigNamesEveryBadURL(t *testing.T) {
	_, err := Config{
		WebhookURL: "http://a.example/TOPSECRET",
		TeamsURL:   "https://u:TOPSECRET@b.example/",
		SlackURL:   "TOPSECRET",
	}.Channels()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"XELWATCH_WEBHOOK_URL must be an https URL",
		"XELWATCH_TEAMS_WEBHOOK_URL must not carry user:password@",
		"XELWATCH_SLACK_WEBHOOK_URL is not an absolute https URL",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("error leaks a value: %v", err)
	}
}

func TestSecretRedacted(t *testing.T) {
	s := Secret("https://hooks.slack.com/services/T/B/TOPSECRETTOKEN")
	c := Config{SlackURL: s, WebhookSecret: "TOPSECRETKEY"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "url", s, "config", c)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", s),
		//lint:ignore S1025 the %s verb itself is under test
		"%s":  fmt.Sprintf("%s", s),
		"%#v": fmt.Sprintf("%#v", c),
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
