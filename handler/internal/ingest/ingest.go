package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// Defaults of Options.
const (
	DefaultBatchSize   = 500
	DefaultBatchBytes  = 4 << 20
	DefaultBudget      = 256 << 20
	DefaultMaxFindings = 1000
)

// Options tunes a Pipeline.
type Options struct {
	MaxBytesPerRun int64 // bytes one run decodes (XELWATCH_MAX_BYTES_PER_RUN)
	BatchSize      int   // records per Rows.Upsert call
	// BatchBytes bounds the memory of the records of one Rows.Upsert call
	// (audit.Record.Size: the Record, its statement and
	// additional_information, every other column, and its raw parts): a
	// batch is handed on when it holds BatchSize records or this many
	// bytes, whichever comes first, so that records a file makes large
	// (long statements, long columns, many parts) cannot pile up 500 at a
	// time. Zero means DefaultBatchBytes.
	BatchBytes int64
	// MaxFindings bounds the findings one run collects (they travel in
	// its Result and in the invocation's response): a run that reaches it
	// stops after the batch in flight, and the next run continues from
	// there. Zero means DefaultMaxFindings.
	MaxFindings int
	// FileName maps a blob name to the file_name stored with each record
	// (default: the name itself). It must be stable for a blob.
	FileName func(blob string) string
	Now      func() time.Time
	// FindingSink is the sink of runs whose RunOptions.FindingSink is nil.
	// The function app records findings pending there (the outbox), since
	// its queue messages leave only after the invocation answers.
	FindingSink func(ctx context.Context, fs []detect.Finding) error
	// Lease is how long a run holds a blob's cursor before another run may
	// take the blob over; a run renews it while it reads. Zero means
	// DefaultLease.
	Lease time.Duration
	// Container is the blobs' container, named in AUD-013 when the blob of
	// an open cursor is gone (see BlobVanisher).
	Container string
}

// BlobVanisher is implemented by an Evaluator that reports the blob of an
// open cursor gone (*detect.Engine: AUD-013, with the detection id
// AuditControl gives the same deletion).
type BlobVanisher interface {
	BlobVanished(container, blob, server, database string, rows int64, at time.Time) (detect.Finding, bool)
}

// DefaultLease bounds how long a blob waits after a run holding it died.
const DefaultLease = 2 * time.Minute

// Pipeline ingests audit blobs. It is safe for concurrent use if its
// dependencies are.
type Pipeline struct {
	blobs   Blobs
	cursors Cursors
	rows    Rows
	eval    Evaluator
	dec     Decoder
	log     *slog.Logger
	opt     Options

	// lastDiscovery is when this process last listed the date folders
	// (unix nanoseconds), for SweepOptions.DiscoverEvery.
	lastDiscovery atomic.Int64
	// lastPrune is when this process last ran SweepOptions.Prune.
	lastPrune atomic.Int64
	// lastSilence is when this process last evaluated silence;
	// lastHeartbeat is 1 + the last heartbeat period it saw claimed.
	lastSilence   atomic.Int64
	lastHeartbeat atomic.Int64

	// abandoned are leases of this process's failed runs that could not
	// be released (storage was down): owner → lease expiry. A later run of
	// this process may take them over at once; other processes wait for
	// the expiry.
	abandonedMu sync.Mutex
	abandoned   map[string]time.Time
}

