package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// DirBlobs is Blobs over a local folder (on-prem SQL Server writes
// .sqlaudit files to disk): blob names are slash-separated paths relative
// to the folder; the ETag is the size and modification time.
type DirBlobs struct {
	root string
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
	fi, err := os.Stat(p)
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
	return &rangeReader{ctx: ctx, size: size, rangeSize: DefaultRangeSize, fetch: func(_ context.Context, off, n int64, dst []byte) (int, error) {
		p, err := d.path(name)
		if err != nil {
			return 0, err
		}
		f, err := os.Open(p)
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
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && len(out) < max {
			out = append(out, prefix+e.Name()+"/")
		}
	}
	return out, nil
}

// List implements Blobs (recursive, audit files only, sorted).
func (d *DirBlobs) List(ctx context.Context, prefix string, max int) ([]BlobItem, error) {
	var out []BlobItem
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.IsDir() || !IsAuditFile(e.Name()) {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if !strings.HasPrefix(name, prefix) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil // vanished meanwhile
		}
		out = append(out, BlobItem{Name: name, BlobProps: BlobProps{Size: fi.Size(), LastModified: fi.ModTime().UTC()}})
		if len(out) >= max {
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: list %s: %w", d.root, err)
	}
	slices.SortFunc(out, func(a, b BlobItem) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
