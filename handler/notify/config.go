package notify

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/detect"
)

// Config holds the notifier settings; embed it in the app's go-envconfig
// struct.
type Config struct {
	WebhookURL    Secret          `env:"XELWATCH_WEBHOOK_URL"`
	WebhookSecret Secret          `env:"XELWATCH_WEBHOOK_SECRET"`
	TeamsURL      Secret          `env:"XELWATCH_TEAMS_WEBHOOK_URL"`
	SlackURL      Secret          `env:"XELWATCH_SLACK_WEBHOOK_URL"`
	MinSeverity   detect.Severity `env:"XELWATCH_NOTIFY_MIN_SEVERITY, default=low"`
	Timeout       time.Duration   `env:"XELWATCH_NOTIFY_TIMEOUT, default=10s"`
}

// Channels validates c and builds the configured channels (none is valid:
// findings are then only recorded). Errors name the setting, never the
// value.
func (c Config) Channels() ([]Channel, error) {
	if c.Timeout < 0 || c.Timeout > DefaultLease/2 {
		// A send that outlives the delivery claim lease could be
		// duplicated by a concurrent retry.
		return nil, fmt.Errorf("notify: XELWATCH_NOTIFY_TIMEOUT=%s: want 0 (default %s) up to %s, half the delivery claim lease",
			c.Timeout, DefaultTimeout, DefaultLease/2)
	}
	var out []Channel
	var errs []error
	if c.WebhookURL != "" {
		if err := checkURL("XELWATCH_WEBHOOK_URL", c.WebhookURL); err != nil {
			errs = append(errs, err)
		}
		out = append(out, NewWebhook(c.WebhookURL, c.WebhookSecret, c.Timeout))
	} else if c.WebhookSecret != "" {
		errs = append(errs, errors.New("notify: XELWATCH_WEBHOOK_SECRET is set but XELWATCH_WEBHOOK_URL is not"))
	}
	if c.TeamsURL != "" {
		if err := checkURL("XELWATCH_TEAMS_WEBHOOK_URL", c.TeamsURL); err != nil {
			errs = append(errs, err)
		}
		out = append(out, NewTeams(c.TeamsURL, c.Timeout))
	}
	if c.SlackURL != "" {
		if err := checkURL("XELWATCH_SLACK_WEBHOOK_URL", c.SlackURL); err != nil {
			errs = append(errs, err)
		}
		out = append(out, NewSlack(c.SlackURL, c.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// checkURL accepts an absolute https URL, or http to a loopback host
// (127.0.0.0/8, [::1], localhost: tests and the local demo), without
// user:password. Webhook URLs carry credentials of their own (a Teams
// workflow's sig, a Slack token) and the findings are sensitive, so plain
// http across a network and a password in the URL (which also reaches the
// receiver's access logs) are configuration errors, not warnings. The
// error names the setting and never the value.
func checkURL(setting string, s Secret) error {
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
