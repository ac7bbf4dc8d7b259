// Package detectcmd implements the scan and rules subcommands of the
// xelwatch binary.
//
//	xelwatch scan [--format jsonl|table] [--rules-file FILE] [--sigma PATHS] PATH...
//	xelwatch rules [--format table|markdown|json] [--sigma PATHS]
//
// scan decodes .xel files (and folders of them, recursively) offline,
// runs every record through the detection engine with in-memory state
// (so correlations work across the files of one run) and prints the
// findings. Configuration comes from the XELWATCH_* environment variables
// as in the function app. Folders are listed and files opened by
// internal/auditfile: only regular files (links to them followed), never
// blocking; every audit-named entry left out (FIFO, device, socket,
// dangling link, link loop) and every damaged file (with its offset) is
// reported on stderr, the scan goes on, and the exit status is 1 at the
// end. When the context ends (SIGINT, SIGTERM) it stops, prints the
// findings so far and returns 1 (the binary exits 130 or 143). rules
// prints the catalog; docs/rules.md is its Markdown form. Both take the
// operator's Sigma rules from --sigma or XELWATCH_SIGMA_RULES (package
// sigmarules loads them, detect/sigma evaluates them; docs/sigma.md):
// scan runs them beside the catalog, rules lists them after it.
package detectcmd
