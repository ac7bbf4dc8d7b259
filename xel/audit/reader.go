package audit

import (
	"bytes"
	"errors"
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
	// 8 MiB): their reassembled texts and every part they keep, each
	// part counted whole (its Record and all its strings, which a file
	// can make large in any column). Beyond it the oldest is emitted as
	// it is (flagged StatementTruncated); parts that continue it later
	// come out as records of their own, flagged Incomplete.
	MaxPendingBytes int64
	// MaxRecordBytes bounds the reassembled statement plus
	// additional_information of one record (default 1 MiB, UTF-8 bytes).
	// Further pieces are dropped and the record is flagged
	// StatementTruncated (the parts are still consumed; their Parts
	// entries carry no text).
	MaxRecordBytes int
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
	stmt     strings.Builder
	info     strings.Builder
	lastSeq  int32
	lastBuf  int
	bytes    int64
	overflow bool
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
		rec.Statement = g.stmt.String()
		rec.AdditionalInformation = g.info.String()
		rec.StatementTruncated = true
		rec.Parts = slices.Clone(rec.Parts)
		if len(rec.Parts) <= 1 {
			rec.Parts = nil
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
		rec.StatementTruncated = r.opt.NoSplit && r.full(rec)
		r.out = append(r.out, rec)
		return
	}
	g := &group{rec: rec, lastSeq: max(rec.SequenceNumber, 1), lastBuf: r.bufNo, bytes: recordSize}
	g.rec.Parts = []Record{*rec}
	r.appendText(g, rec)
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

// appendText adds a piece's text to the group, within MaxRecordBytes.
func (r *Reader) appendText(g *group, piece *Record) {
	room := r.opt.MaxRecordBytes - g.stmt.Len() - g.info.Len()
	st, ai := piece.Statement, piece.AdditionalInformation
	if g.overflow || len(st)+len(ai) > room {
		// Keep what fits, drop the rest (flagged, never silent); the
		// part keeps no text.
		g.overflow = true
		st = prefixUTF8(st, room)
		ai = prefixUTF8(ai, room-len(st))
		k := len(g.rec.Parts) - 1
		g.rec.Parts[k].Statement, g.rec.Parts[k].AdditionalInformation = "", ""
	}
	g.stmt.WriteString(st)
	g.info.WriteString(ai)
	g.bytes += int64(len(st)+len(ai)) + recordBytes(&g.rec.Parts[len(g.rec.Parts)-1])
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
	g.rec.Parts = append(g.rec.Parts, *rec)
	before := g.bytes
	r.appendText(g, rec)
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
	rec.Statement = g.stmt.String()
	rec.AdditionalInformation = g.info.String()
	rec.StatementTruncated = rec.StatementTruncated || maybeCut || g.overflow
	if len(rec.Parts) <= 1 {
		rec.Parts = nil
	}
	r.out = append(r.out, rec)
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
