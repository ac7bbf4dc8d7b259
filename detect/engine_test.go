package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule+":"+f.DetectionID)
	}
	return out
}

func attackStory() []audit.Record {
	recs := fails(9, "198.51.100.23", same("sa"), 20*time.Second)
	recs = append(recs,
		rec("LGIS", "LX", "", by("sa"), ip("198.51.100.23"), at(4*time.Minute)),
		rec("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)", by("sa"), at(5*time.Minute)),
		rec("CR", "CD", "CREATE CREDENTIAL [https://evilacct.blob.core.windows.net/loot] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=1&sig=2'", by("sa"), at(6*time.Minute)),
		rec("BA", "DB", evilURL, by("sa"), at(7*time.Minute)),
		rec("AUSC", "A", "", by("sa"), at(9*time.Minute)),
	)
	for i := range recs {
		recs[i].AuditFileOffset = int64(1000 + i)
	}
	return recs
}

func TestDetectionIDsAreStable(t *testing.T) {
	cfg := testConfig(t)
	first := ids(run(t, cfg, attackStory()))
	if len(first) < 8 {
		t.Fatalf("attack story gave %d findings, want at least 8: %q", len(first), first)
	}
	if again := ids(run(t, cfg, attackStory())); !slices.Equal(again, first) {
		t.Errorf("second run ids = %q, want %q", again, first)
	}
	if n := len(slices.Compact(slices.Sorted(slices.Values(first)))); n != len(first) {
		t.Errorf("%d distinct ids among %d findings, want all distinct", n, len(first))
	}

	t.Run("replay into the same state", func(t *testing.T) {
		e, err := New(cfg, NewMemoryState())
		if err != nil {
			t.Fatal(err)
		}
		var got1, got2 []string
		for _, pass := range []*[]string{&got1, &got2} {
			recs := attackStory()
			for i := range recs {
				fs, err := e.Evaluate(context.Background(), &recs[i])
				if err != nil {
					t.Fatal(err)
				}
				*pass = append(*pass, ids(fs)...)
			}
		}
		// At-least-once: a replay may report again, but only with ids
		// already reported, and must not invent new ones.
		for _, id := range got2 {
			if !slices.Contains(got1, id) {
				t.Errorf("replay produced new finding %s", id)
			}
		}
		if !slices.Equal(got1, first) {
			t.Errorf("first pass = %q, want %q", got1, first)
		}
	})

	t.Run("reverse order", func(t *testing.T) {
		// Correlations do not depend on the order files are processed in
		// (each record in a file of its own here: within a file, records
		// are evaluated in file order).
		recs := attackStory()
		for i := range recs {
			recs[i].FileName = fmt.Sprintf("sql01/Sales/audit/2026-11-18/14_00_00_000_%d.xel", i)
		}
		slices.Reverse(recs)
		pick := func(all []string) []string {
			var out []string
			for _, id := range all {
				if strings.HasPrefix(id, "AUD-006:") {
					out = append(out, id)
				}
			}
			slices.Sort(out)
			return out
		}
		forward := attackStory()
		for i := range forward {
			forward[i].FileName = recs[len(recs)-1-i].FileName
		}
		want := pick(ids(run(t, cfg, forward)))
		if got := slices.Compact(pick(ids(run(t, cfg, recs)))); len(want) != 2 || !slices.Equal(got, want) {
			t.Errorf("AUD-006 ids in reverse order = %q, want %q (one per backup and credential)", got, want)
		}
	})
}

func TestAttackStoryFindings(t *testing.T) {
	fs := run(t, testConfig(t), attackStory())
	var got []string
	for _, f := range fs {
		got = append(got, fmt.Sprintf("%s/%s", f.Rule, f.Severity))
	}
	want := []string{"AUTH-004/medium", "AUTH-008/informational", "AUTH-009/informational", "AUTH-001/medium", "AUTH-003/high", "AUD-001/critical", "EXF-005/medium", "AUD-006/critical",
		"EXF-001/high", "EXF-002/high", "EXF-005/high", "AUD-006/critical"}
	if !slices.Equal(got, want) {
		t.Errorf("findings = %q\nwant       %q%s", got, want, whys(fs))
	}
}

