package ingest

import (
	"errors"
	"io"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// XEL is the Decoder over the real .xel decoder and the audit record
// layer.
type XEL struct {
	Options *xel.Options // limits; StartOffset and MetadataOffsets are set per run
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
	return &xelRecords{xr: xr, ar: audit.NewReader(xr, fileName, &audit.ReaderOptions{FlushIncomplete: final})}, nil
}

// Truncated implements Decoder.
func (XEL) Truncated(err error) bool {
	return errors.Is(err, xel.ErrTruncated) || errors.Is(err, io.ErrUnexpectedEOF)
}

type xelRecords struct {
	xr *xel.Reader
	ar *audit.Reader
}

func (x *xelRecords) Next() (*audit.Record, error) { return x.ar.Next() }
func (x *xelRecords) End() int64                   { return x.ar.End() }
func (x *xelRecords) MetadataOffsets() []int64     { return x.xr.MetadataOffsets() }
func (x *xelRecords) Pending() []*audit.Record     { return x.ar.PendingRecords() }
