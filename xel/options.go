package xel

// Options configures a Reader. The zero value (or a nil *Options) gives
// safe defaults; a zero limit means "use the default", not "unlimited".
//
// The metadata limits apply to everything one Reader merges over its
// life — the leading metadata buffers, those read for a resume
// (MetadataOffsets) and those found later in the file — counting package
// records, objects and entries as they are read (a package sent again
// counts again), so that memory is bounded by the limits whatever the
// file declares. Input beyond a limit fails with a *FormatError wrapping
// ErrTooLarge whose Limit names the field. The defaults are far above
// what SQL Server writes: the real files measured carry 1 or 2 metadata
// buffers, at most 87 KB of metadata, 7 package records, 19 events, 207
// fields, 20 maps and 1,280 map entries, decoded into less than 256 KiB.
type Options struct {
	// MaxBufferSize bounds a buffer's padded length (default 16 MiB): a
	// larger buffer is rejected with ErrTooLarge before anything is
	// allocated for it. The Reader holds one buffer in memory at a time.
	MaxBufferSize int64
	// MaxMetadataSize bounds the total bytes of the data regions of the
	// metadata buffers a Reader merges (default 8 MiB).
	MaxMetadataSize int64
	// MaxMetadataBuffers bounds the metadata buffers a Reader merges, and
	// so the offsets MetadataOffsets returns and accepts (default 1024,
	// what a stored cursor holds).
	MaxMetadataBuffers int
	// MaxMetadataMemory bounds the memory of the decoded metadata
	// (default 8 MiB): every package record, event, field, action, map,
	// map entry, type and retained name is charged its in-memory size as
	// it is decoded, including what a later package replaces.
	MaxMetadataMemory int64
	// MaxPackages bounds the package records a Reader merges (default 256).
	MaxPackages int
	// MaxEvents bounds the event definitions a Reader merges (default 16384).
	MaxEvents int
	// MaxMaps bounds the map definitions a Reader merges (default 16384).
	MaxMaps int
	// MaxObjects bounds the objects of every kind (events, actions, maps,
	// types) a Reader merges (default 65536).
	MaxObjects int
	// MaxFields bounds the attributes of one event type (default 4096)
	// and the actions attached to one event record (default: same).
	MaxFields int
	// MaxTotalFields bounds the data attributes (fields) of all event
	// definitions a Reader merges (default 32768).
	MaxTotalFields int
	// MaxMapEntries bounds the entries of one map (default 65535, the
	// format's own limit).
	MaxMapEntries int
	// MaxTotalMapEntries bounds the entries of all maps a Reader merges
	// (default 262144).
	MaxTotalMapEntries int
	// MaxStringLength bounds a metadata string (names, descriptions, map
	// texts) in bytes of UTF-16 (default 64 KiB).
	MaxStringLength int

	// StartOffset (NewReaderAt only): decode events from this buffer
	// offset on — a value End returned earlier. The leading metadata
	// buffers and MetadataOffsets are read first. 0 means the first buffer.
	StartOffset int64
	// MetadataOffsets (NewReaderAt only): offsets of metadata buffers
	// before StartOffset beyond the leading ones, as returned by
	// MetadataOffsets of an earlier Reader over the same file; at most
	// MaxMetadataBuffers. The Reader does not modify the slice.
	MetadataOffsets []int64
}

// Default limits.
const (
	DefaultMaxBufferSize      = 16 << 20
	DefaultMaxMetadataSize    = 8 << 20
	DefaultMaxMetadataBuffers = 1024
	DefaultMaxMetadataMemory  = 8 << 20
	DefaultMaxPackages        = 256
	DefaultMaxEvents          = 1 << 14
	DefaultMaxMaps            = 1 << 14
	DefaultMaxObjects         = 1 << 16
	DefaultMaxFields          = 4096
	DefaultMaxTotalFields     = 1 << 15
	DefaultMaxMapEntries      = 0xFFFF
	DefaultMaxTotalMapEntries = 1 << 18
	DefaultMaxStringLength    = 64 << 10
)

// withDefaults returns a copy with defaults filled in. MetadataOffsets
// is shared, not copied: NewReaderAt bounds its length before it copies.
func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def64(&r.MaxBufferSize, DefaultMaxBufferSize)
	def64(&r.MaxMetadataSize, DefaultMaxMetadataSize)
	def(&r.MaxMetadataBuffers, DefaultMaxMetadataBuffers)
	def64(&r.MaxMetadataMemory, DefaultMaxMetadataMemory)
	def(&r.MaxPackages, DefaultMaxPackages)
	def(&r.MaxEvents, DefaultMaxEvents)
	def(&r.MaxMaps, DefaultMaxMaps)
	def(&r.MaxObjects, DefaultMaxObjects)
	def(&r.MaxFields, DefaultMaxFields)
	def(&r.MaxTotalFields, DefaultMaxTotalFields)
	def(&r.MaxMapEntries, DefaultMaxMapEntries)
	def(&r.MaxTotalMapEntries, DefaultMaxTotalMapEntries)
	def(&r.MaxStringLength, DefaultMaxStringLength)
	return r
}