func TestFindingBounds(t *testing.T) {
	cfg := testConfig(t)
	cfg.BruteForceThreshold = 200
	cfg.StateMaxEntries = 256
	long := strings.Repeat("x", 300)
	stmt := "CREATE LOGIN a WITH PASSWORD = 'TopSecret123' " + strings.Repeat("/* padding é */ ", 20000)
	recs := repeat(200, func(i int) audit.Record {
		return rec("LGIF", "LX", stmt, ip("10.8.8.8"), at(time.Duration(i)*time.Second), by(long+"é"), app(long), server(long),
			func(r *audit.Record) { r.FileName = strings.Repeat("f", 2000) })
	})
	fs := run(t, cfg, recs)
	got := summary(fs, "AUTH-001")
	if len(got) != 1 {
		t.Fatalf("AUTH-001 findings = %q, want one", got)
	}
	for _, f := range fs {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 48<<10 {
			t.Errorf("%s finding is %d bytes, want at most 48 KiB", f.Rule, len(b))
		}
		if len(f.Records) > MaxEvidence {
			t.Errorf("%s has %d records, want at most %d", f.Rule, len(f.Records), MaxEvidence)
		}
		for _, r := range f.Records {
			if len(r.Statement) > MaxExcerpt {
				t.Errorf("excerpt is %d bytes, want at most %d", len(r.Statement), MaxExcerpt)
			}
			if strings.Contains(r.Statement, "TopSecret123") {
				t.Errorf("excerpt keeps the password: %q", r.Statement[:80])
			}
		}
		if len(f.DetectionID) != detectionIDLen {
			t.Errorf("detection id %q has %d characters, want %d", f.DetectionID, len(f.DetectionID), detectionIDLen)
		}
	}
}

