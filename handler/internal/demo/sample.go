package demo

import (
	"bytes"
	_ "embed"
	"time"
)

// sampleXEL is testdata/sample.xel, the demo's audit file. It is made by
// the test-only generator in sample_test.go (with xel/xeltest, which
// therefore stays out of the binary); TestSampleIsCurrent keeps the two
// equal, `go test ./handler/internal/demo -run TestSampleIsCurrent -update`
// rewrites it.
//
//go:embed testdata/sample.xel
var sampleXEL []byte

// sampleRecords is the number of audit records in sampleXEL
// (TestSampleDecodes checks it).
const sampleRecords = 41

// SampleStart is the event time of the sample's first record.
var SampleStart = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// Sample returns a copy of the demo's audit file: 4 KiB buffers, two
// partitions (as a multi-core server writes them), routine activity, then
// an intruder who switches the server audit off and takes a COPY_ONLY
// backup to a foreign storage account.
func Sample() []byte { return bytes.Clone(sampleXEL) }
