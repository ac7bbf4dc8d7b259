package ingest

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// Errors the dependencies return, tested with errors.Is.
var (
	// ErrNotFound: no such blob or cursor.
	ErrNotFound = errors.New("ingest: not found")
	// ErrConflict: a conditional write lost (If-Match failed, entity exists).
	ErrConflict = errors.New("ingest: conflict")
)

// BlobProps is what a run needs to know about a blob before reading it.
type BlobProps struct {
	Size         int64
	ETag         string
	LastModified time.Time
	// Type is the blob type ("AppendBlob", "BlockBlob"; empty when the
	// source has none, e.g. a local folder) and Created the blob's
	// creation time (zero when unknown): a blob deleted and created again
	// under the same name, or overwritten with another type, shows a new
	// identity (see Cursor.Identity).
	Type    string
	Created time.Time
}

// BlobItem is one listed blob.
type BlobItem struct {
	Name string
	BlobProps
}

// Blobs is the audit container as the pipeline uses it.
type Blobs interface {
	// Properties returns ErrNotFound (wrapped) when the blob is gone.
	Properties(ctx context.Context, name string) (BlobProps, error)
	// ReaderAt reads the blob's first size bytes by range (bytes before
	// the length once seen never change in an append blob). Errors other
	// than io.EOF are storage errors.
	ReaderAt(ctx context.Context, name string, size int64) io.ReaderAt
	// Prefixes lists the virtual folders directly under prefix (which
	// ends in "/" or is empty), at most max of them.
	Prefixes(ctx context.Context, prefix string, max int) ([]string, error)
	// List lists the blobs under prefix (recursively), at most max.
	List(ctx context.Context, prefix string, max int) ([]BlobItem, error)
}

// State of a cursor.
type State string

// Cursor states.
const (
	StateOpen   State = "open"   // the file may still grow
	StateClosed State = "closed" // read to the end after the file rolled over or went idle
	StateFailed State = "failed" // corrupt or truncated for good; LastError says why
)

// Cursor is the progress of one blob.
type Cursor struct {
	Blob            string // blob name within the container
	Server          string
	Database        string
	Audit           string
	Offset          int64   // next buffer to decode (audit Reader End)
	MetadataOffsets []int64 // metadata buffers before Offset (xel Reader MetadataOffsets)
	Rows            int64   // records stored from this blob
	BlobLength      int64   // blob length at the last run
	BlobETag        string  // blob ETag at the last run
	LastGrowth      time.Time
	State           State
	LastError       string
	FailedOffset    int64 // where the damage starts (StateFailed)
	UpdatedAt       time.Time
	// LeaseOwner reads the blob until LeaseUntil; other runs leave the
	// blob alone meanwhile (empty/zero: free). See Options.Lease.
	LeaseOwner string
	LeaseUntil time.Time

	// Generation counts the times the blob was found shortened or
	// rewritten (AUD-014, AUD-015) and read again from its start: rows of
	// generation g > 0 carry the file name FileNameOf(name, g), so that
	// they never replace the rows of an earlier generation (the evidence).
	Generation int
	// EarlierRows are the rows stored from the blob's earlier generations.
	EarlierRows int64
	// Identity is what the blob looked like when it was last read: its
	// type and creation time, and the SHA-256 of a bounded window of the
	// bytes read (the last bytes before Offset, and the file's first
	// bytes). A run verifies them before reading on: bytes of an append
	// blob that were read never change.
	Identity Identity
	// SilenceReported is the LastGrowth for which the sweep reported the
	// blob's audit stream silent (AUD-016): reported once per silence.
	SilenceReported time.Time

	// ETag of the cursor entity (optimistic concurrency); not stored.
	ETag string
}

// Identity is the blob identity a cursor keeps (see Cursor.Identity).
type Identity struct {
	Type    string    // blob type at the last read ("" when unknown)
	Created time.Time // blob creation time at the last read (zero when unknown)
	// TailOffset and TailLength delimit the window whose SHA-256 is
	// TailSHA256 (hex): the last bytes (at most DigestWindow) before the
	// cursor's offset when it was committed.
	TailOffset int64
	TailLength int64
	TailSHA256 string
	// HeadLength bytes from offset 0 hash to HeadSHA256 (at most
	// HeadWindow: the file header and the start of the metadata).
	HeadLength int64
	HeadSHA256 string
}

// Cursors persists cursors with optimistic concurrency.
type Cursors interface {
	// Get returns ErrNotFound (wrapped) for an unknown blob.
	Get(ctx context.Context, blob string) (Cursor, error)
	// Create inserts a new cursor; ErrConflict when it exists.
	Create(ctx context.Context, c Cursor) (Cursor, error)
	// Update replaces the cursor if its entity ETag is still c.ETag;
	// ErrConflict otherwise. It returns the cursor with its new ETag.
	Update(ctx context.Context, c Cursor) (Cursor, error)
	// Open lists cursors in state open, at most max.
	Open(ctx context.Context, max int) ([]Cursor, error)
}

// Rows stores audit records, idempotently (upserts keyed by record).
type Rows interface {
	Upsert(ctx context.Context, p Path, blob string, recs []*audit.Record) error
}

// Evaluator runs the detection rules on one record.
type Evaluator interface {
	Evaluate(ctx context.Context, rec *audit.Record) ([]detect.Finding, error)
}

// StatePrefetcher is an Evaluator that can read ahead the detection
// state a batch's evaluation will need (*detect.Engine, over a store that
// supports it): the pipeline calls it before evaluating each batch.
type StatePrefetcher interface {
	Prefetch(ctx context.Context, recs []*audit.Record) error
}

// DeferringEvaluator is an Evaluator that can hold back its state writes
// (*detect.Engine is one): the pipeline evaluates each batch through a
// Deferred and commits its state only after the batch's findings reached
// the sink, so that a batch that fails leaves the detection state as it
// found it and its retry yields the same findings.
type DeferringEvaluator interface {
	Evaluator
	Deferred() *detect.Deferred
}

// RecordReader is an audit record stream over a range of a file.
type RecordReader interface {
	Next() (*audit.Record, error)
	// End is the offset to resume at: every record of the buffers before
	// it has been returned.
	End() int64
	// MetadataOffsets are the metadata buffers seen (to resume with).
	MetadataOffsets() []int64
	// Pending are records at or after End still waiting to be completed
	// (a statement split at 4000 characters whose continuation has not
	// been read yet), as far as they are known.
	Pending() []*audit.Record
}

// Decoder opens a RecordReader over r[0:size) starting at the cursor.
type Decoder interface {
	// Open returns an error wrapping ErrTruncated when the file is too
	// short to start (empty append blob), ErrCorrupt for a bad file.
	// final: the file is complete; pending split records are emitted.
	Open(r io.ReaderAt, size int64, c Cursor, fileName string, final bool) (RecordReader, error)
	// Truncated reports whether a decoder error means "the data ends
	// inside a buffer" (wait for more, or truncated for good if final).
	Truncated(err error) bool
}
