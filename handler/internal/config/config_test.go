package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c *Config)
		wantErr string // substring; "" = success
	}{
		{
			name: "defaults",
			env:  map[string]string{},
			check: func(t *testing.T, c *Config) {
				if got, want := c.AuditContainer, "sqldbauditlogs"; got != want {
					t.Errorf("AuditContainer = %q, want %q", got, want)
				}
				if got, want := c.EventsTable, "AuditEvents"; got != want {
					t.Errorf("EventsTable = %q, want %q", got, want)
				}
				if got, want := c.DetectionsQueue, "detections"; got != want {
					t.Errorf("DetectionsQueue = %q, want %q", got, want)
				}
				if got, want := c.IdleClose, 2*time.Hour; got != want {
					t.Errorf("IdleClose = %v, want %v", got, want)
				}
				if got, want := c.MaxBytesPerRun, int64(268435456); got != want {
					t.Errorf("MaxBytesPerRun = %d, want %d", got, want)
				}
				if got, want := c.SweepSchedule, "*/5 * * * * *"; got != want {
					t.Errorf("SweepSchedule = %q, want %q", got, want)
				}
				if got, want := c.LogLevel, slog.LevelInfo; got != want {
					t.Errorf("LogLevel = %v, want %v", got, want)
				}
				if got, want := c.Notify.Timeout, 10*time.Second; got != want {
					t.Errorf("Notify.Timeout = %v, want %v", got, want)
				}
			},
		},
		{
			name: "values",
			env: map[string]string{
				"FUNCTIONS_CUSTOMHANDLER_PORT": "7071",
				"XELWATCH_AUDIT_CONTAINER":     "audits",
				"XELWATCH_LOG_LEVEL":           "debug",
				"XELWATCH_IDLE_CLOSE":          "30m",
				"AzureWebJobsStorage":          "UseDevelopmentStorage=false",
			},
			check: func(t *testing.T, c *Config) {
				if got, want := c.Port, "7071"; got != want {
					t.Errorf("Port = %q, want %q", got, want)
				}
				if got, want := c.AuditContainer, "audits"; got != want {
					t.Errorf("AuditContainer = %q, want %q", got, want)
				}
				if got, want := c.LogLevel, slog.LevelDebug; got != want {
					t.Errorf("LogLevel = %v, want %v", got, want)
				}
				if got, want := c.AuditStorageAccount().Name, "AzureWebJobsStorage"; got != want {
					t.Errorf("audit account falls back to %q, want %q", got, want)
				}
			},
		},
		{name: "port/bad", env: map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "70x"}, wantErr: "FUNCTIONS_CUSTOMHANDLER_PORT"},
		{name: "container/upper", env: map[string]string{"XELWATCH_AUDIT_CONTAINER": "SqlAudits"}, wantErr: "XELWATCH_AUDIT_CONTAINER"},
		{name: "table/dash", env: map[string]string{"XELWATCH_EVENTS_TABLE": "audit-events"}, wantErr: "XELWATCH_EVENTS_TABLE"},
		{name: "table/digit-first", env: map[string]string{"XELWATCH_CURSORS_TABLE": "1cursors"}, wantErr: "XELWATCH_CURSORS_TABLE"},
		{name: "table/too-long", env: map[string]string{"XELWATCH_DETECTIONS_TABLE": strings.Repeat("d", 64)}, wantErr: "XELWATCH_DETECTIONS_TABLE"},
		// "tables" is reserved by the service: rejected at start by the
		// store's own rule (store.ValidTableName), for every table setting.
		{name: "table/reserved", env: map[string]string{"XELWATCH_STATE_TABLE": "Tables"}, wantErr: `XELWATCH_STATE_TABLE: "Tables" is not a table name`},
		{name: "table/reserved-lower", env: map[string]string{"XELWATCH_EVENTS_TABLE": "tables"}, wantErr: "XELWATCH_EVENTS_TABLE"},
		{name: "idle/bad-duration", env: map[string]string{"XELWATCH_IDLE_CLOSE": "soon"}, wantErr: "XELWATCH_IDLE_CLOSE"},
		{name: "idle/too-short", env: map[string]string{"XELWATCH_IDLE_CLOSE": "1s"}, wantErr: "XELWATCH_IDLE_CLOSE"},
		{name: "budget/too-small", env: map[string]string{"XELWATCH_MAX_BYTES_PER_RUN": "1024"}, wantErr: "XELWATCH_MAX_BYTES_PER_RUN"},
		{name: "schedule/five-fields", env: map[string]string{"XELWATCH_SWEEP_SCHEDULE": "*/5 * * * *"}, wantErr: "XELWATCH_SWEEP_SCHEDULE"},
		{name: "severity/bad", env: map[string]string{"XELWATCH_NOTIFY_MIN_SEVERITY": "urgent"}, wantErr: "XELWATCH_NOTIFY_MIN_SEVERITY"},
		{name: "webhook/not-url", env: map[string]string{"XELWATCH_WEBHOOK_URL": "hooks.example/secret-token"}, wantErr: "XELWATCH_WEBHOOK_URL"},
		{name: "webhook/http", env: map[string]string{"XELWATCH_WEBHOOK_URL": "http://hooks.example/secret-token"}, wantErr: "XELWATCH_WEBHOOK_URL must be an https URL"},
		{name: "teams/password", env: map[string]string{"XELWATCH_TEAMS_WEBHOOK_URL": "https://u:secret@teams.example/"}, wantErr: "XELWATCH_TEAMS_WEBHOOK_URL must not carry user:password@"},
		{name: "credential/unknown", env: map[string]string{"AuditStorage__credential": "password"}, wantErr: "AuditStorage__credential"},
		{name: "loglevel/bad", env: map[string]string{"XELWATCH_LOG_LEVEL": "loud"}, wantErr: "XELWATCH_LOG_LEVEL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Load(context.Background(), envconfig.MapLookuper(tc.env))
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Load succeeded, want error naming %s", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load error = %q, want it to name %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tc.check(t, got)
		})
	}
}

