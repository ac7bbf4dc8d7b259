package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/cli"
	xwapp "github.com/xelwatch/xelwatch/handler/internal/app"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/store"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/hostsim"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// ordersFile writes n audit records of srv1/salesdb, "SELECT i FROM
// dbo.orders", in 4 KiB buffers.
func ordersFile(t *testing.T, n int, start time.Time) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.WriteAudit(xeltest.AuditEvent{EventTime: start.Add(time.Duration(i) * time.Second), ActionID: "SL", ClassType: "U",
			Succeeded: true, ServerPrincipalName: "app", ServerInstanceName: "srv1", DatabaseName: "salesdb",
			Statement: fmt.Sprintf("SELECT %d FROM dbo.orders", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// utf16le is s as the file stores statements.
func utf16le(s string) []byte {
	var b []byte
	for _, c := range []byte(s) {
		b = append(b, c, 0)
	}
	return b
}

// rulesDelivered counts the detections delivered to the webhook by rule.
func (w *webhook) rulesDelivered() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for id, n := range w.delivered {
		if n != 1 {
			out["delivered-twice:"+id]++
		}
		out[w.rules[id]]++
	}
	return out
}

// recreate deletes the blob and creates an append blob of that name
// holding data: what someone with rights on the audit account can do.
func (a *app) recreate(ctx context.Context, name string, data []byte) {
	a.t.Helper()
	if _, err := a.container.NewBlobClient(name).Delete(ctx, nil); err != nil {
		a.t.Fatal(err)
	}
	appendBytes(a.t, ctx, a.appendBlob(ctx, name), data)
}

func (a *app) sweep(ctx context.Context) hostsim.Response {
	a.t.Helper()
	r, _, err := a.host.Timer(ctx, "AuditSweep")
	if err != nil || !r.OK {
		a.t.Fatalf("sweep: %v %d %s", err, r.Status, r.Body)
	}
	return r
}

// rowsByFile counts srv1's stored rows per file_name, and those whose
// statement contains text.
func (a *app) rowsByFile(ctx context.Context, text string) (map[string]int, int) {
	a.t.Helper()
	out, with := map[string]int{}, 0
	for r, err := range a.store.QueryEvents(ctx, store.EventQuery{Server: "srv1"}) {
		if err != nil {
			a.t.Fatal(err)
		}
		out[r.Record.FileName]++
		if strings.Contains(r.Record.Statement, text) {
			with++
		}
	}
	return out, with
}

// TestE2EBlobShortenedThenRewritten: an ingested blob replaced by a
// shorter prefix of itself (delete + create append blob, same name)
// brings exactly one AUD-014 notification, and the rows read before stay
// queryable beside the prefix read again as generation 1; rewritten at the
// same length with other bytes, it brings one AUD-015 and the new content
// is stored as generation 2. Further sweeps and triggers notify nothing.
func TestE2EBlobShortenedThenRewritten(t *testing.T) {
	conn := azuritetest.ConnString(t)
	ctx := context.Background()
	hook, url := newWebhook(t, nil)
	a := startApp(t, conn, map[string]string{"XELWATCH_WEBHOOK_URL": url})
	const n = 300
	file := ordersFile(t, n, time.Now().UTC().Add(-time.Hour).Truncate(time.Second))
	name := a.blobName("16_00_00_000_0.xel")
	appendBytes(t, ctx, a.appendBlob(ctx, name), file)
	a.trigger(ctx, name, int64(len(file)))
	a.drain(ctx)
	before := a.rows(ctx)
	if len(before) != n {
		t.Fatalf("rows = %d, want %d", len(before), n)
	}

	prefix := file[:len(file)/2]
	a.recreate(ctx, name, prefix)
	a.sweep(ctx)
	a.drain(ctx)
	a.sweep(ctx)
	a.trigger(ctx, name, int64(len(prefix))) // Event Grid announces the new blob
	a.drain(ctx)
	if got := hook.rulesDelivered(); got[detect.RuleBlobShortened] != 1 || len(got) != 1 {
		t.Fatalf("delivered %v, want one AUD-014 only", got)
	}
	after := a.rows(ctx)
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("row %s changed or lost after the blob was shortened", k)
		}
	}
	files, _ := a.rowsByFile(ctx, "")
	gen1 := ingest.FileNameOf(name, 1)
	if files[name] != n || files[gen1] == 0 || files[gen1] >= n {
		t.Fatalf("rows per file %v: want the %d first rows and the prefix again as %q", files, n, gen1)
	}
	c, err := a.store.Cursors(a.vars["XELWATCH_AUDIT_CONTAINER"]).Get(ctx, name)
	if err != nil || c.Generation != 1 || c.EarlierRows != n {
		t.Fatalf("cursor generation %d earlier rows %d (%v)", c.Generation, c.EarlierRows, err)
	}

	other := bytes.ReplaceAll(prefix, utf16le("orders"), utf16le("secret"))
	if len(other) != len(prefix) || bytes.Equal(other, prefix) {
		t.Fatal("bad rewrite")
	}
	a.recreate(ctx, name, other)
	a.trigger(ctx, name, int64(len(other)))
	a.sweep(ctx)
	a.drain(ctx)
	a.sweep(ctx)
	a.drain(ctx)
	if got := hook.rulesDelivered(); got[detect.RuleBlobRewritten] != 1 || got[detect.RuleBlobShortened] != 1 || len(got) != 2 {
		t.Fatalf("delivered %v, want one AUD-014 and one AUD-015", got)
	}
	files, secret := a.rowsByFile(ctx, "secret")
	gen2 := ingest.FileNameOf(name, 2)
	if files[name] != n || files[gen1] == 0 || files[gen2] != files[gen1] || secret != files[gen2] {
		t.Fatalf("rows per file %v, %d with the new text: want generation 2 = the rewritten content", files, secret)
	}
	// The CLI shows both generations: query lists the old rows beside the
	// new, cursors the generation.
	var out, errb bytes.Buffer
	if err := cli.Run(ctx, []string{"query", "--server", "srv1", "--from", time.Now().UTC().Add(-48 * time.Hour).Format(time.RFC3339)},
		envconfig.MapLookuper(a.vars), nil, &out, &errb); err != nil {
		t.Fatalf("query: %v %s", err, errb.String())
	}
	if got := strings.Count(out.String(), "\n"); got != n+2*files[gen1] || !strings.Contains(out.String(), "generation=2") {
		t.Errorf("query: %d lines, want %d with the generations' file names", got, n+2*files[gen1])
	}
	out.Reset()
	if err := cli.Run(ctx, []string{"cursors"}, envconfig.MapLookuper(a.vars), nil, &out, &errb); err != nil {
		t.Fatalf("cursors: %v %s", err, errb.String())
	}
	if !strings.Contains(out.String(), `"generation":2`) || !strings.Contains(out.String(), fmt.Sprintf(`"earlier_rows":%d`, n+files[gen1])) {
		t.Errorf("cursors = %s, want generation 2", out.String())
	}
	d, err := a.store.GetDetection(ctx, firstID(hook, detect.RuleBlobRewritten))
	if err != nil || d.Severity != detect.Critical || !strings.Contains(d.Finding.Why, name) {
		t.Errorf("AUD-015 detection %+v, %v", d, err)
	}
}

