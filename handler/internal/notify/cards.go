package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/config/redact"
)

// Chat cards show attacker-chosen text (see render) only in elements that
// render no markup:
//
//   - Teams: every value is a TextRun in a RichTextBlock ("Text to display.
//     Markdown is not supported", Adaptive Cards schema, TextRun). TextBlock
//     and FactSet are not used: Teams renders Markdown in TextBlock.text and
//     in Fact.title and Fact.value (learn.microsoft.com, "Format cards in
//     Teams"), so "[Approve backup](https://evil.example)" in a principal
//     name would be a live link in a security alert.
//   - Slack: every value is a plain_text text object with emoji off, which
//     Slack neither formats (*bold*, _italic_, ~strike~, `code`) nor parses
//     for control sequences (<!channel>, <url|label>). There is no way to
//     escape the formatting characters in mrkdwn, so mrkdwn objects carry
//     only our own constant labels. The top-level text (the fallback that
//     mobile notifications show) is mrkdwn by default: it is sent with
//     "mrkdwn": false and &, <, > escaped, cut after escaping.
//
// A bare URL in attacker text may still be shown as a link by either
// client; its visible text is then the URL itself, never a label that
// hides it.

// budget is the byte budget of each kind of rendered value.
type budget struct {
	head      int // headline
	line      int // one-line value (names, addresses)
	why       int // the explanation
	statement int // the statement, multi-line
	fallback  int // Slack's top-level text
}

// cardBudget sizes a card for people: the full finding is in the
// Detections table and on the generic webhook. With every value at its
// budget, doubled by JSON escaping, a card stays under maxCardBytes; in
// Slack every element stays far inside its limit.
var cardBudget = budget{head: 150, line: 256, why: 1200, statement: 1500, fallback: 300}

func (b budget) div(k int) budget {
	return budget{head: b.head, line: max(b.line/k, 16), why: max(b.why/k, 16), statement: max(b.statement/k, 16), fallback: b.fallback}
}

// maxCardBytes bounds the JSON body of a Teams or Slack message. Teams
// rejects messages over about 28 KB ("The message size limit is 28 KB",
// learn.microsoft.com, Create Incoming Webhooks; "about 28 KB" for the
// Workflows "Post card in a chat or channel" action, with 413 Request
// Entity Too Large beyond), and clients have reported failures from about
// 21 KB; Slack documents per-element limits only and rejects long block
// sets with msg_blocks_too_long. 20,000 bytes leaves room under all of
// them.
const maxCardBytes = 20_000

// fact is one labelled value shown on a card.
type fact struct{ title, value string }

// facts lists what a responder needs first, in order, without empty ones.
// The statement, long and multi-line, is shown apart (statement).
func facts(f detect.Finding) []fact {
	var out []fact
	add := func(title, v string) {
		if v != "" {
			out = append(out, fact{title, v})
		}
	}
	if isHeartbeat(f) {
		add("Kind", "heartbeat (not a detection)")
		if !f.Time.IsZero() {
			add("Period start", f.Time.UTC().Format(time.RFC3339))
		}
		add("Id", f.DetectionID)
		return out
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
		add("Records", strconv.Itoa(len(f.Records)))
	}
	add("Detection id", f.DetectionID)
	return out
}

// statement is the first record's statement, or "".
func statement(f detect.Finding) string {
	if len(f.Records) == 0 {
		return ""
	}
	return f.Records[0].Statement
}

// isHeartbeat reports whether f is xelwatch's heartbeat message, which
// cards show as such: no severity, no rule.
func isHeartbeat(f detect.Finding) bool { return f.Rule == detect.HeartbeatRule }

func headline(f detect.Finding) string {
	if isHeartbeat(f) {
		return "xelwatch heartbeat: running"
	}
	title := f.Title
	if title == "" {
		title = f.Rule
	}
	return fmt.Sprintf("[%s] %s", strings.ToUpper(f.Severity.String()), title)
}

// encodeCard marshals build(b) for the largest budget b (cardBudget,
// then halved) whose body fits limit. With maxCardBytes the first try
// always fits (about 11 KB at worst, TestCardBudgetShrinks: every value at
// its budget, every byte a '"' or a backslash that JSON doubles); the
// loop is the guard.
func encodeCard(limit int, build func(budget) any) ([]byte, error) {
	for k := 1; ; k *= 2 {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // '<' stays one byte: it is not HTML
		if err := enc.Encode(build(cardBudget.div(k))); err != nil {
			return nil, err
		}
		body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if len(body) <= limit {
			return body, nil
		}
		if k >= 64 {
			return nil, fmt.Errorf("card of %d bytes exceeds %d", len(body), limit)
		}
	}
}

// Chat posts a finding as a chat card: Teams and Slack differ only in
// their name and in the renderer that builds the card (teamsMessage,
// slackMessage); encoding within maxCardBytes and posting are the same.
type Chat struct {
	name    string
	payload string // what card builds, for errors: "card", "message"
	card    func(detect.Finding, budget) map[string]any
	url     redact.Secret
	client  *http.Client
}

