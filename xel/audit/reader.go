package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"iter"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/xelwatch/xelwatch/xel"
)

// Default limits of ReaderOptions.
const (
	DefaultMaxPendingRecords = 1024
	DefaultMaxPendingBytes   = 8 << 20
	DefaultMaxRecordBytes    = 1 << 20
	DefaultMaxPendingBuffers = 64
	DefaultSplitChars        = 4000
	DefaultMaxParts          = 1024
)

// ReaderOptions configure a Reader. The zero value (or nil) gives safe
// defaults; a zero limit means the default, not "unlimited".
type ReaderOptions struct {
	// FlushIncomplete: at the clean end of the input (io.EOF) emit the
	// records still waiting for a continuation, as they are (flagged
	// StatementTruncated). Set it when the file is known complete; leave
	// it unset for a file still being written, so that End stays before
	// them and a later read picks them up again.
	FlushIncomplete bool
	// MaxPendingRecords bounds the split records waiting for their next
	// part (default 1024); beyond it the oldest is emitted as it is.
	MaxPendingRecords int
	// MaxPendingBytes bounds the memory held by waiting records (default
	// 8 MiB): the text they hold (whole, or head and tail once over
	// MaxRecordBytes) and every part they keep, each part counted whole
	// (its Record and all its strings, which a file can make large in any
	// column; a part whose text was dropped still counts its Record and
	// other columns). Beyond it the oldest is emitted as it is (flagged
	// StatementTruncated); parts that continue it later come out as
	// records of their own, flagged Incomplete.
	MaxPendingBytes int64
	// MaxRecordBytes bounds the statement plus additional_information of
	// one record, split or not (default 1 MiB, UTF-8 bytes). Up to it a
	// record is whole. Over it, the statement keeps its first
	// MaxRecordBytes/2 and its last MaxRecordBytes/4 bytes (Record.Elided
	// gives the length and SHA-256 of the whole and where the middle was
	// dropped), additional_information its first MaxRecordBytes/4, and
	// the record is flagged StatementTruncated. The parts are still
	// consumed; Parts entries carry no text from then on.
	MaxRecordBytes int
	// MaxParts bounds the raw parts a split record keeps in Parts
	// (default 1024): the first MaxParts-1 and the last; Record.PartCount
	// counts them all.
	MaxParts int
	// MaxPendingBuffers: a waiting record whose continuation has not
	// appeared within this many further event buffers is emitted as it
	// is, flagged StatementTruncated (default 64). Continuations go to
	// the same partition right after the first part, but other partitions
	// may flush buffers in between.
	MaxPendingBuffers int
	// NoSplit declares that records are never split (Azure SQL Database
	// truncates statements at 4000 characters instead): nothing waits for
	// a continuation, a text at the limit is flagged StatementTruncated
	// at once, and a sequence_number > 1 record is kept as it is
	// (flagged Incomplete).
	NoSplit bool
	// SplitChars is the piece size, in UTF-16 code units, at which SQL
	// Server splits statement / additional_information (default 4000).
	// A piece at least SplitChars-1 long may be continued (a piece is one
	// unit shorter when a surrogate pair would be cut).
	SplitChars int
}

