package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/xelwatch/xelwatch/handler/internal/azclient"
)

// Names are the three table names (settings XELWATCH_EVENTS_TABLE,
// XELWATCH_CURSORS_TABLE, XELWATCH_DETECTIONS_TABLE).
type Names struct {
	Events     string
	Cursors    string
	Detections string
}

// defaultNames returns AuditEvents, AuditCursors and Detections.
func defaultNames() Names {
	return Names{Events: "AuditEvents", Cursors: "AuditCursors", Detections: "Detections"}
}

// Validate checks the names against the service's rule for table names:
// 3 to 63 letters and digits, starting with a letter, not "tables".
func (n Names) Validate() error {
	for _, t := range []struct{ setting, name string }{
		{"XELWATCH_EVENTS_TABLE", n.Events},
		{"XELWATCH_CURSORS_TABLE", n.Cursors},
		{"XELWATCH_DETECTIONS_TABLE", n.Detections},
	} {
		if !ValidTableName(t.name) {
			return fmt.Errorf("store: %s=%q: a table name is 3 to 63 letters and digits starting with a letter", t.setting, t.name)
		}
	}
	if n.Events == n.Cursors || n.Events == n.Detections || n.Cursors == n.Detections {
		return fmt.Errorf("store: table names must differ (%s, %s, %s)", n.Events, n.Cursors, n.Detections)
	}
	return nil
}

// ValidTableName reports whether s is a valid Table Storage table name:
// 3 to 63 letters and digits, starting with a letter, not "tables" (in any
// case). Package config checks every table setting with it.
func ValidTableName(s string) bool {
	if len(s) < 3 || len(s) > 63 || strings.EqualFold(s, "tables") {
		return false
	}
	for i, c := range []byte(s) {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Store is the Table Storage state of xelwatch. It is safe for concurrent
// use; build one per process and share it.
type Store struct {
	svc        *aztables.ServiceClient
	names      Names
	events     *aztables.Client
	cursors    *aztables.Client
	detections *aztables.Client
	now        func() time.Time
	parallel   int
}

// New returns a Store over svc. Empty names take their defaults.
func New(svc *aztables.ServiceClient, names Names) *Store {
	def := defaultNames()
	if names.Events == "" {
		names.Events = def.Events
	}
	if names.Cursors == "" {
		names.Cursors = def.Cursors
	}
	if names.Detections == "" {
		names.Detections = def.Detections
	}
	return &Store{
		svc:        svc,
		names:      names,
		events:     svc.NewClient(names.Events),
		cursors:    svc.NewClient(names.Cursors),
		detections: svc.NewClient(names.Detections),
		parallel:   DefaultParallelism,
		now:        func() time.Time { return time.Now().UTC().Truncate(100 * time.Nanosecond) }, // Edm.DateTime precision
	}
}

// Names returns the table names in use.
func (s *Store) Names() Names { return s.names }

// EventsClient returns the client of the AuditEvents table, for
// benchmarks that compare UpsertRecords with raw transactions.
func (s *Store) EventsClient() *aztables.Client { return s.events }

// EnsureTables checks the table names and creates the tables that do not
// exist yet.
func (s *Store) EnsureTables(ctx context.Context) error {
	if err := s.names.Validate(); err != nil {
		return err
	}
	for _, name := range []string{s.names.Events, s.names.Cursors, s.names.Detections} {
		_, err := s.svc.CreateTable(ctx, name, nil)
		if err = classify(err); err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("store: create table %s: %w", name, err)
		}
	}
	return nil
}

// NewServiceClientFromConnectionString builds a service client from a
// storage connection string (shared key or SAS; for Azurite use the
// explicit devstoreaccount1 string, not UseDevelopmentStorage=true) through
// package azclient, the one client builder, so with its retry policy
// (a bound on each try: a hung connection becomes a retry, not a hung
// invocation).
func NewServiceClientFromConnectionString(conn string) (*aztables.ServiceClient, error) {
	if conn == "" {
		return nil, errors.New("store: table connection string is blank or malformed")
	}
	svc, err := azclient.Tables(azclient.Account{Name: "table storage", ConnectionString: conn})
	if err != nil {
		// azclient's message never contains the key.
		return nil, fmt.Errorf("store: %w", err)
	}
	return svc, nil
}
