package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/queuemsg"
)

// DeliveryState is where one channel's notification of a detection stands.
type DeliveryState string

// Delivery states. A channel with no state was never attempted.
const (
	DeliveryClaimed   DeliveryState = "claimed"   // an invocation is sending (or crashed while sending)
	DeliveryDelivered DeliveryState = "delivered" // sent; never sent again
	DeliveryFailed    DeliveryState = "failed"    // the last attempt failed; the next one may claim at once
)

// Delivery is one channel's delivery status of a detection.
type Delivery struct {
	State       DeliveryState
	Attempts    int
	ClaimedAt   time.Time
	DeliveredAt time.Time
	LastError   string
}

// Detection is one Detections row: the finding and its deliveries.
type Detection struct {
	ID        string
	Rule      string
	Title     string
	Severity  detect.Severity
	Server    string
	Database  string
	Principal string
	Time      time.Time // the finding's event time
	Recorded  time.Time // first RecordFinding or RecordPending
	// Dispatched: a queue message brought the finding to the notifier.
	// Rows are written by the notifier, so it is true except on rows an
	// older version recorded pending.
	Dispatched bool
	Finding    detect.Finding
	// Deliveries by channel name.
	Deliveries map[string]Delivery
	ETag       azcore.ETag

	tokens map[string]string // claim token by channel
}

// maxClaimTries bounds the read-modify-write loops of the delivery
// methods; each retry follows an ETag conflict with a concurrent writer.
const maxClaimTries = 8

// RecordPending puts findings in the outbox: ingestion calls it before
// committing a cursor, because the queue message carrying a finding
// leaves only after the invocation answers, so that a finding whose
// message was lost can be found with [Store.ListUndispatched] and sent
// again. Each entry holds the finding as its queue message will
// (queuemsg.Bound). The entries share one partition and go out in batch
// transactions (100 per request). Recording a finding again (a replayed
// blob) rewrites its entry; the relay drops entries whose detection the
// notifier has recorded.
func (s *Store) RecordPending(ctx context.Context, fs ...detect.Finding) error {
	if len(fs) == 0 {
		return nil
	}
	for _, f := range fs {
		if f.DetectionID == "" {
			return errors.New("store: record pending finding: empty detection id")
		}
	}
	now := edmTime(s.now())
	entities := make([]Entity, 0, len(fs))
	for _, f := range fs {
		e, err := outboxEntity(f, now)
		if err != nil {
			return fmt.Errorf("store: record pending finding %s: %w", f.DetectionID, err)
		}
		entities = append(entities, e)
	}
	if _, err := s.upsertInto(ctx, s.detections, "outbox entries", entities, nil); err != nil {
		return fmt.Errorf("store: record %d pending findings: %w", len(fs), err)
	}
	return nil
}

// outboxEntity is f's outbox entry. It holds what the queue message will
// carry (queuemsg.Bound), so that no entry (and no transaction) can
// exceed the service's limits, whatever the statement.
func outboxEntity(f detect.Finding, now aztables.EDMDateTime) (Entity, error) {
	p, err := findingProps(queuemsg.Bound(f))
	if err != nil {
		return Entity{}, err
	}
	p["detection_id"] = f.DetectionID
	p["recorded_at"] = now
	rk, _ := detectionKeys(f.DetectionID) // the row's PartitionKey
	body, err := json.Marshal(aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: outboxPartition, RowKey: rk}, Properties: p})
	if err != nil {
		return Entity{}, err
	}
	return Entity{PartitionKey: outboxPartition, RowKey: rk, JSON: body, Size: len(body)}, nil
}

// findingProps is the finding as JSON in "finding" (split over
// finding_1, … when long, with finding_parts).
func findingProps(f detect.Finding) (map[string]any, error) {
	js, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	p := map[string]any{}
	pieces := splitString(string(js), MaxPieceUnits)
	if len(pieces) > MaxProperties/2 {
		return nil, fmt.Errorf("%d bytes of JSON: %w", len(js), ErrTooLarge)
	}
	for i, piece := range pieces {
		n := "finding"
		if i > 0 {
			n += "_" + strconv.Itoa(i)
		}
		p[n] = piece
	}
	if len(pieces) > 1 {
		p["finding_parts"] = int32(len(pieces))
	}
	return p, nil
}

