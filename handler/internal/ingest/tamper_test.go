package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
)

// storageFindings returns the findings of rule among fs.
func storageFindings(fs []detect.Finding, rule string) []detect.Finding {
	var out []detect.Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

// rowsOf counts the stored rows per file name.
func rowsOf(f *fixture) map[string]int {
	out := map[string]int{}
	for _, r := range f.rows.Records() {
		out[r.FileName]++
	}
	return out
}

// TestIngestShortenedBlob: a blob replaced by a shorter prefix of itself
// (deleted and created again under its name) raises one AUD-014 naming
// the lengths and the rows held; the old rows stay, the blob is read
// again as generation 1 (rows under a new file name), and later runs
// raise nothing more.
func TestIngestShortenedBlob(t *testing.T) {
	t.Parallel()
	const n = 200
	file := auditFile(t, n)
	f := newFixture(t, Options{})
	var sunk []detect.Finding
	sink := func(_ context.Context, fs []detect.Finding) error { sunk = append(sunk, fs...); return nil }
	f.blobs.Append(testBlob, file, t0)
	f.ingest(t, RunOptions{FindingSink: sink})
	prefix := file[:len(file)/2]
	f.blobs.Replace(testBlob, prefix, "", t0.Add(time.Hour))

	r := f.ingest(t, RunOptions{FindingSink: sink})
	got := storageFindings(r.Findings, detect.RuleBlobShortened)
	if len(got) != 1 {
		t.Fatalf("AUD-014 findings = %d (%v), want 1", len(got), rulesOf(r.Findings))
	}
	fd := got[0]
	for _, want := range []string{testBlob, fmt.Sprint(len(prefix)), fmt.Sprint(len(file)), fmt.Sprintf("holds %d rows", n)} {
		if !strings.Contains(fd.Why, want) {
			t.Errorf("why lacks %q: %s", want, fd.Why)
		}
	}
	if fd.Severity != detect.High || fd.Server != "srv1" || fd.Title != "Audit blob shortened or replaced" {
		t.Errorf("finding = %+v", fd)
	}
	if len(storageFindings(sunk, detect.RuleBlobShortened)) != 1 {
		t.Errorf("the sink did not get the AUD-014 before the commit")
	}
	c, _ := f.cursors.Get(context.Background(), testBlob)
	if c.Generation != 1 || c.EarlierRows != n || c.Offset == 0 || c.Offset > int64(len(prefix)) {
		t.Errorf("cursor generation %d earlier rows %d offset %d, want 1, %d, within the prefix", c.Generation, c.EarlierRows, c.Offset, n)
	}
	rows := rowsOf(f)
	if rows[testBlob] != n || rows[FileNameOf(testBlob, 1)] == 0 || rows[FileNameOf(testBlob, 1)] >= n {
		t.Errorf("rows per file = %v: want the %d old rows kept and part of them again as generation 1", rows, n)
	}
	// Nothing more: up to date, and growth of the new generation is
	// plain growth.
	if r := f.ingest(t, RunOptions{}); r.Outcome != OutcomeUpToDate || len(r.Findings) != 0 {
		t.Errorf("re-run: %s with %v", r.Outcome, rulesOf(r.Findings))
	}
	f.blobs.Append(testBlob, file[len(prefix):], t0.Add(2*time.Hour))
	r = f.ingest(t, RunOptions{})
	if s := storageFindings(r.Findings, detect.RuleBlobShortened); len(s) != 0 || len(storageFindings(r.Findings, detect.RuleBlobRewritten)) != 0 {
		t.Errorf("growth after the new generation raised %v", rulesOf(r.Findings))
	}
	if rows := rowsOf(f); rows[FileNameOf(testBlob, 1)] != n || rows[testBlob] != n {
		t.Errorf("rows per file = %v, want %d of each generation", rows, n)
	}
}

// TestIngestRewrittenBlob: bytes already read change while the length
// stays (or grows). Recreated with new bytes, recreated with the same
// bytes, changed in place with the same creation time (only the digest
// tells), or turned into a block blob: one AUD-015 each, and the new
// content is read as the next generation.
func TestIngestRewrittenBlob(t *testing.T) {
	t.Parallel()
	const n = 150
	file := auditFile(t, n)
	// Same length, other statements: "orders" → "secret" in every record.
	// (Statements are UTF-16LE in the file.)
	utf16 := func(s string) []byte {
		var b []byte
		for _, c := range []byte(s) {
			b = append(b, c, 0)
		}
		return b
	}
	other := bytes.ReplaceAll(bytes.Clone(file), utf16("orders"), utf16("secret"))
	if len(other) != len(file) || bytes.Equal(other, file) {
		t.Fatal("bad rewrite")
	}
	cases := []struct {
		name    string
		tamper  func(m *MemoryBlobs)
		newText bool // the next generation holds "secret"
	}{
		{"recreated-other-bytes", func(m *MemoryBlobs) { m.Replace(testBlob, other, "", t0.Add(time.Hour)) }, true},
		{"recreated-same-bytes", func(m *MemoryBlobs) { m.Replace(testBlob, file, "", t0.Add(time.Hour)) }, false},
		{"in-place-digest-only", func(m *MemoryBlobs) { m.Rewrite(testBlob, other, t0.Add(time.Hour)) }, true},
		{"grown-and-rewritten", func(m *MemoryBlobs) {
			m.Rewrite(testBlob, append(bytes.Clone(other), other[len(other)-4096:]...), t0.Add(time.Hour))
		}, true},
		{"now-a-block-blob", func(m *MemoryBlobs) { m.Rewrite(testBlob, file, t0); m.blobs[testBlob].typ = "BlockBlob" }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Options{})
			f.blobs.Append(testBlob, file, t0)
			f.ingest(t, RunOptions{})
			tc.tamper(f.blobs)
			r := f.ingest(t, RunOptions{})
			got := storageFindings(r.Findings, detect.RuleBlobRewritten)
			if len(got) != 1 || len(storageFindings(r.Findings, detect.RuleBlobShortened)) != 0 {
				t.Fatalf("findings %v, want one AUD-015", rulesOf(r.Findings))
			}
			if got[0].Severity != detect.Critical || !strings.Contains(got[0].Why, fmt.Sprintf("holds %d rows", n)) {
				t.Errorf("finding = %s %s", got[0].Severity, got[0].Why)
			}
			c, _ := f.cursors.Get(context.Background(), testBlob)
			if c.Generation != 1 || c.EarlierRows != n {
				t.Errorf("cursor generation %d earlier rows %d", c.Generation, c.EarlierRows)
			}
			secret := 0
			for _, rec := range f.rows.Records() {
				if strings.Contains(rec.Statement, "secret") {
					if rec.FileName != FileNameOf(testBlob, 1) {
						t.Fatalf("new content stored under %q", rec.FileName)
					}
					secret++
				}
			}
			if rows := rowsOf(f); rows[testBlob] != n || rows[FileNameOf(testBlob, 1)] < n || (secret > 0) != tc.newText {
				t.Errorf("rows per file %v, %d rows of new text", rows, secret)
			}
			if r := f.ingest(t, RunOptions{}); len(r.Findings) != 0 {
				t.Errorf("second run raised %v", rulesOf(r.Findings))
			}
		})
	}
}

