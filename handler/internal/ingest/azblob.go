package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// defaultRangeSize is the size of one range request (and the read-ahead
// window the decoder's reads are served from).
const defaultRangeSize = 4 << 20

// AzureBlobs is Blobs over one container of an azblob account.
type AzureBlobs struct {
	c         *container.Client
	RangeSize int64
}

// NewAzureBlobs wraps the container client.
func NewAzureBlobs(c *azblob.Client, containerName string) *AzureBlobs {
	return &AzureBlobs{c: c.ServiceClient().NewContainerClient(containerName), RangeSize: defaultRangeSize}
}

// Container returns the container client (demo and tests upload with it).
func (a *AzureBlobs) Container() *container.Client { return a.c }

// Properties implements Blobs.
func (a *AzureBlobs) Properties(ctx context.Context, name string) (BlobProps, error) {
	r, err := a.c.NewBlobClient(name).GetProperties(ctx, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
			return BlobProps{}, fmt.Errorf("%w: blob %s", ErrNotFound, name)
		}
		return BlobProps{}, err
	}
	var p BlobProps
	if r.ContentLength != nil {
		p.Size = *r.ContentLength
	}
	if r.ETag != nil {
		p.ETag = string(*r.ETag)
	}
	if r.LastModified != nil {
		p.LastModified = r.LastModified.UTC()
	}
	if r.BlobType != nil {
		p.Type = string(*r.BlobType)
	}
	if r.CreationTime != nil {
		p.Created = r.CreationTime.UTC()
	}
	return p, nil
}

// Prefixes implements Blobs.
func (a *AzureBlobs) Prefixes(ctx context.Context, prefix string, max int) ([]string, error) {
	var out []string
	pg := a.c.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: &prefix})
	for pg.More() && len(out) < max {
		page, err := pg.NextPage(ctx)
		if err != nil {
			if bloberror.HasCode(err, bloberror.ContainerNotFound) {
				return nil, nil
			}
			return nil, err
		}
		for _, bp := range page.Segment.BlobPrefixes {
			if bp.Name != nil && len(out) < max {
				out = append(out, *bp.Name)
			}
		}
	}
	return out, nil
}

// List implements Blobs.
func (a *AzureBlobs) List(ctx context.Context, prefix string, max int) ([]BlobItem, error) {
	var out []BlobItem
	pg := a.c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pg.More() && len(out) < max {
		page, err := pg.NextPage(ctx)
		if err != nil {
			if bloberror.HasCode(err, bloberror.ContainerNotFound) {
				return nil, nil
			}
			return nil, err
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name == nil || len(out) >= max {
				continue
			}
			it := BlobItem{Name: *b.Name}
			if b.Properties != nil {
				if b.Properties.ContentLength != nil {
					it.Size = *b.Properties.ContentLength
				}
				if b.Properties.ETag != nil {
					it.ETag = string(*b.Properties.ETag)
				}
				if b.Properties.LastModified != nil {
					it.LastModified = b.Properties.LastModified.UTC()
				}
			}
			out = append(out, it)
		}
	}
	return out, nil
}

// ReaderAt implements Blobs.
func (a *AzureBlobs) ReaderAt(ctx context.Context, name string, size int64) io.ReaderAt {
	rs := a.RangeSize
	if rs <= 0 {
		rs = defaultRangeSize
	}
	return &rangeReader{ctx: ctx, fetch: func(ctx context.Context, off, n int64, dst []byte) (int, error) {
		resp, err := a.c.NewBlobClient(name).DownloadStream(ctx, &azblob.DownloadStreamOptions{
			Range: azblob.HTTPRange{Offset: off, Count: n},
		})
		if err != nil {
			return 0, err
		}
		body := resp.NewRetryReader(ctx, &azblob.RetryReaderOptions{MaxRetries: 3})
		defer body.Close()
		return io.ReadFull(body, dst[:n])
	}, size: size, rangeSize: rs}
}

// rangeReader serves ReadAt calls from a read-ahead window filled with one
// bounded range request at a time. Memory: one window (RangeSize, or the
// larger read asked for).
type rangeReader struct {
	ctx       context.Context
	fetch     func(ctx context.Context, off, n int64, dst []byte) (int, error)
	size      int64
	rangeSize int64
	buf       []byte
	bufOff    int64
}

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("ingest: negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := int64(len(p))
	short := false
	if off+want > r.size {
		want = r.size - off
		short = true
	}
	if off < r.bufOff || off+want > r.bufOff+int64(len(r.buf)) {
		n := max(r.rangeSize, want)
		if off+n > r.size {
			n = r.size - off
		}
		if int64(cap(r.buf)) < n {
			r.buf = make([]byte, n)
		}
		r.buf = r.buf[:n]
		got, err := r.fetch(r.ctx, off, n, r.buf)
		if err != nil {
			r.buf = r.buf[:0]
			return 0, &ReadError{Offset: off, Err: err}
		}
		r.buf, r.bufOff = r.buf[:got], off
		if int64(got) < want {
			return 0, &ReadError{Offset: off, Err: io.ErrUnexpectedEOF}
		}
	}
	n := copy(p, r.buf[off-r.bufOff:off-r.bufOff+want])
	if short {
		return n, io.EOF
	}
	return n, nil
}

// ReadError is a failed range read: a storage error, retried by the host.
type ReadError struct {
	Offset int64
	Err    error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("ingest: read blob range at %d: %s", e.Offset, errText(e.Err))
}

func (e *ReadError) Unwrap() error { return e.Err }

// errText renders SDK errors on one line (status and code), never the
// multi-line response dump.
func errText(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("status %d %s", re.StatusCode, re.ErrorCode)
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}