// NewTeams returns the Teams channel ("teams"): an Adaptive Card posted
// to a Microsoft Teams workflow webhook ("Post to a channel when a
// webhook request is received").
func NewTeams(url redact.Secret, timeout time.Duration) *Chat {
	return &Chat{name: "teams", payload: "card", card: teamsMessage, url: url, client: newClient(timeout)}
}

// NewSlack returns the Slack channel ("slack"): Block Kit blocks posted
// to a Slack incoming webhook.
func NewSlack(url redact.Secret, timeout time.Duration) *Chat {
	return &Chat{name: "slack", payload: "message", card: slackMessage, url: url, client: newClient(timeout)}
}

// Name implements Channel.
func (c *Chat) Name() string { return c.name }

// Send implements Channel.
func (c *Chat) Send(ctx context.Context, f detect.Finding) error {
	body, err := encodeCard(maxCardBytes, func(b budget) any { return c.card(f, b) })
	if err != nil {
		return fmt.Errorf("notify: %s: encode %s: %w", c.name, c.payload, err)
	}
	return post(ctx, c.client, c.name, c.url, nil, body)
}

// TeamsMessage is the workflow webhook payload of f: a message with one
// Adaptive Card attachment whose text is all TextRuns.
func TeamsMessage(f detect.Finding) map[string]any { return teamsMessage(f, cardBudget) }

func teamsMessage(f detect.Finding, b budget) map[string]any {
	color := "Warning"
	switch {
	case isHeartbeat(f):
		color = "Good"
	case f.Severity >= detect.High:
		color = "Attention"
	}
	run := func(s string, max int, multiline bool) map[string]any {
		return map[string]any{"type": "TextRun", "text": render(s, max, multiline, teamsRun)}
	}
	block := func(spacing string, inlines ...any) map[string]any {
		m := map[string]any{"type": "RichTextBlock", "inlines": inlines}
		if spacing != "" {
			m["spacing"] = spacing
		}
		return m
	}
	label := func(s string) map[string]any {
		return map[string]any{"type": "TextRun", "text": s, "weight": "Bolder"}
	}
	head := run(headline(f), b.head, false)
	head["size"], head["weight"], head["color"] = "Medium", "Bolder", color
	body := []any{block("", head)}
	if f.Why != "" {
		body = append(body, block("", run(f.Why, b.why, false)))
	}
	for i, x := range facts(f) {
		spacing := "None"
		if i == 0 {
			spacing = "Medium"
		}
		body = append(body, block(spacing, label(x.title+": "), run(x.value, b.line, false)))
	}
	if s := statement(f); s != "" {
		st := run(s, b.statement, true)
		st["fontType"] = "Monospace"
		body = append(body, block("Medium", label("Statement")), block("None", st))
	}
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

// Slack Block Kit limits (docs.slack.dev/reference/block-kit): a header's
// plain_text at most 150 characters, a section's text 3000, a section at
// most 10 fields of 2000 characters each, a message at most 50 blocks. The
// budgets keep every element far inside them (a byte budget is also a
// character budget), and a message has at most 3 + ceil(12 facts / 5)
// blocks.
const slackMaxFields = 10

// SlackMessage is the incoming-webhook payload of f: a fallback text for
// notifications and Block Kit blocks whose values are plain_text.
func SlackMessage(f detect.Finding) map[string]any { return slackMessage(f, cardBudget) }

func slackMessage(f detect.Finding, b budget) map[string]any {
	plainText := func(s string, max int, multiline bool) map[string]any {
		return map[string]any{"type": "plain_text", "text": render(s, max, multiline, plain), "emoji": false}
	}
	label := func(s string) map[string]any {
		return map[string]any{"type": "mrkdwn", "text": "*" + s + "*", "verbatim": true}
	}
	blocks := []any{map[string]any{"type": "header", "text": plainText(headline(f), b.head, false)}}
	if f.Why != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": plainText(f.Why, b.why, false)})
	}
	// Label and value side by side: the two columns of a fields section.
	var fields []any
	for _, x := range facts(f) {
		fields = append(fields, label(x.title), plainText(x.value, b.line, false))
	}
	for len(fields) > 0 {
		n := min(len(fields), slackMaxFields)
		blocks = append(blocks, map[string]any{"type": "section", "fields": fields[:n]})
		fields = fields[n:]
	}
	if s := statement(f); s != "" {
		blocks = append(blocks,
			map[string]any{"type": "section", "text": label("Statement")},
			map[string]any{"type": "section", "text": plainText(s, b.statement, true)})
	}
	text := render(headline(f), b.fallback, false, slackMrkdwn)
	if f.Server != "" {
		text += " on " + render(f.Server, b.line, false, slackMrkdwn)
	}
	return map[string]any{"text": text, "mrkdwn": false, "blocks": blocks}
}
