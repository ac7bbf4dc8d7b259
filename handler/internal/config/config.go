package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/azclient"
	"github.com/xelwatch/xelwatch/handler/internal/config/redact"
	"github.com/xelwatch/xelwatch/handler/internal/sigmarules"
	"github.com/xelwatch/xelwatch/handler/internal/store"
)

// Storage describes how to reach one storage account: a connection string
// or service URIs plus an identity.
type Storage struct {
	Name             string // setting prefix, e.g. "AzureWebJobsStorage"
	ConnectionString redact.Secret
	BlobServiceURI   string
	QueueServiceURI  string
	TableServiceURI  string
	Credential       string // "managedidentity" or empty
	ClientID         string // user-assigned identity client id; empty = DefaultAzureCredential
	// Policy is the retry policy of the account's clients (zero: the
	// production azclient.DefaultPolicy; see Config.SetClientPolicy).
	Policy azclient.Policy
}

// UsesIdentity reports whether the account is reached with an identity.
func (s Storage) UsesIdentity() bool { return s.ConnectionString == "" }

// LogValue keeps the connection string out of logs.
func (s Storage) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("connection_string", s.ConnectionString != ""),
		slog.String("blob", s.BlobServiceURI),
		slog.String("queue", s.QueueServiceURI),
		slog.String("table", s.TableServiceURI),
		slog.String("client_id", s.ClientID),
	)
}

// Config is every setting of the function app and the CLI.
type Config struct {
	Port string `env:"FUNCTIONS_CUSTOMHANDLER_PORT"`

	AppConnectionString redact.Secret `env:"AzureWebJobsStorage"`
	AppBlobServiceURI   string        `env:"AzureWebJobsStorage__blobServiceUri"`
	AppQueueServiceURI  string        `env:"AzureWebJobsStorage__queueServiceUri"`
	AppTableServiceURI  string        `env:"AzureWebJobsStorage__tableServiceUri"`
	AppCredential       string        `env:"AzureWebJobsStorage__credential"`
	AppClientID         string        `env:"AzureWebJobsStorage__clientId"`

	AuditConnectionString redact.Secret `env:"AuditStorage"`
	AuditBlobServiceURI   string        `env:"AuditStorage__blobServiceUri"`
	AuditQueueServiceURI  string        `env:"AuditStorage__queueServiceUri"`
	AuditCredential       string        `env:"AuditStorage__credential"`
	AuditClientID         string        `env:"AuditStorage__clientId"`

	AuditContainer  string        `env:"XELWATCH_AUDIT_CONTAINER,default=sqldbauditlogs"`
	EventsTable     string        `env:"XELWATCH_EVENTS_TABLE,default=AuditEvents"`
	CursorsTable    string        `env:"XELWATCH_CURSORS_TABLE,default=AuditCursors"`
	DetectionsTable string        `env:"XELWATCH_DETECTIONS_TABLE,default=Detections"`
	StateTable      string        `env:"XELWATCH_STATE_TABLE,default=DetectionState"`
	DetectionsQueue string        `env:"XELWATCH_DETECTIONS_QUEUE,default=detections"`
	SweepSchedule   string        `env:"XELWATCH_SWEEP_SCHEDULE,default=*/5 * * * * *"`
	IdleClose       time.Duration `env:"XELWATCH_IDLE_CLOSE,default=2h"`
	SweepDays       int           `env:"XELWATCH_SWEEP_DAYS,default=2"`
	MaxBytesPerRun  int64         `env:"XELWATCH_MAX_BYTES_PER_RUN,default=268435456"`
	LogLevel        slog.Level    `env:"XELWATCH_LOG_LEVEL,default=info"`
	// SilenceMaxGap: per audit stream, the longest it may stay without
	// growth before AUD-016 (see ParseSilence); empty: off.
	SilenceMaxGap string `env:"XELWATCH_SILENCE_MAX_GAP"`
	// Heartbeat: period of the heartbeat message to the channels; 0: off.
	Heartbeat time.Duration `env:"XELWATCH_HEARTBEAT"`
	silence   SilencePolicy

	// Notify: XELWATCH_WEBHOOK_URL, XELWATCH_WEBHOOK_SECRET,
	// XELWATCH_TEAMS_WEBHOOK_URL, XELWATCH_SLACK_WEBHOOK_URL,
	// XELWATCH_NOTIFY_MIN_SEVERITY (low; informational sends every finding), XELWATCH_NOTIFY_TIMEOUT (10s).
	Notify Notify

	// Detection: XELWATCH_ALLOWED_*, XELWATCH_RULES_FILE, thresholds, …
	// (detect.go); Load converts it into detect (rules file merged).
	Detection Detect
	detect    detect.Config
	sigma     *sigmarules.Rules // XELWATCH_SIGMA_RULES, loaded (sigma.go)

	// Control: XELWATCH_AUDIT_ACCOUNT_ID, XELWATCH_APP_RESOURCE_ID,
	// XELWATCH_WATCHED_TOPICS, XELWATCH_DELETE_MIN_AGE (24h),
	// XELWATCH_AUDIT_STATE_READ (false): AuditControl (control.go).
	Control Control

	// clientPolicy is the retry policy of every storage client built from
	// this config; zero (what Load leaves) is azclient.DefaultPolicy.
	// Not a setting: the production values are derived from the cursor
	// lease and the function timeout (package azclient).
	clientPolicy azclient.Policy
}