func TestValidateErrorsAreInvalid(t *testing.T) {
	t.Parallel()
	_, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"XELWATCH_SWEEP_DAYS": "0"}))
	if !errors.Is(err, errInvalid) {
		t.Fatalf("err = %v, want errors.Is errInvalid", err)
	}
}

func TestWebhookErrorDoesNotQuoteSecret(t *testing.T) {
	t.Parallel()
	const secret = "hooks.example/T0ken-s3cret"
	_, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"XELWATCH_WEBHOOK_URL": secret}))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v, want an error that does not quote the secret", err)
	}
}

// TestSecretRedaction: no way of printing, logging or encoding the
// loaded configuration shows a secret setting (package redact tests the
// type itself, verb by verb).
func TestSecretRedaction(t *testing.T) {
	t.Parallel()
	const cs = "AccountName=a;AccountKey=supersecretkey=="
	c, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{
		"AzureWebJobsStorage":        cs,
		"AuditStorage":               "AccountName=b;AccountKey=auditsecretkey==",
		"XELWATCH_WEBHOOK_URL":       "https://hooks.example/s3cret",
		"XELWATCH_WEBHOOK_SECRET":    "hmacs3cret",
		"XELWATCH_TEAMS_WEBHOOK_URL": "https://teams.example/workflows/x?sig=s3cret",
		"XELWATCH_SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T/B/s3cret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var jsonLog, textLog bytes.Buffer
	for _, l := range []*slog.Logger{slog.New(slog.NewJSONHandler(&jsonLog, nil)), slog.New(slog.NewTextHandler(&textLog, nil))} {
		l.Info("config", "config", c, "storage", c.AppStorage(), "audit", c.AuditStorageAccount(),
			"webhook", c.Notify.WebhookURL, "raw", c.AppConnectionString)
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{
		"slog/json": jsonLog.String(),
		"slog/text": textLog.String(),
		"json":      string(js),
		"fmt":       fmt.Sprintf("%v|%+v|%#v|%s", *c, *c, *c, c.AppConnectionString),
		"fmt/ptr":   fmt.Sprintf("%v|%+v|%#v", c, c, c.Notify),
		"storage":   fmt.Sprintf("%v|%+v|%#v", c.AppStorage(), c.AuditStorageAccount(), c.AppStorage()),
	}
	for name, out := range outs {
		for _, leak := range []string{"supersecretkey", "auditsecretkey", "s3cret"} {
			if strings.Contains(out, leak) {
				t.Errorf("%s leaks %q: %s", name, leak, out)
			}
		}
	}
	if got, want := c.AppConnectionString.Reveal(), cs; got != want {
		t.Errorf("Reveal = %q, want %q", got, want)
	}
}

func TestRequireStorage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		env       map[string]string
		wantApp   bool
		wantAudit bool
	}{
		{name: "none", env: map[string]string{}},
		{name: "connection-string", env: map[string]string{"AzureWebJobsStorage": "x"}, wantApp: true, wantAudit: true},
		{name: "identity", env: map[string]string{
			"AzureWebJobsStorage__tableServiceUri": "https://a.table.core.windows.net",
			"AzureWebJobsStorage__queueServiceUri": "https://a.queue.core.windows.net",
			"AuditStorage__blobServiceUri":         "https://b.blob.core.windows.net",
		}, wantApp: true, wantAudit: true},
		{name: "identity/missing-queue", env: map[string]string{
			"AzureWebJobsStorage__tableServiceUri": "https://a.table.core.windows.net",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(context.Background(), envconfig.MapLookuper(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.RequireAppStorage() == nil; got != tc.wantApp {
				t.Errorf("RequireAppStorage ok = %v, want %v (%v)", got, tc.wantApp, c.RequireAppStorage())
			}
			if got := c.RequireAuditStorage() == nil; got != tc.wantAudit {
				t.Errorf("RequireAuditStorage ok = %v, want %v", got, tc.wantAudit)
			}
		})
	}
}
