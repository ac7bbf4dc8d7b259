// Package tablestate stores the windowed detection state (detect.State)
// in Azure Table Storage, so that correlations work across files,
// invocations and function instances.
//
// One entity per state key: PartitionKey is the key's first segment (the
// kind of state, e.g. "fail", "tamper", "fired"), RowKey a SHA-256 of the
// whole key (keys hold principals and addresses, which may contain
// characters Table Storage forbids in keys). The entries are JSON, split
// over properties E0..En of at most 30000 bytes (a string property holds
// 32K UTF-16 characters) and bounded in count (MaxEntries) and total size
// (MaxEntityBytes, under the 1 MiB entity limit).
//
// Update is a read-modify-write under optimistic concurrency: the entity
// is replaced only if its ETag is unchanged (If-Match), a new one is
// inserted only if absent, and a 412/409 answer retries with a fresh read
// and jittered backoff. A State caches the entity it last read or wrote
// under each key with its ETag (bounded by Options.CacheBytes): Update
// starts from that copy, and if another instance wrote meanwhile the
// conditional write fails and Update reads afresh, so the cache saves a
// round trip without weakening the concurrency control; a key it has not
// seen is inserted without a read (the insert fails with 409 if the key
// exists, and Update reads it then). Get answers from
// the copy for Options.ReadTTL (1 s by default): within that second an
// instance may not yet see another instance's write, the same as if the
// two had evaluated their records concurrently. That is the contract:
// an instance sees its own writes at once and other instances' within
// ReadTTL, and Update never loses a write whatever the cache holds. A
// reader that needs every instance's writes now (a test, a tool) uses a
// fresh State or ReadTTL < 0. Entities carry Expires (event time plus the
// rule's window); Prune deletes expired entities, conditionally on their
// ETag.
package tablestate
