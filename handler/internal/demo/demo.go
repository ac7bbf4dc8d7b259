package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/appendblob"
	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/app"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/config/redact"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/logctx"
	"github.com/xelwatch/xelwatch/handler/internal/notify"
	"github.com/xelwatch/xelwatch/handler/internal/store"
	"github.com/xelwatch/xelwatch/handler/internal/watch"
)

const (
	demoServer   = "demo-sqlsrv"
	demoDatabase = "salesdb"
)

// Run is the `demo` subcommand.
func Run(ctx context.Context, args []string, env envconfig.Lookuper, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	steps := fs.Int("steps", 4, "appends to split the sample into")
	delay := fs.Duration("delay", 700*time.Millisecond, "pause between appends")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: xelwatch demo [--steps 4] [--delay 700ms]

Appends an embedded, synthesized audit file (routine activity, then an audit
switched off and a COPY_ONLY backup to a foreign storage account) to an append
blob in steps, runs the AuditBlob pipeline after each append, prints the new
rows, and delivers the detections through the queue to a local webhook
receiver. Needs AzureWebJobsStorage (Azurite: run .ci/demo, which starts it).
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *steps < 1 || *steps > 50 {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(ctx, env)
	if err != nil {
		fmt.Fprintf(stderr, "xelwatch demo: %v\n", err)
		return 2
	}
	if err := Demo(ctx, cfg, stdout, stderr, *steps, *delay); err != nil {
		fmt.Fprintf(stderr, "xelwatch demo: %v\n", err)
		return 1
	}
	return 0
}

// receiver is a local generic-webhook endpoint that verifies signatures.
type receiver struct {
	secret []byte
	out    io.Writer
	mu     sync.Mutex
	got    map[string]int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := notify.Verify(rc.secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var f detect.Finding
	if err := json.Unmarshal(body, &f); err != nil {
		http.Error(w, "not a finding", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got[f.DetectionID]++
	rc.mu.Unlock()
	fmt.Fprintf(rc.out, "  ▶ webhook received %-8s %-8s %s\n      %s\n", f.Rule, f.Severity, f.Title, clip(f.Why, 160))
	w.WriteHeader(http.StatusNoContent)
}

// Demo runs the scenario against cfg's storage.
func Demo(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer, steps int, delay time.Duration) error {
	log := logctx.New(stderr, slog.LevelWarn)
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	rc := &receiver{secret: []byte(hex.EncodeToString(secret)), out: stdout, got: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	hook := notify.NewWebhook(redact.Secret("http://"+ln.Addr().String()+"/xelwatch"), redact.Secret(rc.secret), 5*time.Second)

	w, err := watch.New(ctx, cfg, log, app.Options{Channels: []notify.Channel{hook}}, watch.Options{Once: true, Notify: true})
	if err != nil {
		return err
	}
	a := w.App
	if err := a.Ensure(ctx); err != nil {
		return err
	}
	now := time.Now().UTC()
	blob := fmt.Sprintf("%s/%s/SqlDbAuditing_ServerAudit/%s/%s_0.xel", demoServer, demoDatabase, now.Format("2006-01-02"), now.Format("15_04_05_000"))
	ab := a.Blobs.Container().NewAppendBlobClient(blob)
	if _, err := ab.Create(ctx, nil); err != nil {
		return fmt.Errorf("create append blob: %w", err)
	}
	fmt.Fprintf(stdout, "xelwatch demo — audit blob %s/%s\n", cfg.AuditContainer, blob)
	fmt.Fprintf(stdout, "sample: %d bytes, %d records; appended in %d steps like Azure SQL auditing does\n\n", len(sampleXEL), sampleRecords, steps)

	shown := map[string]bool{}
	for i, chunk := range split(sampleXEL, steps) {
		if _, err := ab.AppendBlock(ctx, nopCloser{bytes.NewReader(chunk)}, &appendblob.AppendBlockOptions{}); err != nil {
			return fmt.Errorf("append: %w", err)
		}
		fmt.Fprintf(stdout, "── append %d/%d: +%d bytes\n", i+1, steps, len(chunk))
		// What the AuditBlob function does on a trigger (and the sweep on
		// its timer): continue from the cursor.
		r, err := a.Pipeline.Ingest(ctx, blob, ingest.RunOptions{Owner: "demo", FindingSink: a.Enqueue})
		if err != nil {
			return err
		}
		if err := printRows(ctx, a, stdout, shown); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "   %d new rows, cursor at byte %d of %d", r.Rows, r.Cursor.Offset, r.Cursor.BlobLength)
		if r.Cursor.Offset < r.Cursor.BlobLength {
			fmt.Fprint(stdout, " (partial buffer waits for the next append)")
		}
		fmt.Fprintln(stdout)
		if err := w.Drain(ctx); err != nil {
			return err
		}
		if i < steps-1 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
		}
	}
	// The file rolled over: the sweep closes it (pending split records are
	// flushed).
	if _, err := a.Pipeline.Ingest(ctx, blob, ingest.RunOptions{Owner: "demo", Final: true, FindingSink: a.Enqueue}); err != nil {
		return err
	}
	if err := w.Drain(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%d rows in table %s; detections recorded in table %s:\n", len(shown), cfg.EventsTable, cfg.DetectionsTable)
	n := 0
	for d, err := range a.Store.ListDetections(ctx, SampleStart) {
		if err != nil {
			return err
		}
		if d.Server != demoServer || !evidenceIn(d.Finding, blob) {
			continue
		}
		n++
		states := []string{}
		for ch, dl := range d.Deliveries {
			states = append(states, ch+"="+string(dl.State))
		}
		fmt.Fprintf(stdout, "  %-8s %-8s %-60s %s\n", d.Rule, d.Severity, clip(d.Title, 60), strings.Join(states, ","))
	}
	fmt.Fprintf(stdout, "\n%d detections. Against a storage account that keeps them (the demo's Azurite stops with it),\n"+
		"the same views are: xelwatch query --server %s --database %s --from %s ; xelwatch detections --since %s\n",
		n, demoServer, demoDatabase, SampleStart.Format("2006-01-02"), SampleStart.Format("2006-01-02"))
	return nil
}

func evidenceIn(f detect.Finding, blob string) bool {
	for _, e := range f.Records {
		if strings.HasSuffix(e.FileName, blob) {
			return true
		}
	}
	return len(f.Records) == 0
}

func printRows(ctx context.Context, a *app.App, out io.Writer, shown map[string]bool) error {
	for row, err := range a.Store.QueryEvents(ctx, store.EventQuery{Server: demoServer, Database: demoDatabase, From: SampleStart.Add(-time.Hour)}) {
		if err != nil {
			return err
		}
		k := row.PartitionKey + "/" + row.RowKey
		if shown[k] {
			continue
		}
		shown[k] = true
		r := row.Record
		fmt.Fprintf(out, "   %s  %-4s %-10s %-13s %-9s %s\n", r.EventTime.Format("15:04:05"), r.ActionID,
			r.ServerPrincipalName, r.ClientIP, r.ApplicationName, clip(r.Statement, 70))
	}
	return nil
}

// split cuts b into n pieces of about equal size; the cuts fall inside
// buffers, as real appends do.
func split(b []byte, n int) [][]byte {
	var out [][]byte
	size := (len(b) + n - 1) / n
	for len(b) > 0 {
		k := min(size, len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return out
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
