package audit_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// fuzzSeeds are small writer-made audit files: split records, every
// layout variant, two partitions, a partial trailing buffer.
func fuzzSeeds(f testing.TB) [][]byte {
	var seeds [][]byte
	layouts := []xeltest.AuditLayout{
		{},
		{ActionIDType: xeltest.TypeUnicodeString, ClassTypeType: xeltest.TypeAnsiString, CounterType: xeltest.TypeUnicodeString, NoEventTime: true},
		{ActionIDType: xeltest.TypeInt32, CounterType: xeltest.TypeInt32, BoolType: xeltest.TypeUint8, Omit: []string{"statement", "connection_id"}},
	}
	for i, l := range layouts {
		var buf bytes.Buffer
		w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 512, TrimBuffers: true, Partitions: 1 + i%2, Audit: l})
		if err != nil {
			f.Fatal(err)
		}
		a := fullAuditEvent(i)
		a.Statement = stmtOf("f", 4100+i)
		for _, e := range []xeltest.AuditEvent{fullAuditEvent(0), a, batch(52, t0, "SELECT 1")} {
			if err := w.WriteAudit(e); err != nil {
				f.Fatal(err)
			}
		}
		if i == 2 {
			if err := w.Flush(); err != nil {
				f.Fatal(err)
			}
			if err := w.WriteAudit(batch(53, t0, "SELECT 2")); err != nil {
				f.Fatal(err)
			}
			if err := w.FlushPartial(300); err != nil {
				f.Fatal(err)
			}
		} else if err := w.Close(); err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, buf.Bytes())
	}
	return seeds
}

// FuzzReader feeds arbitrary bytes through xel and the audit Reader:
// no panic, bounded work, errors are *xel.FormatError, End stays within
// the file.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		xr, err := xel.NewReader(bytes.NewReader(data), &xel.Options{MaxBufferSize: 1 << 20, MaxMetadataSize: 1 << 20})
		if err != nil {
			return
		}
		ar := audit.NewReader(xr, "fuzz.xel", &audit.ReaderOptions{FlushIncomplete: true, MaxPendingRecords: 4, MaxRecordBytes: 1 << 16, MaxPendingBuffers: 4})
		for range 100000 {
			rec, err := ar.Next()
			if err != nil {
				var fe *xel.FormatError
				if err != io.EOF && !errors.As(err, &fe) {
					t.Fatalf("error %v (%T) is not a *xel.FormatError", err, err)
				}
				break
			}
			_ = rec.AppendJSON(nil)
			_ = rec.AppendCSV(nil)
			_ = audit.ActionGroupsFor(rec.ActionID, rec.ClassType)
			_ = audit.ParseAdditionalInformation(rec.AdditionalInformation)
			if len(rec.Statement)+len(rec.AdditionalInformation) > 1<<16 {
				t.Fatalf("record of %d bytes of text over MaxRecordBytes", len(rec.Statement)+len(rec.AdditionalInformation))
			}
			if len(rec.Statement)+len(rec.AdditionalInformation) > len(data)*2 && len(rec.Parts) > 0 && !rec.StatementTruncated {
				t.Fatalf("reassembled %d bytes from a %d-byte file", len(rec.Statement)+len(rec.AdditionalInformation), len(data))
			}
		}
		if e := ar.End(); e < 0 || e > int64(len(data)) {
			t.Fatalf("End() = %d outside [0, %d]", e, len(data))
		}
	})
}