// TestIngestETagOnlyChange: a changed ETag with the same bytes (metadata
// set) is verified and raises nothing.
func TestIngestETagOnlyChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	file := auditFile(t, 100)
	f.blobs.Append(testBlob, file, t0)
	f.ingest(t, RunOptions{})
	f.blobs.Touch(testBlob)
	if r := f.ingest(t, RunOptions{}); len(r.Findings) != 0 || r.Outcome != OutcomeRead {
		t.Errorf("outcome %s findings %v, want read and none", r.Outcome, rulesOf(r.Findings))
	}
	c, _ := f.cursors.Get(context.Background(), testBlob)
	if c.Generation != 0 || c.Identity.TailLength == 0 || c.Identity.HeadLength == 0 {
		t.Errorf("cursor %+v", c.Identity)
	}
}

// TestIngestTamperReplayExact: a run that finds a shortened blob and dies
// anywhere (the sink, the upserts, the commit) is retried: the retry emits
// the same AUD-014 id and stores the same rows as an uninterrupted run.
func TestIngestTamperReplayExact(t *testing.T) {
	t.Parallel()
	file := auditFile(t, 120)
	prefix := file[:len(file)*2/3]
	run := func(t *testing.T, fail string) (ids []string, rows []string) {
		f := newFixture(t, Options{BatchSize: 10})
		f.blobs.Append(testBlob, file, t0)
		f.ingest(t, RunOptions{})
		f.blobs.Replace(testBlob, prefix, "", t0.Add(time.Hour))
		boom := errors.New("boom")
		failed := false
		sink := func(_ context.Context, fs []detect.Finding) error {
			if fail == "sink" && !failed {
				failed = true
				return boom
			}
			for _, fd := range fs {
				ids = append(ids, fd.DetectionID)
			}
			return nil
		}
		writes := 0
		f.rows.Fail = func(string) error {
			writes++
			if fail == "rows" && !failed && writes == 3 {
				failed = true
				return boom
			}
			return nil
		}
		f.cursors.Fail = func(op, _ string) error {
			if fail == "commit" && op == "update" && !failed && len(ids) > 0 {
				c := f.cursors.m[testBlob]
				if c.LeaseOwner != "" && c.Generation == 0 && writes > 0 {
					failed = true
					return boom
				}
			}
			return nil
		}
		for range 3 {
			if _, err := f.p.Ingest(context.Background(), testBlob, RunOptions{FindingSink: sink, Owner: "inv"}); err == nil {
				break
			}
		}
		if fail != "" && !failed {
			t.Fatalf("fault %s never injected", fail)
		}
		for _, r := range f.rows.Records() {
			rows = append(rows, RowKey(r))
		}
		slices.Sort(ids)
		return slices.Compact(ids), rows
	}
	wantIDs, wantRows := run(t, "")
	if len(wantIDs) == 0 {
		t.Fatal("no findings")
	}
	for _, fail := range []string{"sink", "rows", "commit"} {
		t.Run(fail, func(t *testing.T) {
			ids, rows := run(t, fail)
			if !slices.Equal(ids, wantIDs) || !slices.Equal(rows, wantRows) {
				t.Errorf("ids %v rows %d, want %v and %d rows", ids, len(rows), wantIDs, len(wantRows))
			}
		})
	}
}

