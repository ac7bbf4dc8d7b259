package detect

import (
	"context"
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
	st := NewMemoryState(0)
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
	keys, entries := st.Stats()
	b.ReportMetric(float64(keys), "state-keys")
	b.ReportMetric(float64(entries), "state-entries")
}
