// Package store keeps xelwatch's state in Azure Table Storage: one
// AuditEvents row per audit record, one AuditCursors row per audit blob,
// one Detections row per finding with its per-channel delivery status, and
// the detection rules' windowed state (DetectionState, see [State]).
//
// Every write is idempotent or conditional, because the Functions host
// delivers triggers at least once:
//
//   - rows have deterministic keys and are written with InsertReplace
//     transactions, so a replayed blob rewrites the same rows;
//   - cursors change only under If-Match on the entity ETag;
//   - a delivery is claimed under If-Match before a notification is sent.
//
// # Keys
//
// AuditEvents:
//
//	PartitionKey  <server>|<database>|s<shard>|<yyyyMMddHH>     UTC hour of event_time
//	RowKey        <yyyyMMddHHmmssfffffff>|<file hash>|<offset>|<index>
//
// where <file hash> is the first 16 hex digits of SHA-256 of the record's
// file name, <offset> the audit_file_offset as 16 hex digits and <index>
// the event index as 8 hex digits. The row key sorts by event time inside a
// partition and across partitions.
//
// <server> is the blob path's (the record's server_instance_name when the
// path has none); <database> is the record's database_name, the blob
// path's database only when the record names none. Azure SQL Database's
// server-level audit (2025) writes the records of every database of a
// server, read-only replicas included (is_local_secondary_replica), under
// <server>/master/<audit>/<date>/…, so the path would file them all under
// master. Both names are attacker-chosen: escaped like every key
// component (below) and bounded to 240 UTF-16 units each (a longer name
// ends in "!~" and a hash of the whole, collision-safe), so the shard and
// hour always survive; the row keeps both whole in xw_server and
// xw_database, and the blob path in xw_blob.
//
// <shard> is two hex digits, 00 to 0f: FNV-1a (32 bits) of the row key
// modulo EventShards (16). The rows of one database-hour spread evenly
// over 16 partitions, so their transactions run concurrently (Table
// Storage serves about 2,000 entities/s per partition and 20,000 per
// account: 16 partitions let one database reach the account's limit), and
// Azurite, which searches the partition on every write, no longer slows
// down as an hour fills. The shard is a function of the record, so a
// replay upserts the same entity; the count is part of the key scheme,
// not a setting (a different count would file replays elsewhere and
// queries would miss rows): changing it is a migration like the one
// below. Shards sit before the hour so that one shard's hours are one
// contiguous key range, read in time order by one scan. A continuation
// entity (below) lives in its row's partition.
//
// AuditCursors: PartitionKey = container, RowKey = blob name.
// Detections: PartitionKey = detection id, RowKey = "detection"; outbox
// entries: PartitionKey = "!outbox", RowKey = the detection's
// PartitionKey; the heartbeat claim (the last heartbeat period sent,
// ClaimHeartbeat): PartitionKey = "!heartbeat", RowKey = "claim".
// A blob read again after it was shortened or rewritten (generation g > 0)
// stores its rows under the file name "<blob>;generation=<g>", so their
// <file hash> differs from the first reading's.
// DetectionState: PartitionKey = the state key's first segment (its kind,
// e.g. "fired", "attack", "tamper"), escaped; RowKey = SHA-256 of the
// whole key (keys hold principals and addresses) as 40 hex digits. The
// keys of one client address of one server (detect.StateGroup: the
// failed-login windows and their rules' claims) instead: PartitionKey =
// "addr0" … "addr7" (from the group's SHA-256), RowKey = the group's
// SHA-256 (16 hex digits) "-" the key's (40), so that one range query
// reads a failed login's keys together. State written before this layout
// (short windows, at most an hour by default) is not read again and is
// pruned when it expires.
//
// # Properties
//
// An AuditEvents row has one typed property per fn_get_audit_file column,
// named like the column (event_time Edm.DateTime; sequence_number,
// session_id, *_principal_id, object_id, user_defined_event_id,
// audit_schema_version Int32; transaction_id, audit_file_offset,
// duration_milliseconds, response_rows, affected_rows, client_tls_version,
// database_transaction_id, ledger_start_sequence_number Edm.Int64;
// succeeded, is_column_permission, is_local_secondary_replica Boolean;
// permission_bitmask, *_sid, sequence_group_id Edm.Binary; the rest
// String), plus action_name, class_type_desc, event_index, split_parts
// (raw records a split record was reassembled from), statement_truncated
// (the text may be cut: at the 4000-character limit, or over the
// reassembly bounds), incomplete (parts known to be missing), xw_server,
// xw_database, xw_blob and xw_ingested_at (and, for large or reduced
// records only, the properties of "Large records" below, among them
// xw_degraded). Every row has every property,
// so a column can be filtered on without knowing which engine wrote it. A
// zero time is stored as 1601-01-01, the Edm.DateTime minimum, and reads
// back as zero.
//
// A Detections row holds detection_id, rule, title, severity,
// severity_level, server, database, principal, finding_time, recorded_at,
// dispatched (Boolean, true: the notifier writes the row), the finding as JSON in finding (split like any
// long string), and per channel ch_<channel>_state (claimed, delivered,
// failed), _token, _claimed_at, _delivered_at, _attempts and _error.
//
// The outbox. The queue message carrying a finding leaves only after the
// invocation answers and is lost if the host dies in between, so
// ingestion first records each finding with RecordPending in the
// Detections table's outbox partition: PartitionKey "!outbox" (no escaped
// detection id can be that), RowKey the detection's PartitionKey, with
// detection_id, recorded_at and the finding JSON. All entries share the
// partition, so a batch's findings go out in batch transactions. The
// notifier's RecordFinding creates the detection row (dispatched=true)
// and deletes the entry. ListUndispatched, the sweep's relay, reads only
// the outbox partition (entries older than a grace period), so it costs
// one small query however many detections the table holds; it drops
// entries whose row exists (the notifier has them: a replayed blob
// re-records findings already delivered).
//
// # Queries
//
// QueryEvents reads one database with EventShards + 1 range scans
// (EventQuery.Filters): per shard, a PartitionKey range over that shard's
// hour partitions and a RowKey range over the time prefix (exact in every
// partition because row keys start with the event time), plus one over
// the legacy partitions (Migration, below); action and principal are
// column conditions. Each scan yields its rows in time order; a k-way
// merge (a heap of one row per scan) yields them all in time order, ties
// in scan order, and pages hold at most 100 entities, so a query holds at
// most 17 pages however long its range. A query of a whole server first
// finds its databases with a skip scan (one single-key request per
// database) and reads them one after the other: rows come by database,
// then by time.
//
// # Migration
//
// Rows written before the shards have PartitionKey
// <server>|<database>|<yyyyMMddHH> (LegacyEventPartitionKey) and the same
// RowKey. Nothing needs to move them: every query also scans these
// partitions (one more range scan per database, empty once they are
// gone), and a record stored under both keys — a blob replayed after the
// upgrade, or the records at a cursor's end that every run stores again —
// is yielded once, from its shard. Two things change for old rows:
//
//   - Rows of the 2025 server-level layout written before the upgrade
//     are filed under "master" (the path's database), and stay there:
//     query --database master finds them, with each record's
//     database_name. Re-ingesting their blobs (reset their cursors)
//     files them under their databases too.
//   - Old rows are never rewritten; to drop them once no one needs them,
//     delete the legacy partitions (PartitionKey without an s<shard>
//     component) with any Table Storage tool.
//
// The detection tables are unchanged: Detections, its !outbox partition,
// AuditCursors and DetectionState keep their keys and access patterns.
//
// # Key sanitizing
//
// Every user-supplied key component (server, database, container, blob
// name, detection id) goes through [EscapeKey]: the characters the service
// forbids in keys (/ \ # ?, U+0000–U+001F, U+007F–U+009F), the separator
// '|', the escape character '!', the quote ' and '%' (both trouble in URLs
// and OData literals), U+FFFE/U+FFFF and invalid UTF-8 bytes are written
// as '!' followed by two upper-case hex digits per UTF-8 byte. The escape
// is reversible ([UnescapeKey]). A key longer than the service limit (1 KiB
// = 512 UTF-16 code units) is cut on a rune boundary and ends in
// "!~" + 16 hex digits of SHA-256 of the unescaped value: not reversible,
// but collision-safe; the original value is always stored in a property
// too.
//
// # Large records
//
// A property holds at most 64 KiB, i.e. 32,767 UTF-16 code units. A longer
// string is stored whole, split on rune boundaries across name, name_1,
// name_2, … with name_parts holding the number of pieces; [joinParts] puts
// it back. An entity holds at most 1 MiB (as the service counts it; the
// emulator counts the JSON body, where an escaped character takes 6
// bytes): a row is built within 1 MiB - 32 KiB by both counts, and the
// steps below are tried in order ([BuildRecord]); none cuts the statement.
//
//  1. The row whole: every record of normal size, unchanged.
//  2. Spilled: statement and additional_information longer than one
//     piece keep their first piece (32,000 units) in the row, with
//     <name>_length (UTF-16 code units), <name>_sha256 (hex SHA-256 of the
//     UTF-8 text) and <name>_chunks; the rest goes to continuation
//     entities in the row's partition, RowKey <row key>|<name>|0001, …
//     (event row keys have a fixed length, so these sort right after the
//     row and before the next one), each within 768 KiB and 200 pieces,
//     holding xw_part_of (the row's RowKey), xw_column, xw_chunk and the
//     text as value, value_1, … (value_parts). They are written in the
//     same transaction as the row whenever the row and its continuations
//     fit one (100 operations, 4 MiB; a larger record takes consecutive
//     transactions of its partition); QueryEvents skips them as rows, reads
//     them back for the rows that have chunks, and checks length and
//     SHA-256 (a mismatch keeps the first piece and says so in
//     Row.Degraded). A spilled text is at most 4 Mi units (the audit
//     reader keeps 2 MiB of a record in the function app).
//  3. Cut: if the row still does not fit (other columns of hundreds of
//     kilobytes, a binary column over the service's 64 KiB), the strings
//     other than statement and additional_information are cut to 1,024
//     units and binary columns to 1,024 bytes, and xw_degraded names each
//     cut column with its length.
//
// The reader's own bound is recorded too: a statement whose middle it
// dropped (audit.Record.Elided) has statement_elided_at (UTF-16 units in
// the stored text), statement_elided_bytes, statement_original_length and
// statement_original_sha256 of the text as written, and
// statement_truncated.
//
// An entity the service refuses for good (400: entity or property too
// large, too many properties, bad value or key; 413) is a permanent
// outcome for its record, never a retry and never a reason to stop the
// blob: the rest of the transaction is sent again without that record
// (the failing operation is the one the service names, or the
// transaction is halved until one entity fails), and after all
// transactions the record's row is replaced by a reduced one: keys,
// fixed-size columns, strings (and binary columns) cut to 256 units
// (bytes), statement and
// additional_information to 4,000 (with their length and SHA-256), no
// continuation, and xw_degraded = "refused by the table service (status
// 400 EntityTooLarge): …". A record whose reduced row is refused too is
// not stored; UpsertRecordsReport reports it (Dropped) like the reduced
// ones (Degraded). Continuation entities of a reduced record that were
// written stay, unreferenced.
//
// # Detection state
//
// [State] implements detect.State on the DetectionState table, so that
// correlations work across files, invocations and function instances. One
// entity per state key holds its entries as JSON, split over properties
// E0..En of at most 30000 bytes (a string property holds 32K UTF-16
// characters) and bounded in count ([MaxStateEntries]) and total size
// ([MaxStateBytes], under the 1 MiB entity limit).
//
// Update is a read-modify-write under optimistic concurrency: the entity
// is replaced only if its ETag is unchanged (If-Match), a new one is
// inserted only if absent, and a conflict retries with a fresh read and
// jittered backoff. A State caches the entity it last read or wrote under
// each key with its ETag (bounded by StateOptions.CacheBytes): Update
// starts from that copy, and if another instance wrote meanwhile the
// conditional write fails and Update reads afresh, so the cache saves a
// round trip without weakening the concurrency control; a key it has not
// seen is inserted without a read (the insert fails with 409 if the key
// exists, and Update reads it then). Get answers from the copy for
// StateOptions.ReadTTL (1 s by default): within that second an instance
// may not yet see another instance's write, the same as if the two had
// evaluated their records concurrently. That is the contract: an instance
// sees its own writes at once and other instances' within ReadTTL, and
// Update never loses a write whatever the cache holds. A reader that needs
// every instance's writes now (a test, a tool) uses a fresh State or
// ReadTTL < 0. UpdateMany (detect.BatchState, what a Deferred's commit
// uses) writes many keys in batch transactions, one per partition (key
// kind) of up to 100 keys: the same conditional writes from the same
// copies, all or nothing per transaction; a refused transaction's keys
// then go through Update one by one. The ETags of the entities a
// transaction wrote are read from its response (the table clients keep it
// for the call through azclient.CaptureBody), so the cache stays as
// useful as after single writes. Entities carry Expires (event time plus the rule's window);
// Prune and PruneSome delete expired entities, conditionally on their
// ETag.
//
// # Errors
//
// Errors from the service are mapped once, in classify: [ErrNotFound],
// [ErrConflict] (already exists, ETag mismatch), [ErrTooLarge], and
// [IsTransient] for throttling, server errors, timeouts and dropped
// connections. The multi-line azcore dump never reaches an error string:
// a *[ServiceError] carries the status code and service error code only.
// A failed transaction comes back as HTTP 202 whose multipart body holds
// the real status; classify reads it from there.
package store
