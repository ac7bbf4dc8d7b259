// Package demo is `xelwatch demo`: it shows the product's story end to end
// on a local Azurite. An embedded, synthesized audit file (routine
// activity, then an intruder who switches the server audit off and takes a
// COPY_ONLY backup to a foreign storage account) is appended to an append
// blob in several steps, as Azure SQL auditing does; after each append
// the AuditBlob pipeline runs, the new rows are printed, and the
// detections travel through the queue to the notifier, which delivers
// them to a local webhook receiver that prints them.
package demo
