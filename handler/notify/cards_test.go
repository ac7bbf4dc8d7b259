package notify

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/detect"
)

func TestTeamsSendsAdaptiveCard(t *testing.T) {
	rcv := &receiver{}
	url, _ := newReceiver(t, rcv)
	f := testFinding("d1", detect.Critical)
	if err := NewTeams(url, time.Second).Send(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type  string `json:"type"`
					Text  string `json:"text"`
					Color string `json:"color"`
					Facts []struct {
						Title string `json:"title"`
						Value string `json:"value"`
					} `json:"facts"`
				} `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(rcv.bodies[0], &msg); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if msg.Type != "message" || len(msg.Attachments) != 1 {
		t.Fatalf("envelope %+v", msg)
	}
	att := msg.Attachments[0]
	if att.ContentType != "application/vnd.microsoft.card.adaptive" || att.Content.Type != "AdaptiveCard" || att.Content.Version == "" {
		t.Fatalf("attachment %+v", att)
	}
	body := att.Content.Body
	if len(body) != 3 || body[0].Text != "[CRITICAL] Backup to an unapproved destination" || body[0].Color != "Attention" || body[1].Text != f.Why {
		t.Fatalf("card body %+v", body)
	}
	facts := map[string]string{}
	for _, x := range body[2].Facts {
		facts[x.Title] = x.Value
	}
	for k, want := range map[string]string{"Rule": "EXF-001", "Server": "srv1", "Principal": "mallory", "Client IP": "10.1.2.3", "Detection id": "d1", "Time": "2026-11-21T20:31:39Z"} {
		if facts[k] != want {
			t.Errorf("fact %s = %q, want %q", k, facts[k], want)
		}
	}
}

func TestSlackMessage(t *testing.T) {
	rcv := &receiver{}
	url, _ := newReceiver(t, rcv)
	f := testFinding("d2", detect.Medium)
	f.Title = strings.Repeat("T", 400)
	f.Records[0].Statement = strings.Repeat("é", 2000)
	if err := NewSlack(url, time.Second).Send(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"text"`
			Fields []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"fields"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(rcv.bodies[0], &msg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg.Text, "[MEDIUM] TTT") || !strings.HasSuffix(msg.Text, " on srv1") {
		t.Errorf("text %q", msg.Text)
	}
	if len(msg.Blocks) < 3 || msg.Blocks[0].Type != "header" || msg.Blocks[0].Text.Type != "plain_text" {
		t.Fatalf("blocks %+v", msg.Blocks)
	}
	if n := utf8.RuneCountInString(msg.Blocks[0].Text.Text); n > 150 {
		t.Errorf("header %d characters, Slack allows 150", n)
	}
	if got := msg.Blocks[1].Text.Text; got != "BACKUP DATABASE &lt;db&gt; to URL https://evil.example &amp; co" {
		t.Errorf("why not escaped for mrkdwn: %q", got)
	}
	nfields := 0
	for _, b := range msg.Blocks[2:] {
		if b.Type != "section" || len(b.Fields) == 0 || len(b.Fields) > 10 {
			t.Fatalf("fields block %+v", b)
		}
		for _, fl := range b.Fields {
			if utf8.RuneCountInString(fl.Text) > 2000 || !utf8.ValidString(fl.Text) {
				t.Fatalf("field too long or cut inside a rune: %d", len(fl.Text))
			}
		}
		nfields += len(b.Fields)
	}
	if nfields != len(facts(f)) {
		t.Errorf("%d fields, want %d", nfields, len(facts(f)))
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijkl", 10, "abcdefg…"},
		{"ééééééé", 10, "ééé…"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := clip(tt.in, tt.n)
			if got != tt.want || len(got) > tt.n || !utf8.ValidString(got) {
				t.Fatalf("clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}
