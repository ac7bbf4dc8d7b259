package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/progress"
	"github.com/xelwatch/xelwatch/handler/internal/store"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// parseTime accepts RFC 3339 and a bare date (UTC midnight).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339 or yyyy-mm-dd)", s)
}

func openStore(ctx context.Context, env envconfig.Lookuper) (*store.Store, error) {
	cfg, err := config.Load(ctx, env)
	if err != nil {
		return nil, err
	}
	return storeFor(cfg)
}

// storeFor opens the tables of cfg's app account. The client comes from
// config.Storage, so through package azclient with the production retry
// policy (a bound per try): a hung storage connection fails the command
// instead of hanging it.
func storeFor(cfg *config.Config) (*store.Store, error) {
	if err := cfg.RequireAppStorage(); err != nil {
		return nil, err
	}
	svc, err := cfg.AppStorage().TableServiceClient()
	if err != nil {
		return nil, err
	}
	return store.New(svc, store.Names{Events: cfg.EventsTable, Cursors: cfg.CursorsTable, Detections: cfg.DetectionsTable}), nil
}

// Query prints AuditEvents rows of one server (and database) in a time
// range.
func Query(ctx context.Context, args []string, env envconfig.Lookuper, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "server name as in the blob path (required)")
	database := fs.String("database", "", "database name, as the records' database_name (empty: every database of the server)")
	from := fs.String("from", "", "first event time, inclusive (RFC 3339 or yyyy-mm-dd)")
	to := fs.String("to", "", "last event time, exclusive")
	action := fs.String("action", "", "action_id, e.g. BA (backup), LGIF (failed login)")
	principal := fs.String("principal", "", "server principal name")
	format := fs.String("format", "jsonl", "jsonl or csv")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: xelwatch query --server S [--database D] [--from T1] [--to T2] [--action BA] [--principal P] [--format jsonl|csv]

Prints the audit rows stored in the AuditEvents table (XELWATCH_EVENTS_TABLE),
one fn_get_audit_file-shaped record per line, in event-time order (a
whole server: database after database, each in event-time order). Statements stored across continuation entities are printed
whole; a row stored reduced (the table service refused it, or columns too
long for an entity) carries xw_degraded with the reason.
Storage: AzureWebJobsStorage (connection string or identity).

On a terminal, stderr shows a progress line: the part of the time range
covered so far (from --from, or the first row, to --to, or now), rows and
rows per second, time left. XELWATCH_PROGRESS=auto (default: only when
stderr is a terminal and stdout is not), always or never.
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage(err)
	}
	if *server == "" || fs.NArg() > 0 || (*format != "jsonl" && *format != "csv") {
		fs.Usage()
		return 2
	}
	q := store.EventQuery{Server: *server, Database: *database, ActionID: *action, Principal: *principal}
	var err error
	if q.From, err = parseTime(*from); err != nil {
		fmt.Fprintf(stderr, "xelwatch query: --from: %v\n", err)
		return 2
	}
	if q.To, err = parseTime(*to); err != nil {
		fmt.Fprintf(stderr, "xelwatch query: --to: %v\n", err)
		return 2
	}
	pw, err := progress.Writer(env, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "xelwatch query: %v\n", err)
		return 2
	}
	st, err := openStore(ctx, env)
	if err != nil {
		fmt.Fprintf(stderr, "xelwatch query: %v\n", err)
		return 2
	}
	span := newSpanMeter(progress.New(pw, progress.Options{Label: "query", Unit: progress.Span, Noun: "rows"}), q.From, q.To, time.Now)
	defer span.m.Done()
	var cw *csv.Writer
	if *format == "csv" {
		cw = csv.NewWriter(stdout)
		_ = cw.Write(append(audit.CSVHeader(), "xw_server", "xw_database", "xw_blob", "xw_degraded"))
	}
	var buf []byte
	var fields []string
	n := 0
	for row, err := range st.QueryEvents(ctx, q) {
		if err != nil {
			span.m.Done()
			fmt.Fprintf(stderr, "xelwatch query: %v\n", err)
			return 1
		}
		n++
		span.row(row.Record.EventTime)
		if cw != nil {
			fields = append(row.Record.AppendCSV(fields[:0]), row.Server, row.Database, row.Blob, row.Degraded)
			if err := cw.Write(fields); err != nil {
				return 1
			}
			continue
		}
		buf = row.Record.AppendJSON(buf[:0])
		if row.Degraded != "" && len(buf) > 0 && buf[len(buf)-1] == '}' {
			// A row stored reduced says so (xw_degraded).
			d, _ := json.Marshal(row.Degraded)
			buf = append(append(append(buf[:len(buf)-1], `,"xw_degraded":`...), d...), '}')
		}
		buf = append(buf, '\n')
		if _, err := stdout.Write(buf); err != nil {
			return 1
		}
	}
	if cw != nil {
		cw.Flush()
		if cw.Error() != nil {
			return 1
		}
	}
	span.m.Done()
	fmt.Fprintf(stderr, "%d rows\n", n)
	return 0
}