func firstID(w *webhook, rule string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, r := range w.rules {
		if r == rule {
			return id
		}
	}
	return ""
}

// testClock is the pipeline clock of the served apps.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// serveWithClock runs the real "serve" with the pipeline on clk.
func serveWithClock(clk *testClock) func(ctx context.Context, vars map[string]string, w io.Writer) error {
	return func(ctx context.Context, vars map[string]string, w io.Writer) error {
		if code := cli.ServeWith(ctx, []string{"serve"}, envconfig.MapLookuper(vars), w, w, cli.ServeOptions{App: xwapp.Options{Now: clk.Now}}); code != 0 {
			return fmt.Errorf("serve exited %d", code)
		}
		return nil
	}
}

// TestE2ESilenceAndHeartbeat: two instances share the tables. Their
// first sweeps, at once, send one heartbeat between them; an audit stream
// watched with a 30-minute gap notifies nothing while it grows and one
// AUD-016 once it stayed silent past the gap, whatever the sweeps after;
// the next day's concurrent sweeps send the next heartbeat once. Time is
// the injected clock: nothing sleeps.
func TestE2ESilenceAndHeartbeat(t *testing.T) {
	conn := azuritetest.ConnString(t)
	ctx := context.Background()
	hook, url := newWebhook(t, nil)
	// 01:00 today: the steps below stay within one heartbeat period (a
	// UTC day) until the test moves to the next day.
	clk := &testClock{now: time.Now().UTC().Truncate(24 * time.Hour).Add(time.Hour)}
	settings := map[string]string{"XELWATCH_WEBHOOK_URL": url, "XELWATCH_SILENCE_MAX_GAP": "srv1:30m,*:off",
		"XELWATCH_HEARTBEAT": "24h", "XELWATCH_IDLE_CLOSE": "20m"}
	a := startAppWith(t, conn, settings, serveWithClock(clk))
	shared := map[string]string{}
	for k, v := range a.vars {
		if k != "FUNCTIONS_CUSTOMHANDLER_PORT" {
			shared[k] = v
		}
	}
	b := startAppWith(t, conn, shared, serveWithClock(clk))
	both := func() {
		var wg sync.WaitGroup
		for _, x := range []*app{a, b} {
			wg.Go(func() {
				r, _, err := x.host.Timer(ctx, "AuditSweep")
				if err != nil || !r.OK {
					t.Errorf("sweep: %v %d %s", err, r.Status, r.Body)
				}
			})
		}
		wg.Wait()
	}

	file := ordersFile(t, 400, clk.Now().Add(-time.Hour).Truncate(time.Second))
	name := a.blobName("17_00_00_000_0.xel")
	ab := a.appendBlob(ctx, name)
	appendBytes(t, ctx, ab, file[:len(file)/8])
	both()
	a.drain(ctx)
	if got := hook.rulesDelivered(); got[detect.HeartbeatRule] != 1 || len(got) != 1 {
		t.Fatalf("after the first sweeps: delivered %v, want one heartbeat", got)
	}
	// Growing every 10 minutes: no silence.
	for i := 1; i < 8; i++ {
		clk.add(10 * time.Minute)
		appendBytes(t, ctx, ab, file[len(file)*i/8:len(file)*(i+1)/8])
		a.sweep(ctx)
	}
	for range 29 {
		clk.add(time.Minute)
		a.sweep(ctx)
	}
	a.drain(ctx)
	if got := hook.rulesDelivered(); got[detect.RuleStreamSilent] != 0 {
		t.Fatalf("AUD-016 within the gap: %v", got)
	}
	for range 4 {
		clk.add(time.Minute)
		both()
	}
	a.drain(ctx)
	if got := hook.rulesDelivered(); got[detect.RuleStreamSilent] != 1 || got[detect.HeartbeatRule] != 1 || len(got) != 2 {
		t.Fatalf("after the gap: delivered %v, want one AUD-016 (and the heartbeat)", got)
	}
	c, err := a.store.Cursors(a.vars["XELWATCH_AUDIT_CONTAINER"]).Get(ctx, name)
	if err != nil || c.SilenceReported.IsZero() || c.State != ingest.StateClosed {
		t.Errorf("cursor silence reported %v state %s (%v): want reported, then closed as idle", c.SilenceReported, c.State, err)
	}
	// The next day: one heartbeat more between the two instances.
	clk.add(24 * time.Hour)
	both()
	both()
	a.drain(ctx)
	if got := hook.rulesDelivered(); got[detect.RuleStreamSilent] != 1 || got[detect.HeartbeatRule] != 2 || len(got) != 2 {
		t.Fatalf("next day: delivered %v, want a second heartbeat only", got)
	}
}
