// Package detect evaluates normalized audit records (audit.Record) against
// a catalog of detection rules and produces Findings.
//
// Rules are data (Rule: catalog id, title, severity, MITRE ATT&CK
// technique, the audit action groups they need, the action ids that can
// trigger them, and a match function over typed accessors of Event).
// Statements are understood with package tsql, lazily: only records whose
// action id can match a statement rule are lexed and parsed, and batch
// statements only when a cheap keyword pre-filter hits.
//
// Windowed and correlation rules (brute force, password spray, success
// after failures, tamper-then-backup, credential-then-backup) keep their
// memory in a State: NewMemoryState for tests and the CLI, and the Table
// Storage implementation in handler/internal/store/tablestate for the function app, so
// correlation works across files, invocations and instances. Windows are
// measured in event time, not in processing time, so late files still
// correlate.
//
// Every Finding has a DetectionID derived from the rule and the identity
// of the evidence records (file, offset, event index) or, for throttled
// rules, the rule and a dedup key: evaluating the same records again, in
// any order and any number of times, yields the same ids, so notifiers can
// drop duplicates. Findings are bounded (statement excerpts, evidence
// count) to fit a queue message.
//
// Configuration comes from XELWATCH_* environment variables and an
// optional JSON rules file (LoadConfig); see docs/rules.md for the catalog.
// A severity override moves a rule's escalated severities along with it
// (AUD-001 overridden to medium reports STATE = OFF as high).
//
// # Performance
//
// The hot path allocates nothing for records no rule can match and, for
// batch statements, lexes only those whose raw text mentions a watched
// procedure, a URL or UNC path, CHAR()/0x pieces, DROP/TRUNCATE TABLE,
// ADD MEMBER or EXECUTE AS. Measure with
//
//	go test ./detect -run '^$' -bench . -benchmem -cpu 1
//
// which reports records/s (wall clock) and records/cpu-s (process CPU
// time, meaningful on a shared host) over a realistic mix, and the
// windowed state held (keys, entries, KiB) including under a failed-login
// flood against a memory state limited to 8 MiB.
package detect
