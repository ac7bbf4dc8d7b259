package detect

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// The tests in this file interrupt a pass over an audit file at every
// record and retry it, as the pipeline does after a storage failure: the
// retry starts again at the blob's cursor (an earlier buffer boundary)
// with the detection state the interrupted pass left behind. The findings
// emitted by the interrupted pass and by the retry together must be
// exactly those of an uninterrupted pass: same detection ids, none new,
// none missing.

// replayFile is the file of the replay scenarios.
const replayFile = "sql01/Sales/SqlDbAuditing_Audit/2026-11-18/14_00_00_000_0.xel"

// replayCase is a sequence of records in the order the decoder emits
// them, each placed in replayFile.
type replayCase struct {
	name string
	recs []audit.Record
}

// slotOffset is the buffer offset of slot i of a replay scenario.
func slotOffset(i int) int64 { return int64(1000 + 100*i) }

// replayMix generates n records of one file that exercise every windowed
// and correlation rule: audit changes (weakening and re-enabling) and
// session starts, backups (foreign, allow-listed, by the backup service)
// and staged credentials by a few principals, brute force, password
// spray, successful logins from the attacking sources, failures from
// public addresses and logins by attack tools, over about three hours.
// Some records share an event time, and some backups are split by SQL
// Server into two parts: such a record is emitted when its last part
// (in a later buffer) is read, after the records in between.
func replayMix(n int, seed uint64, dense bool) []audit.Record {
	rng := rand.New(rand.NewPCG(seed, 11))
	principals := []string{`CONTOSO\mallory`, `CONTOSO\bob`, "sa"}
	attackIPs := []string{"10.66.0.1", "10.66.0.2", "203.0.113.9"}
	t := t0
	var out []audit.Record
	type waiting struct {
		r    audit.Record
		emit int // slot after which it is emitted
	}
	var split []waiting
	burst, burstIP := 0, ""
	for slot := 0; len(out) < n; slot++ {
		step := time.Duration(rng.IntN(70)) * time.Second
		if rng.IntN(5) == 0 || burst > 0 {
			step = time.Duration(rng.IntN(2)) * time.Second // the same instant, or the next second
		}
		if dense {
			step /= 10
		}
		t = t.Add(step)
		p := principals[rng.IntN(len(principals))]
		r := rec("BCM", "", "SELECT 1", by(p), func(r *audit.Record) {
			r.EventTime = t
			r.FileName = replayFile
			r.AuditFileOffset = slotOffset(slot)
		})
		k := rng.IntN(100)
		if burst > 0 {
			k = 30 // a failed login of the burst
		}
		switch {
		case k < 6:
			r.ActionID, r.ClassType, r.Statement = "AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)"
		case k < 8:
			r.ActionID, r.ClassType, r.Statement = "AL", "SA", "ALTER SERVER AUDIT SPECIFICATION s DROP (BACKUP_RESTORE_GROUP)"
		case k < 11:
			r.ActionID, r.ClassType, r.Statement = "AUSC", "A", ""
		case k < 12:
			r.ActionID, r.ClassType, r.Statement = "AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = ON)"
		case k < 20:
			r.ActionID, r.ClassType, r.Statement = "BA", "DB", evilURL
			if rng.IntN(4) == 0 && len(out)+3 < n {
				// Split in two parts; the last one three slots later.
				r.Parts = []audit.Record{{AuditFileOffset: r.AuditFileOffset}, {AuditFileOffset: slotOffset(slot + 3), EventIndex: 1}}
				split = append(split, waiting{r, slot + 3})
				r = rec("BCM", "", "SELECT 2", func(x *audit.Record) {
					x.EventTime, x.FileName, x.AuditFileOffset, x.EventIndex = t, replayFile, slotOffset(slot), 1
				})
			}
		case k < 23:
			r.ActionID, r.ClassType, r.Statement = "BA", "DB", approvedURL
			svc(&r)
		case k < 25:
			r.ActionID, r.ClassType, r.Statement = "BAL", "DB", approvedLog
		case k < 29:
			r.ActionID, r.ClassType = "CR", "CD"
			r.Statement = fmt.Sprintf("CREATE CREDENTIAL [https://evil%d.blob.core.windows.net/loot] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'x'", rng.IntN(3))
		case k < 60:
			r.ActionID, r.ClassType, r.Statement, r.Succeeded = "LGIF", "LX", "", false
			r.ClientIP = attackIPs[rng.IntN(len(attackIPs))]
			switch {
			case burst > 0:
				r.ClientIP = burstIP
				burst--
			case rng.IntN(8) == 0:
				burst, burstIP = 8, r.ClientIP // a brute force follows
			}
			r.ServerPrincipalName = fmt.Sprintf("user%d", rng.IntN(7))
			if rng.IntN(3) == 0 {
				r.ServerPrincipalName = "sa"
			}
			r.SessionServerPrincipalName = r.ServerPrincipalName
		case k < 70:
			r.ActionID, r.ClassType, r.Statement = "LGIS", "LX", ""
			r.ClientIP = attackIPs[rng.IntN(len(attackIPs))]
			r.ServerPrincipalName = fmt.Sprintf("user%d", rng.IntN(7))
			r.SessionServerPrincipalName = r.ServerPrincipalName
		case k < 74:
			r.ActionID, r.ClassType, r.Statement, r.Succeeded = "DBAF", "DB", "", false
			r.ClientIP = fmt.Sprintf("198.51.100.%d", rng.IntN(3))
		case k < 78:
			r.ActionID, r.ClassType, r.Statement = "LGIS", "LX", ""
			r.ApplicationName = "sqlmap/1.8"
		case k < 87: // syntax errors (EXE-012)
			r.Statement = fmt.Sprintf("SELECT * FROM dbo.t WHERE id = '%d''", rng.IntN(5))
			r.Succeeded, r.ServerPrincipalName, r.SessionServerPrincipalName, r.ClientIP = false, "sa", "sa", "10.66.0.1"
			r.AdditionalInformation = "<error_code>102</error_code>"
		case k < 91: // refused by the firewall (AUTH-007)
			r.ActionID, r.ClassType, r.Statement, r.Succeeded, r.ClientIP = "DBAF", "DB", "", false, "198.51.100.40"
			r.AdditionalInformation = "<error_code>40615</error_code><error_state>1</error_state>"
		case k < 97: // credential errors of an application (AUTH-010)
			r.ActionID, r.Statement, r.Succeeded, r.ClientIP = "RCM", "exec dbo.usp_Login", false, "10.66.0.2"
			r.ServerPrincipalName, r.SessionServerPrincipalName = "webapp", "webapp"
			r.AdditionalInformation = "<failure_reason>Err 18456, Level 14, State 8</failure_reason>"
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

// flood: far more failures, audit changes and backups than the per-key
// bounds hold, within one window.
func flood() []audit.Record {
	var out []audit.Record
	for i := range 120 {
		r := rec("LGIF", "LX", "", failed, ip("10.77.0.1"), by(fmt.Sprintf("user%d", i%9)), at(time.Duration(i)*time.Second))
		switch i % 10 {
		case 3:
			r = rec("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)", at(time.Duration(i)*time.Second))
		case 6:
			r = rec("BA", "DB", evilURL, at(time.Duration(i)*time.Second))
		case 8:
			r = rec("AUSC", "A", "", at(time.Duration(i)*time.Second))
		case 9:
			r = rec("LGIS", "LX", "", ip("10.77.0.1"), by(fmt.Sprintf("user%d", i%9)), at(time.Duration(i)*time.Second))
		}
		r.FileName, r.AuditFileOffset = replayFile, slotOffset(i)
		out = append(out, r)
	}
	return out
}

// windowedRules are the rules whose findings depend on the state.
var windowedRules = func() []string {
	var out []string
	for _, r := range catalog {
		if r.Windowed {
			out = append(out, r.ID)
		}
	}
	return out
}()

// evalIDs evaluates recs in order and returns "RULE:id" of each finding.
func evalIDs(t *testing.T, ev interface {
	Evaluate(context.Context, *audit.Record) ([]Finding, error)
}, recs []audit.Record) []string {
	t.Helper()
	var out []string
	for i := range recs {
		fs, err := ev.Evaluate(context.Background(), &recs[i])
		if err != nil {
			t.Fatalf("Evaluate %s@%d: %v", recs[i].ActionID, recs[i].AuditFileOffset, err)
		}
		out = append(out, ids(fs)...)
	}
	return out
}

func idSet(all ...[]string) []string {
	var out []string
	for _, a := range all {
		out = append(out, a...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// resumePoints are the buffer offsets a retry may start at: the cursor
// advances only to buffer boundaries no split record straddles. The
// records a retry from o evaluates are those whose first part is at or
// after o, in emission order.
func resumePoints(recs []audit.Record) []int64 {
	var out []int64
	for _, r := range recs {
		o := r.AuditFileOffset
		ok := true
		for _, s := range recs {
			if n := len(s.Parts); n > 1 && s.AuditFileOffset < o && s.Parts[n-1].AuditFileOffset >= o {
				ok = false
			}
		}
		if ok && (len(out) == 0 || out[len(out)-1] != o) {
			out = append(out, o)
		}
	}
	return out
}

func from(recs []audit.Record, o int64) []audit.Record {
	var out []audit.Record
	for _, r := range recs {
		if r.AuditFileOffset >= o {
			out = append(out, r)
		}
	}
	return out
}

// diff describes how got differs from want, by rule.
func diff(got, want []string) string {
	var b strings.Builder
	for _, id := range got {
		if !slices.Contains(want, id) {
			fmt.Fprintf(&b, " new %s", id)
		}
	}
	for _, id := range want {
		if !slices.Contains(got, id) {
			fmt.Fprintf(&b, " missing %s", id)
		}
	}
	return b.String()
}

// rulesOf lists the rules with findings among ids.
func rulesOf(ids []string) []string {
	var out []string
	for _, id := range ids {
		r, _, _ := strings.Cut(id, ":")
		out = append(out, r)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func replayCases(n int) []replayCase {
	return []replayCase{
		{"mix", replayMix(n, 2, false)},
		{"dense", replayMix(n, 3, true)},
	}
}

// failingState fails every operation after the first budget ones (as
// storage that goes away in the middle of a record's evaluation), and
// counts them.
type failingState struct {
	State
	budget, ops int
}

var errDown = errors.New("storage down")

func (f *failingState) Update(ctx context.Context, key string, exp time.Time, fn func([]Entry) []Entry) ([]Entry, error) {
	if f.ops++; f.budget >= 0 && f.ops > f.budget {
		return nil, errDown
	}
	return f.State.Update(ctx, key, exp, fn)
}

func (f *failingState) Get(ctx context.Context, key string) ([]Entry, error) {
	if f.ops++; f.budget >= 0 && f.ops > f.budget {
		return nil, errDown
	}
	return f.State.Get(ctx, key)
}

// cloneState copies a MemoryState (entries are never modified in place).
func cloneState(m *MemoryState) *MemoryState {
	c := NewMemoryStateLimits(m.maxKeys, m.maxBytes)
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, it := range m.keys {
		_, _ = c.Update(context.Background(), k, it.expires, func([]Entry) []Entry { return it.entries })
	}
	return c
}

// evalUntilDown evaluates recs until the state fails; it returns the ids
// of the records evaluated without error and how many there were.
func evalUntilDown(t *testing.T, e *Engine, recs []audit.Record) ([]string, int) {
	t.Helper()
	var out []string
	for i := range recs {
		fs, err := e.Evaluate(context.Background(), &recs[i])
		if errors.Is(err, errDown) {
			return out, i
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ids(fs)...)
	}
	return out, len(recs)
}

// TestReplayAfterInterruption: storage fails after the n-th state
// operation of a pass (in the middle of a record's evaluation, for every
// n); the findings of the records evaluated until then were emitted, and
// the State keeps what the pass wrote. The retry evaluates the file again
// from an earlier resume point with that State. For every n and resume
// point, the findings of both passes together are those of one
// uninterrupted pass, and the retry emits none that pass would not.
func TestReplayAfterInterruption(t *testing.T) {
	checkReplayAfterInterruption(t, testConfig(t), replayCases(140), windowedRules, "windowed rule")
}

// checkReplayAfterInterruption is the body of TestReplayAfterInterruption
// for cfg and cases, whose clean passes must exercise every rule of want
// (a what).
func checkReplayAfterInterruption(t *testing.T, cfg Config, cases []replayCase, want []string, what string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			counter := &failingState{State: NewMemoryState(), budget: -1}
			clean := idSet(evalIDs(t, mustEngine(t, cfg, counter), tc.recs))
			if got := rulesOf(clean); !containsAll(got, want) {
				t.Fatalf("scenario exercises %q, want every %s %q", got, what, want)
			}
			t.Logf("%d records, %d state operations, %d findings by %q", len(tc.recs), counter.ops, len(clean), rulesOf(clean))
			resume := resumePoints(tc.recs)
			for n := 0; n <= counter.ops; n++ {
				st := &failingState{State: NewMemoryState(), budget: n}
				first, k := evalUntilDown(t, mustEngine(t, cfg, st), tc.recs)
				for _, o := range pickResume(resume, tc.recs, k) {
					st := &failingState{State: cloneState(st.State.(*MemoryState)), budget: -1}
					retry := idSet(evalIDs(t, mustEngine(t, cfg, st), from(tc.recs, o)))
					if got := idSet(first, retry); !slices.Equal(got, clean) {
						t.Fatalf("storage down after %d operations (record %d), resumed at %d:%s", n, k, o, diff(got, clean))
					}
					if extra := diff(retry, clean); strings.Contains(extra, "new") {
						t.Fatalf("storage down after %d operations (record %d), resumed at %d: retry emitted%s", n, k, o, extra)
					}
				}
			}
		})
	}
}

// pickResume returns the resume points a retry of a pass interrupted
// after k records may start from: the start of the file, the last point
// before record k, and one in between.
func pickResume(resume []int64, recs []audit.Record, k int) []int64 {
	// Every record before the resume point was evaluated: the point is at
	// or before the first part of every record not evaluated yet.
	limit := int64(1 << 62)
	for _, r := range recs[k:] {
		limit = min(limit, r.AuditFileOffset)
	}
	var ok []int64
	for _, o := range resume {
		if o <= limit {
			ok = append(ok, o)
		}
	}
	if len(ok) == 0 {
		return []int64{0}
	}
	out := []int64{0, ok[len(ok)/2], ok[len(ok)-1]}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestReplayBatchesAfterFailure is the pipeline's case: a run starts at
// the blob's cursor and evaluates records in batches through a Deferred,
// each committed after the batch's findings were emitted. Storage fails
// after the n-th state operation of the run, for every n: while a batch
// is evaluated (its findings and writes are lost) or while it commits
// (its findings were emitted, some of its writes made it). The retry
// starts at the same cursor; with what was emitted, it gives the
// findings of an uninterrupted pass, even when the per-key bounds of the
// state are exceeded (flood).
func TestReplayBatchesAfterFailure(t *testing.T) {
	cfg := testConfig(t)
	cases := append(replayCases(140), replayCase{"flood", flood()})
	const batch = 7
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clean := idSet(evalBatches(t, mustEngine(t, cfg, NewMemoryState()), tc.recs, batch))
			if got := rulesOf(clean); tc.name != "flood" && !containsAll(got, windowedRules) {
				t.Fatalf("scenario exercises %q, want every windowed rule %q", got, windowedRules)
			}
			resume := resumePoints(tc.recs)
			for _, o := range []int64{resume[0], resume[len(resume)/2]} {
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
					first := evalBatches(t, mustEngine(t, cfg, st), run, batch)
					retry := evalBatches(t, mustEngine(t, cfg, st.State), run, batch)
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

// evalBatches evaluates recs in batches of size n through Deferreds,
// emitting each batch's findings and then committing its writes, until
// the state fails. It returns the ids emitted.
func evalBatches(t *testing.T, e *Engine, recs []audit.Record, n int) []string {
	t.Helper()
	var emitted []string
	for start := 0; start < len(recs); start += n {
		d := e.Deferred()
		var got []string
		for i := start; i < min(start+n, len(recs)); i++ {
			found, err := d.Evaluate(context.Background(), &recs[i])
			if errors.Is(err, errDown) {
				return emitted
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(found)...)
		}
		emitted = append(emitted, got...)
		if err := d.Commit(context.Background()); errors.Is(err, errDown) {
			return emitted
		} else if err != nil {
			t.Fatal(err)
		}
	}
	return emitted
}

func mustEngine(t testing.TB, cfg Config, st State) *Engine {
	t.Helper()
	e, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// TestReplayPitfalls replays small sequences that a retry used to get
// wrong: storage fails after the first `ops` state operations of a pass
// (-1: never), and the retry resumes at the offset of record `resume`.
func TestReplayPitfalls(t *testing.T) {
	place := func(recs []audit.Record) []audit.Record {
		for i := range recs {
			recs[i].FileName, recs[i].AuditFileOffset = replayFile, slotOffset(i)
		}
		return recs
	}
	cred := "CREATE CREDENTIAL [https://evilacct.blob.core.windows.net/loot] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'x'"
	cases := []struct {
		name   string
		recs   []audit.Record
		ops    int
		resume int
		want   string // a finding of the uninterrupted pass, "RULE/severity"
	}{{
		// The throttle's claim of the record at 90m must not free the
		// record at 30m, which the claim at 0m blocked.
		name: "throttle window claimed again later",
		recs: place([]audit.Record{
			rec("DBAF", "DB", "", failed, ip("203.0.113.50")),
			rec("DBAF", "DB", "", failed, ip("203.0.113.50"), at(30*time.Minute)),
			rec("DBAF", "DB", "", failed, ip("203.0.113.50"), at(90*time.Minute)),
		}),
		ops: -1, resume: 1, want: "AUTH-004/medium",
	}, {
		// Failures in the same second: on a retry the first one must not
		// count the later ones (the pass died before the eighth claimed).
		name: "brute force within one second, storage lost before the claim",
		recs: place(fails(8, "10.5.0.1", same("sa"), 0)),
		ops:  7*2 + 1, resume: 0, // 7 × (brute force, spray), the 8th's brute force; its claim fails
		want: "AUTH-001/medium",
	}, {
		// A later brute force marks the same principal in the same second
		// as the successful login: the retry must name the same AUTH-003.
		name: "success after failures, later mark in the same second",
		recs: place(append(append(fails(8, "10.5.0.2", same("sa"), time.Second),
			rec("LGIS", "LX", "", by("sa"), ip("10.5.0.2"), at(20*time.Second))),
			repeat(8, func(int) audit.Record {
				return rec("LGIF", "LX", "", failed, by("sa"), ip("10.5.0.3"), at(20*time.Second))
			})...)),
		ops: -1, resume: 0, want: "AUTH-003/high",
	}, {
		// Five audit changes, a backup, the audit back on: replaying the
		// changes must not pair them with the backup anew (issue 9: a
		// storage fault added AUD-006 findings with new ids).
		name: "audit changes replayed before a later backup",
		recs: place(append(repeat(5, func(i int) audit.Record {
			return rec("AL", "A", "ALTER SERVER AUDIT Main WITH (STATE = OFF)", at(time.Duration(i)*time.Minute))
		}),
			rec("BA", "DB", evilURL, at(5*time.Minute)),
			rec("AUSC", "A", "", at(6*time.Minute)),
			rec("BA", "DB", evilURL, at(7*time.Minute)),
		)),
		ops: -1, resume: 0, want: "AUD-006/critical",
	}, {
		// A backup split in two parts, emitted after the credential that
		// lies between its parts: its place is its last part.
		name: "split backup after credential",
		recs: func() []audit.Record {
			rs := place([]audit.Record{
				rec("BCM", "", "SELECT 1"),
				rec("BA", "DB", evilURL, at(2*time.Minute)),
				rec("CR", "CD", cred, at(time.Minute)),
			})
			rs[1].Parts = []audit.Record{{AuditFileOffset: slotOffset(1)}, {AuditFileOffset: slotOffset(3)}}
			rs[1], rs[2] = rs[2], rs[1] // emitted when its last part is read
			return rs
		}(),
		ops: 5, resume: 0, // the credential's five operations; the backup's first fails
		want: "EXF-005/high",
	}}
	cfg := testConfig(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var all []Finding
			e := mustEngine(t, cfg, NewMemoryState())
			for i := range tc.recs {
				fs, err := e.Evaluate(context.Background(), &tc.recs[i])
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, fs...)
			}
			if got := summary(all, strings.Split(tc.want, "/")[0]); !slices.Contains(got, tc.want) {
				t.Fatalf("uninterrupted pass: %q, want %s%s", got, tc.want, whys(all))
			}
			clean := idSet(ids(all))
			st := &failingState{State: NewMemoryState(), budget: tc.ops}
			first, k := evalUntilDown(t, mustEngine(t, cfg, st), tc.recs)
			retry := idSet(evalIDs(t, mustEngine(t, cfg, st.State), from(tc.recs, slotOffset(tc.resume))))
			if got := idSet(first, retry); !slices.Equal(got, clean) {
				t.Errorf("interrupted at record %d, resumed at record %d:%s", k, tc.resume, diff(got, clean))
			}
		})
	}
}
