package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// MemoryBlobs is an in-memory Blobs for the tests. Fail, when set,
// is called before every operation and may return an injected error.
type MemoryBlobs struct {
	mu    sync.Mutex
	blobs map[string]*memBlob
	Fail  func(op, name string) error
}

type memBlob struct {
	data    []byte
	etag    int
	mod     time.Time
	created time.Time
	typ     string
}

// Replace deletes the blob and creates it again with data (a new
// creation time and ETag, type typ: "AppendBlob" when empty), as someone
// holding rights on the audit account can.
func (m *MemoryBlobs) Replace(name string, data []byte, typ string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if typ == "" {
		typ = "AppendBlob"
	}
	old := m.blobs[name]
	etag := 0
	if old != nil {
		etag = old.etag
	}
	m.blobs[name] = &memBlob{data: append([]byte(nil), data...), etag: etag + 1, mod: at, created: at, typ: typ}
}

// Rewrite replaces the blob's bytes in place, keeping its creation time
// and type (a source that shows no identity change): only the digests can
// tell.
func (m *MemoryBlobs) Rewrite(name string, data []byte, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb := m.blobs[name]
	mb.data = append([]byte(nil), data...)
	mb.etag++
	mb.mod = at
}

// Touch changes the blob's ETag only (as setting its metadata does).
func (m *MemoryBlobs) Touch(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[name].etag++
}

// Delete removes the blob.
func (m *MemoryBlobs) Delete(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blobs, name)
}

// NewMemoryBlobs returns an empty container.
func NewMemoryBlobs() *MemoryBlobs { return &MemoryBlobs{blobs: map[string]*memBlob{}} }

// Append appends to (or creates) a blob, changing its ETag.
func (m *MemoryBlobs) Append(name string, b []byte, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb := m.blobs[name]
	if mb == nil {
		mb = &memBlob{created: at, typ: "AppendBlob"}
		m.blobs[name] = mb
	}
	mb.data = append(mb.data, b...)
	mb.etag++
	mb.mod = at
}

func (m *MemoryBlobs) fail(op, name string) error {
	if m.Fail == nil {
		return nil
	}
	return m.Fail(op, name)
}

