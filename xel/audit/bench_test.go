package audit_test

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// Benchmarks run over one synthetic audit file of XELWATCH_BENCH_MB
// megabytes (default 100), made once per process by
// xeltest.SyntheticAuditFile(seed 1):
//
//	go test ./xel/audit -run '^$' -bench . -benchtime 3x
var benchFile = sync.OnceValues(func() ([]byte, error) {
	mb := 100
	if s := os.Getenv("XELWATCH_BENCH_MB"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			mb = n
		}
	}
	var b bytes.Buffer
	b.Grow(mb<<20 + 1<<20)
	err := xeltest.SyntheticAuditFile(&b, int64(mb)<<20, 1)
	return b.Bytes(), err
})

func loadBenchFile(b *testing.B) []byte {
	b.Helper()
	data, err := benchFile()
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkDecodeNormalize: xel decoding + audit normalization and
// reassembly, the ingest path. Reports records/s and allocs/record.
func BenchmarkDecodeNormalize(b *testing.B) {
	data := loadBenchFile(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	var n, total int
	for b.Loop() {
		xr, err := xel.NewReader(bytes.NewReader(data), nil)
		if err != nil {
			b.Fatal(err)
		}
		ar := audit.NewReader(xr, "bench.xel", &audit.ReaderOptions{FlushIncomplete: true})
		n = 0
		for {
			_, err := ar.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		total += n
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
	if total > 0 {
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(total), "allocs/record")
	}
}

// BenchmarkDecodeOnly: the same file through xel alone (events, no
// normalization), for comparison.
func BenchmarkDecodeOnly(b *testing.B) {
	data := loadBenchFile(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	var n int
	for b.Loop() {
		xr, err := xel.NewReader(bytes.NewReader(data), nil)
		if err != nil {
			b.Fatal(err)
		}
		n = 0
		for {
			_, err := xr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkSyntheticAuditFile: the writer (test tooling), 8 MB per op.
func BenchmarkSyntheticAuditFile(b *testing.B) {
	b.SetBytes(8 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if err := xeltest.SyntheticAuditFile(io.Discard, 8<<20, 1); err != nil {
			b.Fatal(err)
		}
	}
}
