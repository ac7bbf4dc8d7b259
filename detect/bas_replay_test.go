package detect

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// The replay tests of the baselines: as replay_test.go, over a file that
// spans a week, with a learning period of a day and a window of three
// days, so that every baseline learns, reports, forgets and reports
// again within 150 records.

var basRules = []string{"BAS-001", "BAS-002", "BAS-003", "BAS-004"}

func basConfig(t testing.TB) Config {
	c := testConfig(t)
	c.BaselineLearning = day
	c.BaselineWindow = 3 * day
	c.BaselineMaxValues = 16
	c.BaselineRowsFloor = 1000
	return c
}

// baselineMix generates n records of one file over about a week:
// statements with row counts (a spike now and then), logins and
// authentications, backups to a few destinations, principals that
// come and go, new client networks and applications; some records share
// an event time, and some statements are split by SQL Server into two
// parts (emitted when the last part is read, after the records between).
func baselineMix(n int, seed uint64) []audit.Record {
	rng := rand.New(rand.NewPCG(seed, 13))
	regulars := []string{"app_orders", `CONTOSO\alice`, "etl"}
	dests := []string{approvedURL, approvedLog, evilURL, `BACKUP LOG s TO DISK = '\\backupsrv\sql\x.trn'`, `BACKUP DATABASE s TO DISK = 'E:\dump\s.bak'`}
	t := t0
	var out []audit.Record
	type waiting struct {
		r    audit.Record
		emit int
	}
	var split []waiting
	for slot := 0; len(out) < n; slot++ {
		if rng.IntN(5) != 0 {
			t = t.Add(time.Duration(rng.IntN(140)) * time.Minute)
		}
		p := regulars[rng.IntN(len(regulars))]
		r := rec("BCM", "", "SELECT * FROM dbo.Orders", by(p), ip(fmt.Sprintf("10.0.%d.%d", rng.IntN(2), 1+rng.IntN(200))), func(r *audit.Record) {
			r.EventTime, r.FileName, r.AuditFileOffset = t, replayFile, slotOffset(slot)
		})
		switch k := rng.IntN(100); {
		case k < 35:
			r.ResponseRows = int64(10 + rng.IntN(200))
			if rng.IntN(12) == 0 {
				r.ResponseRows = int64(50_000 + rng.IntN(500_000))
			}
			if rng.IntN(5) == 0 && len(out)+3 < n {
				r.Parts = []audit.Record{{AuditFileOffset: r.AuditFileOffset}, {AuditFileOffset: slotOffset(slot + 2), EventIndex: 1}}
				split = append(split, waiting{r, slot + 2})
				r = rec("LGO", "", "", func(x *audit.Record) {
					x.EventTime, x.FileName, x.AuditFileOffset, x.EventIndex = t, replayFile, slotOffset(slot), 1
				})
			}
		case k < 45:
			r.Statement, r.AffectedRows = "UPDATE dbo.Stock SET Qty = 0", int64(1+rng.IntN(50))
			if rng.IntN(8) == 0 {
				r.AffectedRows = 2_000_000
			}
		case k < 62:
			r.ActionID, r.ClassType, r.Statement = "LGIS", "LX", ""
			if rng.IntN(6) == 0 {
				r.ActionID, r.Succeeded = "LGIF", false
			}
		case k < 70:
			r.ActionID, r.ClassType, r.Statement = "DBAS", "DB", ""
		case k < 78:
			r.ActionID, r.ClassType, r.Statement = "BA", "DB", dests[rng.IntN(len(dests))]
			svc(&r)
		case k < 85:
			r.ClientIP = fmt.Sprintf("203.0.%d.9", 100+rng.IntN(20))
		case k < 91:
			r.ApplicationName = fmt.Sprintf("tool%d (pid %d)", rng.IntN(4), rng.IntN(99))
		default:
			r.ServerPrincipalName = fmt.Sprintf("temp%d", rng.IntN(4))
			r.SessionServerPrincipalName = r.ServerPrincipalName
		}
		out = append(out, r)
		for i := 0; i < len(split); {
			if split[i].emit == slot {
				out = append(out, split[i].r)
				split = slices.Delete(split, i, i+1)
				continue
			}
			i++
		}
	}
	return out[:n]
}

func basCases() []replayCase {
	return []replayCase{{"week", baselineMix(150, 5)}, {"other week", baselineMix(150, 6)}}
}

// TestBaselineReplayAfterInterruption is TestReplayAfterInterruption for
// the baselines: storage fails after the n-th state operation, for every
// n; the retry from an earlier resume point, on the State the pass left,
// adds the findings the uninterrupted pass has and no other.
func TestBaselineReplayAfterInterruption(t *testing.T) {
	checkReplayAfterInterruption(t, basConfig(t), basCases(), basRules, "baseline")
}