// RecordFinding stores f under its detection id, marked dispatched: the
// notifier calls it when a queue message brought f. It is idempotent:
// recording the same detection again changes nothing but the dispatched
// flag (delivery status untouched) and returns nil. It removes the
// finding's outbox entry.
func (s *Store) RecordFinding(ctx context.Context, f detect.Finding) error {
	const op = "record finding"
	if f.DetectionID == "" {
		return fmt.Errorf("store: %s: empty detection id", op)
	}
	pk, rk := detectionKeys(f.DetectionID)
	p, err := findingProps(f)
	if err != nil {
		return fmt.Errorf("store: %s %s: %w", op, f.DetectionID, err)
	}
	maps.Copy(p, map[string]any{
		"detection_id":   f.DetectionID,
		"rule":           f.Rule,
		"title":          f.Title,
		"severity":       f.Severity.String(),
		"severity_level": int32(f.Severity),
		"server":         f.Server,
		"database":       f.Database,
		"principal":      f.Principal,
		"finding_time":   edmTime(f.Time),
		"recorded_at":    edmTime(s.now()),
		"dispatched":     true,
	})
	body, err := json.Marshal(aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: pk, RowKey: rk}, Properties: p})
	if err != nil {
		return fmt.Errorf("store: %s %s: %w", op, f.DetectionID, err)
	}
	_, err = s.detections.AddEntity(ctx, body, nil)
	err = classify(err)
	switch {
	case err == nil:
	case !errors.Is(err, ErrConflict):
		return fmt.Errorf("store: %s %s: %w", op, f.DetectionID, err)
	default:
		// The row exists (an earlier delivery of this message, or a
		// row recorded pending by an older version): mark it
		// dispatched. The merge names one property and has no
		// If-Match, so it cannot lose a concurrent delivery claim: the
		// ch_<channel>_* properties are not part of it, and a claim
		// whose If-Match fails on the new ETag re-reads and retries.
		// Setting true twice is harmless.
		if err := s.mergeProps(ctx, pk, rk, nil, map[string]any{"dispatched": true}); err != nil {
			return fmt.Errorf("store: %s %s: mark dispatched: %w", op, f.DetectionID, err)
		}
	}
	// Best effort: an entry left behind is dropped by the relay, which
	// finds the row.
	_ = s.deleteOutbox(ctx, f.DetectionID)
	return nil
}

// outboxPartition is the Detections partition of the outbox entries. No
// detection row can have it: EscapeKey writes '!' only before two hex
// digits.
const outboxPartition = "!outbox"

// deleteOutbox removes detection id's outbox entry (absent is fine).
func (s *Store) deleteOutbox(ctx context.Context, id string) error {
	rk, _ := detectionKeys(id)
	_, err := s.detections.DeleteEntity(ctx, outboxPartition, rk, nil)
	if err = classify(err); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// ListUndispatched returns up to max findings recorded pending (by
// RecordPending) before before whose detection the notifier has not
// recorded since: their queue message may have been lost. It reads the
// outbox partition, which holds only such entries, and checks each
// entry's row, so its cost does not grow with the Detections table.
// Entries whose row exists are removed. An entry that cannot be decoded
// is removed and reported in the error, next to the findings that could
// be read.
func (s *Store) ListUndispatched(ctx context.Context, before time.Time, max int) ([]detect.Finding, error) {
	if max <= 0 {
		return nil, nil
	}
	filter := undispatchedFilter(before)
	top := int32(min(max, 1000))
	pager := s.detections.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: &top})
	var out []detect.Finding
	var bad []error
	for pager.More() && len(out) < max {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("store: list undispatched: %w", classify(err))
		}
		for _, raw := range page.Entities {
			e, err := decodeDetection(raw)
			if err == nil && e.ID == "" {
				err = errors.New("store: outbox entry without detection_id")
			}
			if err != nil {
				// It can never be relayed: report it once and drop it,
				// rather than on every sweep.
				bad = append(bad, err)
				var k struct{ RowKey string }
				if json.Unmarshal(raw, &k) == nil && k.RowKey != "" {
					_, _ = s.detections.DeleteEntity(ctx, outboxPartition, k.RowKey, nil)
				}
				continue
			}
			_, err = s.GetDetection(ctx, e.ID)
			switch {
			case err == nil: // the notifier has it
				if err := s.deleteOutbox(ctx, e.ID); err != nil {
					return out, fmt.Errorf("store: list undispatched: drop outbox entry %s: %w", e.ID, err)
				}
				continue
			case !errors.Is(err, ErrNotFound):
				return out, fmt.Errorf("store: list undispatched: %w", err)
			}
			out = append(out, e.Finding)
			if len(out) == max {
				break
			}
		}
	}
	if err := errors.Join(bad...); err != nil {
		return out, fmt.Errorf("store: list undispatched: %d bad entries: %w", len(bad), err)
	}
	return out, nil
}