// Properties implements Blobs.
func (m *MemoryBlobs) Properties(_ context.Context, name string) (BlobProps, error) {
	if err := m.fail("properties", name); err != nil {
		return BlobProps{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mb := m.blobs[name]
	if mb == nil {
		return BlobProps{}, fmt.Errorf("%w: blob %s", ErrNotFound, name)
	}
	return BlobProps{Size: int64(len(mb.data)), ETag: "0x" + strconv.Itoa(mb.etag), LastModified: mb.mod, Type: mb.typ, Created: mb.created}, nil
}

// ReaderAt implements Blobs.
func (m *MemoryBlobs) ReaderAt(_ context.Context, name string, size int64) io.ReaderAt {
	return readerAtFunc(func(p []byte, off int64) (int, error) {
		if err := m.fail("read", name); err != nil {
			return 0, err
		}
		m.mu.Lock()
		var data []byte
		if mb := m.blobs[name]; mb != nil {
			data = mb.data[:min(int64(len(mb.data)), size)]
		}
		m.mu.Unlock()
		return bytes.NewReader(data).ReadAt(p, off)
	})
}

type readerAtFunc func(p []byte, off int64) (int, error)

func (f readerAtFunc) ReadAt(p []byte, off int64) (int, error) { return f(p, off) }

// Prefixes implements Blobs.
func (m *MemoryBlobs) Prefixes(_ context.Context, prefix string, max int) ([]string, error) {
	if err := m.fail("list", prefix); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for name := range m.blobs {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seen[prefix+rest[:i+1]] = true
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out[:min(len(out), max)], nil
}

// List implements Blobs.
func (m *MemoryBlobs) List(_ context.Context, prefix string, max int) ([]BlobItem, error) {
	if err := m.fail("list", prefix); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []BlobItem
	for name, mb := range m.blobs {
		if strings.HasPrefix(name, prefix) {
			out = append(out, BlobItem{Name: name, BlobProps: BlobProps{Size: int64(len(mb.data)), ETag: "0x" + strconv.Itoa(mb.etag), LastModified: mb.mod}})
		}
	}
	slices.SortFunc(out, func(a, b BlobItem) int { return strings.Compare(a.Name, b.Name) })
	return out[:min(len(out), max)], nil
}

// MemoryCursors is an in-memory Cursors with ETags.
type MemoryCursors struct {
	mu   sync.Mutex
	m    map[string]Cursor
	n    int
	Fail func(op, blob string) error
}

// NewMemoryCursors returns an empty store.
func NewMemoryCursors() *MemoryCursors { return &MemoryCursors{m: map[string]Cursor{}} }

func (m *MemoryCursors) fail(op, blob string) error {
	if m.Fail == nil {
		return nil
	}
	return m.Fail(op, blob)
}

// Get implements Cursors.
func (m *MemoryCursors) Get(_ context.Context, blob string) (Cursor, error) {
	if err := m.fail("get", blob); err != nil {
		return Cursor{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.m[blob]
	if !ok {
		return Cursor{}, fmt.Errorf("%w: cursor %s", ErrNotFound, blob)
	}
	c.MetadataOffsets = slices.Clone(c.MetadataOffsets)
	return c, nil
}

// Create implements Cursors.
func (m *MemoryCursors) Create(_ context.Context, c Cursor) (Cursor, error) {
	if err := m.fail("create", c.Blob); err != nil {
		return Cursor{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[c.Blob]; ok {
		return Cursor{}, fmt.Errorf("%w: cursor %s exists", ErrConflict, c.Blob)
	}
	m.n++
	c.ETag = "e" + strconv.Itoa(m.n)
	c.MetadataOffsets = slices.Clone(c.MetadataOffsets)
	m.m[c.Blob] = c
	return c, nil
}

// Update implements Cursors.
func (m *MemoryCursors) Update(_ context.Context, c Cursor) (Cursor, error) {
	if err := m.fail("update", c.Blob); err != nil {
		return Cursor{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.m[c.Blob]
	if !ok || old.ETag != c.ETag {
		return Cursor{}, fmt.Errorf("%w: cursor %s changed", ErrConflict, c.Blob)
	}
	m.n++
	c.ETag = "e" + strconv.Itoa(m.n)
	c.MetadataOffsets = slices.Clone(c.MetadataOffsets)
	m.m[c.Blob] = c
	return c, nil
}

// Open implements Cursors.
func (m *MemoryCursors) Open(_ context.Context, max int) ([]Cursor, error) {
	if err := m.fail("open", ""); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Cursor
	for _, c := range m.m {
		if c.State == StateOpen {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Cursor) int { return strings.Compare(a.Blob, b.Blob) })
	return out[:min(len(out), max)], nil
}

// MemoryRows records upserts keyed by (file, offset, index), counting
// every write, so tests can tell "stored once" from "written twice".
type MemoryRows struct {
	mu     sync.Mutex
	rows   map[string]*audit.Record
	Writes int
	Fail   func(blob string) error
}

// NewMemoryRows returns an empty table.
func NewMemoryRows() *MemoryRows { return &MemoryRows{rows: map[string]*audit.Record{}} }

// RowKey is the key MemoryRows uses.
func RowKey(r *audit.Record) string {
	return fmt.Sprintf("%s|%020d|%06d", r.FileName, r.AuditFileOffset, r.EventIndex)
}

// Upsert implements Rows.
func (m *MemoryRows) Upsert(_ context.Context, _ Path, blob string, recs []*audit.Record) error {
	if m.Fail != nil {
		if err := m.Fail(blob); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		m.rows[RowKey(r)] = r
		m.Writes++
	}
	return nil
}

// Records returns the stored records in key order.
func (m *MemoryRows) Records() []*audit.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m.rows {
			if !yield(k) {
				return
			}
		}
	})
	out := make([]*audit.Record, len(keys))
	for i, k := range keys {
		out[i] = m.rows[k]
	}
	return out
}
