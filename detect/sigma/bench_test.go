package sigma

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	sigmago "github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// mixCorpus is the realistic mix of detect's benchmark (82 % batch
// completions over the same statement set, 10 % database
// authentications, logouts, some failures and RPCs, approved backups).
func mixCorpus(n int, seed uint64) []audit.Record {
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
	out := make([]audit.Record, 0, n)
	t := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	for i := 0; len(out) < n; i++ {
		t = t.Add(time.Duration(50+rng.IntN(500)) * time.Millisecond)
		u := users[rng.IntN(len(users))]
		base := func(action, class, stmt string) audit.Record {
			return audit.Record{
				AuditSchemaVersion: 1, SequenceNumber: 1,
				EventTime: t, ActionID: action, ClassType: class, Succeeded: true, SessionID: int16(50 + rng.IntN(200)),
				ServerInstanceName: "sql01", DatabaseName: "Sales", ServerPrincipalName: u, SessionServerPrincipalName: u,
				ClientIP: fmt.Sprintf("10.0.%d.%d", 2+rng.IntN(3), 1+rng.IntN(250)), ApplicationName: apps[rng.IntN(len(apps))],
				HostName: "APP" + fmt.Sprint(rng.IntN(9)), Statement: stmt, FileName: "sql01/Sales/SqlDbAuditing_Audit/2026-11-21/00_00_00_000_0.xel",
				AuditFileOffset: int64(i/50) * 8192, EventIndex: i % 50,
			}
		}
		switch k := rng.IntN(1000); {
		case k < 820:
			out = append(out, base("BCM", "", stmts[rng.IntN(len(stmts))]))
		case k < 920:
			out = append(out, base("DBAS", "DB", ""))
		case k < 975:
			out = append(out, base("LGO", "", ""))
		case k < 995:
			r := base("DBAF", "DB", "")
			r.Succeeded = false
			if rng.IntN(4) != 0 {
				r = base("RCM", "", "exec dbo.usp_Heartbeat")
			}
			out = append(out, r)
		case k < 998:
			out = append(out, base("BA", "DB", fmt.Sprintf("BACKUP DATABASE [Sales] TO URL = N'https://backupacct.blob.core.windows.net/sql/sales_%d.bak' WITH COPY_ONLY", i)))
		default:
			out = append(out, base("AUSC", "A", ""))
		}
	}
	return out
}

// benchRules returns n rules in the styles operators write: SigmaHQ-style
// Data|contains rules, column equality and prefix rules, a negated filter,
// one regular expression in ten.
func benchRules(t testing.TB, n int) []*Rule {
	var out []*Rule
	for i, src := range benchSources(n) {
		out = append(out, mustParse(t, fmt.Sprintf("bench/%d.yml", i), src))
	}
	return out
}

func benchSources(n int) []string {
	words := []string{"xp_cmdshell", "sp_oacreate", "openrowset", "sp_addsrvrolemember", "xp_dirtree", "sp_procoption",
		"bulk insert", "sp_addextendedproc", "xp_regwrite", "sp_add_job", "create assembly", "opendatasource"}
	var out []string
	for i := range n {
		w := words[i%len(words)]
		var det string
		switch i % 5 {
		case 0:
			det = fmt.Sprintf("    selection:\n        EventID: 33205\n        Data|contains|all:\n            - 'object_name:%s'\n            - 'statement:EXEC'\n    condition: selection\n", w)
		case 1:
			det = fmt.Sprintf("    selection:\n        EventID: 33205\n        Data|contains: 'statement:%s %d'\n    condition: selection\n", w, i)
		case 2:
			det = fmt.Sprintf("    selection:\n        EventID: 33205\n        action_id: EX\n        object_name: %s\n    filter:\n        server_principal_name|startswith: 'svc_'\n    condition: selection and not filter\n", w)
		case 3:
			if i%10 == 3 {
				det = fmt.Sprintf("    selection:\n        EventID: 33205\n        statement|re: '(?i)exec\\s+(master\\.\\.)?%s'\n    condition: selection\n", w)
			} else {
				det = fmt.Sprintf("    selection:\n        EventID: 33205\n        statement|contains:\n            - '%s'\n            - '%s_%d'\n    condition: selection\n", w, w, i)
			}
		case 4:
			det = fmt.Sprintf("    sel_a:\n        EventID: 33205\n        application_name|endswith: 'tool%d'\n    sel_b:\n        EventID: 33205\n        host_name: 'ATTACKER%d'\n    condition: 1 of sel_*\n", i, i)
		}
		src := fmt.Sprintf("title: Bench rule %d\nid: bench-%d\nlevel: high\nlogsource:\n    product: windows\n    service: application\ndetection:\n%s", i, i, det)
		out = append(out, src)
	}
	return out
}

// BenchmarkSigma evaluates 10 and 100 rules over the mix (the catalog
// alone is detect's BenchmarkEvaluate; a detect.Engine without
// extensions runs exactly that code).
//
//	go test ./detect/sigma -run '^$' -bench . -benchmem -cpu 1
func BenchmarkSigma(b *testing.B) {
	recs := mixCorpus(20000, 2)
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			s := mustSet(b, benchRules(b, n)...)
			benchSet(b, recs, s.Evaluate)
		})
		b.Run(fmt.Sprintf("rules=%d/no-prefilter", n), func(b *testing.B) {
			rules := benchRules(b, n)
			for _, r := range rules {
				r.pre = nil
			}
			s := mustSet(b, rules...)
			benchSet(b, recs, s.Evaluate)
		})
	}
}

