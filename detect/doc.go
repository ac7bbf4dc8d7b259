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
// Severities run from Info (recorded and shown, sent only when the
// application's minimum is lowered to it) through Low to Critical.
//
// Windowed and correlation rules (brute force, password spray, success
// after failures, failed logins per principal and address, error spikes
// read from additional_information, tamper-then-backup,
// credential-then-backup) keep their
// memory in a State: NewMemoryState for tests and the CLI, and the Table
// Storage implementation in handler/internal/store for the function app, so
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
// # Replays
//
// A pipeline that fails in the middle of a file (storage down, a crash)
// evaluates the file again from its last committed cursor, with the State
// the failed pass left behind: that pass may have written entries for
// records after the ones the retry evaluates first. Three things make the
// retry, together with what the failed pass emitted, give exactly the
// findings (detection ids) of an uninterrupted pass:
//
//   - Causal evaluation. Every Entry carries its record's place in its
//     file (Entry.ID, and Entry.Last for a record SQL Server split, which
//     the decoder emits when its last part is read). A record does not see
//     entries of the same file at or after its own place: not in window
//     counts, not in correlation lookups, not among claims. So a record
//     evaluated again sees what it saw the first time, or less when a
//     bound of the state dropped entries meanwhile — never more; seeing
//     less, it may miss a finding (already emitted the first time), and
//     the two points below keep it from firing one with a new id. What a
//     bounded entry list keeps depends only on the entries given, not on
//     their order (cmpEntry), so a replayed record leaves the State as it
//     was.
//   - Remembered claims. A windowed rule fires once per key and window
//     through a claim; the holders are kept (without evidence, the newest
//     maxHolders per key), so a replayed holder fires again with the same
//     id and a replayed record that a holder blocked is blocked again.
//     AUD-006 and the EXF-005 correlation are keyed on the backup record
//     (one finding per backup), so which pairing is found, or found first,
//     does not change their id.
//   - Deferred writes. The pipeline evaluates each batch through a
//     Deferred and commits its state after the batch's findings are
//     recorded: the batch that fails leaves nothing in the State, so its
//     retry sees exactly what the first try saw even where the bounds of
//     the state (entries per key, the time window) have since dropped
//     entries. Earlier batches of the failed pass were emitted; their
//     replay may find less, never an id of its own. Commit writes claims
//     and AUTH-003 marks before windows, so a Commit cut short never
//     leaves a pruned window without the decisions made from it.
//
// What is not guaranteed: across files, findings depend on the order the
// files are evaluated in (the pipeline reads the files of one audit in
// order, and a file whose read failed holds back the later ones of its
// audit; files of different audits, or blobs two instances read at once,
// interleave as they come). A replay is exact only while the failed pass
// made fewer than maxHolders (64) claims on one key after the records
// replayed, and a record the decoder emitted late (a split record whose
// continuation never came, emitted after MaxPendingBuffers buffers) is
// placed by its last part, before records emitted ahead of it.
//
// # Baselines
//
// BAS-001..004 learn what is usual and keep it in the State, in keys
// "base-<kind>|<server>[|<principal>]" (a table partition per kind) that
// expire a baseline window (Config.BaselineWindow, 30 days) after their
// last write:
//
//   - Sightings (principals, client networks, applications, backup
//     destinations): per value, the first record of each file and day
//     that showed it (its Entry, without evidence). A record finds a
//     value seen when a sighting it sees (causally, as above; its own
//     does not count) lies within the window of its event time, either
//     side. A key keeps at most Config.BaselineMaxValues values, those
//     seen most recently, each with its newest sighting, and the newest
//     others up to 240 entries; which ones depends only on the entries,
//     not on their order.
//   - Row volume: per principal, file and day, the largest response_rows
//     and affected_rows (a bucket). A peak is idempotent (a record
//     recorded twice, or in another order, leaves it as it was), so a
//     replay cannot count a record twice, and a record writes only when
//     it raises its bucket (a handful of times per file and day). A
//     record is compared with the buckets it sees within the window other
//     than its own file and day's, which may hold records after it.
//   - Learning: each key (the server's for BAS-001) holds a start entry,
//     its first record; a baseline reports nothing until
//     Config.BaselineLearning after it. A start the record does not see
//     (written by a later record of its file) counts as learning.
//
// A record writes only what is new (a sighting of a file and day, a
// higher peak, a start, the server key's daily refresh), so the state is
// written a few times per principal, file and day. The common path does
// not even read it: an Engine, and each Deferred, keeps a bounded memo of
// the (server, principal, client network, application, file, day) tuples
// recorded and where, and a later record of the same tuple and file,
// below the BAS-004 floor, has nothing to read, write or report. The memo
// is cleared when a bound of a baseline key dropped entries (it might
// vouch for one) and by Commit; a Deferred's is its own, so a discarded
// batch leaves nothing in it.
//
// Replays are exact as for the windowed rules (each finding is keyed on
// its record), under these bounds: a principal uses at most
// Config.BaselineMaxValues client networks and applications (a server
// that many backup destinations) within the window, and a key gets fewer
// than 240 newer entries (files and days) between a record's first
// evaluation and its replay. Beyond them a replayed record may miss an
// entry it saw and report a value as new, with an id of its own (an
// extra low/medium finding, never a missed one). Event times that jump
// backwards across days within a file can likewise hide a row bucket
// from a replayed record.
//
// Configuration is a plain Config (DefaultConfig, plus the bytes of an
// optional JSON rules file through Config.MergeRules); the package reads
// no environment and no files: the application maps its XELWATCH_*
// settings onto Config (handler/internal/config). See docs/rules.md for
// the catalog.
// A severity override moves a rule's escalated severities along with it
// (AUD-001 overridden to medium reports STATE = OFF as high).
//
// # Performance
//
// The hot path allocates nothing for records no rule can match and, for
// batch statements, lexes only those whose raw text shows something a
// rule declared in its catalog entry (its needs: a watched procedure, a
// URL or UNC path, CHAR()/0x pieces, DROP/TRUNCATE TABLE, ADD MEMBER,
// EXECUTE AS or a keyword); New builds that prefilter from the catalog,
// and a catalog-wide test checks each rule's positive cases against its
// own declaration. Measure with
//
//	go test ./detect -run '^$' -bench . -benchmem -cpu 1
//
// which reports records/s (wall clock) and records/cpu-s (process CPU
// time, meaningful on a shared host) over a realistic mix
// (BenchmarkEvaluateNoBaselines: the same without BAS-001..004), and the
// windowed state held (keys, entries, KiB) including under a failed-login
// flood against a memory state limited to 8 MiB.
package detect