// New builds a Pipeline. eval may be nil (no detections).
func New(blobs Blobs, cursors Cursors, rows Rows, eval Evaluator, dec Decoder, log *slog.Logger, opt Options) *Pipeline {
	if opt.MaxBytesPerRun <= 0 {
		opt.MaxBytesPerRun = DefaultBudget
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultBatchSize
	}
	if opt.BatchBytes <= 0 {
		opt.BatchBytes = DefaultBatchBytes
	}
	if opt.MaxFindings <= 0 {
		opt.MaxFindings = DefaultMaxFindings
	}
	if opt.Lease <= 0 {
		opt.Lease = DefaultLease
	}
	if opt.FileName == nil {
		opt.FileName = func(b string) string { return b }
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{blobs: blobs, cursors: cursors, rows: rows, eval: eval, dec: dec, log: log, opt: opt}
}

// Outcome says what a run did with a blob.
type Outcome string

// Outcomes.
const (
	OutcomeRead     Outcome = "read" // advanced the cursor (possibly by 0 rows)
	OutcomeMore     Outcome = "more" // stopped at the byte or findings budget; more to read
	OutcomeUpToDate Outcome = "up-to-date"
	OutcomeBusy     Outcome = "busy"   // another run claimed the cursor first
	OutcomeClosed   Outcome = "closed" // cursor closed (now or before)
	OutcomeFailed   Outcome = "failed" // cursor failed (now or before)
	OutcomeSkipped  Outcome = "skipped"
	OutcomeGone     Outcome = "gone" // blob deleted
)

// Result of one blob.
type Result struct {
	Blob     string
	Outcome  Outcome
	Rows     int   // records upserted by this run
	Bytes    int64 // bytes the cursor advanced
	Findings []detect.Finding
	Cursor   Cursor
}

// RunOptions tunes one Ingest call.
type RunOptions struct {
	Owner  string // invocation id, for logs
	Final  bool   // close the cursor: the file is complete
	Budget int64  // byte budget for this call; 0 = Options.MaxBytesPerRun
	// MaxFindings is the findings budget for this call; 0 means
	// Options.MaxFindings.
	MaxFindings int
	// FindingSink, when set, receives each batch's findings before the
	// cursor commits them (watch enqueues them there); nil means
	// Options.FindingSink. An error fails the run before the commit.
	// Result.Findings is filled either way.
	FindingSink func(ctx context.Context, fs []detect.Finding) error
	// ListedSize is the blob's size as a listing showed it (0: not
	// listed). A closed cursor whose blob is listed longer than it was
	// read is reopened and read on: an audit idle for IdleClose that
	// writes to the same file again loses nothing. A cursor closed because
	// its blob was deleted stays closed.
	ListedSize int64
	// Progress, when set, is called now and then (every 1,024 records and
	// at the end) with the bytes this run has decoded so far.
	Progress func(read int64)
}

// Ingest continues one blob from its cursor. An error means a transient
// failure (storage, context): the caller should fail the invocation so the
// host retries. Poison input is reported in the Result, not as an error.
func (p *Pipeline) Ingest(ctx context.Context, blob string, ro RunOptions) (Result, error) {
	res := Result{Blob: blob}
	if ro.FindingSink == nil {
		ro.FindingSink = p.opt.FindingSink
	}
	path, err := ParsePath(blob)
	if err != nil {
		res.Outcome = OutcomeSkipped
		p.log.InfoContext(ctx, "not an audit file", "blob", blob)
		return res, nil
	}
	budget := ro.Budget
	if budget <= 0 {
		budget = p.opt.MaxBytesPerRun
	}
	cur, err := p.cursor(ctx, blob, path)
	if err != nil {
		return res, err
	}
	if cur.State == StateClosed && cur.LastError == "" && ro.ListedSize > cur.BlobLength {
		p.log.InfoContext(ctx, "closed blob grew: reopened", "blob", blob, "length", cur.BlobLength, "listed", ro.ListedSize)
		cur.State = StateOpen // the claim writes it
	}
	res.Cursor = cur
	if ro.Owner == "" {
		ro.Owner = randomOwner()
	}
	props, outcome, gone, err := p.check(ctx, blob, path, cur, ro)
	if gone != nil {
		res.Findings = append(res.Findings, *gone)
	}
	if err != nil || outcome != "" {
		res.Outcome = outcome
		return res, err
	}
	held, outcome, err := p.claim(ctx, blob, cur, ro)
	if err != nil || outcome != "" {
		res.Outcome = outcome
		return res, err
	}
	res.Cursor = held.cur
	cur, found, err := p.checkIdentity(ctx, blob, path, held.cur, props, ro)
	if err != nil {
		p.release(ctx, held)
		return res, err
	}
	if cur.State == StateClosed {
		// A closed blob that changed without being rewritten stays
		// closed; its new length and ETag are recorded so that the next
		// check is one properties request again.
		if props.Size != cur.BlobLength {
			p.log.WarnContext(ctx, "closed audit blob changed length; it stays closed and what was appended is not read",
				"blob", blob, "closed_at_length", cur.BlobLength, "length", props.Size)
		}
		c := held.cur
		c.BlobLength, c.BlobETag = props.Size, props.ETag
		c.LeaseOwner, c.LeaseUntil = "", time.Time{}
		if _, err := p.cursors.Update(ctx, c); err != nil && !errors.Is(err, ErrConflict) {
			p.release(ctx, held)
			return res, fmt.Errorf("ingest: %s: record closed blob's new length: %w", blob, err)
		}
		res.Outcome = OutcomeClosed
		return res, nil
	}
	res, err = p.read(ctx, blob, path, cur, props, budget, ro, held)
	if found != nil {
		res.Findings = append([]detect.Finding{*found}, res.Findings...)
	}
	return p.commit(ctx, blob, res, err, held)
}

// checkIdentity verifies, under the lease, that the blob is still the one
// the cursor read (verify). When it is not, the finding (AUD-014 or
// AUD-015) goes to the sink before anything else, and the cursor returned
// reads the blob again from its start as the next generation; the rows of
// the earlier generations stay. A retry after an interruption finds the
// same tampering in the committed cursor and emits the same detection.
func (p *Pipeline) checkIdentity(ctx context.Context, blob string, path Path, cur Cursor, props BlobProps, ro RunOptions) (Cursor, *detect.Finding, error) {
	t, err := p.verify(ctx, blob, cur, props)
	if err != nil || t == nil {
		return cur, nil, err
	}
	next := p.regenerate(cur)
	info, enabled := p.storageRule(t.rule)
	if !enabled {
		p.log.WarnContext(ctx, "audit blob shortened or rewritten (rule disabled); reading it again as a new generation",
			"blob", blob, "rule", t.rule, "new_length", props.Size, "rows_held", cur.Rows, "generation", next.Generation)
		return next, nil, nil
	}
	f := p.tamperFinding(info, blob, path, cur, props, t)
	if ro.FindingSink != nil {
		if err := ro.FindingSink(ctx, []detect.Finding{f}); err != nil {
			return cur, nil, fmt.Errorf("ingest: %s: emit %s: %w", blob, f.Rule, err)
		}
	}
	p.log.ErrorContext(ctx, "audit blob shortened or rewritten; reading it again as a new generation",
		"blob", blob, "rule", f.Rule, "detection_id", f.DetectionID, "old_length", max(cur.BlobLength, cur.Offset),
		"new_length", props.Size, "rows_held", cur.Rows, "generation", next.Generation)
	return next, &f, nil
}

// check decides whether the blob has anything for this run. A non-empty
// Outcome ends the run with it; otherwise it returns the blob's properties.
func (p *Pipeline) check(ctx context.Context, blob string, path Path, cur Cursor, ro RunOptions) (BlobProps, Outcome, *detect.Finding, error) {
	switch cur.State {
	case StateClosed:
		props, outcome, err := p.checkClosed(ctx, blob, cur, ro)
		return props, outcome, nil, err
	case StateFailed:
		return BlobProps{}, OutcomeFailed, nil, nil
	}
	if cur.LeaseOwner != "" && cur.LeaseOwner != ro.Owner && cur.LeaseUntil.After(p.opt.Now()) && !p.wasAbandoned(cur.LeaseOwner) {
		return BlobProps{}, OutcomeBusy, nil, nil // another run is reading this blob
	}
	props, err := p.blobs.Properties(ctx, blob)
	if errors.Is(err, ErrNotFound) {
		gone, err := p.vanished(ctx, blob, path, cur, ro)
		if err != nil {
			return props, "", nil, err
		}
		p.log.WarnContext(ctx, "audit blob not found; closing its cursor", "blob", blob,
			"offset", cur.Offset, "rows", cur.Rows, "blob_length", cur.BlobLength)
		cur.State, cur.LastError = StateClosed, "blob deleted"
		cur.UpdatedAt = p.opt.Now().UTC()
		if _, err := p.cursors.Update(ctx, cur); err != nil && !errors.Is(err, ErrConflict) {
			return props, OutcomeGone, gone, fmt.Errorf("ingest: %s: close cursor of deleted blob: %w", blob, err)
		}
		return props, OutcomeGone, gone, nil
	}
	if err != nil {
		return props, "", nil, fmt.Errorf("ingest: %s: properties: %w", blob, err)
	}
	if !ro.Final && props.Size == cur.BlobLength && props.ETag == cur.BlobETag {
		// Nothing appended since the last run: either all of it was read,
		// or the last run left a partial buffer; nothing new to decode.
		return props, OutcomeUpToDate, nil, nil
	}
	return props, "", nil, nil
}

// vanished reports the blob of an open cursor gone (AUD-013, when the
// evaluator is a BlobVanisher): the finding reaches the sink before the
// cursor closes, so a run that dies in between reports it again with the
// same id, and a sweep that meets the deletion before AuditControl's
// BlobDeleted event (which then finds the cursor closed) does not lose it.
func (p *Pipeline) vanished(ctx context.Context, blob string, path Path, cur Cursor, ro RunOptions) (*detect.Finding, error) {
	bv, ok := p.eval.(BlobVanisher)
	if !ok {
		return nil, nil
	}
	f, ok := bv.BlobVanished(p.opt.Container, blob, path.Server, path.Database, cur.Rows+cur.EarlierRows, p.opt.Now())
	if !ok {
		return nil, nil
	}
	if ro.FindingSink != nil {
		if err := ro.FindingSink(ctx, []detect.Finding{f}); err != nil {
			return nil, fmt.Errorf("ingest: %s: emit %s: %w", blob, f.Rule, err)
		}
	}
	return &f, nil
}

// checkClosed is check for a closed cursor: a blob unchanged since it was
// closed (or gone) stays closed at the cost of one properties request. A
// changed one (Event Grid announces a blob deleted and created again, and
// watch --dir polls every file) goes on to verify under the lease: a
// shortened or rewritten blob is reopened as its next generation; one
// that merely grew or changed its metadata stays closed.
func (p *Pipeline) checkClosed(ctx context.Context, blob string, cur Cursor, ro RunOptions) (BlobProps, Outcome, error) {
	props, err := p.blobs.Properties(ctx, blob)
	switch {
	case errors.Is(err, ErrNotFound):
		return props, OutcomeClosed, nil
	case err != nil:
		return props, "", fmt.Errorf("ingest: %s: properties: %w", blob, err)
	case props.Size == cur.BlobLength && props.ETag == cur.BlobETag:
		return props, OutcomeClosed, nil
	case cur.LeaseOwner != "" && cur.LeaseOwner != ro.Owner && cur.LeaseUntil.After(p.opt.Now()) && !p.wasAbandoned(cur.LeaseOwner):
		return props, OutcomeBusy, nil
	}
	return props, "", nil
}

// claim takes the cursor's lease with a conditional write. Of a trigger and
// the sweep that read it together, one wins and the other stops here
// (OutcomeBusy) without decoding anything; later runs see the lease and
// leave the blob alone until the holder commits or its lease expires.
func (p *Pipeline) claim(ctx context.Context, blob string, cur Cursor, ro RunOptions) (*lease, Outcome, error) {
	cur.LeaseOwner, cur.LeaseUntil = ro.Owner, p.opt.Now().UTC().Add(p.opt.Lease)
	cur, err := p.cursors.Update(ctx, cur)
	if errors.Is(err, ErrConflict) {
		return nil, OutcomeBusy, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("ingest: %s: claim cursor: %w", blob, err)
	}
	return &lease{cur: cur}, "", nil
}

// commit ends a run that held the lease: it writes the cursor read returned
// and releases the lease in the same write. On a transient error it gives
// the lease back, so that the host's retry need not wait for it.
func (p *Pipeline) commit(ctx context.Context, blob string, res Result, err error, held *lease) (Result, error) {
	if errors.Is(err, errLeaseLost) {
		res.Outcome = OutcomeBusy // our lease ran out and another run took over
		return res, nil
	}
	if err != nil {
		p.release(ctx, held)
		return res, err
	}
	next := res.Cursor
	next.UpdatedAt = p.opt.Now().UTC()
	next.ETag = held.cur.ETag // renewals changed it
	next.LeaseOwner, next.LeaseUntil = "", time.Time{}
	saved, err := p.cursors.Update(ctx, next)
	if errors.Is(err, ErrConflict) {
		// Another run took the blob over after our lease expired: its
		// commit stands; our upserts and findings were idempotent.
		res.Outcome = OutcomeBusy
		return res, nil
	}
	if err != nil {
		p.release(ctx, held)
		return res, fmt.Errorf("ingest: %s: commit cursor: %w", blob, err)
	}
	res.Cursor = saved
	return res, nil
}

// lease is the cursor as this run holds it: the latest ETag and expiry.
type lease struct{ cur Cursor }

// errLeaseLost: a renewal found the cursor changed by another run.
var errLeaseLost = errors.New("ingest: cursor lease lost")

// renew extends the lease once half of it has passed.
func (p *Pipeline) renew(ctx context.Context, l *lease) error {
	now := p.opt.Now().UTC()
	if l.cur.LeaseUntil.Sub(now) > p.opt.Lease/2 {
		return nil
	}
	c := l.cur
	c.LeaseUntil = now.Add(p.opt.Lease)
	saved, err := p.cursors.Update(ctx, c)
	if errors.Is(err, ErrConflict) {
		return errLeaseLost
	}
	if err != nil {
		return fmt.Errorf("ingest: %s: renew cursor lease: %w", c.Blob, err)
	}
	l.cur = saved
	return nil
}

// release gives the lease back after a failed run, so that the host's
// retry need not wait for it to expire. Best effort: if storage is what
// failed, the lease simply expires.
func (p *Pipeline) release(ctx context.Context, l *lease) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	c := l.cur
	c.LeaseOwner, c.LeaseUntil = "", time.Time{}
	if _, err := p.cursors.Update(ctx, c); err != nil {
		p.log.WarnContext(ctx, "could not release cursor lease; it expires by itself", "blob", c.Blob, "until", l.cur.LeaseUntil, "err", err.Error())
		p.abandonedMu.Lock()
		defer p.abandonedMu.Unlock()
		now := p.opt.Now()
		for o, until := range p.abandoned {
			if !until.After(now) {
				delete(p.abandoned, o)
			}
		}
		if p.abandoned == nil {
			p.abandoned = map[string]time.Time{}
		}
		p.abandoned[l.cur.LeaseOwner] = l.cur.LeaseUntil
	}
}

