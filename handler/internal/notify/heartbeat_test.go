package notify

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
)

func heartbeatFinding() detect.Finding {
	return detect.Finding{DetectionID: detect.HeartbeatRule + ":86400:20780", Rule: detect.HeartbeatRule, Title: "xelwatch heartbeat",
		Severity: detect.Low, Time: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), Why: "xelwatch is running"}
}

// TestHeartbeatIgnoresMinSeverity: a heartbeat is sent to every channel
// whatever XELWATCH_NOTIFY_MIN_SEVERITY, once, while a low finding is
// only recorded.
func TestHeartbeatIgnoresMinSeverity(t *testing.T) {
	st := newFakeStore()
	ch := &fakeChannel{name: "webhook"}
	n := New(st, []Channel{ch}, Options{MinSeverity: detect.High})
	for range 2 {
		if err := n.Notify(context.Background(), heartbeatFinding()); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Notify(context.Background(), testFinding("low", detect.Low)); err != nil {
		t.Fatal(err)
	}
	if ch.count() != 1 {
		t.Fatalf("sends = %d, want the heartbeat once", ch.count())
	}
}

// TestHeartbeatCards: Teams and Slack show a heartbeat as such: its own
// headline, no severity or rule, a calm color.
func TestHeartbeatCards(t *testing.T) {
	f := heartbeatFinding()
	for name, m := range map[string]map[string]any{"teams": TeamsMessage(f), "slack": SlackMessage(f)} {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if !strings.Contains(s, "xelwatch heartbeat: running") || strings.Contains(s, "Severity") || strings.Contains(s, "[LOW]") ||
			!strings.Contains(s, "heartbeat (not a detection)") {
			t.Errorf("%s card: %s", name, s)
		}
	}
	if !strings.Contains(mustJSON(t, TeamsMessage(f)), `"color":"Good"`) {
		t.Errorf("teams heartbeat color is not Good")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
