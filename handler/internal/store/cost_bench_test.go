package store

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// BenchmarkRowCost measures what one GB of audit file costs in Table
// Storage, for the README's cost section: it decodes a 20 MB synthesized
// audit file (xeltest.SyntheticAuditFile, the bench mix), builds its
// AuditEvents entities with the store's encoder and groups them into
// transactions, and reports per record the file bytes, the entities, their
// size as the service counts it (the capacity formula: keys and strings in
// UTF-16, 8 bytes plus the name per property), and the entities per
// transaction.
//
//	go test ./handler/internal/store -run '^$' -bench RowCost -benchtime 1x
func BenchmarkRowCost(b *testing.B) {
	var buf bytes.Buffer
	if err := xeltest.SyntheticAuditFile(&buf, 20<<20, 1); err != nil {
		b.Fatal(err)
	}
	const blob = "srv/db/SqlDbAuditing_ServerAudit/2026-11-21/10_00_00_000_0.xel"
	for b.Loop() {
		xr, err := xel.NewReader(bytes.NewReader(buf.Bytes()), nil)
		if err != nil {
			b.Fatal(err)
		}
		ar := audit.NewReader(xr, blob, &audit.ReaderOptions{FlushIncomplete: true})
		var recs []*audit.Record
		for {
			r, err := ar.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, r)
		}
		ents, err := BuildEntities("srv", "db", blob, time.Now(), recs)
		if err != nil {
			b.Fatal(err)
		}
		size := 0
		for _, e := range ents {
			size += e.Size
		}
		n := float64(len(recs))
		b.ReportMetric(float64(buf.Len())/n, "file-B/record")
		b.ReportMetric(float64(len(ents))/n, "entities/record")
		b.ReportMetric(float64(size)/float64(len(ents)), "service-B/entity")
		b.ReportMetric(float64(len(ents))/float64(len(Batches(ents))), "entities/transaction")
	}
}
