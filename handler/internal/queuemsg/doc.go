// Package queuemsg is the format of a message on the detections queue:
// one JSON object {"detection":{…}} per finding. The wrapper keeps the
// finding's keys out of the host's Metadata (the host merges a JSON
// message's top-level scalar properties into Metadata, where a key such as
// "Id" would overwrite the real one). A message is at most MaxJSON bytes so
// that its base64 form (the host's default messageEncoding) fits the
// queue's 64 KiB limit; larger findings lose evidence first, then
// statement text, and say so.
package queuemsg
