package detect

import (
	"context"
	"testing"
)

// BenchmarkEvaluateNoBaselines is BenchmarkEvaluate with the baselines
// (BAS-001..004) disabled: the difference is their cost.
//
//	go test ./detect -run '^$' -bench 'Evaluate(NoBaselines)?$' -count 3 -cpu 1
func BenchmarkEvaluateNoBaselines(b *testing.B) {
	recs := corpus(50000, 2, benchMix)
	attack := attackStory()
	for i := range attack {
		recs[i*997%len(recs)] = attack[i]
	}
	cfg := testConfig(b)
	cfg.DisabledRules = []string{"BAS-001", "BAS-002", "BAS-003", "BAS-004"}
	e := mustEngine(b, cfg, NewMemoryState())
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		if _, err := e.Evaluate(ctx, &recs[n%len(recs)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "records/cpu-s")
	}
}
