package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/detect"
)

// Windows of the digests a cursor keeps (Cursor.Identity).
const (
	// DigestWindow bounds the bytes before the cursor's offset whose
	// SHA-256 is kept and verified: one range read of at most this much
	// per run that reads on.
	DigestWindow = 64 << 10
	// HeadWindow bounds the first bytes of the file whose SHA-256 is kept
	// (the header and the start of the metadata).
	HeadWindow = 4 << 10
)

// FileNameOf is the file name stored with the records of generation gen
// of a file (Cursor.Generation): the name itself for generation 0, else
// "<name>;generation=<gen>". Row keys hash the file name, so the rows of
// a blob read again after it was shortened or rewritten never replace
// the rows read before (the evidence), and the detection ids of its
// records differ from the first reading's.
func FileNameOf(name string, gen int) string {
	if gen <= 0 {
		return name
	}
	return name + ";generation=" + strconv.Itoa(gen)
}

// tamper is what verify found wrong with a blob.
type tamper struct {
	rule string // detect.RuleBlobShortened or detect.RuleBlobRewritten
	why  string
}

// verify checks that the blob is still the one the cursor read: not
// shorter than what was read, of the same type and creation time, and
// with the same bytes in the digest windows. An append blob can only be
// appended to, so any of these means it was deleted and created again
// (or overwritten). It returns nil when nothing was read yet or all is
// well; an error is a storage error (the run fails and is retried).
func (p *Pipeline) verify(ctx context.Context, blob string, cur Cursor, props BlobProps) (*tamper, error) {
	id := cur.Identity
	if cur.Offset == 0 && cur.BlobLength == 0 {
		return nil, nil // nothing read yet
	}
	held := fmt.Sprintf("xelwatch holds %d rows read from it (file_name %q in the events table)", cur.Rows, FileNameOf(p.opt.FileName(blob), cur.Generation))
	if cur.EarlierRows > 0 {
		held += fmt.Sprintf(", and %d rows of its %d earlier generations", cur.EarlierRows, cur.Generation)
	}
	read := max(cur.BlobLength, cur.Offset)
	if props.Size < read {
		return &tamper{rule: detect.RuleBlobShortened, why: fmt.Sprintf(
			"audit blob %q is %d bytes long, shorter than the %d bytes xelwatch had read from it (decoded up to offset %d): an append blob never shrinks, so it was deleted and created again or overwritten; %s",
			blob, props.Size, read, cur.Offset, held)}, nil
	}
	var changed []string
	if id.Type != "" && props.Type != "" && props.Type != id.Type {
		changed = append(changed, fmt.Sprintf("its type changed from %s to %s", id.Type, props.Type))
	}
	if !id.Created.IsZero() && !props.Created.IsZero() && !props.Created.Equal(id.Created) {
		changed = append(changed, fmt.Sprintf("it was created again (creation time %s, was %s)",
			props.Created.UTC().Format(time.RFC3339Nano), id.Created.UTC().Format(time.RFC3339Nano)))
	}
	if id.TailLength > 0 {
		sum, err := p.digest(ctx, blob, id.TailOffset, id.TailLength)
		if err != nil {
			return nil, err
		}
		if sum != id.TailSHA256 {
			changed = append(changed, fmt.Sprintf("bytes %d to %d already read changed (SHA-256 %s, was %s)",
				id.TailOffset, id.TailOffset+id.TailLength, sum, id.TailSHA256))
		}
	}
	// The head too when the blob did not grow although its ETag changed
	// (a growing blob's ETag changes at every append) or when it was
	// recreated, unless the tail window already covers it.
	if id.HeadLength > 0 && id.TailOffset > 0 && (props.Size == cur.BlobLength || len(changed) > 0) {
		sum, err := p.digest(ctx, blob, 0, id.HeadLength)
		if err != nil {
			return nil, err
		}
		if sum != id.HeadSHA256 {
			changed = append(changed, fmt.Sprintf("its first %d bytes changed (SHA-256 %s, was %s)", id.HeadLength, sum, id.HeadSHA256))
		}
	}
	if len(changed) == 0 {
		return nil, nil
	}
	return &tamper{rule: detect.RuleBlobRewritten, why: fmt.Sprintf(
		"audit blob %q (%d bytes, %d read before) was rewritten: %s; an append blob can only be appended to, so it was deleted and created again or overwritten; %s",
		blob, props.Size, read, strings.Join(changed, "; "), held)}, nil
}

