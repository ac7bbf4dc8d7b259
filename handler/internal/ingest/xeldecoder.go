package ingest

import (
	"errors"
	"io"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// Bounds of the audit record layer in a run (audit.ReaderOptions): what
// one record keeps of its text (a longer statement keeps its head and its
// tail, with the length and SHA-256 of the whole), and what the records
// waiting for a continuation may hold together.
const (
	MaxRecordBytes  = 2 << 20
	MaxPendingBytes = 16 << 20
)

// XEL is the Decoder over the real .xel decoder and the audit record
// layer.
type XEL struct {
	Options *xel.Options // limits; StartOffset and MetadataOffsets are set per run
	// Audit are the audit reader's limits; zero MaxRecordBytes and
	// MaxPendingBytes mean MaxRecordBytes and MaxPendingBytes above.
	// FlushIncomplete is set per run.
	Audit audit.ReaderOptions
}

// Open implements Decoder.
func (d XEL) Open(r io.ReaderAt, size int64, c Cursor, fileName string, final bool) (RecordReader, error) {
	var o xel.Options
	if d.Options != nil {
		o = *d.Options
	}
	o.StartOffset = c.Offset
	o.MetadataOffsets = c.MetadataOffsets
	xr, err := xel.NewReaderAt(r, size, &o)
	if err != nil {
		return nil, err
	}
	ao := d.Audit
	ao.FlushIncomplete = final
	if ao.MaxRecordBytes <= 0 {
		ao.MaxRecordBytes = MaxRecordBytes
	}
	if ao.MaxPendingBytes <= 0 {
		ao.MaxPendingBytes = MaxPendingBytes
	}
	return &xelRecords{xr: xr, ar: audit.NewReader(xr, fileName, &ao)}, nil
}

// Truncated implements Decoder.
func (XEL) Truncated(err error) bool {
	return errors.Is(err, xel.ErrTruncated) || errors.Is(err, io.ErrUnexpectedEOF)
}

type xelRecords struct {
	xr *xel.Reader
	ar *audit.Reader
}

// Next returns the next record. The raw parts of a split record lose
// their text (only their count is stored): the record holds its text
// once.
func (x *xelRecords) Next() (*audit.Record, error) {
	rec, err := x.ar.Next()
	if rec != nil {
		for i := range rec.Parts {
			rec.Parts[i].Statement, rec.Parts[i].AdditionalInformation = "", ""
		}
	}
	return rec, err
}

func (x *xelRecords) End() int64               { return x.ar.End() }
func (x *xelRecords) MetadataOffsets() []int64 { return x.xr.MetadataOffsets() }
func (x *xelRecords) Pending() []*audit.Record { return x.ar.PendingRecords() }
