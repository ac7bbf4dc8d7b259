package ingest

// Test helpers for the external test package ingest_test.
var (
	PaddedFile = paddedFile
	RealEngine = realEngine
	RulesOf    = rulesOf
	T0         = t0
)

const TestBlob = testBlob