func benchSet(b *testing.B, recs []audit.Record, eval func(context.Context, *audit.Record) ([]detect.Finding, error)) {
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if _, err := eval(ctx, &recs[n%len(recs)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "records/cpu-s")
	}
}

// cpuTime is the user+system CPU time of the process so far (on a shared
// host, wall time understates the evaluator).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSameAsSigmaGo evaluates every bench rule, and rules of other
// condition forms, on the mix and on records built to match: the Set
// (prefilter, folded values, case-sensitive comparators on them) finds
// exactly what sigma-go's own evaluation of the unmodified rule finds on
// the plain fields — except where a value holds U+017F, which the Set
// reads as "s" (strings.EqualFold does; strings.ToLower does not).
func TestSameAsSigmaGo(t *testing.T) {
	recs := mixCorpus(3000, 5)
	hot := []string{"EXEC xp_cmdshell 'dir'", "exec master..XP_CMDSHELL 'x'", "EXEC sp_OACreate 'x'", "statement xp_dirtree 3",
		"EXEC xp_regwrite", "EXEC xp_cmdſhell", "SELECT * FROM OPENROWSET(BULK 'x')", "EXEC SP_ADD_JOB 'x'"}
	for i, s := range hot {
		r := recs[i]
		r.ActionID, r.ObjectName, r.Statement = "EX", strings.Fields(s)[1], s
		r.ApplicationName, r.HostName = fmt.Sprintf("mytool%d", i*5+4), fmt.Sprintf("attacker%d", i*5+4)
		r.ServerPrincipalName = []string{"svc_a", "SVC_b", "bob"}[i%3]
		recs = append(recs, r)
	}
	srcs := append(benchSources(60),
		"title: eq\nlogsource:\n    product: mssql\ndetection:\n    s:\n        object_name: xp_cmdshell\n    n:\n        succeeded: false\n    condition: s or not n\n",
		"title: b64\nlogsource:\n    product: mssql\ndetection:\n    s:\n        statement|base64|contains: xp_cmd\n    t:\n        statement|endswith:\n            - \"'DIR'\"\n            - \"(bulk 'X')\"\n    condition: s or t\n",
		"title: sw\nlogsource:\n    product: mssql\ndetection:\n    s:\n        statement|startswith|all:\n            - EXEC\n            - exec xp\n    condition: s\n",
	)
	var rules []*Rule
	var plain []*evaluator.RuleEvaluator
	for i, src := range srcs {
		rules = append(rules, mustParse(t, fmt.Sprintf("r%d.yml", i), src))
		sr, err := sigmago.ParseRule([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		plain = append(plain, evaluator.ForRule(sr))
	}
	with := mustSet(t, rules...)
	matches := 0
	for i := range recs {
		got := map[string]bool{}
		for _, f := range eval(t, with, &recs[i]) {
			got[f.Rule] = true
		}
		m := map[string]string{}
		for _, f := range fields {
			m[f.name] = f.get(&recs[i])
		}
		for j, r := range rules {
			res, err := plain[j].Matches(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			long := strings.Contains(recs[i].Statement, "ſ")
			if res.Match != got[r.Info.ID] && !(long && got[r.Info.ID]) {
				t.Errorf("record %d (%q), rule %s: sigma-go %v, set %v", i, recs[i].Statement, r.Info.ID, res.Match, got[r.Info.ID])
			}
			if got[r.Info.ID] {
				matches++
			}
		}
	}
	if matches < len(hot)+2 {
		t.Errorf("only %d matches: the records built to match do not", matches)
	}
}

// BenchmarkSigmaHostile: a record whose 1 MiB statement holds every
// literal of 100 rules, so no rule is skipped — the attacker's best
// case. "set" is this package; "sigma-go" evaluates the same rules
// unmodified with sigma-go alone (lower-casing the value per comparison).
func BenchmarkSigmaHostile(b *testing.B) {
	srcs := benchSources(100)
	var bait strings.Builder
	for _, w := range []string{"xp_cmdshell", "sp_oacreate", "openrowset", "sp_addsrvrolemember", "xp_dirtree", "sp_procoption",
		"bulk insert", "sp_addextendedproc", "xp_regwrite", "sp_add_job", "create assembly", "opendatasource"} {
		fmt.Fprintf(&bait, " object_name:%s statement:EXEC %s ", w, w)
	}
	stmt := "EXEC xp_cmdshell 'x' /*" + strings.Repeat("Padding Text ", (1<<20)/13) + bait.String() + "*/"
	r := mixCorpus(1, 1)[0]
	r.ActionID, r.ObjectName, r.Statement = "EX", "xp_cmdshell", stmt
	b.Run("set", func(b *testing.B) {
		s := mustSet(b, benchRules(b, 100)...)
		benchSet(b, []audit.Record{r}, s.Evaluate)
	})
	b.Run("sigma-go", func(b *testing.B) {
		var plain []*evaluator.RuleEvaluator
		for _, src := range srcs {
			sr, err := sigmago.ParseRule([]byte(src))
			if err != nil {
				b.Fatal(err)
			}
			plain = append(plain, evaluator.ForRule(sr))
		}
		benchSet(b, []audit.Record{r}, func(ctx context.Context, rec *audit.Record) ([]detect.Finding, error) {
			m := map[string]string{}
			for _, f := range fields {
				m[f.name] = f.get(rec)
			}
			for _, p := range plain {
				if _, err := p.Matches(ctx, m); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
	})
}