// TestIngestClosedBlobReplaced: a closed cursor (file rolled over) costs a
// properties request per run while its blob is unchanged; grown or with
// new metadata it stays closed (the new length recorded once); deleted and
// created again with other bytes — Event Grid announces it — it raises
// AUD-015 and is reopened and read as generation 1.
func TestIngestClosedBlobReplaced(t *testing.T) {
	t.Parallel()
	const n = 120
	file := auditFile(t, n)
	f := newFixture(t, Options{})
	f.blobs.Append(testBlob, file, t0)
	if r := f.ingest(t, RunOptions{Final: true}); r.Outcome != OutcomeClosed {
		t.Fatalf("outcome %s, want closed", r.Outcome)
	}
	writes := func() int { f.cursors.mu.Lock(); defer f.cursors.mu.Unlock(); return f.cursors.n }
	w := writes()
	if r := f.ingest(t, RunOptions{}); r.Outcome != OutcomeClosed || writes() != w {
		t.Fatalf("unchanged closed blob: %s, %d cursor writes", r.Outcome, writes()-w)
	}
	f.blobs.Append(testBlob, []byte("more"), t0)
	if r := f.ingest(t, RunOptions{}); r.Outcome != OutcomeClosed || len(r.Findings) != 0 {
		t.Fatalf("grown closed blob: %s %v", r.Outcome, rulesOf(r.Findings))
	}
	w = writes()
	if r := f.ingest(t, RunOptions{}); r.Outcome != OutcomeClosed || writes() != w {
		t.Fatalf("grown closed blob, second run: %s, %d cursor writes", r.Outcome, writes()-w)
	}
	f.blobs.Replace(testBlob, file, "", t0.Add(time.Hour)) // same bytes, new blob, shorter than the grown one
	r := f.ingest(t, RunOptions{})
	if len(storageFindings(r.Findings, detect.RuleBlobShortened)) != 1 || r.Outcome == OutcomeClosed {
		t.Fatalf("replaced closed blob: %s %v, want AUD-014 and a reopened cursor", r.Outcome, rulesOf(r.Findings))
	}
	c, _ := f.cursors.Get(context.Background(), testBlob)
	if c.State != StateOpen || c.Generation != 1 || rowsOf(f)[FileNameOf(testBlob, 1)] != n {
		t.Errorf("cursor %s generation %d rows %v", c.State, c.Generation, rowsOf(f))
	}
	f.blobs.Rewrite(testBlob, bytes.ReplaceAll(file, []byte{'S', 0, 'E', 0, 'L', 0}, []byte{'s', 0, 'e', 0, 'l', 0}), t0.Add(2*time.Hour))
	if r := f.ingest(t, RunOptions{Final: true}); len(storageFindings(r.Findings, detect.RuleBlobRewritten)) != 1 {
		t.Fatalf("rewritten: %v", rulesOf(r.Findings))
	}
}

// configuredRules is the backup rule with the storage rules configured
// as an Engine does it: AUD-014 disabled, AUD-015 re-rated.
type configuredRules struct{ backupRule }

func (configuredRules) StorageRule(id string) (detect.RuleInfo, bool) {
	info, ok := detect.StorageRule(id)
	switch id {
	case detect.RuleBlobShortened:
		return detect.RuleInfo{}, false
	case detect.RuleBlobRewritten:
		info.Severity = detect.Medium
	}
	return info, ok
}

