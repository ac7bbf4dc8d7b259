package queuemsg

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/xelwatch/xelwatch/detect"
)

// MaxJSON bounds the JSON of one message: base64 of 48 KiB is 64 KiB.
const MaxJSON = 48 << 10

// Envelope is one message.
type Envelope struct {
	Detection detect.Finding `json:"detection"`
}

// ErrBad marks a message that cannot be a detection.
var ErrBad = errors.New("queuemsg: not a detection message")

// Marshal returns the message JSON for f, within MaxJSON.
func Marshal(f detect.Finding) ([]byte, error) {
	b, err := json.Marshal(Envelope{Detection: f})
	if err != nil {
		return nil, fmt.Errorf("queuemsg: marshal %s: %w", f.DetectionID, err)
	}
	if len(b) <= MaxJSON {
		return b, nil
	}
	g := Bound(f)
	b, err = json.Marshal(Envelope{Detection: g})
	if err != nil {
		return nil, fmt.Errorf("queuemsg: marshal %s: %w", f.DetectionID, err)
	}
	if len(b) > MaxJSON {
		return nil, fmt.Errorf("queuemsg: detection %s is %d bytes after trimming, over %d", f.DetectionID, len(b), MaxJSON)
	}
	return b, nil
}

// Bound trims a finding until its message fits: evidence beyond the
// first records, then statement excerpts, then the explanation.
func Bound(f detect.Finding) detect.Finding {
	size := func(f detect.Finding) int {
		b, _ := json.Marshal(Envelope{Detection: f})
		return len(b)
	}
	f.Records = append([]detect.Evidence(nil), f.Records...)
	for len(f.Records) > 1 && size(f) > MaxJSON {
		f.Records = f.Records[:len(f.Records)/2]
		f.Why = clip(f.Why, 2048) + " (evidence trimmed to fit a queue message)"
	}
	for i := range f.Records {
		if size(f) <= MaxJSON {
			break
		}
		f.Records[i].Statement = clip(f.Records[i].Statement, 1024)
	}
	if size(f) > MaxJSON {
		f.Why = clip(f.Why, 1024)
		f.Title = clip(f.Title, 256)
	}
	return f
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// Unmarshal parses a message (the JSON text) into the finding it carries.
func Unmarshal(b []byte) (detect.Finding, error) {
	var env struct {
		Detection *detect.Finding `json:"detection"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return detect.Finding{}, fmt.Errorf("%w: %v", ErrBad, err)
	}
	if env.Detection == nil {
		return detect.Finding{}, fmt.Errorf("%w: no \"detection\" object", ErrBad)
	}
	if env.Detection.DetectionID == "" || env.Detection.Rule == "" {
		return detect.Finding{}, fmt.Errorf("%w: detection without detection_id or rule", ErrBad)
	}
	return *env.Detection, nil
}

// EncodeQueueText is the message text to enqueue with azqueue so that the
// host's queue trigger (messageEncoding base64) reads the JSON back.
func EncodeQueueText(msg []byte) string { return base64.StdEncoding.EncodeToString(msg) }

// DecodeQueueText reverses EncodeQueueText.
func DecodeQueueText(text string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%w: message text is not base64: %v", ErrBad, err)
	}
	return b, nil
}
