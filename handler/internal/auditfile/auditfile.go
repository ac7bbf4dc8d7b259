package auditfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Limits of Walk.
const (
	// DefaultMaxFiles bounds the files one Walk returns.
	DefaultMaxFiles = 100000
	// MaxEntries bounds the folder entries one Walk reads (of any name).
	MaxEntries = 10_000_000
	// MaxDepth bounds how deep a recursive Walk descends.
	MaxDepth = 32
)

// ErrTooMany is wrapped by Walk's error when a folder holds more audit
// files than WalkOptions.MaxFiles (or more than MaxEntries entries).
var ErrTooMany = errors.New("too many files")

// IsAuditName reports whether a file name ends in .xel or .sqlaudit, in
// any case.
func IsAuditName(name string) bool {
	l := strings.ToLower(name)
	return strings.HasSuffix(l, ".xel") || strings.HasSuffix(l, ".sqlaudit")
}

// SkipError says why a path was not opened or not listed.
type SkipError struct {
	Path   string
	Reason string // "FIFO", "device", "socket", "directory", "dangling symbolic link", ...
	Err    error  // the underlying error, if any
}

func (e *SkipError) Error() string {
	s := e.Path + ": skipped: " + e.Reason
	switch e.Reason {
	case "FIFO", "device", "socket", "irregular file":
		s += " (not a regular file)"
	}
	if e.Err != nil && e.Reason == "unreadable" {
		err := e.Err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already said
		}
		s += ": " + err.Error()
	}
	return s
}

func (e *SkipError) Unwrap() error { return e.Err }

// kind names a non-regular file mode.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	default:
		return "irregular file"
	}
}

// classify turns a stat or open error of p into a *SkipError for a
// dangling link or a link loop, and wraps any other with the path.
func classify(p string, err error) error {
	if errors.Is(err, syscall.ELOOP) {
		return &SkipError{Path: p, Reason: "symbolic link loop", Err: err}
	}
	if errors.Is(err, fs.ErrNotExist) {
		if li, lerr := os.Lstat(p); lerr == nil && li.Mode()&fs.ModeSymlink != 0 {
			return &SkipError{Path: p, Reason: "dangling symbolic link", Err: err}
		}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err // already names the path
	}
	return fmt.Errorf("%s: %w", p, err)
}

// Stat returns the FileInfo of the regular file at p (links followed),
// or a *SkipError when p is something else. It opens nothing.
func Stat(p string) (fs.FileInfo, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, classify(p, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &SkipError{Path: p, Reason: kind(fi.Mode())}
	}
	return fi, nil
}

// Open opens the regular file at p for reading without blocking, and
// returns it with its FileInfo (from fstat, so it describes the file
// opened). Anything but a regular file is refused with a *SkipError.
func Open(p string) (*os.File, fs.FileInfo, error) {
	if _, err := Stat(p); err != nil { // devices and FIFOs are not even opened
		return nil, nil, err
	}
	return openAs(p, fs.FileMode.IsRegular)
}

// OpenDir opens the folder at p (links followed) for reading its
// entries, without blocking; anything else is refused with a *SkipError.
func OpenDir(p string) (*os.File, error) {
	f, _, err := openAs(p, fs.FileMode.IsDir)
	return f, err
}

// openAs opens p without blocking and keeps it if fstat's mode passes ok.
func openAs(p string, ok func(fs.FileMode) bool) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, nil, classify(p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !ok(fi.Mode()) {
		f.Close()
		return nil, nil, &SkipError{Path: p, Reason: kind(fi.Mode())}
	}
	return f, fi, nil
}

// File is one audit file found by Walk.
type File struct {
	Path string      // the root joined with Name, in OS form
	Name string      // slash-separated path relative to the root
	Info fs.FileInfo // of the file (links followed): a regular file
}

