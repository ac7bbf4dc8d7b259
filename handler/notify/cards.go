package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/detect"
)

// fact is one labelled value shown on a card.
type fact struct{ title, value string }

// maxFactValue bounds each value shown on a card: chat cards are for
// people, the full finding is in the Detections table.
const maxFactValue = 500

// facts lists what a responder needs first, in order, without empty ones.
func facts(f detect.Finding) []fact {
	var out []fact
	add := func(title, v string) {
		if v != "" {
			out = append(out, fact{title, clip(v, maxFactValue)})
		}
	}
	add("Severity", f.Severity.String())
	add("Rule", f.Rule)
	add("Technique", f.Technique)
	if !f.Time.IsZero() {
		add("Time", f.Time.UTC().Format(time.RFC3339))
	}
	add("Server", f.Server)
	add("Database", f.Database)
	add("Principal", f.Principal)
	if len(f.Records) > 0 {
		r := f.Records[0]
		add("Action", r.ActionID)
		add("Client IP", r.ClientIP)
		add("Application", r.Application)
		add("Statement", r.Statement)
		add("Records", strconv.Itoa(len(f.Records)))
	}
	add("Detection id", f.DetectionID)
	return out
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func headline(f detect.Finding) string {
	title := f.Title
	if title == "" {
		title = f.Rule
	}
	return fmt.Sprintf("[%s] %s", strings.ToUpper(f.Severity.String()), title)
}

// Teams posts an Adaptive Card to a Microsoft Teams workflow webhook
// ("Post to a channel when a webhook request is received").
type Teams struct {
	url    Secret
	client *http.Client
}

// NewTeams returns the Teams channel ("teams").
func NewTeams(url Secret, timeout time.Duration) *Teams {
	return &Teams{url: url, client: newClient(timeout)}
}

// Name implements Channel.
func (t *Teams) Name() string { return "teams" }

// Send implements Channel.
func (t *Teams) Send(ctx context.Context, f detect.Finding) error {
	body, err := json.Marshal(TeamsMessage(f))
	if err != nil {
		return fmt.Errorf("notify: teams: encode card: %w", err)
	}
	return post(ctx, t.client, t.Name(), t.url, nil, body)
}

// TeamsMessage is the workflow webhook payload of f: a message with one
// Adaptive Card attachment.
func TeamsMessage(f detect.Finding) map[string]any {
	color := "Warning"
	if f.Severity >= detect.High {
		color = "Attention"
	}
	var fs []map[string]string
	for _, x := range facts(f) {
		fs = append(fs, map[string]string{"title": x.title, "value": x.value})
	}
	body := []any{
		map[string]any{"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true, "color": color, "text": clip(headline(f), maxFactValue)},
	}
	if f.Why != "" {
		body = append(body, map[string]any{"type": "TextBlock", "wrap": true, "text": clip(f.Why, 2000)})
	}
	body = append(body, map[string]any{"type": "FactSet", "facts": fs})
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"body":    body,
			},
		}},
	}
}

// Slack posts to a Slack incoming webhook.
type Slack struct {
	url    Secret
	client *http.Client
}

// NewSlack returns the Slack channel ("slack").
func NewSlack(url Secret, timeout time.Duration) *Slack {
	return &Slack{url: url, client: newClient(timeout)}
}

// Name implements Channel.
func (s *Slack) Name() string { return "slack" }

// Send implements Channel.
func (s *Slack) Send(ctx context.Context, f detect.Finding) error {
	body, err := json.Marshal(SlackMessage(f))
	if err != nil {
		return fmt.Errorf("notify: slack: encode message: %w", err)
	}
	return post(ctx, s.client, s.Name(), s.url, nil, body)
}

// slackEscape escapes the three characters Slack's mrkdwn treats as
// control characters.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// SlackMessage is the incoming-webhook payload of f: a plain-text
// fallback and Block Kit blocks (header ≤ 150 characters, section text
// ≤ 3000, at most 10 fields per section).
func SlackMessage(f detect.Finding) map[string]any {
	head := clip(headline(f), 150)
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": head}},
	}
	if f.Why != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": clip(slackEscape.Replace(f.Why), 3000)}})
	}
	var fields []any
	for _, x := range facts(f) {
		fields = append(fields, map[string]any{"type": "mrkdwn", "text": "*" + x.title + "*\n" + slackEscape.Replace(x.value)})
	}
	for len(fields) > 0 {
		n := min(len(fields), 10)
		blocks = append(blocks, map[string]any{"type": "section", "fields": fields[:n]})
		fields = fields[n:]
	}
	text := head
	if f.Server != "" {
		text += " on " + f.Server
	}
	return map[string]any{"text": slackEscape.Replace(text), "blocks": blocks}
}
