package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/config/redact"
)

func TestTeamsSendsAdaptiveCard(t *testing.T) {
	rcv := &receiver{}
	url, _ := newReceiver(t, rcv)
	f := testFinding("d1", detect.Critical)
	if err := NewTeams(url, time.Second).Send(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	type run struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		Color    string `json:"color"`
		Weight   string `json:"weight"`
		FontType string `json:"fontType"`
	}
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type    string `json:"type"`
					Inlines []run  `json:"inlines"`
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
	for _, b := range body {
		if b.Type != "RichTextBlock" || len(b.Inlines) == 0 {
			t.Fatalf("card element %+v: want RichTextBlocks of TextRuns only", b)
		}
		for _, r := range b.Inlines {
			if r.Type != "TextRun" {
				t.Fatalf("inline %+v", r)
			}
		}
	}
	if h := body[0].Inlines[0]; h.Text != "[CRITICAL] Backup to an unapproved destination" || h.Color != "Attention" || h.Weight != "Bolder" {
		t.Fatalf("headline %+v", h)
	}
	if got := body[1].Inlines[0].Text; got != f.Why {
		t.Fatalf("why %q", got)
	}
	facts := map[string]string{}
	for _, b := range body[2:] {
		if len(b.Inlines) == 2 && b.Inlines[0].Weight == "Bolder" {
			facts[strings.TrimSuffix(b.Inlines[0].Text, ": ")] = b.Inlines[1].Text
		}
	}
	for k, want := range map[string]string{"Rule": "EXF-001", "Server": "srv1", "Principal": "mallory", "Client IP": "10.1.2.3", "Detection id": "d1", "Time": "2026-11-21T20:31:39Z", "Records": "1"} {
		if facts[k] != want {
			t.Errorf("fact %s = %q, want %q", k, facts[k], want)
		}
	}
	last := body[len(body)-1].Inlines[0]
	if body[len(body)-2].Inlines[0].Text != "Statement" || last.Text != f.Records[0].Statement || last.FontType != "Monospace" {
		t.Errorf("statement %+v", last)
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
	type text struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type   string `json:"type"`
			Text   *text  `json:"text"`
			Fields []text `json:"fields"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(rcv.bodies[0], &msg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg.Text, "[MEDIUM] TTT") || !strings.HasSuffix(msg.Text, "… on srv1") {
		t.Errorf("text %q", msg.Text)
	}
	if len(msg.Blocks) < 5 || msg.Blocks[0].Type != "header" || msg.Blocks[0].Text.Type != "plain_text" {
		t.Fatalf("blocks %+v", msg.Blocks)
	}
	if n := utf8.RuneCountInString(msg.Blocks[0].Text.Text); n > 150 {
		t.Errorf("header %d characters, Slack allows 150", n)
	}
	if got := msg.Blocks[1].Text; got.Type != "plain_text" || got.Text != f.Why {
		t.Errorf("why not shown literally as plain_text: %+v", got)
	}
	got := map[string]string{}
	for _, b := range msg.Blocks[2 : len(msg.Blocks)-2] {
		if b.Type != "section" || len(b.Fields) == 0 || len(b.Fields) > 10 || len(b.Fields)%2 != 0 {
			t.Fatalf("fields block %+v", b)
		}
		for i := 0; i < len(b.Fields); i += 2 {
			got[strings.Trim(b.Fields[i].Text, "*")] = b.Fields[i+1].Text
		}
	}
	if len(got) != len(facts(f)) || got["Principal"] != "mallory" || got["Detection id"] != "d2" {
		t.Errorf("facts %v", got)
	}
	st := msg.Blocks[len(msg.Blocks)-1].Text
	if msg.Blocks[len(msg.Blocks)-2].Text.Text != "*Statement*" || st.Type != "plain_text" ||
		!strings.HasPrefix(st.Text, "éééé") || !strings.HasSuffix(st.Text, "é…") || len(st.Text) > cardBudget.statement {
		t.Errorf("statement %d bytes: %.40q", len(st.Text), st.Text)
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		max       int
		multiline bool
		esc       escaper
		want      string
	}{
		{"short", "short", 10, false, plain, "short"},
		{"exact", "exactly10!", 10, false, plain, "exactly10!"},
		{"cut", "abcdefghijkl", 10, false, plain, "abcdefg…"},
		{"cut multibyte", "ééééééé", 10, false, plain, "ééé…"},
		{"cut after escaping", strings.Repeat("&", 10), 20, false, slackMrkdwn, "&amp;&amp;&amp;…"},
		{"escape fits exactly", "a<b", 8, false, slackMrkdwn, "a&lt;b"},
		{"never inside an escape", "ab&", 8, false, slackMrkdwn, "ab&amp;"},
		{"never inside an escape 2", "abc&", 7, false, slackMrkdwn, "abc…"},
		{"plain keeps markup", "<!channel> *b* [l](u)", 64, false, plain, "<!channel> *b* [l](u)"},
		{"crlf", "a\r\nb\rc", 64, true, plain, "a\nb\nc"},
		{"one line", "a\r\nb\tc", 64, false, plain, "a[U+000A]b[U+0009]c"},
		{"controls", "\x00\x1b\x7f\u0085\u2028", 64, true, plain, "[U+0000][U+001B][U+007F][U+0085][U+2028]"},
		{"bidi", "a\u202Eb\u2066\u200b\u200d\ufeff\u00ad", 64, false, plain, "a[U+202E]b[U+2066][U+200B][U+200D][U+FEFF][U+00AD]"},
		{"invalid", "a\xffb", 64, false, plain, "a\uFFFDb"},
		{"marker not split", "ab\u202E", 9, false, plain, "ab…"},
		{"teams template", "{{DATE(x)}} {a}", 64, false, teamsRun, "{\u200b{DATE(x)}} {a}"},
		{"blank", "  ", 64, false, plain, `"  "`},
		{"blank cut", strings.Repeat(" ", 20), 8, false, plain, "     …"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(tt.in, tt.max, tt.multiline, tt.esc)
			if got != tt.want || len(got) > tt.max || !utf8.ValidString(got) {
				t.Fatalf("render(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

// TestRenderCutsBetweenPieces cuts an escaped mix at every budget: the
// result is valid, within budget, and (without its ellipsis) unescapes to
// a prefix of the input.
func TestRenderCutsBetweenPieces(t *testing.T) {
	in := "a&<é𝄞>b&&<<日本>>&" + strings.Repeat("x&", 20)
	for n := 5; n <= 3*len(in)+8; n++ {
		got := render(in, n, false, slackMrkdwn)
		if len(got) > n || !utf8.ValidString(got) {
			t.Fatalf("n=%d: %q", n, got)
		}
		s, cut := strings.CutSuffix(got, ellipsis)
		if strings.Count(s, "&") != strings.Count(s, "&amp;")+strings.Count(s, "&lt;")+strings.Count(s, "&gt;") {
			t.Fatalf("n=%d: escape split: %q", n, got)
		}
		plainText := slackUnescape.Replace(s)
		if !strings.HasPrefix(in, plainText) || cut == (plainText == in) {
			t.Fatalf("n=%d: %q is not a marked prefix of the input", n, got)
		}
	}
}

// TestCardBudgetShrinks checks the size guard: hostile text that doubles
// in JSON stays within maxCardBytes at full budget, and a smaller limit
// is met by shrinking the budget.
func TestCardBudgetShrinks(t *testing.T) {
	f := testFinding("d", detect.High)
	big := strings.Repeat(`"\`, 10_000)
	f.Why, f.Server, f.Database, f.Principal = big, big, big, big
	f.Records[0].Statement, f.Records[0].Application, f.Records[0].ClientIP, f.Records[0].ActionID = big, big, big, big
	for name, build := range map[string]func(budget) any{
		"teams": func(b budget) any { return teamsMessage(f, b) },
		"slack": func(b budget) any { return slackMessage(f, b) },
	} {
		full, err := encodeCard(maxCardBytes, build)
		if err != nil || len(full) > maxCardBytes || !json.Valid(full) {
			t.Fatalf("%s: %d bytes, %v", name, len(full), err)
		}
		small, err := encodeCard(len(full)/2, build)
		if err != nil || len(small) > len(full)/2 || !json.Valid(small) {
			t.Fatalf("%s: %d bytes for a limit of %d, %v", name, len(small), len(full)/2, err)
		}
		if _, err := encodeCard(100, build); err == nil {
			t.Fatalf("%s: no error for a limit no card meets", name)
		}
		t.Logf("%s: %d bytes at full budget, %d at half the limit", name, len(full), len(small))
	}
}

// TestChatChannels: Teams and Slack are one channel type; each posts
// exactly what its renderer builds (TeamsMessage, SlackMessage), under
// its own name.
func TestChatChannels(t *testing.T) {
	f := testFinding("d1", detect.High)
	for _, tc := range []struct {
		name   string
		mk     func(redact.Secret) Channel
		render func(detect.Finding) map[string]any
	}{
		{"teams", func(u redact.Secret) Channel { return NewTeams(u, 5*time.Second) }, TeamsMessage},
		{"slack", func(u redact.Secret) Channel { return NewSlack(u, 5*time.Second) }, SlackMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.mk("https://example.invalid/").Name(); got != tc.name {
				t.Errorf("Name() = %q, want %q", got, tc.name)
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(tc.render(f)); err != nil {
				t.Fatal(err)
			}
			if got := sendBody(t, tc.mk, f); !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
				t.Errorf("body differs from the renderer's output:\n got %s\nwant %s", got, want.Bytes())
			}
		})
	}
}
