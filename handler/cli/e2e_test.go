package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/appendblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/cli"
	"github.com/xelwatch/xelwatch/handler/internal/demo"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/store"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/hostsim"
	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// app is one running handler (run "serve" in-process on a free port) with
// its own container, tables and queues, driven by hostsim.
type app struct {
	t         *testing.T
	vars      map[string]string
	host      *hostsim.Host
	container *container.Client
	queue     *azqueue.QueueClient
	poison    *azqueue.QueueClient
	store     *store.Store
	cursors   *aztables.Client
	stop      func()
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

type testLog struct {
	t  testing.TB
	mu sync.Mutex
}

func (w *testLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if testing.Verbose() {
		w.t.Logf("%s", bytes.TrimRight(b, "\n"))
	}
	return len(b), nil
}

func startApp(t *testing.T, conn string, extra map[string]string) *app {
	t.Helper()
	return startAppWith(t, conn, extra, func(ctx context.Context, vars map[string]string, log io.Writer) error {
		return cli.Run(ctx, []string{"serve"}, envconfig.MapLookuper(vars), nil, log, log)
	})
}

// startAppWith is startApp with another server: serve listens on
// 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT of vars until ctx ends.
func startAppWith(t *testing.T, conn string, extra map[string]string, serve func(ctx context.Context, vars map[string]string, log io.Writer) error) *app {
	t.Helper()
	vars := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": freePort(t),
		"AzureWebJobsStorage":          conn,
		"AuditStorage":                 conn,
		"XELWATCH_AUDIT_CONTAINER":     azuritetest.Name("audit"),
		"XELWATCH_EVENTS_TABLE":        azuritetest.Name("Ev"),
		"XELWATCH_CURSORS_TABLE":       azuritetest.Name("Cur"),
		"XELWATCH_DETECTIONS_TABLE":    azuritetest.Name("Det"),
		"XELWATCH_STATE_TABLE":         azuritetest.Name("St"),
		"XELWATCH_DETECTIONS_QUEUE":    azuritetest.Name("det"),
		"XELWATCH_LOG_LEVEL":           "debug",
	}
	for k, v := range extra {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	lw := &testLog{t: t}
	go func() { done <- serve(ctx, vars, lw) }()
	a := &app{t: t, vars: vars, host: hostsim.New("http://127.0.0.1:" + vars["FUNCTIONS_CUSTOMHANDLER_PORT"])}
	a.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Errorf("serve did not stop")
		}
	}
	t.Cleanup(a.stop)
	if err := a.host.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	bc, err := azblob.NewClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.container = bc.ServiceClient().NewContainerClient(vars["XELWATCH_AUDIT_CONTAINER"])
	qs, err := azqueue.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.queue = qs.NewQueueClient(vars["XELWATCH_DETECTIONS_QUEUE"])
	a.poison = qs.NewQueueClient(vars["XELWATCH_DETECTIONS_QUEUE"] + "-poison")
	a.host.Outputs = map[string]*azqueue.QueueClient{"detections": a.queue}
	a.host.Logf = t.Logf
	ts, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.store = store.New(ts, store.Names{Events: vars["XELWATCH_EVENTS_TABLE"], Cursors: vars["XELWATCH_CURSORS_TABLE"], Detections: vars["XELWATCH_DETECTIONS_TABLE"]})
	a.cursors = ts.NewClient(vars["XELWATCH_CURSORS_TABLE"])
	// Warm-up (tables, queues, container) ends when a function call is no
	// longer answered 503.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := a.host.Invoke(context.Background(), "Notifier", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("handler still warming up after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return a
}

func (a *app) blobName(file string) string {
	return fmt.Sprintf("srv1/salesdb/SqlDbAuditing_ServerAudit/%s/%s", time.Now().UTC().Format("2006-01-02"), file)
}

func (a *app) event(name string, size int64) hostsim.BlobEvent {
	return hostsim.BlobEvent{URI: a.container.URL() + "/" + name, Name: name, Length: size, BlobType: 2}
}

func (a *app) appendBlob(ctx context.Context, name string) *appendblob.Client {
	a.t.Helper()
	ab := a.container.NewAppendBlobClient(name)
	if _, err := ab.Create(ctx, nil); err != nil {
		a.t.Fatal(err)
	}
	return ab
}

