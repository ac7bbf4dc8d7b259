// Package control is the AuditControl function's logic: it decodes one
// Event Grid event (Resource Manager operations on the subscription or
// resource group, and BlobDeleted from the audit account), with the
// azsystemevents types, into a bounded detect.ControlEvent, adds what
// xelwatch knows (the deleted blob's cursor, optionally the auditing state
// read through Resource Manager) and evaluates the platform rules
// (detect.Control: AUD-008..013).
//
// Every field of an event is attacker-influenced (an insider with Azure
// rights chooses resource names, request URLs, client request ids): each
// is bounded (maxField, maxResource) and made valid UTF-8 without control
// characters before it reaches a rule or a log; rules print them
// literally. A malformed event (not JSON, missing id/type/time/data,
// wrong types) is a permanent outcome: ErrMalformed, which the handler
// logs and acknowledges (2xx) so that Event Grid does not retry it for a
// day. Storage errors while reading a cursor or the detection state fail
// the invocation, and Event Grid delivers the event again; the finding
// ids derive from the event id, so a redelivery notifies once.
package control
