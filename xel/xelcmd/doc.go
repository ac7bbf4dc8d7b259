// Package xelcmd implements the "decode" subcommand of xelwatch: it
// decodes .xel / .sqlaudit files to JSON Lines or CSV on stdout.
//
//	xelwatch decode [--audit] [--format jsonl|csv] PATH...
//
// PATH is a file, a directory (its .xel and .sqlaudit files in name
// order, not recursive) or "-" for stdin.
//
// Generic mode writes one line per event in the convention of the
// project's reference output: {"name","timestamp","fields","actions"}.
// As CSV it writes the header
//
//	name,timestamp,package,file_offset,fields,actions
//
// and one row per event: the event name, its UTC timestamp with 7
// decimals, the package name, the file offset of the event's buffer
// (fn_get_audit_file's audit_file_offset), and the fields and actions as
// JSON objects (the same objects as in JSON Lines).
//
// With --audit only audit_event records are written, normalized to the
// sys.fn_get_audit_file columns by package xel/audit (split records
// reassembled; pending parts flushed at the end of each file).
//
// On damaged input every event decoded before the damage is written,
// then one line "xelwatch decode: <file>: <error>" goes to stderr and
// the exit status is 1. Usage errors exit with 2; --help prints the
// usage on stdout and exits 0.
package xelcmd