// TestBaselineReplayBatchesAfterFailure is TestReplayBatchesAfterFailure
// for the baselines: batches through Deferreds, storage down after the
// n-th operation of a run (while a batch is evaluated or committed).
func TestBaselineReplayBatchesAfterFailure(t *testing.T) {
	cfg := basConfig(t)
	const batch = 7
	for _, tc := range basCases() {
		t.Run(tc.name, func(t *testing.T) {
			clean := idSet(evalBatches(t, mustEngine(t, cfg, NewMemoryState()), tc.recs, batch))
			if got := rulesOf(clean); !containsAll(got, basRules) {
				t.Fatalf("scenario exercises %q, want every baseline %q", got, basRules)
			}
			if direct := idSet(evalIDs(t, mustEngine(t, cfg, NewMemoryState()), tc.recs)); !slices.Equal(direct, clean) {
				t.Fatalf("batches and a direct pass differ:%s", diff(clean, direct))
			}
			resume := resumePoints(tc.recs)
			for _, o := range []int64{resume[0], resume[len(resume)/3], resume[2*len(resume)/3]} {
				before := func(st State) []string {
					var recs []audit.Record
					for _, r := range tc.recs {
						if r.AuditFileOffset < o {
							recs = append(recs, r)
						}
					}
					return evalBatches(t, mustEngine(t, cfg, st), recs, batch)
				}
				run := from(tc.recs, o)
				counter := &failingState{State: NewMemoryState(), budget: -1}
				before(counter.State)
				evalBatches(t, mustEngine(t, cfg, counter), run, batch)
				for n := 0; n < counter.ops; n++ {
					st := &failingState{State: NewMemoryState(), budget: n}
					earlier := before(st.State)
					e := mustEngine(t, cfg, st)
					first := evalBatches(t, e, run, batch)
					// The retry uses the same Engine, as the function app
					// does: what a discarded batch left in its memo must
					// not reach the retry.
					st.budget = -1
					retry := evalBatches(t, e, run, batch)
					if got := idSet(earlier, first, retry); !slices.Equal(got, clean) {
						t.Fatalf("run from %d: storage down after %d operations:%s", o, n, diff(got, clean))
					}
					if extra := diff(idSet(retry), clean); strings.Contains(extra, "new") {
						t.Fatalf("run from %d: storage down after %d operations: retry emitted%s", o, n, extra)
					}
				}
			}
		})
	}
}

// TestBaselineDeferredMemo: a batch discarded after a failure leaves
// nothing behind, not in the State and not in the memo of the Engine: a
// later Deferred of the same Engine, evaluating the second half of the
// batch (a retry from a later cursor), gives the findings and writes of
// a fresh Engine's.
func TestBaselineDeferredMemo(t *testing.T) {
	cfg := basConfig(t)
	cfg.BaselineLearning = 0
	recs := baselineMix(40, 7)
	eval := func(d *Deferred, recs []audit.Record) ([]string, int) {
		var got []string
		for j := range recs {
			fs, err := d.Evaluate(context.Background(), &recs[j])
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(fs)...)
		}
		return got, d.Pending()
	}
	e := mustEngine(t, cfg, NewMemoryState())
	eval(e.Deferred(), recs) // not committed: the batch failed
	got, gotPending := eval(e.Deferred(), recs[20:])
	want, wantPending := eval(mustEngine(t, cfg, NewMemoryState()).Deferred(), recs[20:])
	if len(want) == 0 || !slices.Equal(got, want) || gotPending != wantPending {
		t.Errorf("retry after a discarded batch: findings %q, %d keys written; want %q, %d", got, gotPending, want, wantPending)
	}
}

