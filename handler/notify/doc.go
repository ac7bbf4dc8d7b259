// Package notify delivers detections to people: a generic JSON webhook
// signed with HMAC-SHA256, a Microsoft Teams workflow webhook (Adaptive
// Card) and a Slack incoming webhook.
//
// A [Notifier] handles one finding at a time, as the queue-triggered
// Notifier function receives them: it records the finding, then for each
// channel claims the delivery, sends, and marks it delivered, so a
// replayed blob or a redelivered queue message never notifies a channel
// twice (within the claim lease; see store.ClaimDelivery). A channel that
// fails makes Notify return an error, so the host retries the message and
// finally moves it to the poison queue; channels that succeeded are not
// sent again on the retry, and the detection record stays.
//
// # Verifying the generic webhook
//
// The body is the finding as JSON (detect.Finding). With a secret
// configured each request carries
//
//	X-Xelwatch-Timestamp: <unix seconds>
//	X-Xelwatch-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//	X-Xelwatch-Detection-Id: <detection id>
//
// A receiver recomputes the HMAC over the timestamp header, a '.', and the
// raw body bytes, compares it in constant time with the signature header,
// and rejects timestamps older than a few minutes (replay protection);
// [Verify] does exactly this. It should deduplicate on the detection id:
// delivery is at least once.
//
// Webhook URLs of Teams and Slack contain their credentials, so URLs and
// secrets are [Secret] values that never print or log, and errors carry
// the HTTP status and never the URL.
package notify