// GetDetection reads a detection; ErrNotFound if it was never recorded.
func (s *Store) GetDetection(ctx context.Context, id string) (*Detection, error) {
	pk, rk := detectionKeys(id)
	resp, err := s.detections.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		return nil, fmt.Errorf("store: get detection %s: %w", id, classify(err))
	}
	d, err := decodeDetection(resp.Value)
	if err != nil {
		return nil, err
	}
	d.ETag = resp.ETag
	return d, nil
}

// ListDetections yields the detections whose finding time is at or after
// since (all when since is zero), in detection-id order. It scans the
// table with a filter: detections are few.
func (s *Store) ListDetections(ctx context.Context, since time.Time) iter.Seq2[*Detection, error] {
	f := "PartitionKey ne " + odataString(outboxPartition) + " and PartitionKey ne " + odataString(heartbeatPartition)
	if !since.IsZero() {
		f += " and finding_time ge " + odataDateTime(since)
	}
	opts := aztables.ListEntitiesOptions{Filter: &f}
	return listEntities(ctx, s.detections, &opts, "detections", func(raw []byte) (*Detection, error) {
		d, err := decodeDetection(raw)
		if err == nil {
			d.ETag, err = entityETag(raw)
		}
		return d, err
	})
}

// ClaimDelivery takes the right to send detection id to channel and
// returns the claim token MarkDelivered/MarkFailed need. It fails with
// ErrDelivered when the channel already has it, with ErrClaimed when
// another invocation claimed it less than lease ago, and ErrNotFound when
// the detection was never recorded. The claim is an ETag-conditional
// update, so of two concurrent callers exactly one gets a token.
//
// At-least-once window: a claim older than lease is taken over, because
// its holder probably crashed. If the holder had in fact sent and crashed
// before MarkDelivered (or is still sending after lease), the channel gets
// the detection twice. Choose lease well above the channel timeout.
func (s *Store) ClaimDelivery(ctx context.Context, id, channel string, lease time.Duration) (string, error) {
	if err := checkChannel(channel); err != nil {
		return "", err
	}
	for range maxClaimTries {
		d, err := s.GetDetection(ctx, id)
		if err != nil {
			return "", fmt.Errorf("store: claim %s for %s: %w", id, channel, unwrapStore(err))
		}
		dl := d.Deliveries[channel]
		now := s.now()
		switch {
		case dl.State == DeliveryDelivered:
			return "", fmt.Errorf("store: claim %s for %s: %w", id, channel, ErrDelivered)
		case dl.State == DeliveryClaimed && now.Sub(dl.ClaimedAt) < lease:
			return "", fmt.Errorf("store: claim %s for %s (claimed %s ago): %w", id, channel, now.Sub(dl.ClaimedAt).Round(time.Second), ErrClaimed)
		}
		token := newToken()
		err = s.mergeDelivery(ctx, id, channel, d.ETag, map[string]any{
			"state":      string(DeliveryClaimed),
			"token":      token,
			"claimed_at": edmTime(now),
			"attempts":   int32(dl.Attempts + 1),
		})
		if errors.Is(err, ErrConflict) {
			continue // someone else wrote the row; look again
		}
		if err != nil {
			return "", fmt.Errorf("store: claim %s for %s: %w", id, channel, err)
		}
		return token, nil
	}
	return "", fmt.Errorf("store: claim %s for %s: %d concurrent updates: %w", id, channel, maxClaimTries, ErrConflict)
}

// MarkDelivered records that the holder of token sent id to channel.
// ErrClaimLost if the claim was taken over meanwhile (the notification
// went out anyway; the new holder will mark it).
func (s *Store) MarkDelivered(ctx context.Context, id, channel, token string) error {
	return s.finishDelivery(ctx, id, channel, token, DeliveryDelivered, "")
}

// MarkFailed records that the holder of token failed to send id to
// channel; the next attempt may claim it at once. reason is stored
// (bounded): pass a message without secrets.
func (s *Store) MarkFailed(ctx context.Context, id, channel, token, reason string) error {
	return s.finishDelivery(ctx, id, channel, token, DeliveryFailed, reason)
}