// wasAbandoned tells whether owner is a failed run of this process.
func (p *Pipeline) wasAbandoned(owner string) bool {
	p.abandonedMu.Lock()
	defer p.abandonedMu.Unlock()
	_, ok := p.abandoned[owner]
	return ok
}

// randomOwner names a run that brought no invocation id.
func randomOwner() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "run-" + hex.EncodeToString(b[:])
}

// cursor gets or creates the blob's cursor.
func (p *Pipeline) cursor(ctx context.Context, blob string, path Path) (Cursor, error) {
	cur, err := p.cursors.Get(ctx, blob)
	if err == nil {
		return cur, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Cursor{}, fmt.Errorf("ingest: %s: get cursor: %w", blob, err)
	}
	cur = Cursor{
		Blob: blob, Server: path.Server, Database: path.Database, Audit: path.Audit,
		State: StateOpen, UpdatedAt: p.opt.Now().UTC(), LastGrowth: p.opt.Now().UTC(),
	}
	created, err := p.cursors.Create(ctx, cur)
	if errors.Is(err, ErrConflict) {
		if cur, err = p.cursors.Get(ctx, blob); err == nil {
			return cur, nil
		}
	}
	if err != nil {
		return Cursor{}, fmt.Errorf("ingest: %s: create cursor: %w", blob, err)
	}
	return created, nil
}

