// Package xel decodes SQL Server Extended Events files (.xel, and the
// .sqlaudit files of SQL Server Audit, which use the same format),
// format version 10.
//
// # Format overview
//
// All integers are little-endian; strings in metadata are NUL-terminated
// UTF-16LE, string values in events are UTF-16LE (unicode_string, xml) or
// single bytes (ansi_string, read as Latin-1) with an explicit length.
//
// A file starts with a file header: the magic 0xEFAB375A (u32), the
// format version 10 (u16) and the header size (u16, 512 in practice),
// which is the offset of the first buffer. Buffers follow back to back;
// each starts with a 32-byte header giving its type (0 events,
// 1 metadata, 2/3 stream header/index, skipped), its padded length (the
// distance to the next buffer; a value ≤ 32 — a zeroed header — ends the
// file) and the offset and length of its data region.
//
// Metadata buffers (normally the first one or two, but they may appear
// anywhere and are merged when they do) hold packages. A package carries
// its clock (session start as FILETIME and the tick frequency) and lists
// of events (name and payload field layout), actions (global fields),
// maps (integer → text, optionally bitmask) and types (base type sizes).
// Every object has a RID: package index (10 bits), object index (18 bits)
// and kind (4 bits). Packages are identified by index, not by name: a
// file may hold several packages called "sqlserver", and a package sent
// again with the same index adds to or overwrites its objects.
//
// Event buffers hold records packed without alignment: a 24-byte header
// (event RID, flags with the record version 10 in bits 0-5 and "actions
// follow" in bit 31, tick count, payload length), the payload, and when
// flagged a list of actions {RID, length, bytes} ended by an entry whose
// RID is not an action. Each field of the event type sits at a fixed
// offset of the payload: fixed-size types in place, variable-size types
// (strings, binary, guid, callstack) as a {offset, length} descriptor
// pointing into the payload. The timestamp is start + ticks scaled by
// the package clock (frequency 0 means ticks are already 100 ns units).
//
// # Reading
//
// NewReader decodes a stream (an azblob download, a file, stdin) holding
// one buffer in memory at a time; NewReaderAt reads a file or a blob by
// ranges and can resume at an offset an earlier Reader returned from
// End, given the offsets of the metadata buffers it saw
// (MetadataOffsets). Next returns events one at a time and io.EOF at the
// clean end; All wraps it as an iterator. The Event returned by Next and
// the byte slices its Values refer to are reused by the next call, like
// bufio.Scanner.Bytes; Value.Text returns a fresh string.
//
// Event.AppendJSON and Value.AppendJSON write the JSON convention of the
// project's reference output (XELite rendered as JSON Lines) without
// allocating.
//
// # Security
//
// Input is untrusted. Every length read from the file is checked against
// the bytes that remain in its buffer (or package, or payload) and against
// a limit of Options before anything is allocated for it: buffer size
// (MaxBufferSize, 16 MiB by default) and metadata string lengths; and,
// over everything a Reader merges (the leading metadata, the buffers
// read again to resume, later ones), metadata buffers and bytes,
// package records, events, maps, objects of all kinds, fields, map
// entries and the memory the decoded metadata takes (MaxMetadataMemory,
// 8 MiB by default; an estimate charged object by object). A count is
// checked when it is read, before the objects it announces, so a file
// that declares millions of empty event definitions fails at once. A
// buffer is read in growing steps, so a length that lies about a short
// stream costs memory in proportion to the bytes actually present.
// Malformed input yields a *FormatError naming the absolute file offset
// and wrapping one of ErrBadMagic, ErrVersion, ErrTruncated, ErrCorrupt or
// ErrTooLarge (with the exceeded Options field in Limit) — never a panic
// and never an unbounded allocation: a Reader holds at most one buffer,
// the decoded metadata and one event. The buffer checksum is not verified (its algorithm is not
// known): decoding cannot detect bit flips that leave the structure
// valid. FuzzReader exercises these properties.
package xel