func appendBytes(t testing.TB, ctx context.Context, ab *appendblob.Client, b []byte) {
	t.Helper()
	for len(b) > 0 {
		n := min(len(b), 4<<20)
		if _, err := ab.AppendBlock(ctx, nopCloser{bytes.NewReader(b[:n])}, nil); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// rows returns the stored rows of srv1 as "key → record JSON".
func (a *app) rows(ctx context.Context) map[string]string {
	a.t.Helper()
	out := map[string]string{}
	for r, err := range a.store.QueryEvents(ctx, store.EventQuery{Server: "srv1"}) {
		if err != nil {
			a.t.Fatal(err)
		}
		out[r.PartitionKey+"/"+r.RowKey] = string(r.Record.AppendJSON(nil))
	}
	return out
}

func (a *app) trigger(ctx context.Context, name string, size int64) hostsim.BlobResult {
	a.t.Helper()
	r, err := a.host.TriggerBlob(ctx, "AuditBlob", a.event(name, size), nil)
	if err != nil {
		a.t.Fatal(err)
	}
	if r.Poisoned || r.Attempts != 1 {
		a.t.Fatalf("trigger %s: %d attempts, poisoned %v, last %d %s", name, r.Attempts, r.Poisoned, r.Last.Status, r.Last.Body)
	}
	return r
}

func (a *app) drain(ctx context.Context) hostsim.QueueResult {
	a.t.Helper()
	r, err := a.host.DrainQueue(ctx, "Notifier", a.queue, a.poison, time.Second)
	if err != nil {
		a.t.Fatal(err)
	}
	return r
}

func (a *app) poisonCount(ctx context.Context) int {
	a.t.Helper()
	p, err := a.poison.GetProperties(ctx, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	return int(*p.ApproximateMessagesCount)
}

// webhook is a generic-webhook receiver; fail decides per request whether
// to answer 500.
type webhook struct {
	mu        sync.Mutex
	requests  map[string]int // detection id → requests
	delivered map[string]int // detection id → 2xx answers
	rules     map[string]string
	fail      func(id string, n int) bool
}

func newWebhook(t *testing.T, fail func(id string, n int) bool) (*webhook, string) {
	w := &webhook{requests: map[string]int{}, delivered: map[string]int{}, rules: map[string]string{}, fail: fail}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Xelwatch-Detection-Id")
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.requests[id]++
		if w.fail != nil && w.fail(id, w.requests[id]) {
			rw.WriteHeader(http.StatusBadGateway)
			return
		}
		w.delivered[id]++
		if i := bytes.Index(body, []byte(`"rule":"`)); i >= 0 {
			rest := body[i+8:]
			w.rules[id] = string(rest[:bytes.IndexByte(rest, '"')])
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return w, srv.URL
}

var storyRules = []string{"AUD-001", "AUD-006", "EXF-001", "EXF-002"}

func TestE2EAppendedBlobExactlyOnce(t *testing.T) {
	conn := azuritetest.ConnString(t)
	ctx := context.Background()
	hook, url := newWebhook(t, nil)
	a := startApp(t, conn, map[string]string{"XELWATCH_WEBHOOK_URL": url, "XELWATCH_WEBHOOK_SECRET": "s3cret"})
	file := demo.Sample()
	name := a.blobName("09_00_00_000_0.xel")
	ab := a.appendBlob(ctx, name)
	// The Event Grid source announces the blob once, at creation (empty).
	a.trigger(ctx, name, 0)
	cuts := []int{700, 5000, 5001, 13000, 26000, len(file)}
	prev := 0
	for i, cut := range cuts {
		appendBytes(t, ctx, ab, file[prev:cut])
		prev = cut
		if i%2 == 0 {
			a.trigger(ctx, name, int64(cut)) // polling source: every append
		} else {
			if r, _, err := a.host.Timer(ctx, "AuditSweep"); err != nil || !r.OK {
				t.Fatalf("sweep: %v %d %s", err, r.Status, r.Body)
			}
		}
	}
	q := a.drain(ctx)
	want := len(demoRecords(t, file))
	got := a.rows(ctx)
	if len(got) != want {
		t.Errorf("rows = %d, want %d", len(got), want)
	}
	c, err := a.store.Cursors(a.vars["XELWATCH_AUDIT_CONTAINER"]).Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rows != int64(want) || c.Offset != int64(len(file)) || c.State != ingest.StateOpen {
		t.Errorf("cursor rows %d offset %d state %s, want %d %d open", c.Rows, c.Offset, c.State, want, len(file))
	}
	checkStory(t, hook)
	if q.Poisoned != 0 || a.poisonCount(ctx) != 0 {
		t.Errorf("poisoned %d", q.Poisoned)
	}
	checkCLI(t, a, want)

	// Replay the blob 3× from scratch (cursor deleted): identical rows,
	// no second notification.
	pk, rk := store.CursorKeys(a.vars["XELWATCH_AUDIT_CONTAINER"], name)
	for i := range 3 {
		if _, err := a.cursors.DeleteEntity(ctx, pk, rk, nil); err != nil {
			t.Fatal(err)
		}
		a.trigger(ctx, name, int64(len(file)))
		a.drain(ctx)
		again := a.rows(ctx)
		if len(again) != len(got) {
			t.Fatalf("replay %d: %d rows, want %d", i, len(again), len(got))
		}
		for k, v := range got {
			if again[k] != v {
				t.Fatalf("replay %d: row %s changed", i, k)
			}
		}
	}
	checkStory(t, hook)
}

// checkCLI runs the query and detections subcommands over the tables.
func checkCLI(t *testing.T, a *app, rows int) {
	t.Helper()
	cli := func(args ...string) []string {
		var out, errb bytes.Buffer
		if err := cli.Run(context.Background(), args, envconfig.MapLookuper(a.vars), nil, &out, &errb); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		return strings.Split(strings.TrimSpace(out.String()), "\n")
	}
	day := demo.SampleStart.Format("2006-01-02")
	if got := cli("query", "--server", "srv1", "--database", "salesdb", "--from", day); len(got) != rows {
		t.Errorf("query: %d lines, want %d", len(got), rows)
	}
	csv := cli("query", "--server", "srv1", "--from", day, "--action", "BA", "--format", "csv")
	if len(csv) != 2 || !strings.HasPrefix(csv[0], "event_time,") || !strings.Contains(csv[1], "BACKUP DATABASE") {
		t.Errorf("query --action BA --format csv = %q, want a header and the backup", csv)
	}
	if got := cli("query", "--server", "srv1", "--principal", "mallory", "--from", day); len(got) != 3 {
		t.Errorf("query --principal mallory: %d lines, want 3", len(got))
	}
	det := cli("detections", "--since", day)
	if len(det) != len(storyRules) || !strings.Contains(strings.Join(det, ""), `"delivered"`) {
		t.Errorf("detections = %q, want %d delivered", det, len(storyRules))
	}
}

func checkStory(t *testing.T, hook *webhook) {
	t.Helper()
	hook.mu.Lock()
	defer hook.mu.Unlock()
	byRule := map[string]int{}
	for id, n := range hook.delivered {
		if n != 1 {
			t.Errorf("detection %s (%s) delivered %d times, want 1", id, hook.rules[id], n)
		}
		byRule[hook.rules[id]]++
	}
	for _, r := range storyRules {
		if byRule[r] != 1 {
			t.Errorf("rule %s: %d detections delivered, want 1 (all: %v)", r, byRule[r], byRule)
		}
	}
}

// demoRecords decodes a complete file the way the pipeline stores it.
func demoRecords(t testing.TB, file []byte) []audit.Record {
	t.Helper()
	xr, err := xel.NewReader(bytes.NewReader(file), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Record
	for r, err := range audit.NewReader(xr, "f", nil).All() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *r)
	}
	return out
}

func TestE2ECorruptBlobNoRetryStorm(t *testing.T) {
	conn := azuritetest.ConnString(t)
	ctx := context.Background()
	a := startApp(t, conn, nil)
	file := demo.Sample()
	bad := bytes.Clone(file)
	// Damage the header of the buffer holding the 20th record.
	at := int(demoRecords(t, file)[20].AuditFileOffset)
	for i := at; i < at+32; i++ {
		bad[i] = 0xEE
	}
	name := a.blobName("10_00_00_000_0.xel")
	appendBytes(t, ctx, a.appendBlob(ctx, name), bad)
	for range 2 {
		a.trigger(ctx, name, int64(len(bad))) // 2xx at the first attempt
	}
	if r, _, err := a.host.Timer(ctx, "AuditSweep"); err != nil || !r.OK {
		t.Fatalf("sweep: %v %d", err, r.Status)
	}
	c, err := a.store.Cursors(a.vars["XELWATCH_AUDIT_CONTAINER"]).Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != ingest.StateFailed || c.LastError == "" || c.FailedOffset <= 0 {
		t.Errorf("cursor = %s offset %d %q, want failed with offset and reason", c.State, c.FailedOffset, c.LastError)
	}
	rows := len(a.rows(ctx))
	if rows == 0 || rows >= len(demoRecords(t, file)) {
		t.Errorf("rows = %d, want those before the damage", rows)
	}
	if len(a.host.PoisonBlobs) != 0 {
		t.Errorf("poison blobs: %v", a.host.PoisonBlobs)
	}

	// The operator's view: `xelwatch cursors` shows the damage and exits 3.
	var out, errb bytes.Buffer
	err = cli.Run(ctx, []string{"cursors", "--state", "failed"}, envconfig.MapLookuper(a.vars), nil, &out, &errb)
	var code cli.ExitCode
	if !errors.As(err, &code) || code != 3 {
		t.Errorf("cursors --state failed: err %v, want exit status 3 (%s)", err, errb.String())
	}
	var line struct {
		Blob         string `json:"blob"`
		State        string `json:"state"`
		FailedOffset *int64 `json:"failed_offset"`
		LastError    string `json:"last_error"`
		Rows         int64  `json:"rows"`
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("cursors output %q: %v", out.String(), err)
	}
	if line.Blob != name || line.State != "failed" || line.FailedOffset == nil || *line.FailedOffset != c.FailedOffset ||
		line.LastError != c.LastError || line.Rows != int64(rows) {
		t.Errorf("cursors line = %+v, want blob %s failed at %d with %d rows", line, name, c.FailedOffset, rows)
	}
}

func TestE2EWebhookFailsThenPoison(t *testing.T) {
	conn := azuritetest.ConnString(t)
	ctx := context.Background()
	hook, url := newWebhook(t, func(string, int) bool { return true })
	a := startApp(t, conn, map[string]string{"XELWATCH_WEBHOOK_URL": url})
	file := demo.Sample()
	name := a.blobName("11_00_00_000_0.xel")
	appendBytes(t, ctx, a.appendBlob(ctx, name), file)
	r := a.trigger(ctx, name, int64(len(file)))
	q := a.drain(ctx)
	if q.Poisoned != r.Messages || q.Invocations != r.Messages*hostsim.MaxDequeueCount {
		t.Errorf("drain = %+v, want %d messages poisoned after %d tries each", q, r.Messages, hostsim.MaxDequeueCount)
	}
	if got := a.poisonCount(ctx); got != r.Messages {
		t.Errorf("poison queue holds %d, want %d", got, r.Messages)
	}
	hook.mu.Lock()
	ids := make([]string, 0, len(hook.requests))
	for id := range hook.requests {
		ids = append(ids, id)
	}
	hook.mu.Unlock()
	if len(ids) != r.Messages {
		t.Fatalf("webhook saw %d detections, want %d", len(ids), r.Messages)
	}
	for _, id := range ids {
		d, err := a.store.GetDetection(ctx, id)
		if err != nil {
			t.Fatalf("detection %s not kept: %v", id, err)
		}
		if dl := d.Deliveries["webhook"]; dl.State != store.DeliveryFailed {
			t.Errorf("detection %s delivery = %+v, want failed", id, dl)
		}
	}
}

func TestE2EWebhookSucceedsAfterRedelivery(t *testing.T) {
	conn := azuritetest.ConnString(t)
	ctx := context.Background()
	hook, url := newWebhook(t, func(_ string, n int) bool { return n == 1 })
	a := startApp(t, conn, map[string]string{"XELWATCH_WEBHOOK_URL": url})
	file := demo.Sample()
	name := a.blobName("12_00_00_000_0.xel")
	appendBytes(t, ctx, a.appendBlob(ctx, name), file)
	a.trigger(ctx, name, int64(len(file)))
	// A replayed blob enqueues the same detections again.
	pk, rk := store.CursorKeys(a.vars["XELWATCH_AUDIT_CONTAINER"], name)
	if _, err := a.cursors.DeleteEntity(ctx, pk, rk, nil); err != nil {
		t.Fatal(err)
	}
	a.trigger(ctx, name, int64(len(file)))
	q := a.drain(ctx)
	if q.Poisoned != 0 {
		t.Errorf("poisoned %d", q.Poisoned)
	}
	checkStory(t, hook)
}

// TestE2EStorageOutageMidIngest stops its own Azurite while a blob is
// being ingested and restarts it (same data folder and ports): the host's
// retry completes with every row stored once.
func TestE2EStorageOutageMidIngest(t *testing.T) {
	azuritetest.ConnString(t) // skip locally without Azurite, fail in CI
	bin := os.Getenv("AZURITE_BIN")
	if bin == "" {
		bin = filepath.Join(".cache", "azurite", "node_modules", ".bin", "azurite")
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("azurite binary %s: %v", bin, err)
		}
		t.Skipf("azurite binary %s not found (source .ci/azurite.sh)", bin)
	}
	if testing.Short() {
		t.Skip("slow: storage outage")
	}
	az := startAzurite(t, bin)
	ctx := context.Background()
	a := startApp(t, az.conn, nil)
	var buf bytes.Buffer
	if err := xeltest.SyntheticAuditFile(&buf, 6<<20, 7); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	want := len(demoRecordsByKey(t, file))
	name := a.blobName("13_00_00_000_0.xel")
	appendBytes(t, ctx, a.appendBlob(ctx, name), file)

	// Stop Azurite once the first rows are in.
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if n := a.countRows(ctx); n > 0 {
				t.Logf("stopping Azurite after %d rows", n)
				az.stopProcess()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	res, err := a.host.TriggerBlob(ctx, "AuditBlob", a.event(name, int64(len(file))), func(attempt int) {
		<-stopped
		if attempt == 1 {
			az.startProcess()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Poisoned || res.Attempts < 2 {
		t.Fatalf("attempts %d poisoned %v (last %d %s): want a failed attempt, then success", res.Attempts, res.Poisoned, res.Last.Status, res.Last.Body)
	}
	if got := a.countRows(ctx); got != want {
		t.Errorf("rows = %d, want %d", got, want)
	}
	c, err := a.store.Cursors(a.vars["XELWATCH_AUDIT_CONTAINER"]).Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rows != int64(want) {
		t.Errorf("cursor rows = %d, want %d (nothing doubled)", c.Rows, want)
	}
}

func (a *app) countRows(ctx context.Context) int {
	n := 0
	for _, err := range a.store.QueryEvents(ctx, store.EventQuery{Server: "srv1"}) {
		if err != nil {
			return -1
		}
		n++
	}
	return n
}

func demoRecordsByKey(t testing.TB, file []byte) map[string]bool {
	keys := map[string]bool{}
	for _, r := range demoRecords(t, file) {
		keys[fmt.Sprintf("%d/%d", r.AuditFileOffset, r.EventIndex)] = true
	}
	return keys
}

type azurite struct {
	t                  *testing.T
	bin, dir           string
	blob, queue, table string
	conn               string
	mu                 sync.Mutex
	cmd                *exec.Cmd
}

func startAzurite(t *testing.T, bin string) *azurite {
	az := &azurite{t: t, bin: bin, dir: t.TempDir(), blob: freePort(t), queue: freePort(t), table: freePort(t)}
	const key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	az.conn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + key +
		";BlobEndpoint=http://127.0.0.1:" + az.blob + "/devstoreaccount1;QueueEndpoint=http://127.0.0.1:" + az.queue +
		"/devstoreaccount1;TableEndpoint=http://127.0.0.1:" + az.table + "/devstoreaccount1;"
	az.startProcess()
	t.Cleanup(az.stopProcess)
	return az
}

func (az *azurite) startProcess() {
	az.mu.Lock()
	defer az.mu.Unlock()
	cmd := exec.Command(az.bin, "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--location", az.dir,
		"--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
		"--blobPort", az.blob, "--queuePort", az.queue, "--tablePort", az.table)
	if err := cmd.Start(); err != nil {
		az.t.Fatalf("start azurite: %v", err)
	}
	az.cmd = cmd
	// Loading a data folder that grew takes a while on a loaded host: a
	// slow start is not a failure.
	deadline := time.Now().Add(2 * time.Minute)
	for _, p := range []string{az.blob, az.queue, az.table} {
		for {
			c, err := net.Dial("tcp", "127.0.0.1:"+p)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				az.t.Fatalf("azurite port %s not up", p)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (az *azurite) stopProcess() {
	az.mu.Lock()
	defer az.mu.Unlock()
	if az.cmd == nil {
		return
	}
	// Interrupt, and wait for Azurite to save its data folder: killed
	// before that, it loses writes it acknowledged (a table, a cursor),
	// which no storage service does, and the restart tests would test
	// that instead of the outage.
	_ = az.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- az.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		_ = az.cmd.Process.Kill()
		<-done
		az.t.Errorf("azurite did not stop within 2 minutes of an interrupt: killed, its last writes may be lost")
	}
	az.cmd = nil
}

// serveRedispatchAtOnce runs the real "serve", except that
// AuditSweep re-emits pending findings at once instead of after
// handler.DefaultRedispatchAfter (not a setting, so injected here).
func serveRedispatchAtOnce(ctx context.Context, vars map[string]string, w io.Writer) error {
	code := cli.ServeWith(ctx, []string{"serve"}, envconfig.MapLookuper(vars), w, w, cli.ServeOptions{RedispatchAfter: -1})
	if code != 0 {
		return fmt.Errorf("serve exited %d", code)
	}
	return nil
}

// outputIDs returns the detection ids of a response's queue output.
func outputIDs(t *testing.T, r hostsim.Response) []string {
	t.Helper()
	raw, ok := r.Outputs[hostsim.OutputDetections]
	if !ok {
		return nil
	}
	var msgs []struct {
		Detection struct {
			ID string `json:"detection_id"`
		} `json:"detection"`
	}
	if err := json.Unmarshal(raw, &msgs); err != nil {
		t.Fatalf("outputs %s: %v", raw, err)
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		if m.Detection.ID == "" {
			t.Fatalf("output %d has no detection id: %s", i, raw)
		}
		ids[i] = m.Detection.ID
	}
	return ids
}

// TestE2EOutputsLostAfterCommit: the host dies after AuditBlob answered
// (its queue outputs are never applied) although the cursor committed. The
// retry finds nothing new; the next sweep re-emits exactly the lost
// findings, each once; the webhook gets each detection once; a further
// sweep emits nothing.
func TestE2EOutputsLostAfterCommit(t *testing.T) {
	conn := azuritetest.ConnString(t)
	ctx := context.Background()
	hook, url := newWebhook(t, nil)
	a := startAppWith(t, conn, map[string]string{"XELWATCH_WEBHOOK_URL": url}, serveRedispatchAtOnce)
	file := demo.Sample()
	name := a.blobName("14_00_00_000_0.xel")
	appendBytes(t, ctx, a.appendBlob(ctx, name), file)

	body, err := hostsim.BlobInvocation("AuditBlob", a.event(name, int64(len(file))))
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.host.Invoke(ctx, "AuditBlob", body)
	if err != nil || !r.OK {
		t.Fatalf("AuditBlob: %v %d %s", err, r.Status, r.Body)
	}
	lost := outputIDs(t, r) // the host dies here: r.Outputs are never applied
	if len(lost) != len(storyRules) {
		t.Fatalf("AuditBlob emitted %d detections, want %d", len(lost), len(storyRules))
	}
	c, err := a.store.Cursors(a.vars["XELWATCH_AUDIT_CONTAINER"]).Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if c.Offset != int64(len(file)) {
		t.Fatalf("cursor at %d, want %d: committed before the outputs", c.Offset, len(file))
	}
	// The host's retry finds the cursor advanced: nothing to emit.
	if retry := a.trigger(ctx, name, int64(len(file))); retry.Messages != 0 {
		t.Fatalf("retry emitted %d messages, want 0", retry.Messages)
	}

	sweep, n, err := a.host.Timer(ctx, "AuditSweep")
	if err != nil || !sweep.OK {
		t.Fatalf("sweep: %v %d %s", err, sweep.Status, sweep.Body)
	}
	got := outputIDs(t, sweep)
	slices.Sort(got)
	slices.Sort(lost)
	if n != len(lost) || !slices.Equal(got, lost) {
		t.Fatalf("sweep emitted %v (%d messages), want each lost detection once: %v", got, n, lost)
	}
	if q := a.drain(ctx); q.Succeeded != len(lost) || q.Poisoned != 0 {
		t.Errorf("drain = %+v, want %d delivered", q, len(lost))
	}
	checkStory(t, hook)

	again, n, err := a.host.Timer(ctx, "AuditSweep")
	if err != nil || !again.OK {
		t.Fatalf("second sweep: %v %d %s", err, again.Status, again.Body)
	}
	if ids := outputIDs(t, again); n != 0 || len(ids) != 0 {
		t.Errorf("second sweep emitted %v (%d messages), want nothing", ids, n)
	}
	pending, err := a.store.ListUndispatched(ctx, time.Now().Add(time.Minute), 100)
	if err != nil || len(pending) != 0 {
		t.Errorf("still pending after delivery: %d (%v)", len(pending), err)
	}
	for _, id := range lost {
		d, err := a.store.GetDetection(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Dispatched || d.Deliveries["webhook"].State != "delivered" {
			t.Errorf("detection %s: dispatched %v, webhook %+v", id, d.Dispatched, d.Deliveries["webhook"])
		}
	}
}