func (o *ReaderOptions) withDefaults() ReaderOptions {
	var r ReaderOptions
	if o != nil {
		r = *o
	}
	if r.MaxPendingRecords <= 0 {
		r.MaxPendingRecords = DefaultMaxPendingRecords
	}
	if r.MaxPendingBytes <= 0 {
		r.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if r.MaxRecordBytes <= 0 {
		r.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if r.MaxPendingBuffers <= 0 {
		r.MaxPendingBuffers = DefaultMaxPendingBuffers
	}
	if r.SplitChars <= 1 {
		r.SplitChars = DefaultSplitChars
	}
	if r.MaxParts <= 0 {
		r.MaxParts = DefaultMaxParts
	}
	return r
}

// Reader reads normalized audit records from an xel.Reader: it skips
// events other than audit_event and reassembles records SQL Server split
// into several audit_event records (sequence_number 1..n).
//
// A record with sequence_number > 1 continues the waiting record with the
// same session_id, action_id, event_time and sequence_group_id. A record
// waits for a continuation only while its last piece of statement or
// additional_information fills the 4000-character column; it is emitted
// when a shorter piece arrives, after MaxPendingBuffers buffers without
// a continuation, when a limit is reached, or at the end with
// FlushIncomplete. (A later record of the same session does not end it:
// with several partitions it can be written before the continuation.)
type Reader struct {
	xr       *xel.Reader
	fileName string
	opt      ReaderOptions

	out     []*Record // ready, in emission order
	pending []*group  // waiting for a continuation, in arrival order
	pendB   int64     // bytes held by pending (group.bytes)
	bufNo   int       // event buffers seen
	lastOff int64
	plan    fieldPlan
	err     error
}

type group struct {
	rec      *Record
	stmt     stmtText
	info     strings.Builder
	lastSeq  int32
	lastBuf  int
	bytes    int64 // held, counted against MaxPendingBytes (see appendText)
	partB    int64 // recordBytes of the parts kept in Parts
	parts    int   // raw parts seen (Parts keeps at most MaxParts)
	overflow bool  // over MaxRecordBytes
}

// stmtText accumulates the statement of a split record: whole while the
// record is within MaxRecordBytes, then its head and a rolling tail. The
// length and SHA-256 of the whole text are kept throughout.
type stmtText struct {
	head  strings.Builder
	tail  []string // pieces after the head, once over the limit
	tailB int      // bytes in tail
	total int64
	units int64
	sum   hash.Hash
}

// hash accounts for piece s of the whole text.
func (t *stmtText) hash(s string) {
	if t.sum == nil {
		t.sum = sha256.New()
	}
	hashString(t.sum, s)
	t.total += int64(len(s))
	t.units += int64(utf16Len(s))
}

// startTail keeps the first headMax bytes of the text so far as the head
// and moves the rest to the tail.
func (t *stmtText) startTail(headMax, tailMax int) {
	s := t.head.String()
	if len(s) <= headMax {
		return
	}
	h := prefixUTF8(s, headMax)
	t.head.Reset()
	t.head.WriteString(h)
	t.addTail(strings.Clone(s[len(h):]), tailMax)
}

// addTail appends s to the tail and drops the oldest pieces the tail
// does not need to hold its last tailMax bytes.
func (t *stmtText) addTail(s string, tailMax int) {
	if s == "" {
		return
	}
	t.tail = append(t.tail, s)
	t.tailB += len(s)
	for len(t.tail) > 1 && t.tailB-len(t.tail[0]) >= tailMax {
		t.tailB -= len(t.tail[0])
		t.tail[0] = ""
		t.tail = t.tail[1:]
	}
}

// held is the bytes of text held.
func (t *stmtText) held() int { return t.head.Len() + t.tailB }

// result returns the statement to emit and what was dropped.
func (t *stmtText) result(tailMax int) (string, Elision) {
	head := t.head.String()
	if len(t.tail) == 0 {
		return head, Elision{}
	}
	tail := strings.Join(t.tail, "")
	tail = suffixUTF8(tail, tailMax)
	e := Elision{At: len(head), Dropped: t.total - int64(len(head)+len(tail)), Units: t.units}
	if e.Dropped <= 0 {
		return head + tail, Elision{}
	}
	t.sum.Sum(e.SHA256[:0])
	return head + tail, e
}

// hashString writes s to h in bounded pieces (no copy of s as a whole).
func hashString(h hash.Hash, s string) {
	var buf [4096]byte
	for len(s) > 0 {
		n := copy(buf[:], s)
		h.Write(buf[:n])
		s = s[n:]
	}
}

// bound applies MaxRecordBytes to a record read in one piece (see
// ReaderOptions.MaxRecordBytes): the file's writer chooses its lengths.
func (r *Reader) bound(rec *Record) {
	limit := r.opt.MaxRecordBytes
	st, ai := rec.Statement, rec.AdditionalInformation
	if len(st)+len(ai) <= limit {
		return
	}
	rec.StatementTruncated = true
	if len(ai) > limit/4 {
		ai = strings.Clone(prefixUTF8(ai, limit/4))
		rec.AdditionalInformation = ai
	}
	if len(st)+len(ai) <= limit {
		return
	}
	head := prefixUTF8(st, limit/2)
	tail := suffixUTF8(st[len(head):], limit/4)
	h := sha256.New()
	hashString(h, st)
	e := Elision{At: len(head), Dropped: int64(len(st) - len(head) - len(tail)), Units: int64(utf16Len(st))}
	h.Sum(e.SHA256[:0])
	rec.Statement = head + tail
	rec.Elided = e
}

// NewReader returns a Reader of the audit records of xr; fileName fills
// Record.FileName (the blob or file path).
func NewReader(xr *xel.Reader, fileName string, opts *ReaderOptions) *Reader {
	return &Reader{xr: xr, fileName: fileName, opt: opts.withDefaults(), lastOff: -1}
}

// Next returns the next audit record; io.EOF at the clean end of the
// input. Errors of the xel.Reader are returned after the records that
// were complete before them; errors are sticky. The Record belongs to the
// caller.
func (r *Reader) Next() (*Record, error) {
	for {
		if len(r.out) > 0 {
			rec := r.out[0]
			r.out[0] = nil
			r.out = r.out[1:]
			return rec, nil
		}
		if r.err != nil {
			return nil, r.err
		}
		ev, err := r.xr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.EOF
				if r.opt.FlushIncomplete {
					for len(r.pending) > 0 {
						r.emitGroup(0)
					}
				}
			}
			r.err = err
			continue
		}
		r.add(ev)
	}
}

