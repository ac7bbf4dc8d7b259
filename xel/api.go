package xel

// This file fixes the public surface of package xel that the rest of
// xelwatch (xel/audit, handler/internal/xelcmd, handler, detect) is written against.
// The decoder implementation lives in the other files of this package.

import (
	"errors"
	"time"
)

// Sentinel errors. Every error the Reader returns for bad input is a
// *FormatError (with the file offset) that wraps one of these, so callers
// test with errors.Is.
var (
	// ErrBadMagic: the file does not start with the XEL magic 0xEFAB375A.
	ErrBadMagic = errors.New("xel: not an XEL file (bad magic)")
	// ErrVersion: the file header carries a format version other than 10.
	ErrVersion = errors.New("xel: unsupported format version")
	// ErrTruncated: the data ends inside a buffer (a partial trailing
	// buffer). For a growing append blob this means "wait for more bytes";
	// for a finished file it means the file was cut. Reader.End reports
	// the offset of that incomplete buffer.
	ErrTruncated = errors.New("xel: truncated buffer")
	// ErrCorrupt: a structure inside a buffer is inconsistent (a length
	// past its bounds, an unknown metadata reference, a bad event version).
	ErrCorrupt = errors.New("xel: corrupt data")
	// ErrTooLarge: a length in the file exceeds a limit of Options.
	ErrTooLarge = errors.New("xel: length exceeds limit")
)

// FormatError reports malformed input at a byte offset of the file.
type FormatError struct {
	Offset int64  // absolute file offset where the problem was found
	Msg    string // what is wrong, lower case, no "xel:" prefix
	Err    error  // one of the sentinels above (or io.ErrUnexpectedEOF)
	// Limit is, for ErrTooLarge, the Options field the input exceeds
	// (e.g. "MaxEvents"); Msg also names it, with its value.
	Limit string
}

// tooLarge is the error for input beyond a limit of Options: what
// exceeds the limit called name, of value max.
func tooLarge(off int64, what, name string, max int64) *FormatError {
	return &FormatError{Offset: off, Msg: what + " over the limit " + name + " (" + itoa(max) + ")", Err: ErrTooLarge, Limit: name}
}

func (e *FormatError) Error() string {
	return "xel: " + e.Msg + " at offset " + itoa(e.Offset)
}

func (e *FormatError) Unwrap() error { return e.Err }

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// Event is one decoded event record.
//
// The Reader reuses the Event, its Fields/Actions slices and the bytes
// their Values point to on the next call to Next: callers that keep data
// across calls copy it (Value.Text returns a fresh string; Value.Bytes
// aliases the buffer, like bufio.Scanner.Bytes).
type Event struct {
	Package   string    // name of the event's package, e.g. "sqlserver"
	Name      string    // event name without package, e.g. "audit_event"
	Timestamp time.Time // UTC, 100 ns resolution, from the package's clock
	Offset    int64     // file offset of the event buffer holding this event (fn_get_audit_file's audit_file_offset)
	Index     int       // 0-based position of the event within its buffer
	Fields    []Field   // data fields in metadata order
	Actions   []Field   // actions (global fields) in file order

	typ     *eventType   // metadata of the event (precomputed JSON key order); nil for events built by hand
	scratch []uint16     // reused by AppendJSON to sort keys
	acts    []*actionDef // metadata of Actions[i] (precomputed JSON keys); nil for events built by hand
}

// Field is a named value of an event.
type Field struct {
	Name  string
	Value Value
}

// Kind is the decoded representation of a Value.
type Kind uint8

// Kinds of values. Several XE base types share a kind (int8..int64 are
// KindInt; unicode_string, ansi_string and xml are KindString with the
// original type in Value.Type).
const (
	KindNull       Kind = iota // missing value
	KindInt                    // int8, int16, int32, int64
	KindUint                   // uint8..uint64, cpu_cycle
	KindFloat32                // float32
	KindFloat64                // float64
	KindBool                   // boolean
	KindString                 // unicode_string, ansi_string, xml
	KindBinary                 // binary_data
	KindGUID                   // guid
	KindTime                   // filetime
	KindPointer                // ptr
	KindActivityID             // activity_id, activity_id_xfer (GUID + sequence)
	KindCallstack              // callstack (pointer-size frames)
	KindMap                    // map or bitmask-map field: Text is the map text
)

// BaseType is the XE base type code of a value (§6 of the format notes).
type BaseType uint8

// GUID is a 16-byte GUID in .NET/SQL byte order (first three groups
// little-endian), as stored in the file.
type GUID [16]byte
