// Package xeltest writes synthetic SQL Server Extended Events (.xel) files
// for tests and benchmarks.
//
// The Writer produces version-10 files byte-for-byte in the layout of the
// format notes (package xel's documentation): a 512-byte file header, one
// metadata buffer describing package0 (the type table, so the pointer size
// is 8) and the caller's packages (events with static, customizable and
// data attributes, actions, maps and bitmask maps), then event buffers
// (XEBufferHeader + LogBufferHeader, data offset 77, metadata signature
// GUID at +0x20, padded to a multiple of 512) filled round robin from one
// or more partitions. Event records carry flags version 10 (bit 31 when
// actions follow, ended by the 8-byte terminator {RID 0x60000000,
// length 0}, i.e. the bytes 00 00 00 60 00 00 00 00 as in the fixtures);
// variable-length values are reached through {u32 offset, u32 length}
// descriptors.
//
// WriteAudit writes SecAudit audit_event records with every column of
// sys.fn_get_audit_file. The real layout of audit_event has never been
// checked against a file written by SQL Server (see README.md), so
// AuditLayout selects type variants (action_id as a string, counters as
// int32, no event_time field, ...) for the normalizer's tests.
//
// WriteFlood writes files of metadata only (empty event definitions by the
// million) for the decoder's memory-limit tests.
//
// The package does not import package xel, so xel's own tests can use it.
// It is test tooling: inputs are trusted and mistakes (unknown event or
// field names, values of the wrong Go type) are reported as errors.
package xeltest
