package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/xelwatch/xelwatch/handler/internal/auditfile"
)

// DirBlobs is Blobs over a local folder (on-prem SQL Server writes
// .sqlaudit files to disk): blob names are slash-separated paths relative
// to the folder; the ETag is the size and modification time. Files are
// listed and opened by internal/auditfile: only regular files (links to
// them followed, links to folders not), never blocking on a FIFO.
type DirBlobs struct {
	root string
	// OnSkip, if set, receives each audit-named entry List leaves out
	// (a FIFO, device, socket, dangling link, link loop, unreadable
	// folder), at every List.
	OnSkip func(error)
}

// NewDirBlobs serves the files under root.
func NewDirBlobs(root string) *DirBlobs { return &DirBlobs{root: root} }

func (d *DirBlobs) path(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", fmt.Errorf("ingest: %q is not a relative path", name)
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

// Properties implements Blobs.
func (d *DirBlobs) Properties(_ context.Context, name string) (BlobProps, error) {
	p, err := d.path(name)
	if err != nil {
		return BlobProps{}, err
	}
	fi, err := auditfile.Stat(p) // a dangling link is "not found", a FIFO an error
	if errors.Is(err, fs.ErrNotExist) {
		return BlobProps{}, fmt.Errorf("%w: file %s", ErrNotFound, name)
	}
	if err != nil {
		return BlobProps{}, err
	}
	return BlobProps{Size: fi.Size(), ETag: strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16),
		LastModified: fi.ModTime().UTC()}, nil
}

// ReaderAt implements Blobs: the file is opened for each window read, so
// that no descriptor outlives the run.
func (d *DirBlobs) ReaderAt(ctx context.Context, name string, size int64) io.ReaderAt {
	return &rangeReader{ctx: ctx, size: size, rangeSize: defaultRangeSize, fetch: func(_ context.Context, off, n int64, dst []byte) (int, error) {
		p, err := d.path(name)
		if err != nil {
			return 0, err
		}
		f, _, err := auditfile.Open(p) // refuses a file swapped for a FIFO since List
		if err != nil {
			return 0, err
		}
		defer f.Close()
		got, err := f.ReadAt(dst[:n], off)
		if err == io.EOF && int64(got) == n {
			err = nil
		}
		return got, err
	}}
}

// Prefixes implements Blobs.
func (d *DirBlobs) Prefixes(_ context.Context, prefix string, max int) ([]string, error) {
	dir := d.root
	if prefix != "" {
		p, err := d.path(strings.TrimSuffix(prefix, "/"))
		if err != nil {
			return nil, err
		}
		dir = p
	}
	f, err := auditfile.OpenDir(dir) // not blocking on a FIFO put in its place
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	for len(out) < max {
		ents, err := f.ReadDir(1024)
		for _, e := range ents {
			if e.IsDir() && len(out) < max {
				out = append(out, prefix+e.Name()+"/")
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}

// List implements Blobs (recursive, regular audit files only, sorted;
// the last max by name when there are more: a rollover sequence's names
// sort by time, and a watcher must never lose sight of the newest files
// because old, closed ones fill the listing).
func (d *DirBlobs) List(ctx context.Context, prefix string, max int) ([]BlobItem, error) {
	o := auditfile.WalkOptions{Recursive: true, Skip: d.OnSkip, Last: true}
	if prefix == "" {
		o.MaxFiles = max
	}
	files, err := auditfile.Walk(ctx, d.root, o)
	if err != nil && !errors.Is(err, auditfile.ErrTooMany) {
		return nil, fmt.Errorf("ingest: list %s: %w", d.root, err)
	}
	var out []BlobItem
	for _, f := range files {
		if strings.HasPrefix(f.Name, prefix) && len(out) < max {
			out = append(out, BlobItem{Name: f.Name, BlobProps: BlobProps{Size: f.Info.Size(), LastModified: f.Info.ModTime().UTC()}})
		}
	}
	return out, nil
}
