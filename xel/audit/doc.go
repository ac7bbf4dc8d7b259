// Package audit turns decoded audit_event records of SQL Server Audit /
// Azure SQL auditing .xel files into normalized Records: one per
// sys.fn_get_audit_file row, with every column of that function, the
// action and class names the catalog views would join in, and the keys
// xelwatch needs (FileName, AuditFileOffset, EventIndex).
//
// FromEvent maps one event. Reader reads a whole xel.Reader, skips other
// events and reassembles records that SQL Server split into several
// audit_event records (sequence_number 1..n, 4000-character pieces of
// statement / additional_information); its End never moves past a record
// still waiting for a continuation, so a resumed read is complete and
// yields the same keys (records may repeat: consumers upsert).
//
// The reference facts (action ids, class types, action groups, the
// Windows 24xxx operation signatures) are Go tables generated from the
// committed reference/*.csv (see reference/README.md for their sources)
// by internal/gen (go generate). Group membership is
// inferred from public sources, not read from an engine.
//
// # Assumptions
//
// The layout of audit_event has not been checked against a file written
// by SQL Server (see ../xeltest/README.md). Normalization therefore
// accepts type variants for every column (integer or string codes, any
// integer kind or numeric text for counters, boolean or integer flags,
// event_time present or absent) and leaves absent columns at zero.
//
// # Security
//
// Input is untrusted: lengths are bounded by the xel.Reader's limits and
// by ReaderOptions (pending records, pending bytes, parts kept, the text
// of one record); malformed input yields an error from the xel.Reader,
// never a panic. A record whose statement and additional_information
// exceed MaxRecordBytes (split or written in one piece) keeps the head
// and the tail of its statement, with the length and SHA-256 of the
// whole in Record.Elided: padding between a command and its options
// cannot hide the options, and a 10 MB statement costs MaxRecordBytes.
package audit