func TestIngestStorageRulesFollowConfiguration(t *testing.T) {
	t.Parallel()
	const n = 200
	file := auditFile(t, n)
	f := newFixture(t, Options{})
	f.p = New(f.blobs, f.cursors, f.rows, &configuredRules{}, XEL{}, nil, Options{})
	f.blobs.Append(testBlob, file, t0)
	f.ingest(t, RunOptions{})

	// Disabled: no AUD-014, but the blob is still read again as the
	// next generation and the old rows stay.
	f.blobs.Replace(testBlob, file[:len(file)/2], "", t0.Add(time.Hour))
	r := f.ingest(t, RunOptions{})
	if got := storageFindings(r.Findings, detect.RuleBlobShortened); len(got) != 0 {
		t.Errorf("disabled AUD-014 raised %d findings", len(got))
	}
	if c, _ := f.cursors.Get(context.Background(), testBlob); c.Generation != 1 || c.EarlierRows != n {
		t.Errorf("cursor generation %d earlier rows %d, want 1, %d", c.Generation, c.EarlierRows, n)
	}

	// Re-rated: AUD-015 at the configured severity.
	other := auditFile(t, n)
	f.blobs.Replace(testBlob, other, "", t0.Add(2*time.Hour))
	for range 3 {
		r = f.ingest(t, RunOptions{})
		if got := storageFindings(r.Findings, detect.RuleBlobRewritten); len(got) > 0 {
			if got[0].Severity != detect.Medium {
				t.Errorf("AUD-015 severity %s, want the override medium", got[0].Severity)
			}
			return
		}
	}
	t.Errorf("no AUD-015 after the blob was replaced by other bytes")
}

// vanishingRules is the backup rule that reports an open cursor's blob
// gone, as *detect.Engine does (AUD-013).
type vanishingRules struct {
	backupRule
	calls []string
}

func (v *vanishingRules) BlobVanished(container, blob, server, database string, rows int64, at time.Time) (detect.Finding, bool) {
	v.calls = append(v.calls, fmt.Sprintf("%s/%s %s/%s rows=%d", container, blob, server, database, rows))
	return detect.Finding{DetectionID: "AUD-013:" + container + "/" + blob, Rule: "AUD-013", Severity: detect.High, Time: at}, true
}

// TestIngestOpenBlobVanished: the blob of an open cursor is gone (deleted
// with no BlobDeleted event, or before it arrived). The run reports
// AUD-013 through the sink before it closes the cursor, and a failing sink
// leaves the cursor open so that the retry reports it again (same id);
// a closed cursor's missing blob is not reported again.
func TestIngestOpenBlobVanished(t *testing.T) {
	t.Parallel()
	const n = 50
	f := newFixture(t, Options{Container: "sqldbauditlogs"})
	ev := &vanishingRules{}
	f.p = New(f.blobs, f.cursors, f.rows, ev, XEL{}, nil, Options{Container: "sqldbauditlogs"})
	f.blobs.Append(testBlob, auditFile(t, n), t0)
	f.ingest(t, RunOptions{})
	f.blobs.Delete(testBlob)

	failing := func(context.Context, []detect.Finding) error { return errors.New("outbox down") }
	if _, err := f.p.Ingest(context.Background(), testBlob, RunOptions{FindingSink: failing}); err == nil {
		t.Fatal("a run whose sink failed succeeded")
	}
	if c, _ := f.cursors.Get(context.Background(), testBlob); c.State != StateOpen {
		t.Fatalf("cursor %s after the sink failed, want open", c.State)
	}

	var sunk []detect.Finding
	sink := func(_ context.Context, fs []detect.Finding) error { sunk = append(sunk, fs...); return nil }
	r := f.ingest(t, RunOptions{FindingSink: sink})
	if r.Outcome != OutcomeGone || len(r.Findings) != 1 || r.Findings[0].Rule != "AUD-013" || len(sunk) != 1 {
		t.Fatalf("outcome %s, findings %v, sunk %v; want gone with one AUD-013 sunk", r.Outcome, rulesOf(r.Findings), rulesOf(sunk))
	}
	if want := fmt.Sprintf("sqldbauditlogs/%s srv1/", testBlob); !strings.HasPrefix(ev.calls[len(ev.calls)-1], want) || !strings.HasSuffix(ev.calls[len(ev.calls)-1], fmt.Sprintf("rows=%d", n)) {
		t.Errorf("BlobVanished(%s), want %s… rows=%d", ev.calls[len(ev.calls)-1], want, n)
	}
	if c, _ := f.cursors.Get(context.Background(), testBlob); c.State != StateClosed {
		t.Errorf("cursor %s, want closed", c.State)
	}
	if r := f.ingest(t, RunOptions{FindingSink: sink}); len(r.Findings) != 0 || len(sunk) != 1 {
		t.Errorf("closed cursor's missing blob reported again: %v", rulesOf(r.Findings))
	}
}