// digest reads [off, off+n) of the blob with one bounded range request
// and returns its SHA-256 (hex). A short read (the blob shrank since its
// properties were read) is a storage error: the retry sees the new size.
func (p *Pipeline) digest(ctx context.Context, blob string, off, n int64) (string, error) {
	if n <= 0 || n > DigestWindow {
		return "", fmt.Errorf("ingest: %s: digest window of %d bytes", blob, n)
	}
	return digestAt(p.blobs.ReaderAt(ctx, blob, off+n), blob, off, n)
}

func digestAt(r io.ReaderAt, blob string, off, n int64) (string, error) {
	buf := make([]byte, n)
	got, err := r.ReadAt(buf, off)
	if int64(got) == n && (err == nil || errors.Is(err, io.EOF)) {
		sum := sha256.Sum256(buf)
		return hex.EncodeToString(sum[:]), nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return "", fmt.Errorf("ingest: %s: read bytes %d to %d to verify them: %w", blob, off, off+n, err)
}

// identity is the Identity to commit after a read that ended at end: the
// blob's type and creation time and the digests of the windows before end
// (read through r, which serves them from its read-ahead window when it
// can).
func (p *Pipeline) identity(ctx context.Context, blob string, old Identity, r io.ReaderAt, props BlobProps, end int64) (Identity, error) {
	id := old
	id.Type, id.Created = props.Type, props.Created
	if end <= 0 {
		return id, nil
	}
	if n := min(end, DigestWindow); id.TailOffset+id.TailLength != end || id.TailLength != n {
		sum, err := digestAt(r, blob, end-n, n)
		if err != nil {
			return old, err
		}
		id.TailOffset, id.TailLength, id.TailSHA256 = end-n, n, sum
	}
	if n := min(end, HeadWindow); id.HeadLength < n {
		sum, err := p.digest(ctx, blob, 0, n)
		if err != nil {
			return old, err
		}
		id.HeadLength, id.HeadSHA256 = n, sum
	}
	return id, nil
}

// regenerate is the cursor that reads a shortened or rewritten blob again
// from its start as the next generation; the lease fields and the entity
// ETag stay.
func (p *Pipeline) regenerate(cur Cursor) Cursor {
	n := cur
	n.EarlierRows += cur.Rows
	n.Generation++
	n.Offset, n.MetadataOffsets, n.Rows = 0, nil, 0
	n.BlobLength, n.BlobETag = 0, ""
	n.Identity = Identity{}
	// A closed blob reopens; being read again, the stream is alive.
	n.State, n.LastError, n.FailedOffset = StateOpen, "", 0
	n.LastGrowth = p.opt.Now().UTC()
	return n
}

// storageFinding builds a finding of a storage rule. Its detection id
// hashes the rule and key: what was seen, never when, so that a run
// interrupted anywhere and retried (or a second sweep) yields the same id.
func storageFinding(info detect.RuleInfo, key []string, p Path, why string, at time.Time) detect.Finding {
	rule := info.ID
	h := sha256.New()
	for _, k := range append([]string{rule}, key...) {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return detect.Finding{
		DetectionID: rule + ":" + hex.EncodeToString(h.Sum(nil)[:16]),
		Rule:        rule, Title: info.Title, Severity: info.Severity, Technique: info.Technique,
		Why: why, Time: at.UTC(), Server: p.Server, Database: p.Database,
	}
}

// tamperFinding is the AUD-014/AUD-015 finding of t for the blob as cur
// read it: keyed by the blob, the generation it ends and what that
// generation had read (length, offset, tail digest), so that the same
// tampering found again by a retried run has the same id.
func (p *Pipeline) tamperFinding(info detect.RuleInfo, blob string, path Path, cur Cursor, props BlobProps, t *tamper) detect.Finding {
	at := props.LastModified
	if at.IsZero() {
		at = p.opt.Now()
	}
	key := []string{blob, strconv.Itoa(cur.Generation), strconv.FormatInt(cur.BlobLength, 10),
		strconv.FormatInt(cur.Offset, 10), cur.Identity.TailSHA256}
	return storageFinding(info, key, path, t.why, at)
}

// StorageRuleConfig is implemented by an Evaluator that configures the
// storage rules (*detect.Engine: XELWATCH_DISABLED_RULES and
// XELWATCH_SEVERITY_OVERRIDES apply to AUD-014..016 as to every rule).
type StorageRuleConfig interface {
	// StorageRule returns the rule as configured; false when it is
	// disabled (or unknown).
	StorageRule(id string) (detect.RuleInfo, bool)
}

// storageRule is the storage rule id as the evaluator configures it, or
// as the catalog defines it when the pipeline has no such evaluator.
func (p *Pipeline) storageRule(id string) (detect.RuleInfo, bool) {
	if sc, ok := p.eval.(StorageRuleConfig); ok {
		return sc.StorageRule(id)
	}
	return detect.StorageRule(id)
}
