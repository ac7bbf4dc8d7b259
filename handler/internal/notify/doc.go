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
// # Attacker text in chat cards
//
// Names, statements and the explanation quoting them come from the audit
// file and are attacker-chosen. Teams and Slack show them literally: only
// in elements that render no markup (Teams TextRun, Slack plain_text),
// with controls, bidi overrides and zero-width characters shown as
// "[U+XXXX]", each cut after escaping to a budget, the whole body under
// 20,000 bytes (cards.go, text.go). The generic webhook sends the finding
// unchanged as JSON: its receiver must treat every string as untrusted.
//
// # Webhook URLs
//
// XELWATCH_WEBHOOK_URL, XELWATCH_TEAMS_WEBHOOK_URL and
// XELWATCH_SLACK_WEBHOOK_URL must be https URLs without user:password@;
// plain http is accepted only to 127.0.0.1 (127.0.0.0/8), [::1] and
// localhost, for tests and local receivers. Anything else stops the app
// at start with an error that names the setting. URLs of Teams and Slack
// contain their credentials, so URLs and secrets are [redact.Secret]
// values that never print or log, and errors carry the HTTP status and
// never the URL.
//
// # Verifying webhook requests
//
// The body is the finding as JSON (detect.Finding). With
// XELWATCH_WEBHOOK_SECRET set each request carries
//
//	X-Xelwatch-Timestamp: <unix seconds>
//	X-Xelwatch-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//	X-Xelwatch-Detection-Id: <detection id>
//
// A receiver should:
//
//  1. recompute the HMAC over the timestamp header, a '.', and the raw
//     body bytes (before any JSON parsing), and compare it in constant
//     time with the signature header;
//  2. reject a timestamp more than 5 minutes from its clock: a captured
//     request cannot be replayed later, because the signature covers the
//     timestamp;
//  3. deduplicate on detection_id read from the verified body (the
//     X-Xelwatch-Detection-Id header is a convenience and is not signed):
//     delivery is at least once, and a retry of a failed delivery, minutes
//     or hours later, is a new request with a new timestamp and signature
//     for the same detection_id. Keep seen ids for at least as long as the
//     detections queue may redeliver (days, not minutes); within the
//     5 minutes this also stops a replay of one captured request;
//  4. answer 2xx only once the finding is safely handled: any other
//     answer, or none within XELWATCH_NOTIFY_TIMEOUT, makes xelwatch
//     retry.
//
// [Verify] does steps 1 and 2. A receiver that does not import xelwatch,
// in Go:
//
//	func verify(secret []byte, h http.Header, body []byte, now time.Time) error {
//		ts, sig := h.Get("X-Xelwatch-Timestamp"), h.Get("X-Xelwatch-Signature")
//		sec, err := strconv.ParseInt(ts, 10, 64)
//		if err != nil || sig == "" {
//			return errors.New("unsigned request")
//		}
//		m := hmac.New(sha256.New, secret)
//		m.Write([]byte(ts + "."))
//		m.Write(body)
//		want := "sha256=" + hex.EncodeToString(m.Sum(nil))
//		if !hmac.Equal([]byte(strings.ToLower(sig)), []byte(want)) {
//			return errors.New("bad signature")
//		}
//		if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
//			return errors.New("stale timestamp")
//		}
//		return nil
//	}
//
// and in Python:
//
//	import hashlib, hmac, time
//
//	def verify(secret: bytes, headers, body: bytes) -> None:
//	    ts = headers.get("X-Xelwatch-Timestamp", "")
//	    sig = headers.get("X-Xelwatch-Signature", "")
//	    if not ts.isascii() or not ts.isdigit() or not sig:
//	        raise ValueError("unsigned request")
//	    mac = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256)
//	    if not hmac.compare_digest(sig.lower(), "sha256=" + mac.hexdigest()):
//	        raise ValueError("bad signature")
//	    if abs(time.time() - int(ts)) > 300:
//	        raise ValueError("stale timestamp")
//
// then json.loads(body)["detection_id"] for deduplication. The Go
// function is tested in example_test.go (receiverVerify).
package notify
