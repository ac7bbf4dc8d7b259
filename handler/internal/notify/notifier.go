package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/store"
)

// Store is what the Notifier needs from the Detections table
// (*store.Store implements it). ClaimDelivery must fail with
// store.ErrDelivered when the channel already has the detection and with
// store.ErrClaimed while another invocation holds a live claim.
type Store interface {
	RecordFinding(ctx context.Context, f detect.Finding) error
	ClaimDelivery(ctx context.Context, id, channel string, lease time.Duration) (token string, err error)
	MarkDelivered(ctx context.Context, id, channel, token string) error
	MarkFailed(ctx context.Context, id, channel, token, reason string) error
}

// DefaultLease is how long a delivery claim is honoured before another
// invocation may take it over (see store.ClaimDelivery).
const DefaultLease = 2 * time.Minute

// Options tune a Notifier; the zero value is usable.
type Options struct {
	// MinSeverity: findings below it are recorded but not sent. Zero
	// means detect.Low (send everything but informational findings);
	// detect.Info sends every finding.
	MinSeverity detect.Severity
	// Lease is the delivery claim lease; zero means DefaultLease. Keep it
	// well above the channels' HTTP timeout.
	Lease time.Duration
	// Logger receives one line per delivery; nil discards.
	Logger *slog.Logger
}

// Notifier records findings and delivers each to every channel once.
type Notifier struct {
	store    Store
	channels []Channel
	opts     Options
	log      *slog.Logger
}

// New returns a Notifier over st and channels.
func New(st Store, channels []Channel, opts Options) *Notifier {
	if opts.MinSeverity == 0 {
		opts.MinSeverity = detect.Low
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{store: st, channels: channels, opts: opts, log: log}
}

// ChannelError is one channel's failure in Notify.
type ChannelError struct {
	Channel string
	Err     error
}

func (e *ChannelError) Error() string { return e.Err.Error() }
func (e *ChannelError) Unwrap() error { return e.Err }

// Notify records f, then sends it to every channel that has not had it
// yet. It returns nil when every channel has it (now or before), and
// otherwise an error joining one *ChannelError per failed channel: the
// caller fails the invocation so that the host retries the message, and
// the retry sends only to the channels still missing. A channel whose
// delivery another invocation is holding counts as failed (retry later).
// Findings below the minimum severity are recorded only; heartbeats
// (detect.HeartbeatRule) are always sent.
func (n *Notifier) Notify(ctx context.Context, f detect.Finding) error {
	if f.DetectionID == "" {
		return errors.New("notify: finding without detection id")
	}
	if err := n.store.RecordFinding(ctx, f); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if f.Severity < n.opts.MinSeverity && f.Rule != detect.HeartbeatRule {
		n.log.InfoContext(ctx, "finding below notify threshold", "detection_id", f.DetectionID,
			"severity", f.Severity.String(), "min_severity", n.opts.MinSeverity.String())
		return nil
	}
	var errs []error
	for _, ch := range n.channels {
		if err := n.deliver(ctx, ch, f); err != nil {
			errs = append(errs, &ChannelError{Channel: ch.Name(), Err: err})
		}
		if ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("notify: %w", ctx.Err()))
			break
		}
	}
	return errors.Join(errs...)
}

func (n *Notifier) deliver(ctx context.Context, ch Channel, f detect.Finding) error {
	name := ch.Name()
	token, err := n.store.ClaimDelivery(ctx, f.DetectionID, name, n.opts.Lease)
	switch {
	case errors.Is(err, store.ErrDelivered):
		n.log.InfoContext(ctx, "already delivered", "detection_id", f.DetectionID, "channel", name)
		return nil
	case err != nil:
		return fmt.Errorf("notify: %s: %w", name, err)
	}
	start := time.Now()
	sendErr := ch.Send(ctx, f)
	if sendErr != nil {
		n.log.WarnContext(ctx, "delivery failed", "detection_id", f.DetectionID, "channel", name,
			"error", sendErr.Error(), "ms", time.Since(start).Milliseconds())
		// Record the failure with a context of its own: a canceled ctx
		// must not leave the claim blocking retries until the lease ends.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := n.store.MarkFailed(mctx, f.DetectionID, name, token, sendErr.Error()); err != nil {
			n.log.WarnContext(ctx, "recording delivery failure", append([]any{"detection_id", f.DetectionID, "channel", name}, store.LogAttrs(err)...)...)
		}
		return sendErr
	}
	n.log.InfoContext(ctx, "delivered", "detection_id", f.DetectionID, "channel", name, "ms", time.Since(start).Milliseconds())
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := n.store.MarkDelivered(mctx, f.DetectionID, name, token); err != nil {
		if errors.Is(err, store.ErrClaimLost) {
			// Sent, but our claim expired and another invocation took
			// it: that one marks it. Not a failure of this delivery.
			n.log.WarnContext(ctx, "delivered after claim lease expired", "detection_id", f.DetectionID, "channel", name)
			return nil
		}
		// Sent but not recorded: failing makes the host retry, which
		// sends again once the lease is over. At least once.
		return fmt.Errorf("notify: %s: sent but not recorded: %w", name, err)
	}
	return nil
}
