package queuemsg

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
)

func finding(records int, stmt int) detect.Finding {
	f := detect.Finding{DetectionID: "d-1", Rule: "EXF-001", Title: "backup to URL", Severity: detect.High,
		Why: "backup to an unknown destination", Time: time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC), Server: "srv1"}
	for i := 0; i < records; i++ {
		f.Records = append(f.Records, detect.Evidence{ActionID: "BA", Statement: strings.Repeat("x", stmt), FileName: "f.xel", EventIndex: i})
	}
	return f
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		f           detect.Finding
		wantRecords int // -1: fewer than given
	}{
		{name: "small", f: finding(2, 100), wantRecords: 2},
		{name: "many-records", f: finding(500, 400), wantRecords: -1},
		{name: "huge-statement", f: finding(1, 200_000), wantRecords: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := Marshal(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > MaxJSON {
				t.Fatalf("message is %d bytes, over %d", len(b), MaxJSON)
			}
			if n := len(EncodeQueueText(b)); n > 64<<10 {
				t.Fatalf("base64 text is %d bytes, over 64 KiB", n)
			}
			var top map[string]json.RawMessage
			if err := json.Unmarshal(b, &top); err != nil || len(top) != 1 || top["detection"] == nil {
				t.Fatalf("message %q is not {\"detection\":…}", b[:min(len(b), 80)])
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.DetectionID != tc.f.DetectionID || got.Rule != tc.f.Rule || got.Severity != tc.f.Severity {
				t.Errorf("got %s/%s/%v, want %s/%s/%v", got.DetectionID, got.Rule, got.Severity, tc.f.DetectionID, tc.f.Rule, tc.f.Severity)
			}
			switch {
			case tc.wantRecords >= 0 && len(got.Records) != tc.wantRecords:
				t.Errorf("records = %d, want %d", len(got.Records), tc.wantRecords)
			case tc.wantRecords < 0 && (len(got.Records) >= len(tc.f.Records) || len(got.Records) == 0):
				t.Errorf("records = %d, want trimmed from %d", len(got.Records), len(tc.f.Records))
			}
		})
	}
}

func TestUnmarshalBad(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"not-json":     `hello`,
		"no-wrapper":   `{"detection_id":"d","rule":"r"}`,
		"empty-object": `{"detection":{}}`,
		"array":        `[{"detection":{"detection_id":"d","rule":"r"}}]`,
		"null":         `null`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := Unmarshal([]byte(in)); !errors.Is(err, ErrBad) {
				t.Errorf("Unmarshal(%s) err = %v, want ErrBad", in, err)
			}
		})
	}
}

func TestQueueText(t *testing.T) {
	t.Parallel()
	in := []byte(`{"detection":{"detection_id":"d","rule":"r"}}`)
	got, err := DecodeQueueText(EncodeQueueText(in))
	if err != nil || string(got) != string(in) {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	if _, err := DecodeQueueText("{not base64"); !errors.Is(err, ErrBad) {
		t.Errorf("err = %v, want ErrBad", err)
	}
}