// SetClientPolicy replaces the retry policy of the storage clients built
// from c (AppStorage, AuditStorageAccount). Tests use it to shrink the
// timings while going through the production construction path.
func (c *Config) SetClientPolicy(p azclient.Policy) { c.clientPolicy = p }

// Detect returns the detection settings.
func (c *Config) Detect() detect.Config { return c.detect }

// minBytesPerRun is the smallest accepted XELWATCH_MAX_BYTES_PER_RUN: one
// run must be able to hold the largest buffer the decoder accepts (16 MiB).
const minBytesPerRun = 16 << 20

// errInvalid is wrapped by every validation error.
var errInvalid = errors.New("config: invalid setting")

// Load reads and validates the settings. Storage settings are required by
// Validate only where a command needs them (see RequireAppStorage).
func Load(ctx context.Context, l envconfig.Lookuper) (*Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: l}); err != nil {
		return nil, fmt.Errorf("config: %s: %w", settingOf(err), err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	dc, err := c.Detection.Config()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalid, err)
	}
	c.detect = dc
	if c.sigma, err = loadSigma(ctx, c.Detection.SigmaRules); err != nil {
		return nil, err
	}
	return &c, nil
}

// settingOf names the environment variable behind a go-envconfig error,
// which names only the Go field ("IdleClose: time: invalid duration").
func settingOf(err error) string {
	return settingIn(reflect.TypeFor[Config](), err.Error())
}

func settingIn(t reflect.Type, msg string) string {
	for i := range t.NumField() {
		f := t.Field(i)
		rest, ok := strings.CutPrefix(msg, f.Name+":")
		if !ok {
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			return name
		}
		if f.Type.Kind() == reflect.Struct {
			return settingIn(f.Type, strings.TrimSpace(rest))
		}
	}
	return "settings"
}

func invalid(name, format string, args ...any) error {
	return fmt.Errorf("%w %s: %s", errInvalid, name, fmt.Sprintf(format, args...))
}