// read decodes from the cursor to min(size, offset+budget) and returns the
// result with the cursor to commit.
func (p *Pipeline) read(ctx context.Context, blob string, path Path, cur Cursor, props BlobProps, budget int64, ro RunOptions, held *lease) (Result, error) {
	res := Result{Blob: blob, Outcome: OutcomeRead, Cursor: cur}
	start := cur.Offset
	limit, final, next := p.window(cur, props, budget, ro.Final)

	ra := &trackingReaderAt{r: p.blobs.ReaderAt(ctx, blob, limit)}
	rr, err := p.dec.Open(ra, limit, cur, FileNameOf(p.opt.FileName(blob), cur.Generation), final)
	if err != nil {
		return p.openFailed(ctx, res, next, ra, err, final, limit < props.Size)
	}

	b := p.newBatcher(ctx, path, blob, ro, &res)
	offsets, decodeErr, err := p.decode(ctx, blob, rr, b, start, held)
	if err != nil {
		b.wait()
		return res, err
	}
	if rerr := ra.Err(); rerr != nil {
		b.wait()
		return res, fmt.Errorf("ingest: %s: read: %w", blob, rerr)
	}
	// Records waiting for a continuation lie at or after End, so the next
	// run reads them again; store and evaluate them now as far as they go,
	// so that a statement cut at 4000 characters (Azure SQL Database
	// truncates where SQL Server splits) is not hidden until more of the
	// file is written. Same keys and detection ids next time: idempotent.
	// They are not counted in the cursor's rows until they are complete.
	if !final && !b.stopped {
		b.batch = append(b.batch, rr.Pending()...)
	}
	// Store every record before the damage, whatever comes next.
	if err := b.flush(); err != nil {
		return res, err
	}
	if err := b.wait(); err != nil {
		return res, err
	}
	end := rr.End()
	var counted int64 // records whose first buffer lies before End (not re-read next time)
	for _, o := range offsets {
		if o >= start && o < end {
			counted++
		}
	}
	// What the next run verifies before reading on (see verify).
	id, err := p.identity(ctx, blob, cur.Identity, ra, props, end)
	if err != nil {
		return res, err
	}
	next.Identity = id
	next.Offset = end
	next.MetadataOffsets = rr.MetadataOffsets()
	next.Rows += counted
	res.Bytes = end - start
	if ro.Progress != nil {
		ro.Progress(res.Bytes)
	}
	res.Outcome = p.settle(ctx, &next, res.Outcome, b.stopped, decodeErr, final, limit < props.Size)
	res.Cursor = next
	p.log.InfoContext(ctx, "blob ingested", "blob", blob, "outcome", string(res.Outcome),
		"rows", res.Rows, "findings", len(res.Findings), "from", start, "to", end, "size", props.Size)
	return res, nil
}

