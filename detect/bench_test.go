package detect

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// cpuTime is the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEvaluate runs the whole catalog over a realistic mix (82 %
// batch completions with a varied statement set, 10 % database
// authentications, logouts, some failures and RPCs, approved backups)
// with an attack story mixed in, and reports records/s (wall and CPU) and
// the windowed state held at the end. BenchmarkEvaluateBackupHeavy uses
// the test corpus, where one record in twenty is a backup.
//
//	go test ./detect -run '^$' -bench Evaluate -benchmem -cpu 1
func BenchmarkEvaluate(b *testing.B) { benchEvaluate(b, corpus(50000, 2, benchMix)) }

func BenchmarkEvaluateBackupHeavy(b *testing.B) { benchEvaluate(b, corpus(50000, 2, testMix)) }

func benchEvaluate(b *testing.B, recs []audit.Record) {
	attack := attackStory()
	for i := range attack {
		recs[i*997%len(recs)] = attack[i]
	}
	st := NewMemoryState()
	e, err := New(testConfig(b), st)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if _, err := e.Evaluate(ctx, &recs[n%len(recs)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	// On a shared, loaded host wall time understates the engine; CPU
	// time of the process (one goroutine evaluates) does not.
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "records/cpu-s")
	}
	keys, entries, bytes := st.Stats()
	b.ReportMetric(float64(keys), "state-keys")
	b.ReportMetric(float64(entries), "state-entries")
	b.ReportMetric(float64(bytes)/1024, "state-KiB")
}

// BenchmarkFailureFlood sends failed logins from ever new addresses and
// principals (a distributed spray) through an engine whose memory state
// is limited to 8 MiB, and reports the state held: it stays bounded.
func BenchmarkFailureFlood(b *testing.B) {
	st := NewMemoryStateLimits(0, 8<<20)
	e, err := New(testConfig(b), st)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r := rec("DBAF", "DB", "", ip(fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)), by(fmt.Sprintf("user%d", n%997)), at(time.Duration(n)*time.Millisecond))
		r.AuditFileOffset = int64(n)
		if _, err := e.Evaluate(ctx, &r); err != nil {
			b.Fatal(err)
		}
		n++
	}
	keys, entries, bytes := st.Stats()
	if bytes > 8<<20 {
		b.Fatalf("state holds %d bytes, over its 8 MiB budget", bytes)
	}
	b.ReportMetric(float64(keys), "state-keys")
	b.ReportMetric(float64(entries), "state-entries")
	b.ReportMetric(float64(bytes)/1024, "state-KiB")
}
