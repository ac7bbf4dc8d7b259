// Package watch is the standalone runner: the function app's pipeline
// without the Functions host. It polls the audit container (or, with
// --dir, a local folder of .xel/.sqlaudit files written by SQL Server on
// premises) every --interval, ingests with the same cursors, rows and
// rules, enqueues detections on the same queue in the same format as the
// AuditBlob binding, and consumes that queue with the same Notifier code,
// poisoning a message after MaxDequeueCount failed deliveries as the
// host does. It suits a container, a VM next to SQL Server, or a laptop.
package watch