// Validate checks values that go-envconfig cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.Port != "" {
		if !isPort(c.Port) {
			errs = append(errs, invalid("FUNCTIONS_CUSTOMHANDLER_PORT", "%q is not a TCP port", c.Port))
		}
	}
	if !validContainer(c.AuditContainer) {
		errs = append(errs, invalid("XELWATCH_AUDIT_CONTAINER", "%q is not a container name (3-63 lower-case letters, digits, '-')", c.AuditContainer))
	}
	for _, t := range []struct{ name, v string }{
		{"XELWATCH_EVENTS_TABLE", c.EventsTable},
		{"XELWATCH_CURSORS_TABLE", c.CursorsTable},
		{"XELWATCH_DETECTIONS_TABLE", c.DetectionsTable},
		{"XELWATCH_STATE_TABLE", c.StateTable},
	} {
		if !store.ValidTableName(t.v) {
			errs = append(errs, invalid(t.name, "%q is not a table name (3-63 letters and digits, starting with a letter, not \"tables\")", t.v))
		}
	}
	if !validContainer(c.DetectionsQueue) || len(c.DetectionsQueue) > 63-len("-poison") {
		errs = append(errs, invalid("XELWATCH_DETECTIONS_QUEUE", "%q is not a queue name (3-56 lower-case letters, digits, '-')", c.DetectionsQueue))
	}
	if f := strings.Fields(c.SweepSchedule); len(f) != 6 {
		errs = append(errs, invalid("XELWATCH_SWEEP_SCHEDULE", "%q is not an NCRONTAB expression with 6 fields", c.SweepSchedule))
	}
	if c.IdleClose < time.Minute {
		errs = append(errs, invalid("XELWATCH_IDLE_CLOSE", "%s is shorter than 1m", c.IdleClose))
	}
	if c.SweepDays < 1 || c.SweepDays > 31 {
		errs = append(errs, invalid("XELWATCH_SWEEP_DAYS", "%d is outside 1..31", c.SweepDays))
	}
	if c.MaxBytesPerRun < minBytesPerRun {
		errs = append(errs, invalid("XELWATCH_MAX_BYTES_PER_RUN", "%d is below %d (one decoder buffer)", c.MaxBytesPerRun, minBytesPerRun))
	}
	errs = append(errs, c.validateMonitor()...)
	if err := c.Control.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Notify.validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", errInvalid, err))
	}
	for _, u := range []struct {
		name string
		v    string
	}{
		{"AzureWebJobsStorage__blobServiceUri", c.AppBlobServiceURI},
		{"AzureWebJobsStorage__queueServiceUri", c.AppQueueServiceURI},
		{"AzureWebJobsStorage__tableServiceUri", c.AppTableServiceURI},
		{"AuditStorage__blobServiceUri", c.AuditBlobServiceURI},
		{"AuditStorage__queueServiceUri", c.AuditQueueServiceURI},
	} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			// The value may be a secret: name the setting, not the value.
			errs = append(errs, invalid(u.name, "not an http(s) URL"))
		}
	}
	for _, cr := range []struct{ name, v string }{
		{"AzureWebJobsStorage__credential", c.AppCredential},
		{"AuditStorage__credential", c.AuditCredential},
	} {
		if cr.v != "" && !strings.EqualFold(cr.v, "managedidentity") {
			errs = append(errs, invalid(cr.name, "%q: only \"managedidentity\" is supported", cr.v))
		}
	}
	return errors.Join(errs...)
}

// AppStorage is the app's own account (tables, the detections queue).
func (c *Config) AppStorage() Storage {
	return Storage{
		Name:             "AzureWebJobsStorage",
		ConnectionString: c.AppConnectionString,
		BlobServiceURI:   c.AppBlobServiceURI,
		QueueServiceURI:  c.AppQueueServiceURI,
		TableServiceURI:  c.AppTableServiceURI,
		Credential:       c.AppCredential,
		ClientID:         c.AppClientID,
		Policy:           c.clientPolicy,
	}
}

// AuditStorageAccount is the account SQL auditing writes to. When no
// AuditStorage setting is given the app's account is used.
func (c *Config) AuditStorageAccount() Storage {
	if c.AuditConnectionString == "" && c.AuditBlobServiceURI == "" {
		s := c.AppStorage()
		return s
	}
	return Storage{
		Name:             "AuditStorage",
		ConnectionString: c.AuditConnectionString,
		BlobServiceURI:   c.AuditBlobServiceURI,
		QueueServiceURI:  c.AuditQueueServiceURI,
		Credential:       c.AuditCredential,
		ClientID:         c.AuditClientID,
		Policy:           c.clientPolicy,
	}
}

// RequireAppStorage reports which settings are missing for commands that
// use tables and queues.
func (c *Config) RequireAppStorage() error {
	s := c.AppStorage()
	if s.ConnectionString != "" {
		return nil
	}
	if s.TableServiceURI == "" || s.QueueServiceURI == "" {
		return invalid("AzureWebJobsStorage", "set a connection string, or AzureWebJobsStorage__tableServiceUri and AzureWebJobsStorage__queueServiceUri (with __clientId for a user-assigned identity)")
	}
	return nil
}

// RequireAuditStorage reports which settings are missing for commands that
// read audit blobs.
func (c *Config) RequireAuditStorage() error {
	s := c.AuditStorageAccount()
	if s.ConnectionString != "" || s.BlobServiceURI != "" {
		return nil
	}
	return invalid("AuditStorage", "set a connection string or AuditStorage__blobServiceUri (AzureWebJobsStorage is used when AuditStorage is unset)")
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
		n = n*10 + int(r-'0')
	}
	return n > 0 && n < 65536
}

func validContainer(s string) bool {
	if len(s) < 3 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
