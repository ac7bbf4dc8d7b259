// Package ingest is the pipeline shared by the AuditBlob and AuditSweep
// functions and by the standalone `watch` runner: for one audit blob it
// continues decoding from the blob's cursor, upserts one table row per
// audit record, evaluates the detection rules and advances the cursor.
//
// # Growing append blobs
//
// Azure SQL auditing appends to a blob for as long as the file is current,
// and Event Grid announces the blob only at creation. So a blob is never
// "done" when a trigger fires: each blob has a cursor (the buffer offset to
// resume at, the metadata buffers seen, the blob length and ETag last
// read, rows stored, state open/closed/failed). A run reads the range from
// the cursor to the current length with bounded range requests; a partial
// trailing buffer is left for the next run; the sweep continues open
// cursors whose blob grew, discovers blobs no trigger announced, and closes
// a cursor when a newer file of the same audit appeared or the blob stayed
// idle (the final read emits pending split records as they are).
//
// # Bounded runs
//
// A run decodes at most a byte budget (Options.MaxBytesPerRun) and
// collects at most a findings budget (Options.MaxFindings): findings
// travel in the run's Result and in the invocation's response, so a file
// in which every record is suspicious must not grow the process. At
// either budget the run commits what it did and reports OutcomeMore; the
// sweep continues the blob. Memory is otherwise independent of the blob's
// size: one read-ahead window, two batches of records, and the request
// bodies in flight.
//
// # Large records
//
// Nothing a record holds can make it cost more than a bound, nor stop its
// blob. The audit reader keeps at most MaxRecordBytes (2 MiB) of one
// record's text, split or not: a longer statement keeps its first 1 MiB
// and its last 512 KiB, with the length and SHA-256 of the whole
// (audit.Record.Elided), so that detections see what starts and what ends
// it; records waiting for a continuation hold at most MaxPendingBytes
// together, each kept part counted whole. A batch is stored at BatchSize
// records or BatchBytes (4 MiB) of records, measured by
// audit.Record.Size (text and every other column), whichever comes
// first, and raw parts keep no text. A 10 MB statement thus costs about
// MaxRecordBytes, not 10 MB per copy. Rows keeps every
// record (whole across continuation entities, or reduced and flagged when
// the service refuses it): only a failure of the service itself fails a
// run.
//
// # Exactly once, from at-least-once
//
// Triggers are at-least-once and a trigger and the sweep may meet on one
// blob. Rows have deterministic keys and are upserts; findings have stable
// detection ids and the notifier deduplicates; the cursor changes only
// under If-Match. A run first takes a lease on the cursor (a conditional
// write of an owner and an expiry, Options.Lease, renewed while it reads);
// a run that loses that race, or finds a live lease of another run, stops
// without error, and a run that dies frees the blob when its lease
// expires (at once for later runs of the same process, which know it
// died). A run whose final commit loses stops too (its upserts were
// idempotent). The bytes before a blob's current length never change for
// an append blob, so range reads are not pinned to an ETag.
//
// Detections too: each batch is evaluated through a detect.Deferred whose
// state writes are committed only after the batch's findings reached the
// sink, and a record sees only the detection state of the records before
// it in its file (see package detect, "Replays"). So a run interrupted
// anywhere and retried emits the detection ids of an uninterrupted run,
// windows and correlations included. Across files that holds when they
// are read in the same order: Poll reads a folder's files, and Sweep the
// open files of an audit stream, oldest first, and a file that fails (or
// that another run holds) holds back the later ones of its folder or
// stream until the next pass. Blobs the trigger starts, or instances read,
// side by side interleave as they come.
//
// # Storage-level tampering
//
// Whoever holds rights on the audit storage account can delete a blob and
// create another under its name, shorter or with other bytes. Bytes of an
// append blob that were read never change, so the cursor keeps what it
// read (Cursor.Identity: blob type, creation time, SHA-256 of the last
// DigestWindow bytes before its offset and of the first HeadWindow bytes)
// and a run verifies it under the lease before reading on (one bounded
// range read; the head too when the ETag changed without growth): a blob
// shorter than what was read raises AUD-014, changed bytes, creation time
// or type AUD-015 (package detect, StorageRules). The finding goes to the
// sink first; then the cursor moves to the next generation and reads the
// blob from its start, its rows under FileNameOf(name, generation), so
// they never replace the rows already stored: those are the evidence. The
// detection id hashes the blob, the generation and what it had read, so a
// retried run emits the same one. A closed cursor whose blob changed is
// verified the same way when a trigger (or Poll) brings it. Bytes between
// the digest windows are not re-read: a rewrite that keeps the length, the
// creation time, the type and both windows is not seen.
//
// # Silence and heartbeat
//
// The sweep reports an audit stream silent (AUD-016) when its newest open
// file last grew longer ago than SweepOptions.SilenceGap allows, at most
// once per SilenceEvery, from the open cursors it lists anyway, once per
// last growth (Cursor.SilenceReported); such a file stays open past
// IdleClose until reported. With SweepOptions.Heartbeat it emits one
// heartbeat per period across instances (HeartbeatClaim). Both go to the
// sink and SweepResult.Findings like a blob's findings.
//
// # Errors
//
// A corrupt or truncated-for-good file stores every row before the damage,
// marks the cursor failed with the offset and reason and returns no error
// (no retry storm on poison input). Storage errors return an error so that
// the invocation fails and the host retries; nothing was committed to the
// cursor, so the retry redoes the same upserts.
//
// # Dependencies
//
// The pipeline sees its surroundings only through the interfaces of
// deps.go: Blobs (the audit container: AzureBlobs, or DirBlobs for a local
// folder), Cursors and Rows (implemented directly by package
// handler/internal/store), an Evaluator (the detect engine, deferred per
// batch), a Decoder (XEL: the xel reader and the audit normalizer), and the
// FindingSink its findings go to. Package app wires the real ones; the tests
// use in-memory fakes of their own. A sweep or poll also runs
// SweepOptions.Prune (the store's expired detection state) at most once
// per PruneEvery.
package ingest
