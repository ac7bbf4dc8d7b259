package config

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/detect"
)

// TestNotify loads the notification settings through Load, as the app
// does, and builds the channels.
func TestNotify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       map[string]string
		wantNames []string
		wantErr   string
		check     func(t *testing.T, c Notify)
	}{
		{name: "none", env: nil, wantNames: nil, check: func(t *testing.T, c Notify) {
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
		}, wantNames: []string{"webhook", "teams", "slack"}, check: func(t *testing.T, c Notify) {
			if c.MinSeverity != detect.High || c.Timeout != 3*time.Second {
				t.Errorf("parsed %v %v", c.MinSeverity, c.Timeout)
			}
		}},
		{name: "informational", env: map[string]string{"XELWATCH_NOTIFY_MIN_SEVERITY": "informational"}, check: func(t *testing.T, c Notify) {
			if c.MinSeverity != detect.Info {
				t.Errorf("min severity %v, want informational", c.MinSeverity)
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
			cfg, err := Load(context.Background(), envconfig.MapLookuper(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if !errors.Is(err, errInvalid) {
					t.Errorf("err = %v, want errors.Is errInvalid", err)
				}
				if strings.Contains(err.Error(), "TOPSECRET") {
					t.Fatalf("error leaks the value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := cfg.Notify
			chans, err := c.Channels()
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

// TestNotifyNamesEveryBadURL: one start names every bad setting, and no
// value, both from Load and from Channels (what the app calls).
func TestNotifyNamesEveryBadURL(t *testing.T) {
	t.Parallel()
	_, loadErr := Load(context.Background(), envconfig.MapLookuper(map[string]string{
		"XELWATCH_WEBHOOK_URL":       "http://a.example/TOPSECRET",
		"XELWATCH_TEAMS_WEBHOOK_URL": "https://u:TOPSECRET@b.example/",
		"XELWATCH_SLACK_WEBHOOK_URL": "TOPSECRET",
	}))
	_, chanErr := Notify{
		WebhookURL: "http://a.example/TOPSECRET",
		TeamsURL:   "https://u:TOPSECRET@b.example/",
		SlackURL:   "TOPSECRET",
	}.Channels()
	for name, err := range map[string]error{"Load": loadErr, "Channels": chanErr} {
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		for _, want := range []string{
			"XELWATCH_WEBHOOK_URL must be an https URL",
			"XELWATCH_TEAMS_WEBHOOK_URL must not carry user:password@",
			"XELWATCH_SLACK_WEBHOOK_URL is not an absolute https URL",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", name, err, want)
			}
		}
		if strings.Contains(err.Error(), "TOPSECRET") {
			t.Errorf("%s: error leaks a value: %v", name, err)
		}
	}
}

// TestNotifyErrorText pins the whole message Load gives for notification
// settings (operators and scripts read it).
func TestNotifyErrorText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value, want string }{
		{"XELWATCH_WEBHOOK_SECRET", "k", "config: invalid setting: notify: XELWATCH_WEBHOOK_SECRET is set but XELWATCH_WEBHOOK_URL is not"},
		{"XELWATCH_NOTIFY_TIMEOUT", "3m", "config: invalid setting: notify: XELWATCH_NOTIFY_TIMEOUT=3m0s: want 0 (default 10s) up to 1m0s, half the delivery claim lease"},
		{"XELWATCH_SLACK_WEBHOOK_URL", "http://x.example/", "config: invalid setting: notify: XELWATCH_SLACK_WEBHOOK_URL must be an https URL (http only to 127.0.0.1, [::1] or localhost)"},
		{"XELWATCH_NOTIFY_MIN_SEVERITY", "urgent", "config: XELWATCH_NOTIFY_MIN_SEVERITY: "},
	} {
		_, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || (!strings.HasSuffix(tc.want, " ") && err.Error() != tc.want) {
			t.Errorf("%s=%s: err = %v, want %q", tc.name, tc.value, err, tc.want)
		}
	}
}
