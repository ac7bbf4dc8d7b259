package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// heartbeatPartition holds the one heartbeat claim entity of the
// Detections table (RowKey "claim"). Like the outbox, no detection row can
// have it: EscapeKey writes '!' only before two hex digits.
const heartbeatPartition = "!heartbeat"

// ClaimHeartbeat claims heartbeat period (a period number: the sweep
// sends one heartbeat per period across every instance). It returns true
// for the one caller whose ETag-conditional write moved the claim to
// period, false when period (or a later one) was claimed already. The
// claim entity holds only the last period claimed.
func (s *Store) ClaimHeartbeat(ctx context.Context, period int64) (bool, error) {
	const rk = "claim"
	body, err := json.Marshal(aztables.EDMEntity{
		Entity:     aztables.Entity{PartitionKey: heartbeatPartition, RowKey: rk},
		Properties: map[string]any{"period": aztables.EDMInt64(period), "claimed_at": edmTime(s.now())},
	})
	if err != nil {
		return false, fmt.Errorf("store: claim heartbeat: %w", err)
	}
	for range maxClaimTries {
		resp, err := s.detections.GetEntity(ctx, heartbeatPartition, rk, nil)
		err = classify(err)
		switch {
		case errors.Is(err, ErrNotFound):
			_, err := s.detections.AddEntity(ctx, body, nil)
			err = classify(err)
			if errors.Is(err, ErrConflict) {
				continue // another instance created it first: look again
			}
			if err != nil {
				return false, fmt.Errorf("store: claim heartbeat %d: %w", period, err)
			}
			return true, nil
		case err != nil:
			return false, fmt.Errorf("store: claim heartbeat %d: %w", period, err)
		}
		var e aztables.EDMEntity
		if err := json.Unmarshal(resp.Value, &e); err != nil {
			return false, fmt.Errorf("store: claim heartbeat: decode: %w", err)
		}
		if props(e.Properties).int64("period") >= period {
			return false, nil
		}
		etag := azcore.ETag(resp.ETag)
		_, err = s.detections.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
		err = classify(err)
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("store: claim heartbeat %d: %w", period, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("store: claim heartbeat %d: %d concurrent updates: %w", period, maxClaimTries, ErrConflict)
}
