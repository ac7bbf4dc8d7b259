// Package detectcmd implements the scan and rules subcommands of the
// xelwatch binary.
//
//	xelwatch scan [--format jsonl|table] [--rules-file FILE] PATH...
//	xelwatch rules [--format table|markdown|json]
//
// scan decodes .xel files (and folders of them, recursively) offline,
// runs every record through the detection engine with in-memory state
// (so correlations work across the files of one run) and prints the
// findings. Configuration comes from the XELWATCH_* environment variables
// as in the function app. rules prints the catalog; docs/rules.md is its
// Markdown form.
package detectcmd
