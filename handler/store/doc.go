// Package store keeps xelwatch's state in Azure Table Storage: one
// AuditEvents row per audit record, one AuditCursors row per audit blob and
// one Detections row per finding with its per-channel delivery status.
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
//	PartitionKey  <server>|<database>|<yyyyMMddHH>               UTC hour of event_time
//	RowKey        <yyyyMMddHHmmssfffffff>|<file hash>|<offset>|<index>
//
// where <file hash> is the first 16 hex digits of SHA-256 of the record's
// file name, <offset> the audit_file_offset as 16 hex digits and <index>
// the event index as 8 hex digits. The row key sorts by event time inside a
// partition and across partitions, so "server S, database D, from T1 to T2"
// is one range query: PartitionKey between S|D|hour(T1) and S|D|hour(T2) and
// RowKey between the two time prefixes.
//
// AuditCursors: PartitionKey = container, RowKey = blob name.
// Detections: PartitionKey = detection id, RowKey = "detection".
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
// # Large strings
//
// A property holds at most 64 KiB, i.e. 32,767 UTF-16 code units. A longer
// string (a reassembled statement, say) is stored whole, split on rune
// boundaries across name, name_1, name_2, … with name_parts holding the
// number of pieces; [JoinParts] puts it back. Nothing is cut: a record whose
// entity would exceed 1 MiB or 252 properties is refused with [ErrTooLarge].
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