// openFailed classifies an error of Decoder.Open: a storage or context
// error is transient; a file too short for its header and metadata waits
// for more unless the run is final; anything else fails the cursor.
func (p *Pipeline) openFailed(ctx context.Context, res Result, next Cursor, ra *trackingReaderAt, err error, final, budgeted bool) (Result, error) {
	if rerr := ra.Err(); rerr != nil {
		return res, fmt.Errorf("ingest: %s: read: %w", res.Blob, rerr)
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("ingest: %s: %w", res.Blob, ctx.Err())
	}
	if p.dec.Truncated(err) && !final {
		// Not even the header/metadata yet (a new append blob).
		res.Cursor = next
		if budgeted {
			res.Outcome = OutcomeMore
		}
		return res, nil
	}
	p.fail(ctx, &next, res.Cursor.Offset, err)
	res.Cursor, res.Outcome = next, OutcomeFailed
	return res, nil
}

// window bounds a run's read: it returns the offset to read up to
// (min(size, offset+budget)), whether the run reads the file to its end
// as final, and the cursor to commit with the blob's new length and ETag.
func (p *Pipeline) window(cur Cursor, props BlobProps, budget int64, final bool) (int64, bool, Cursor) {
	limit := props.Size
	if budget > 0 && limit-cur.Offset > budget {
		limit = cur.Offset + budget
		final = false
	}
	next := cur
	if props.Size != cur.BlobLength {
		next.LastGrowth = p.opt.Now().UTC()
	}
	next.BlobLength, next.BlobETag = props.Size, props.ETag
	if limit < props.Size {
		// Budget-limited: record the length read so that the next run
		// does not take the blob for unchanged.
		next.BlobLength = limit
	}
	return limit, final, next
}

