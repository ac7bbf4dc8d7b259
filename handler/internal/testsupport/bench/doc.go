// Package bench measures the function app on Azurite (it has no code of
// its own, only TestBench, which runs when XELWATCH_BENCH_MB is set):
//
//	source .ci/azurite.sh && azurite_start
//	XELWATCH_BENCH_MB=100 go test -count=1 -run TestBench -v -timeout 100m ./handler/internal/testsupport/bench
//
// It streams a synthesized audit file of that size into an append blob,
// ingests it with the pipeline as AuditBlob runs it (rows, detection
// state, findings to the outbox, cursor; rows/s), upserts the same rows
// with raw aztables transactions at the store's parallelism (rows/s),
// reports the ratio and the process's peak RSS (VmHWM) after the ingest
// phase, then measures append → detection-on-the-queue latency with the
// sweep on its default schedule. A 1 MiB blob goes through both paths
// first, so that Azurite's JIT warm-up is not charged to either.
package bench