func (s *Store) finishDelivery(ctx context.Context, id, channel, token string, state DeliveryState, reason string) error {
	if err := checkChannel(channel); err != nil {
		return err
	}
	for range maxClaimTries {
		d, err := s.GetDetection(ctx, id)
		if err != nil {
			return fmt.Errorf("store: mark %s %s for %s: %w", state, id, channel, unwrapStore(err))
		}
		dl := d.Deliveries[channel]
		cur := d.tokens[channel]
		if cur != token {
			return fmt.Errorf("store: mark %s %s for %s: %w", state, id, channel, ErrClaimLost)
		}
		if dl.State == state {
			return nil // already done by this claim (a retried call)
		}
		if dl.State != DeliveryClaimed {
			return fmt.Errorf("store: mark %s %s for %s: state is %q: %w", state, id, channel, dl.State, ErrClaimLost)
		}
		p := map[string]any{"state": string(state), "error": boundText(reason)}
		if state == DeliveryDelivered {
			p["delivered_at"] = edmTime(s.now())
		}
		err = s.mergeDelivery(ctx, id, channel, d.ETag, p)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: mark %s %s for %s: %w", state, id, channel, err)
		}
		return nil
	}
	return fmt.Errorf("store: mark %s %s for %s: %d concurrent updates: %w", state, id, channel, maxClaimTries, ErrConflict)
}

// mergeDelivery merges the channel's properties (named ch_<channel>_<p>)
// into the detection row if its ETag is still etag.
func (s *Store) mergeDelivery(ctx context.Context, id, channel string, etag azcore.ETag, p map[string]any) error {
	pk, rk := detectionKeys(id)
	props := make(map[string]any, len(p))
	for k, v := range p {
		props[channelPrefix(channel)+k] = v
	}
	return s.mergeProps(ctx, pk, rk, &etag, props)
}

// mergeProps merges props into a Detections row: if its ETag is still
// *etag, or unconditionally when etag is nil.
// undispatchedFilter selects the rows recorded pending before before. A
// row without the dispatched property fails "eq false" on the service.
func undispatchedFilter(before time.Time) string {
	return "PartitionKey eq " + odataString(outboxPartition) + " and recorded_at lt " + odataDateTime(before)
}

func (s *Store) mergeProps(ctx context.Context, pk, rk string, etag *azcore.ETag, props map[string]any) error {
	body, err := json.Marshal(aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: pk, RowKey: rk}, Properties: props})
	if err != nil {
		return err
	}
	opts := &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeMerge}
	if etag != nil {
		opts.IfMatch = etag
	}
	_, err = s.detections.UpdateEntity(ctx, body, opts)
	return classify(err)
}

func channelPrefix(channel string) string { return "ch_" + channel + "_" }

// checkChannel accepts channel names usable inside property names:
// 1 to 32 lower-case letters, digits and underscores.
func checkChannel(name string) error {
	if len(name) == 0 || len(name) > 32 {
		return fmt.Errorf("store: channel name %q: want 1 to 32 characters", name)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("store: channel name %q: want lower-case letters, digits and _", name)
		}
	}
	return nil
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

func boundText(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	return strings.ToValidUTF8(s[:maxErrorText], "") + "…"
}

// unwrapStore drops the "store: get detection …:" prefix of an inner call
// so messages do not stutter; the chain (errors.Is) is kept.
func unwrapStore(err error) error {
	var se *ServiceError
	if errors.As(err, &se) {
		return se
	}
	return err
}

func decodeDetection(raw []byte) (*Detection, error) {
	var e aztables.EDMEntity
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("store: decode detection: %w", err)
	}
	p := props(e.Properties)
	d := &Detection{
		ID:         p.str("detection_id"),
		Rule:       p.str("rule"),
		Title:      p.str("title"),
		Severity:   detect.Severity(p.int32("severity_level")),
		Server:     p.str("server"),
		Database:   p.str("database"),
		Principal:  p.str("principal"),
		Time:       p.time("finding_time"),
		Recorded:   p.time("recorded_at"),
		Dispatched: p.bool("dispatched"),
		Deliveries: map[string]Delivery{},
		tokens:     map[string]string{},
	}
	js, err := joinParts(e.Properties, "finding")
	if err != nil {
		return nil, fmt.Errorf("store: detection %s: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(js), &d.Finding); err != nil {
		return nil, fmt.Errorf("store: detection %s: finding JSON: %w", d.ID, err)
	}
	for k := range e.Properties {
		rest, ok := strings.CutPrefix(k, "ch_")
		if !ok {
			continue
		}
		ch, ok := strings.CutSuffix(rest, "_state")
		if !ok {
			continue
		}
		pre := channelPrefix(ch)
		d.Deliveries[ch] = Delivery{
			State:       DeliveryState(p.str(k)),
			Attempts:    int(p.int32(pre + "attempts")),
			ClaimedAt:   p.time(pre + "claimed_at"),
			DeliveredAt: p.time(pre + "delivered_at"),
			LastError:   p.str(pre + "error"),
		}
		d.tokens[ch] = p.str(pre + "token")
	}
	return d, nil
}
