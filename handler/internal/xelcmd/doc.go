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
// Only regular files are opened (links to them followed), never blocking:
// a FIFO, device, socket, directory, dangling link or link loop with an
// audit file's name is reported on stderr ("xelwatch decode: <path>:
// skipped: FIFO (not a regular file)") and not read (package
// internal/auditfile). On damaged input every event decoded before the
// damage is written, then one line "xelwatch decode: <file>: <error> at
// offset <n>" goes to stderr, and decoding goes on with the next file.
// The exit status is 1 when any file failed or was skipped. Usage errors
// exit with 2; --help prints the usage on stdout and exits 0. When the
// context ends (SIGINT, SIGTERM) decoding stops, also while waiting on
// stdin, the output so far is flushed, and the status is 1 (the binary
// turns it into 130 or 143).
package xelcmd
