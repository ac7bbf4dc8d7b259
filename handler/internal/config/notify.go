package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/config/redact"
	"github.com/xelwatch/xelwatch/handler/internal/notify"
)

// Notify holds the notification settings. No channel setting is valid:
// findings are then only recorded.
type Notify struct {
	WebhookURL    redact.Secret   `env:"XELWATCH_WEBHOOK_URL"`
	WebhookSecret redact.Secret   `env:"XELWATCH_WEBHOOK_SECRET"`
	TeamsURL      redact.Secret   `env:"XELWATCH_TEAMS_WEBHOOK_URL"`
	SlackURL      redact.Secret   `env:"XELWATCH_SLACK_WEBHOOK_URL"`
	MinSeverity   detect.Severity `env:"XELWATCH_NOTIFY_MIN_SEVERITY, default=low"`
	Timeout       time.Duration   `env:"XELWATCH_NOTIFY_TIMEOUT, default=10s"`
}

// Channels validates n and builds the configured channels, in the order
// webhook, teams, slack: the one place that turns settings into channels.
// Errors name the setting, never the value.
func (n Notify) Channels() ([]notify.Channel, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	var out []notify.Channel
	if n.WebhookURL != "" {
		out = append(out, notify.NewWebhook(n.WebhookURL, n.WebhookSecret, n.Timeout))
	}
	if n.TeamsURL != "" {
		out = append(out, notify.NewTeams(n.TeamsURL, n.Timeout))
	}
	if n.SlackURL != "" {
		out = append(out, notify.NewSlack(n.SlackURL, n.Timeout))
	}
	return out, nil
}

// validate checks every notification setting and joins one error per bad
// setting.
func (n Notify) validate() error {
	if n.Timeout < 0 || n.Timeout > notify.DefaultLease/2 {
		// A send that outlives the delivery claim lease could be
		// duplicated by a concurrent retry.
		return fmt.Errorf("notify: XELWATCH_NOTIFY_TIMEOUT=%s: want 0 (default %s) up to %s, half the delivery claim lease",
			n.Timeout, notify.DefaultTimeout, notify.DefaultLease/2)
	}
	var errs []error
	if n.WebhookURL == "" && n.WebhookSecret != "" {
		errs = append(errs, errors.New("notify: XELWATCH_WEBHOOK_SECRET is set but XELWATCH_WEBHOOK_URL is not"))
	}
	for _, u := range []struct {
		setting string
		v       redact.Secret
	}{
		{"XELWATCH_WEBHOOK_URL", n.WebhookURL},
		{"XELWATCH_TEAMS_WEBHOOK_URL", n.TeamsURL},
		{"XELWATCH_SLACK_WEBHOOK_URL", n.SlackURL},
	} {
		if u.v == "" {
			continue
		}
		if err := checkURL(u.setting, u.v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute https URL, or http to a loopback host
// (127.0.0.0/8, [::1], localhost: tests and the local demo), without
// user:password. Webhook URLs carry credentials of their own (a Teams
// workflow's sig, a Slack token) and the findings are sensitive, so plain
// http across a network and a password in the URL (which also reaches the
// receiver's access logs) are configuration errors, not warnings. The
// error names the setting and never the value.
func checkURL(setting string, s redact.Secret) error {
	u, err := url.Parse(s.Reveal())
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("notify: %s is not an absolute https URL", setting)
	case u.User != nil:
		return fmt.Errorf("notify: %s must not carry user:password@ (a password in a URL reaches proxies and access logs)", setting)
	case strings.EqualFold(u.Scheme, "https"):
		return nil
	case strings.EqualFold(u.Scheme, "http") && loopback(u.Hostname()):
		return nil
	case strings.EqualFold(u.Scheme, "http"):
		return fmt.Errorf("notify: %s must be an https URL (http only to 127.0.0.1, [::1] or localhost)", setting)
	}
	return fmt.Errorf("notify: %s is not an absolute https URL", setting)
}

// loopback reports whether host (without brackets or port) is this
// machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
