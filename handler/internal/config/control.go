package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/detect"
)

// Control holds the settings of AuditControl (the platform rules
// AUD-008..013, detect.ControlConfig).
type Control struct {
	// AuditAccountID is the audit storage account's resource id (or
	// name): AUD-010 watches it, AUD-013 and AUD-011 check events come
	// from it. Empty: AUD-010 is silent.
	AuditAccountID string `env:"XELWATCH_AUDIT_ACCOUNT_ID"`
	// AppResourceID is the function app's own resource id (AUD-011).
	AppResourceID string `env:"XELWATCH_APP_RESOURCE_ID"`
	// WatchedTopics are the Event Grid system topics feeding xelwatch
	// (resource ids or names, comma-separated; AUD-011).
	WatchedTopics []string `env:"XELWATCH_WATCHED_TOPICS"`
	// DeleteMinAge: an audit blob deleted younger than this is AUD-013
	// (Azure SQL retention deletes only older files).
	DeleteMinAge time.Duration `env:"XELWATCH_DELETE_MIN_AGE, default=24h"`
	// StateRead: after an audit-settings write, read the auditing policy
	// through Resource Manager (needs Reader on the SQL servers).
	StateRead bool `env:"XELWATCH_AUDIT_STATE_READ, default=false"`
}

func (c Control) validate() error {
	if c.DeleteMinAge < time.Minute {
		return invalid("XELWATCH_DELETE_MIN_AGE", "%s is shorter than 1m", c.DeleteMinAge)
	}
	for _, s := range append([]string{c.AuditAccountID, c.AppResourceID}, c.WatchedTopics...) {
		if len(s) > 1024 || strings.ContainsAny(s, "\x00\r\n?#") {
			return fmt.Errorf("%w: XELWATCH_AUDIT_ACCOUNT_ID/XELWATCH_APP_RESOURCE_ID/XELWATCH_WATCHED_TOPICS: %.80q is not a resource id or name", errInvalid, s)
		}
	}
	return nil
}

// ControlConfig returns the platform rules' configuration.
func (c *Config) ControlConfig() detect.ControlConfig {
	var topics []string
	for _, t := range c.Control.WatchedTopics {
		if t = strings.TrimSpace(t); t != "" {
			topics = append(topics, t)
		}
	}
	return detect.ControlConfig{
		AuditAccount:   strings.TrimSpace(c.Control.AuditAccountID),
		AuditContainer: c.AuditContainer,
		AppResourceID:  strings.TrimSpace(c.Control.AppResourceID),
		Topics:         topics,
		DeleteMinAge:   c.Control.DeleteMinAge,
	}
}