// decode reads records until the decoder stops, handing each full batch
// on. It returns the offsets of the records read and the decoder's error
// (nil at the end of the input); err is a context or lease error, after
// which the batch in flight may still be running.
func (p *Pipeline) decode(ctx context.Context, blob string, rr RecordReader, b *batcher, start int64, held *lease) (offsets []int64, decodeErr, err error) {
	for {
		if err := ctx.Err(); err != nil {
			return offsets, nil, fmt.Errorf("ingest: %s: %w", blob, err)
		}
		rec, err := rr.Next()
		if err != nil {
			if err != io.EOF {
				decodeErr = err
			}
			return offsets, decodeErr, nil
		}
		offsets = append(offsets, rec.AuditFileOffset)
		if b.ro.Progress != nil && len(offsets)&1023 == 0 {
			b.ro.Progress(rr.End() - start)
		}
		if !b.add(rec) {
			continue
		}
		if err := p.renew(ctx, held); err != nil {
			return offsets, nil, err
		}
		if err := b.flush(); err != nil {
			return offsets, nil, err
		}
		if b.stopped {
			if rr.End() > start {
				return offsets, nil, nil
			}
			// No whole buffer consumed yet (a buffer holding more
			// records than a batch): stopping here would make no
			// progress, so read on to the next buffer boundary.
			b.stopped = false
		}
	}
}