// TestBaselineStateBounded floods one principal with new client networks
// and applications, one server with backup destinations, and a
// principal's row history with a year of days: each key stays within
// its bounds (values, entries), keeps its start, and the keys expire with
// the window.
func TestBaselineStateBounded(t *testing.T) {
	cfg := basConfig(t)
	cfg.BaselineMaxValues = 10
	st := NewMemoryState()
	e := mustEngine(t, cfg, st)
	ctx := context.Background()
	for i := range 2000 {
		r := rec("BCM", "", "SELECT 1", by("mallory"), rows(int64(1+i)), at(time.Duration(i)*4*time.Hour),
			ip(fmt.Sprintf("198.%d.%d.1", i/250, i%250)), app(fmt.Sprintf("tool%d", i)))
		if i%3 == 0 {
			r = rec("BA", "DB", fmt.Sprintf("BACKUP DATABASE s TO URL = 'https://acct%d.blob.core.windows.net/c/x.bak'", i), at(time.Duration(i)*4*time.Hour))
		}
		r.FileName, r.AuditFileOffset = fmt.Sprintf("f%d.xel", i/7), int64(i%7)
		if _, err := e.Evaluate(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	for key, limit := range map[string]int{
		"base-cli|sql01|mallory":  cfg.BaselineMaxValues,
		"base-dest|sql01":         cfg.BaselineMaxValues,
		"base-rows|sql01|mallory": 2,
		"base-prin|sql01|mallory": 1,
	} {
		es, _ := st.Get(ctx, key)
		values := map[string]bool{}
		starts := 0
		for _, en := range es {
			switch {
			case en.Value == basStart:
				starts++
			case strings.HasPrefix(key, "base-rows|"):
				values[en.Value[:1]] = true
			default:
				values[en.Value] = true
			}
		}
		if len(es) == 0 || len(es) > basBudget+1 || len(values) > limit {
			t.Errorf("%s: %d entries, %d values; want 1..%d entries, at most %d values", key, len(es), len(values), basBudget+1, limit)
		}
		if want := 1; key != "base-prin|sql01|mallory" && starts != want {
			t.Errorf("%s: %d start entries, want %d", key, starts, want)
		}
	}
	// A year later, the windowed keys of today's records are kept, the
	// baselines of a year ago forgotten.
	later := rec("LGIF", "LX", "", failed, ip("10.9.9.9"), at(2000*4*time.Hour+stateHorizon+4*day))
	later.FileName = "late.xel"
	if _, err := e.Evaluate(ctx, &later); err != nil {
		t.Fatal(err)
	}
	if es, _ := st.Get(ctx, "base-cli|sql01|mallory"); es != nil {
		t.Errorf("baseline key kept %d entries past its expiry", len(es))
	}
	if es, _ := st.Get(ctx, "fail|sql01|10.9.9.9"); len(es) != 1 {
		t.Errorf("the failed login's window holds %d entries, want 1", len(es))
	}
}

// TestMemoryStateKeepsWindowsUnderBaselines: baseline keys expire a
// window (30 days) after their record; a MemoryState must not take that
// expiry for the present and forget the windows of the records being
// evaluated (it did with a horizon of memoryHorizon: the brute force of
// the attack story was never found).
func TestMemoryStateKeepsWindowsUnderBaselines(t *testing.T) {
	cfg := testConfig(t)
	cfg.BaselineLearning = 0
	first := rec("LGIS", "LX", "", at(-time.Minute), func(r *audit.Record) { r.AuditFileOffset = 999 })
	fs := run(t, cfg, append([]audit.Record{first}, attackStory()...))
	if got := summary(fs, "AUTH-001"); len(got) != 1 {
		t.Errorf("AUTH-001 findings %q, want one, with the baselines on:%s", got, whys(fs))
	}
}

// TestBenignCorpusPastLearning spreads the benign corpus over two weeks,
// past the learning period: the usual principals, networks,
// applications, backup destinations and row counts stay silent (only the
// informational failed-login findings remain).
func TestBenignCorpusPastLearning(t *testing.T) {
	recs := benignCorpus(20000, 1)
	start := recs[0].EventTime
	for i := range recs {
		recs[i].EventTime = start.Add(time.Duration(i) * 14 * day / time.Duration(len(recs)))
		recs[i].FileName = fmt.Sprintf("sql01/Sales/SqlDbAuditing_Audit/%s/00_00_00_000_0.xel", recs[i].EventTime.Format("2006-01-02"))
	}
	var bad []Finding
	for _, f := range run(t, testConfig(t), recs) {
		// The corpus's failed logins are informational findings
		// (TestBenignCorpus); nothing else may fire.
		if f.Severity == Info && (f.Rule == "AUTH-008" || f.Rule == "AUTH-009") {
			continue
		}
		bad = append(bad, f)
	}
	if len(bad) != 0 {
		t.Errorf("%d findings; first:%s", len(bad), whys(bad[:min(5, len(bad))]))
	}
}

// TestBaselineMemoUnderEviction: past the bound of values, keys drop
// entries the memo may vouch for; the memo is then cleared, so a direct
// pass (one memo for the run) and batches (a memo per batch) still decide
// alike.
func TestBaselineMemoUnderEviction(t *testing.T) {
	cfg := basConfig(t)
	cfg.BaselineMaxValues = 2
	for _, seed := range []uint64{5, 6, 8} {
		recs := baselineMix(150, seed)
		direct := idSet(evalIDs(t, mustEngine(t, cfg, NewMemoryState()), recs))
		batched := idSet(evalBatches(t, mustEngine(t, cfg, NewMemoryState()), recs, 7))
		if !slices.Equal(direct, batched) {
			t.Errorf("seed %d: batches and a direct pass differ:%s", seed, diff(batched, direct))
		}
	}
}