// All returns an iterator over the records and a final non-EOF error.
// It is single-use.
func (r *Reader) All() iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		for {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

// End returns the resume point: like xel.Reader.End, but never past the
// buffer holding the first part of a record still waiting for its
// continuation, nor past a record not yet returned by Next. Reading again
// from End (xel.Options.StartOffset) yields every record not yet returned
// — and possibly some again, with the same (FileName, AuditFileOffset,
// EventIndex) key.
func (r *Reader) End() int64 {
	e := r.xr.End()
	for _, g := range r.pending {
		if g.rec.AuditFileOffset < e {
			e = g.rec.AuditFileOffset
		}
	}
	for _, rec := range r.out {
		if rec.AuditFileOffset < e {
			e = rec.AuditFileOffset
		}
	}
	return e
}

// Pending returns the number of split records waiting for a continuation.
func (r *Reader) Pending() int { return len(r.pending) }

// PendingBytes returns what the records waiting for a continuation hold
// (text and parts), the quantity MaxPendingBytes bounds.
func (r *Reader) PendingBytes() int64 { return r.pendB }

// PendingRecords returns copies of the records still waiting for a
// continuation, assembled as far as they are, marked StatementTruncated
// (more may follow). The Reader is not changed: they are still emitted by
// Next when complete. A caller that stops at End() can store and evaluate
// them now so that a record at the 4000-character limit is not hidden
// until its continuation (or none: Azure SQL Database truncates instead of
// splitting) arrives; resuming at End() reads them again under the same
// identity (FileName, AuditFileOffset, EventIndex).
func (r *Reader) PendingRecords() []*Record {
	out := make([]*Record, 0, len(r.pending))
	for _, g := range r.pending {
		rec := *g.rec
		rec.Statement, rec.Elided = g.stmt.result(r.opt.MaxRecordBytes / 4)
		rec.AdditionalInformation = g.info.String()
		rec.StatementTruncated = true
		rec.Parts = slices.Clone(rec.Parts)
		if g.parts > len(rec.Parts) {
			rec.PartCount = g.parts
		}
		if len(rec.Parts) <= 1 {
			rec.Parts, rec.PartCount = nil, 0
		}
		out = append(out, &rec)
	}
	return out
}

// add normalizes one event and routes it through reassembly.
func (r *Reader) add(ev *xel.Event) {
	if !IsAuditEvent(ev) {
		return
	}
	if ev.Offset != r.lastOff {
		r.lastOff = ev.Offset
		r.bufNo++
		r.expire()
	}
	raw, _ := fromEvent(ev, r.fileName, &r.plan)
	rec := &raw
	r.bound(rec)
	if rec.SequenceNumber > 1 {
		if i := r.findGroup(rec); i >= 0 {
			r.extend(i, rec)
			return
		}
		// A continuation whose earlier parts were never seen (evicted,
		// or before the start of the read): it is incomplete, and it
		// collects the parts that follow it.
		rec.Incomplete = true
	}
	if r.opt.NoSplit || !r.full(rec) {
		rec.StatementTruncated = rec.StatementTruncated || (r.opt.NoSplit && r.full(rec))
		r.out = append(r.out, rec)
		return
	}
	g := &group{rec: rec, lastSeq: max(rec.SequenceNumber, 1), lastBuf: r.bufNo, parts: 1}
	g.rec.Parts = []Record{*rec}
	r.appendText(g, rec, true)
	r.pending = append(r.pending, g)
	r.pendB += g.bytes
	r.enforceLimits()
}

// full reports whether a record's statement or additional_information
// is a piece that fills its column (SplitChars-1 or SplitChars UTF-16
// units), so that a continuation may follow. Longer texts were not split
// by SQL Server and cannot be continued.
func (r *Reader) full(rec *Record) bool {
	return r.isPiece(rec.Statement) || r.isPiece(rec.AdditionalInformation)
}

func (r *Reader) isPiece(s string) bool {
	n := r.opt.SplitChars
	if len(s) < n-1 || len(s) > 3*n { // UTF-8 bytes ≥ UTF-16 units, ≤ 3 bytes per unit
		return false
	}
	u := utf16Len(s)
	return u >= n-1 && u <= n
}

func (r *Reader) findGroup(rec *Record) int {
	for i, g := range r.pending {
		f := g.rec
		if f.SessionID == rec.SessionID && f.ActionID == rec.ActionID &&
			f.EventTime.Equal(rec.EventTime) && bytes.Equal(f.SequenceGroupID, rec.SequenceGroupID) &&
			rec.SequenceNumber > g.lastSeq {
			return i
		}
	}
	return -1
}

// appendText adds a piece's text to the group, within MaxRecordBytes
// (see ReaderOptions.MaxRecordBytes); kept: the piece is the last entry
// of Parts.
func (r *Reader) appendText(g *group, piece *Record, kept bool) {
	limit := r.opt.MaxRecordBytes
	st, ai := piece.Statement, piece.AdditionalInformation
	g.stmt.hash(st)
	if !g.overflow && g.stmt.held()+g.info.Len()+len(st)+len(ai) <= limit {
		g.stmt.head.WriteString(st)
		g.info.WriteString(ai)
	} else {
		// Over the limit: the statement keeps its head and a rolling
		// tail, additional_information its head (flagged, never
		// silent); the part keeps no text.
		if !g.overflow {
			g.overflow = true
			g.stmt.startTail(limit/2, limit/4)
			if g.info.Len() > limit/4 {
				info := prefixUTF8(g.info.String(), limit/4)
				g.info.Reset()
				g.info.WriteString(info)
			}
		}
		g.stmt.addTail(st, limit/4)
		g.info.WriteString(prefixUTF8(ai, limit/4-g.info.Len()))
		if kept {
			k := len(g.rec.Parts) - 1
			g.rec.Parts[k].Statement, g.rec.Parts[k].AdditionalInformation = "", ""
		}
	}
	if kept {
		// The part as it is kept: its Record and every column, its
		// text only while the record is within MaxRecordBytes.
		g.partB += recordBytes(&g.rec.Parts[len(g.rec.Parts)-1])
	}
	// The record itself (its columns are shared with its first part),
	// the text held (head and tail), and every kept part whole.
	g.bytes = recordSize + int64(g.stmt.held()+g.info.Len()) + g.partB
}

// recordSize is the memory of a Record without what it points to.
const recordSize = int64(unsafe.Sizeof(Record{}))

// Size estimates the memory the record holds: the Record, its strings and
// byte slices, and its Parts. A caller that collects records bounds its
// memory with it.
func (r *Record) Size() int64 {
	n := recordBytes(r)
	for i := range r.Parts {
		n += recordBytes(&r.Parts[i])
	}
	return n
}

// recordBytes is the memory a part holds: its Record and every string
// and byte slice in it (copied out of the event buffer; the few shared
// ones, FileName and the names from the reference tables, are counted
// too, which errs on the safe side).
func recordBytes(r *Record) int64 {
	n := recordSize
	for _, s := range [...]string{r.ActionID, r.ActionName, r.ClassType, r.ClassTypeDesc,
		r.SessionServerPrincipalName, r.ServerPrincipalName, r.DatabasePrincipalName,
		r.TargetServerPrincipalName, r.TargetDatabasePrincipalName, r.ServerInstanceName,
		r.DatabaseName, r.SchemaName, r.ObjectName, r.Statement, r.AdditionalInformation,
		r.FileName, r.UserDefinedInformation, r.ClientIP, r.ApplicationName, r.ConnectionID,
		r.DataSensitivityInformation, r.HostName, r.SessionContext, r.ClientTLSVersionName,
		r.ExternalPolicyPermissionsChecked, r.OBOMiddleTierAppID} {
		n += int64(len(s))
	}
	for _, b := range [...][]byte{r.PermissionBitmask, r.ServerPrincipalSID, r.TargetServerPrincipalSID, r.SequenceGroupID} {
		n += int64(len(b))
	}
	return n
}

func (r *Reader) extend(i int, rec *Record) {
	g := r.pending[i]
	if rec.SequenceNumber != g.lastSeq+1 {
		g.rec.Incomplete = true
	}
	g.lastSeq = rec.SequenceNumber
	g.lastBuf = r.bufNo
	g.parts++
	kept := true
	if len(g.rec.Parts) < r.opt.MaxParts {
		g.rec.Parts = append(g.rec.Parts, *rec)
	} else if k := len(g.rec.Parts) - 1; k > 0 {
		// Over MaxParts: keep the first MaxParts-1 and the latest, whose
		// place is the record's place in the file's processing order
		// (detect's causal evaluation uses it).
		g.partB -= recordBytes(&g.rec.Parts[k])
		g.rec.Parts[k] = *rec
	} else {
		kept = false
	}
	before := g.bytes
	r.appendText(g, rec, kept)
	r.pendB += g.bytes - before
	if !r.full(rec) {
		r.finish(i, false)
		return
	}
	r.enforceLimits()
}

// emitGroup emits a pending record whose last piece was full: it may be
// truncated.
func (r *Reader) emitGroup(i int) { r.finish(i, true) }

func (r *Reader) finish(i int, maybeCut bool) {
	g := r.pending[i]
	r.pending = append(r.pending[:i], r.pending[i+1:]...)
	r.pendB -= g.bytes
	rec := g.rec
	rec.Statement, rec.Elided = g.stmt.result(r.opt.MaxRecordBytes / 4)
	rec.AdditionalInformation = g.info.String()
	rec.StatementTruncated = rec.StatementTruncated || maybeCut || g.overflow
	if g.parts > len(rec.Parts) {
		rec.PartCount = g.parts
	}
	if len(rec.Parts) <= 1 {
		rec.Parts, rec.PartCount = nil, 0
	}
	r.out = append(r.out, rec)
}

// suffixUTF8 returns the longest suffix of s of at most n bytes that
// does not cut a UTF-8 sequence.
func suffixUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return s[i:]
}

// prefixUTF8 returns the longest prefix of s of at most n bytes that
// does not cut a UTF-8 sequence.
func prefixUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// expire emits pending records not continued within MaxPendingBuffers.
func (r *Reader) expire() {
	for i := 0; i < len(r.pending); {
		if r.bufNo-r.pending[i].lastBuf > r.opt.MaxPendingBuffers {
			r.emitGroup(i)
			continue
		}
		i++
	}
}

func (r *Reader) enforceLimits() {
	for len(r.pending) > 0 && (len(r.pending) > r.opt.MaxPendingRecords || r.pendB > r.opt.MaxPendingBytes) {
		r.emitGroup(0)
	}
}
