package xel

// Options configures a Reader. The zero value (or a nil *Options) gives
// safe defaults; a zero limit means "use the default", not "unlimited".
type Options struct {
	// MaxBufferSize bounds a buffer's padded length (default 16 MiB): a
	// larger buffer is rejected with ErrTooLarge before anything is
	// allocated for it. The Reader holds one buffer in memory at a time.
	MaxBufferSize int64
	// MaxMetadataSize bounds the total bytes of metadata buffers a Reader
	// merges over its life (default 64 MiB). The decoded metadata (names,
	// map texts) is smaller than the bytes it comes from, so this also
	// bounds the memory the metadata takes.
	MaxMetadataSize int64
	// MaxPackages bounds the packages in one metadata buffer (default 1024).
	MaxPackages int
	// MaxObjects bounds the objects (events, actions, maps, types) of one
	// package record (default 65536).
	MaxObjects int
	// MaxFields bounds the attributes of one event type (default 4096)
	// and the actions attached to one event record (default: same).
	MaxFields int
	// MaxMapEntries bounds the entries of one map (default 65535, the
	// format's own limit).
	MaxMapEntries int
	// MaxStringLength bounds a metadata string (names, descriptions, map
	// texts) in bytes of UTF-16 (default 64 KiB).
	MaxStringLength int

	// StartOffset (NewReaderAt only): decode events from this buffer
	// offset on — a value End returned earlier. The leading metadata
	// buffers and MetadataOffsets are read first. 0 means the first buffer.
	StartOffset int64
	// MetadataOffsets (NewReaderAt only): offsets of metadata buffers
	// before StartOffset beyond the leading ones, as returned by
	// MetadataOffsets of an earlier Reader over the same file.
	MetadataOffsets []int64
}

// Default limits.
const (
	DefaultMaxBufferSize   = 16 << 20
	DefaultMaxMetadataSize = 64 << 20
	DefaultMaxPackages     = 1024
	DefaultMaxObjects      = 1 << 16
	DefaultMaxFields       = 4096
	DefaultMaxMapEntries   = 0xFFFF
	DefaultMaxStringLength = 64 << 10
)

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
		r.MetadataOffsets = append([]int64(nil), o.MetadataOffsets...)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if r.MaxBufferSize <= 0 {
		r.MaxBufferSize = DefaultMaxBufferSize
	}
	if r.MaxMetadataSize <= 0 {
		r.MaxMetadataSize = DefaultMaxMetadataSize
	}
	def(&r.MaxPackages, DefaultMaxPackages)
	def(&r.MaxObjects, DefaultMaxObjects)
	def(&r.MaxFields, DefaultMaxFields)
	def(&r.MaxMapEntries, DefaultMaxMapEntries)
	def(&r.MaxStringLength, DefaultMaxStringLength)
	return r
}
