// Package handler is the Azure Functions custom handler: an http.Handler
// that answers the Functions host's invocations (POST /<FunctionName> with
// a {"Data":…,"Metadata":…} body) for the functions under functions/:
//
//   - AuditBlob (blob trigger): continues the blob named by Metadata.Uri
//     from its cursor; the host's Data is ignored (deferred binding keeps
//     it to a small descriptor), so the polling and the Event Grid source
//     behave alike.
//   - AuditSweep (timer): continues growing blobs, discovers unannounced
//     ones and closes rolled-over or idle files.
//   - Notifier (queue trigger on the detections queue): delivers one
//     detection.
//
// The host's encoding is absorbed in one place (invoke.go): strings are
// JSON-encoded twice, numbers arrive as strings, keys ending in "trigger"
// are dropped. Status codes are semantics: 2xx with a JSON body on success
// (never an empty one: the host would wait for functionTimeout), 4xx for a
// body the host should not have sent, 5xx for a transient failure the host
// should retry. Poison input (a corrupt audit file) is acknowledged with
// 2xx and recorded on the blob's cursor.
package handler