// WalkOptions tune Walk.
type WalkOptions struct {
	// Recursive descends into subfolders (never through a symbolic link);
	// otherwise a subfolder with an audit file's name is reported.
	Recursive bool
	// MaxFiles bounds the files returned (DefaultMaxFiles when <= 0).
	MaxFiles int
	// Skip receives each audit-named entry that is not listed (a
	// *SkipError, or a stat error naming the path) and each subfolder that
	// cannot be read, in path order, once the walk is over. Nil drops them.
	Skip func(error)
}

// Walk lists the audit files (by IsAuditName) of the folder root, sorted
// by Name. It returns an error when root cannot be read, when ctx ends,
// or (wrapping ErrTooMany, with the first MaxFiles files found) when
// there are too many (skipped entries count); what it cannot read below
// root goes to o.Skip. A file that vanishes during the walk is left out
// silently.
func Walk(ctx context.Context, root string, o WalkOptions) ([]File, error) {
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.Skip == nil {
		o.Skip = func(error) {}
	}
	w := &walker{ctx: ctx, o: o}
	err := w.dir(root, "", 0)
	slices.SortFunc(w.files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	slices.SortStableFunc(w.skipped, func(a, b skipped) int { return strings.Compare(a.name, b.name) })
	for _, s := range w.skipped {
		o.Skip(s.err)
	}
	return w.files, err
}

type skipped struct {
	name string
	err  error
}

type walker struct {
	ctx     context.Context
	o       WalkOptions
	files   []File
	skipped []skipped
	entries int
}

// skip records what the walk leaves out, counted with the files.
func (w *walker) skip(name string, err error) error {
	if len(w.files)+len(w.skipped) >= w.o.MaxFiles {
		return fmt.Errorf("more than %d audit files: %w", w.o.MaxFiles, ErrTooMany)
	}
	w.skipped = append(w.skipped, skipped{name, err})
	return nil
}

// dir lists one folder; rel is its slash path under the root.
func (w *walker) dir(p, rel string, depth int) error {
	f, err := OpenDir(p)
	if err != nil {
		if depth == 0 {
			return err
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return w.skip(rel, &SkipError{Path: p, Reason: "unreadable", Err: err})
		}
		return nil
	}
	defer f.Close()
	for {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		ents, err := f.ReadDir(1024)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if depth == 0 {
				return fmt.Errorf("%s: %w", p, err)
			}
			return w.skip(rel, &SkipError{Path: p, Reason: "unreadable", Err: err})
		}
		w.entries += len(ents)
		if w.entries > MaxEntries {
			return fmt.Errorf("%s: more than %d entries: %w", p, MaxEntries, ErrTooMany)
		}
		for _, e := range ents {
			if err := w.entry(p, rel, depth, e); err != nil {
				return err
			}
		}
	}
}

func (w *walker) entry(dir, rel string, depth int, e fs.DirEntry) error {
	p, name := filepath.Join(dir, e.Name()), path.Join(rel, e.Name())
	audit := IsAuditName(e.Name())
	if e.IsDir() { // a folder, not a link to one
		switch {
		case w.o.Recursive && depth+1 >= MaxDepth:
			return w.skip(name, &SkipError{Path: p, Reason: fmt.Sprintf("folder nested deeper than %d", MaxDepth)})
		case w.o.Recursive:
			return w.dir(p, name, depth+1)
		case audit:
			return w.skip(name, &SkipError{Path: p, Reason: "directory"})
		}
		return nil
	}
	if !audit {
		return nil
	}
	fi, err := Stat(p)
	if err != nil {
		var se *SkipError
		if !errors.As(err, &se) && errors.Is(err, fs.ErrNotExist) {
			return nil // removed since the folder was read
		}
		if se != nil && se.Reason == "directory" && e.Type()&fs.ModeSymlink != 0 {
			se.Reason = "symbolic link to a directory (not followed)"
		}
		return w.skip(name, err)
	}
	if len(w.files)+len(w.skipped) >= w.o.MaxFiles {
		return fmt.Errorf("more than %d audit files: %w", w.o.MaxFiles, ErrTooMany)
	}
	w.files = append(w.files, File{Path: p, Name: name, Info: fi})
	return nil
}