func TestMemoryStateBounded(t *testing.T) {
	st := NewMemoryStateLimits(100, 0)
	ctx := context.Background()
	for i := range 1000 {
		_, err := st.Update(ctx, fmt.Sprintf("k%d", i), t0.Add(time.Duration(i)*time.Second), func(cur []Entry) []Entry {
			return append(slices.Clone(cur), Entry{ID: fmt.Sprint(i)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	keys, _, _ := st.Stats()
	if keys > 100 {
		t.Errorf("keys = %d, want at most 100", keys)
	}
	if got, _ := st.Get(ctx, "k999"); len(got) != 1 {
		t.Errorf("newest key lost: %v", got)
	}
	if got, _ := st.Get(ctx, "k0"); got != nil {
		t.Errorf("oldest key kept: %v", got)
	}
	// Keys far behind the newest expiry are forgotten even under the cap.
	_, _ = st.Update(ctx, "late", t0.Add(stateHorizon+time.Hour), func([]Entry) []Entry { return []Entry{{ID: "x"}} })
	if keys, _, _ := st.Stats(); keys != 1 {
		t.Errorf("keys after a week's jump = %d, want 1", keys)
	}
	// A single key never holds more than maxStateEntries.
	for i := range 2 * maxStateEntries {
		_, _ = st.Update(ctx, "big", t0.Add(memoryHorizon+time.Hour), func(cur []Entry) []Entry {
			return append(slices.Clone(cur), Entry{ID: fmt.Sprint(i)})
		})
	}
	if got, _ := st.Get(ctx, "big"); len(got) != maxStateEntries {
		t.Errorf("entries = %d, want %d", len(got), maxStateEntries)
	}

	// The byte budget holds however many keys arrive.
	small := NewMemoryStateLimits(0, 64<<10)
	ev := Evidence{Statement: strings.Repeat("s", 400)}
	for i := range 2000 {
		_, _ = small.Update(ctx, fmt.Sprintf("k%d", i), t0.Add(time.Duration(i)*time.Second), func([]Entry) []Entry {
			return []Entry{{ID: fmt.Sprint(i), Evidence: &ev}}
		})
	}
	if _, _, bytes := small.Stats(); bytes > 64<<10 || bytes < 32<<10 {
		t.Errorf("bytes = %d, want about the 64 KiB budget", bytes)
	}
}

// benignCorpus generates n realistic routine records: batch completions
// of application queries, logins and logouts, the approved nightly
// backups, DMV queries with XML namespaces, temp tables, audit session
// starts. Deterministic for a seed.
func benignCorpus(n int, seed uint64) []audit.Record {
	return corpus(n, seed, testMix)
}

// mix gives the cumulative percentages (of 1000) of the record kinds,
// and whether batches include the injection look-alikes.
type mix struct {
	batch, dbauth, logout, failOrRPC, backup, logBackup int
	lookalikes                                          bool
}

// injectionLookalikes are routine statements that look like SQL
// injection (EXE-009) to a careless rule: an ORM's parameters, a query
// builder's WHERE 1=1, a tautology inside a literal, a pause before a
// poll, a reporting UNION. The benign corpus holds them (testMix); the
// benchmark's realistic mix does not.
var injectionLookalikes = []string{
	"exec sp_executesql N'SELECT [u].[Id] FROM [Users] AS [u] WHERE [u].[Name] = @__name_0 OR [u].[Email] = @__email_1',N'@__name_0 nvarchar(50),@__email_1 nvarchar(50)',@__name_0=N'bob',@__email_1=N'b@x.io'",
	"SELECT * FROM dbo.Orders WHERE 1=1 AND Status = @p0 ORDER BY Created DESC",
	"INSERT INTO dbo.FormNotes (Note) VALUES ('customer typed '' OR 1=1 -- into the search box')",
	"WAITFOR DELAY '00:00:02'; SELECT COUNT(*) FROM dbo.Queue WHERE Ready = 1",
	"SELECT o.OrderID FROM dbo.Orders o WHERE o.Status = 'open' UNION ALL SELECT a.OrderID FROM dbo.ArchivedOrders a WHERE a.Status = 'open'",
}

// testMix is dense in backups to exercise the allow-lists; benchMix is
// closer to production: batches and logins dominate, a log backup every
// few thousand records.
var (
	testMix  = mix{batch: 700, dbauth: 820, logout: 900, failOrRPC: 940, backup: 970, logBackup: 990, lookalikes: true}
	benchMix = mix{batch: 820, dbauth: 920, logout: 975, failOrRPC: 995, backup: 996, logBackup: 998}
)

func corpus(n int, seed uint64, mx mix) []audit.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	apps := []string{"Core .Net SqlClient Data Provider", "Microsoft SQL Server Management Studio - Query", "SQLAgent - TSQL JobStep (Job 0x2 : Step 1)", "OrdersService", "Microsoft JDBC Driver 12.4"}
	users := []string{"app_orders", "app_reporting", `CONTOSO\alice`, `CONTOSO\bob`, "etl_loader"}
	stmts := []string{
		"SELECT o.OrderID, o.Total FROM dbo.Orders o WHERE o.CustomerID = @p0",
		"INSERT INTO dbo.OrderLines (OrderID, Sku, Qty) VALUES (@p0, @p1, @p2)",
		"UPDATE dbo.Customers SET LastSeen = SYSUTCDATETIME() WHERE CustomerID = @id",
		"exec sp_executesql N'SELECT * FROM dbo.Products WHERE Sku = @sku',N'@sku nvarchar(20)',@sku=N'A-100'",
		"CREATE TABLE #work (id int); INSERT #work SELECT id FROM dbo.Queue; DROP TABLE #work",
		"WITH XMLNAMESPACES ('http://schemas.microsoft.com/sqlserver/2004/07/showplan' AS sp) SELECT qp.query_plan FROM sys.dm_exec_query_plan(@h) qp",
		"SELECT name, value_in_use FROM sys.configurations WHERE name IN ('xp_cmdshell', 'clr enabled')",
		"EXEC dbo.usp_GetCustomerOrders @CustomerID = 42",
		"SELECT COUNT(*) FROM dbo.AuditTrail WHERE Created > DATEADD(day, -1, SYSUTCDATETIME())",
		"EXEC sp_configure 'max degree of parallelism', 4",
		"SELECT backup_finish_date FROM msdb.dbo.backupset WHERE database_name = 'Sales'",
		"MERGE dbo.Stock AS t USING #incoming AS s ON t.Sku = s.Sku WHEN MATCHED THEN UPDATE SET t.Qty = s.Qty;",
		"SELECT 'Report for ' + CONVERT(varchar(10), GETDATE(), 120) + ' done' AS msg",
		"ALTER INDEX ALL ON dbo.Orders REORGANIZE",
		"DECLARE @sql nvarchar(max) = N'SELECT 1'; EXEC sp_executesql @sql",
	}
	if mx.lookalikes {
		stmts = append(stmts, injectionLookalikes...)
	}
	out := make([]audit.Record, 0, n)
	t := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC) // a Saturday
	for i := 0; len(out) < n; i++ {
		t = t.Add(time.Duration(50+rng.IntN(500)) * time.Millisecond)
		u := users[rng.IntN(len(users))]
		base := func(action, class, stmt string) audit.Record {
			return audit.Record{
				EventTime: t, ActionID: action, ClassType: class, Succeeded: true, SessionID: int16(50 + rng.IntN(200)),
				ServerInstanceName: "sql01", DatabaseName: "Sales", ServerPrincipalName: u, SessionServerPrincipalName: u,
				ClientIP: fmt.Sprintf("10.0.%d.%d", 2+rng.IntN(3), 1+rng.IntN(250)), ApplicationName: apps[rng.IntN(len(apps))],
				HostName: "APP" + fmt.Sprint(rng.IntN(9)), Statement: stmt, FileName: "sql01/Sales/SqlDbAuditing_Audit/2026-11-21/00_00_00_000_0.xel",
				AuditFileOffset: int64(i/50) * 8192, EventIndex: i % 50,
			}
		}
		switch k := rng.IntN(1000); {
		case k < mx.batch:
			r := base("BCM", "", stmts[rng.IntN(len(stmts))])
			// Rows vary per record (derived from i: the generator's
			// stream, and so the corpus, is unchanged otherwise).
			r.ResponseRows, r.AffectedRows = int64(1+i*7919%200), int64(i%4)
			out = append(out, r)
		case k < mx.dbauth:
			out = append(out, base("DBAS", "DB", ""))
		case k < mx.logout:
			out = append(out, base("LGO", "", ""))
		case k < mx.failOrRPC:
			r := base("DBAF", "DB", "")
			r.Succeeded = false // an occasional typo: well below thresholds
			if rng.IntN(4) != 0 {
				r = base("RCM", "", "exec dbo.usp_Heartbeat")
			}
			out = append(out, r)
		case k < mx.backup:
			r := base("BA", "DB", fmt.Sprintf("BACKUP DATABASE [Sales] TO URL = N'https://backupacct.blob.core.windows.net/sql/sales_%d.bak' WITH COPY_ONLY, COMPRESSION, CHECKSUM", i))
			svc(&r)
			out = append(out, r)
		case k < mx.logBackup:
			r := base("BAL", "DB", fmt.Sprintf(`BACKUP LOG [Sales] TO DISK = N'\\backupsrv\sql\sales_%d.trn' WITH INIT`, i))
			svc(&r)
			out = append(out, r)
		default:
			out = append(out, base("AUSC", "A", ""))
		}
	}
	return out
}

// TestBenignCorpus: routine traffic gives no finding at low or above.
// The corpus's occasional failed logins are recorded as informational
// findings (AUTH-008, AUTH-009), and nothing else is.
func TestBenignCorpus(t *testing.T) {
	recs := benignCorpus(20000, 1)
	fs := run(t, testConfig(t), recs)
	var bad []Finding
	info := 0
	for _, f := range fs {
		if f.Severity == Info && (f.Rule == "AUTH-008" || f.Rule == "AUTH-009") && f.Records[len(f.Records)-1].ActionID == "DBAF" {
			info++
			continue
		}
		bad = append(bad, f)
	}
	if len(bad) != 0 {
		if len(bad) > 5 {
			bad = bad[:5]
		}
		t.Errorf("benign corpus gave findings:%s", whys(bad))
	}
	if info == 0 {
		t.Error("the corpus's failed logins gave no informational finding")
	}
}

// alerts drops informational findings.
func alerts(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Severity > Info {
			out = append(out, f)
		}
	}
	return out
}

// TestConcurrentEvaluate shares one engine and state between goroutines
// (run with -race): routine traffic stays silent, the attack is found.
func TestConcurrentEvaluate(t *testing.T) {
	e, err := New(testConfig(t), NewMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	recs := benignCorpus(4000, 3)
	results := make(chan []Finding, 5)
	for w := range 4 {
		go func() {
			var all []Finding
			for i := w; i < len(recs); i += 4 {
				fs, err := e.Evaluate(context.Background(), &recs[i])
				if err != nil {
					t.Error(err)
				}
				all = append(all, fs...)
			}
			results <- all
		}()
	}
	go func() {
		var all []Finding
		story := attackStory()
		for i := range story {
			fs, err := e.Evaluate(context.Background(), &story[i])
			if err != nil {
				t.Error(err)
			}
			all = append(all, fs...)
		}
		results <- all
	}()
	total := 0
	for range 5 {
		total += len(alerts(<-results))
	}
	if total != 10 {
		t.Errorf("%d findings, want the attack story's 10", total)
	}
}