// settle classifies how a read ended, given the outcome so far: stopped
// at the findings budget, decodeErr from the decoder, budgeted when the
// byte budget ended the read before the blob's end. It marks next closed
// or failed to match.
func (p *Pipeline) settle(ctx context.Context, next *Cursor, outcome Outcome, stopped bool, decodeErr error, final, budgeted bool) Outcome {
	switch {
	case stopped:
		// Findings budget: the rest of the file waits for the next run,
		// which must not take the blob for unchanged.
		next.BlobLength = next.Offset
		return OutcomeMore
	case decodeErr == nil && budgeted:
		return OutcomeMore // clean buffer boundary at the budget
	case decodeErr == nil:
		if final {
			next.State = StateClosed
			return OutcomeClosed
		}
	case p.dec.Truncated(decodeErr) && !final:
		if budgeted {
			return OutcomeMore
		}
		// else: a partial trailing buffer; wait for the next append.
	default:
		p.fail(ctx, next, next.Offset, decodeErr)
		return OutcomeFailed
	}
	return outcome
}

// batcher gathers decoded records into batches of at most
// Options.BatchSize records or Options.BatchBytes bytes. One batch is
// stored and evaluated while the next one is decoded (double buffering);
// within a batch the upsert and the rule evaluation run side by side.
// Batches are evaluated in file order.
type batcher struct {
	p           *Pipeline
	ctx         context.Context
	path        Path
	blob        string
	ro          RunOptions
	res         *Result // written by the batch in flight only
	maxFindings int

	batch    []*audit.Record
	bytes    int64      // audit.Record.Size of the records in batch
	inflight chan error // the batch being processed, if any
	stopped  bool       // at the findings budget
}

func (p *Pipeline) newBatcher(ctx context.Context, path Path, blob string, ro RunOptions, res *Result) *batcher {
	maxFindings := ro.MaxFindings
	if maxFindings <= 0 {
		maxFindings = p.opt.MaxFindings
	}
	return &batcher{p: p, ctx: ctx, path: path, blob: blob, ro: ro, res: res, maxFindings: maxFindings,
		batch: make([]*audit.Record, 0, p.opt.BatchSize)}
}

// add appends a record (the Record belongs to the caller) and tells
// whether the batch is full.
func (b *batcher) add(rec *audit.Record) bool {
	b.batch = append(b.batch, rec)
	b.bytes += rec.Size()
	return len(b.batch) == cap(b.batch) || b.bytes >= b.p.opt.BatchBytes
}