// spanMeter feeds a query's progress meter (nil: none): the rows, and the
// part of the time range covered, from the range's start (the first
// row's event time when --from is not given) to the latest event time
// seen, of the range up to its end (the time the query started when --to
// is not given). Rows come in event-time order within a partition; over
// several partitions the latest time seen only moves forward.
type spanMeter struct {
	m          *progress.Meter
	start, end time.Time
}

func newSpanMeter(m *progress.Meter, from, to time.Time, now func() time.Time) *spanMeter {
	s := &spanMeter{m: m, start: from, end: to}
	if m == nil {
		return s
	}
	if s.end.IsZero() {
		s.end = now().UTC()
	}
	if !s.start.IsZero() {
		m.SetTotal(int64(s.end.Sub(s.start)))
	}
	return s
}

func (s *spanMeter) row(t time.Time) {
	if s.m == nil {
		return
	}
	if s.start.IsZero() {
		s.start = t
		s.m.SetTotal(int64(s.end.Sub(s.start)))
	}
	s.m.Count(1)
	s.m.Set(int64(t.Sub(s.start)))
}

// Detections prints the Detections table, one JSON object per line: the
// finding plus its delivery status per channel.
func Detections(ctx context.Context, args []string, env envconfig.Lookuper, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("detections", flag.ContinueOnError)
	fs.SetOutput(stderr)
	since := fs.String("since", "", "only detections whose event time is at or after T (RFC 3339 or yyyy-mm-dd)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: xelwatch detections [--since T]

Prints the detections recorded by the Notifier (XELWATCH_DETECTIONS_TABLE) as
JSON lines: {"detection":{…},"recorded":…,"deliveries":{channel:{state,…}}}.
`)
		fs.PrintDefaults()
	}
	if code, ok := parseFlagsOnly(fs, args); !ok {
		return code
	}
	t, err := parseTime(*since)
	if err != nil {
		fmt.Fprintf(stderr, "xelwatch detections: --since: %v\n", err)
		return 2
	}
	st, err := openStore(ctx, env)
	if err != nil {
		fmt.Fprintf(stderr, "xelwatch detections: %v\n", err)
		return 2
	}
	enc := json.NewEncoder(stdout)
	n := 0
	for d, err := range st.ListDetections(ctx, t) {
		if err != nil {
			fmt.Fprintf(stderr, "xelwatch detections: %v\n", err)
			return 1
		}
		n++
		if err := enc.Encode(DetectionLine(d)); err != nil {
			return 1
		}
	}
	fmt.Fprintf(stderr, "%d detections\n", n)
	return 0
}

// DetectionLine is the JSON form of one Detections row.
func DetectionLine(d *store.Detection) any {
	type delivery struct {
		State       string    `json:"state"`
		Attempts    int       `json:"attempts"`
		DeliveredAt time.Time `json:"delivered_at,omitzero"`
		LastError   string    `json:"last_error,omitempty"`
	}
	ds := map[string]delivery{}
	for ch, v := range d.Deliveries {
		ds[ch] = delivery{State: string(v.State), Attempts: v.Attempts, DeliveredAt: v.DeliveredAt, LastError: v.LastError}
	}
	return struct {
		Detection  any                 `json:"detection"`
		Recorded   time.Time           `json:"recorded"`
		Deliveries map[string]delivery `json:"deliveries"`
	}{d.Finding, d.Recorded, ds}
}

// Cursors prints the AuditCursors table, one JSON object per line: where
// ingestion of each audit blob stands, and why a failed one failed.
func Cursors(ctx context.Context, args []string, env envconfig.Lookuper, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cursors", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "", "only cursors in this state: open, closed or failed")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: xelwatch cursors [--state open|closed|failed]

Prints the ingestion cursor of every audit blob (XELWATCH_CURSORS_TABLE) as
JSON lines: blob, state, next offset, blob length, rows stored, and for a
failed blob the offset and reason of the damage; for a blob found shortened
or rewritten (AUD-014, AUD-015), its generation, the rows of the earlier
generations and the file_name of the current one's rows. The exit status is 3 when
any listed cursor is failed, so a monitoring job can alert on it.
`)
		fs.PrintDefaults()
	}
	if code, ok := parseFlagsOnly(fs, args); !ok {
		return code
	}
	switch st := ingest.State(*state); st {
	case "", ingest.StateOpen, ingest.StateClosed, ingest.StateFailed:
	default:
		fmt.Fprintf(stderr, "xelwatch cursors: --state %q: want open, closed or failed\n", *state)
		return 2
	}
	st, err := openStore(ctx, env)
	if err != nil {
		fmt.Fprintf(stderr, "xelwatch cursors: %v\n", err)
		return 2
	}
	enc := json.NewEncoder(stdout)
	n, failed := 0, 0
	for c, err := range st.ListCursors(ctx, ingest.State(*state)) {
		if err != nil {
			fmt.Fprintf(stderr, "xelwatch cursors: %v\n", err)
			return 1
		}
		n++
		if c.State == ingest.StateFailed {
			failed++
		}
		if err := enc.Encode(CursorLine(c)); err != nil {
			return 1
		}
	}
	fmt.Fprintf(stderr, "%d cursors, %d failed\n", n, failed)
	if failed > 0 {
		return 3
	}
	return 0
}

