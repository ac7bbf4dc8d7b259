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
// Storage implementation in detect/tablestate for the function app, so
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
package detect