// wait waits for the batch in flight, if any, and returns its error.
func (b *batcher) wait() error {
	if b.inflight == nil {
		return nil
	}
	err := <-b.inflight
	b.inflight = nil
	return err
}

// flush waits for the batch in flight, notes whether the findings budget
// is spent, and starts processing the current batch in the background.
func (b *batcher) flush() error {
	if err := b.wait(); err != nil {
		return err
	}
	if len(b.res.Findings) >= b.maxFindings {
		b.stopped = true
	}
	if len(b.batch) == 0 {
		return nil
	}
	batch := b.batch
	b.batch, b.bytes = make([]*audit.Record, 0, b.p.opt.BatchSize), 0
	b.inflight = make(chan error, 1)
	go func(done chan<- error) {
		done <- b.p.process(b.ctx, b.path, b.blob, batch, b.ro, b.res)
	}(b.inflight)
	return nil
}

// process stores one batch and evaluates it, side by side, then hands
// the findings to the sink. Only one process runs at a time (flush waits
// for the previous one), so res is not shared concurrently.
func (p *Pipeline) process(ctx context.Context, path Path, blob string, batch []*audit.Record, ro RunOptions, res *Result) error {
	upserted := make(chan error, 1)
	go func() { upserted <- p.rows.Upsert(ctx, path, blob, batch) }()
	var fs []detect.Finding
	var evalErr error
	eval := p.eval
	var deferred *detect.Deferred
	if de, ok := p.eval.(DeferringEvaluator); ok {
		deferred = de.Deferred()
		eval = deferred
	}
	if pf, ok := p.eval.(StatePrefetcher); ok && eval != nil {
		// Read ahead, side by side with the upsert, the detection state
		// the batch's evaluation will look at: one concurrent round
		// instead of one round trip per key. A failure here is not the
		// batch's: the evaluation reads again what is missing.
		if err := pf.Prefetch(ctx, batch); err != nil && ctx.Err() == nil {
			p.log.DebugContext(ctx, "detection state prefetch failed; evaluating without it", "blob", blob, "error", err)
		}
	}
	if eval != nil {
		for _, rec := range batch {
			f, err := eval.Evaluate(ctx, rec)
			if err != nil {
				evalErr = fmt.Errorf("ingest: %s: evaluate: %w", blob, err)
				break
			}
			fs = append(fs, f...)
		}
	}
	if err := <-upserted; err != nil {
		return fmt.Errorf("ingest: %s: upsert rows: %w", blob, err)
	}
	if evalErr != nil {
		return evalErr
	}
	if len(fs) > 0 && ro.FindingSink != nil {
		if err := ro.FindingSink(ctx, fs); err != nil {
			return fmt.Errorf("ingest: %s: emit findings: %w", blob, err)
		}
	}
	// The batch's detection state, only now that its findings are safe: a
	// failure before this point leaves the state as the batch found it.
	if deferred != nil {
		if err := deferred.Commit(ctx); err != nil {
			return fmt.Errorf("ingest: %s: %w", blob, err)
		}
	}
	res.Findings = append(res.Findings, fs...)
	res.Rows += len(batch)
	return nil
}

// fail marks the cursor failed: poison input is recorded, not retried.
func (p *Pipeline) fail(ctx context.Context, c *Cursor, at int64, err error) {
	c.State = StateFailed
	c.FailedOffset = at
	msg := err.Error()
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	c.LastError = fmt.Sprintf("at offset %d: %s", at, msg)
	p.log.ErrorContext(ctx, "audit file is corrupt; cursor failed", "blob", c.Blob, "offset", at, "reason", msg)
}

// trackingReaderAt remembers the first storage error, so that a decoder
// error caused by a failed read is classified as transient whatever the
// decoder wrapped it in.
type trackingReaderAt struct {
	r   io.ReaderAt
	err error
}

func (t *trackingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := t.r.ReadAt(p, off)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

func (t *trackingReaderAt) Err() error { return t.err }