// CursorLine is the JSON form of one AuditCursors row.
func CursorLine(c *store.ListedCursor) any {
	type line struct {
		Container    string     `json:"container"`
		Blob         string     `json:"blob"`
		State        string     `json:"state"`
		NextOffset   int64      `json:"next_offset"`
		BlobLength   int64      `json:"blob_length"`
		Rows         int64      `json:"rows"`
		FailedOffset *int64     `json:"failed_offset,omitempty"`
		LastError    string     `json:"last_error,omitempty"`
		Updated      time.Time  `json:"updated"`
		LastGrowth   time.Time  `json:"last_growth"`
		LeaseOwner   string     `json:"lease_owner,omitempty"`
		LeaseUntil   *time.Time `json:"lease_until,omitempty"`
		// Generation > 0: the blob was shortened or rewritten (AUD-014,
		// AUD-015) and is read again; its rows carry FileName.
		Generation  int    `json:"generation,omitempty"`
		EarlierRows int64  `json:"earlier_rows,omitempty"`
		FileName    string `json:"file_name,omitempty"`
	}
	l := line{Container: c.Container, Blob: c.Blob, State: string(c.State), NextOffset: c.Offset,
		BlobLength: c.BlobLength, Rows: c.Rows, LastError: c.LastError, Updated: c.UpdatedAt, LastGrowth: c.LastGrowth,
		LeaseOwner: c.LeaseOwner}
	if c.State == ingest.StateFailed {
		l.FailedOffset = &c.FailedOffset
	}
	if !c.LeaseUntil.IsZero() {
		l.LeaseUntil = &c.LeaseUntil
	}
	if c.Generation > 0 {
		l.Generation, l.EarlierRows, l.FileName = c.Generation, c.EarlierRows, ingest.FileNameOf(c.Blob, c.Generation)
	}
	return l
}

// parseFlagsOnly parses args into fs for a command that takes no
// positional arguments; ok false means exit with code.
func parseFlagsOnly(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		return exitUsage(err), false
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2, false
	}
	return 0, true
}
