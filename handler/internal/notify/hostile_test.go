package notify

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/config/redact"
)

// Documented limits the payloads must respect.
const (
	// Slack Block Kit (docs.slack.dev/reference/block-kit): header text
	// 150 characters (plain_text), section text 3000, section fields at
	// most 10 of 2000 characters each, 50 blocks per message.
	slackHeaderLimit  = 150
	slackSectionLimit = 3000
	slackFieldLimit   = 2000
	slackFieldsLimit  = 10
	slackMaxBlocks    = 50
	// Teams: "The message size limit is 28 KB" (learn.microsoft.com,
	// Create Incoming Webhooks; the Workflows connector says "about
	// 28 KB"); the cards stay far below it.
	teamsPayloadLimit = 28 << 10
)

// hostileCase puts attacker text into the fields of a finding. want* is
// how the principal must display (exactly), statementPrefix how the
// statement must begin.
type hostileCase struct {
	name            string
	principal       string
	statement       string
	why             string
	wantPrincipal   string
	statementPrefix string
}

var hostileCases = []hostileCase{
	{name: "ampersands", principal: "a&b", statement: strings.Repeat("&", 1000), why: strings.Repeat("&", 1000),
		wantPrincipal: "a&b", statementPrefix: strings.Repeat("&", 100)},
	{name: "angles", principal: "<!channel> <@U012AB3CD>", statement: "<https://evil.example/approve|Approve backup> << >> <!here>",
		wantPrincipal: "<!channel> <@U012AB3CD>", statementPrefix: "<https://evil.example/approve|Approve backup> << >> <!here>"},
	{name: "markdown link", principal: "[Approve backup](https://evil.example/approve)", statement: "[Approve backup](https://evil.example/approve)",
		why: "see [Approve backup](https://evil.example/approve)", wantPrincipal: "[Approve backup](https://evil.example/approve)",
		statementPrefix: "[Approve backup](https://evil.example/approve)"},
	{name: "bold", principal: "**Status:** resolved by SOC", statement: "*bold* _italic_ ~strike~ **Status:** resolved by SOC",
		why: "**Status:** resolved by SOC", wantPrincipal: "**Status:** resolved by SOC", statementPrefix: "*bold* _italic_ ~strike~ **Status:** resolved by SOC"},
	{name: "backticks", principal: "`x`", statement: "```\nSELECT 1\n``` `code` ``", wantPrincipal: "`x`", statementPrefix: "```\nSELECT 1\n``` `code` ``"},
	{name: "mentions", principal: "@here @channel", statement: "<!channel> @here <!subteam^S012> <at>SOC</at> :rotating_light:", why: "<!everyone> @channel",
		wantPrincipal: "@here @channel", statementPrefix: "<!channel> @here <!subteam^S012> <at>SOC</at> :rotating_light:"},
	{name: "long multibyte", principal: strings.Repeat("é", 1000), statement: strings.Repeat("日本語𝄞", 2000), why: strings.Repeat("ü", 3000),
		statementPrefix: "日本語𝄞日本語𝄞"},
	{name: "control chars", principal: "mal\x00lo\x1b[31mry\r\nStatus: ok\x7f\u0085", statement: "BACKUP\r\nDATABASE\rx\x07",
		wantPrincipal: "mal[U+0000]lo[U+001B][31mry[U+000A]Status: ok[U+007F][U+0085]", statementPrefix: "BACKUP\nDATABASE\nx[U+0007]"},
	{name: "bidi and zero-width", principal: "admin\u202Egpj.exe\u2066\u200b\ufeff", statement: "SELECT\u2028\u202E1",
		wantPrincipal: "admin[U+202E]gpj.exe[U+2066][U+200B][U+FEFF]", statementPrefix: "SELECT[U+2028][U+202E]1"},
	{name: "invalid utf-8", principal: "ma\xffl\xc3", statement: "\xfe\xfe", wantPrincipal: "ma\uFFFDl\uFFFD", statementPrefix: "\uFFFD\uFFFD"},
	{name: "date template", principal: "{{DATE(2017-02-14T06:00:00Z, SHORT)}}", statement: "{{TIME(2017-02-14T06:00:00Z)}}"},
	{name: "blank", principal: "   ", statement: "\t", wantPrincipal: `"   "`},
	{name: "json breakers", principal: strings.Repeat(`"\`, 3000), statement: strings.Repeat(`"\`, 5000), why: strings.Repeat(`"\`, 3000)},
}

// hostileFinding is testFinding with c's text in every attacker-chosen
// field it names, and the principal also as server, database,
// application and client address (all come from the audit).
func hostileFinding(c hostileCase) detect.Finding {
	f := testFinding("d-"+c.name, detect.Critical)
	f.Principal = c.principal
	if c.why != "" {
		f.Why = c.why
	}
	f.Records[0].Statement = c.statement
	if strings.HasPrefix(c.name, "long") || c.name == "json breakers" {
		// Everything at once, at its longest.
		f.Server, f.Database = c.principal, c.principal
		f.Records[0].Application, f.Records[0].ClientIP, f.Records[0].ActionID = c.principal, c.principal, c.principal
	}
	return f
}

// sendBody runs ch.Send against a local receiver and returns the body.
func sendBody(t *testing.T, mk func(redact.Secret) Channel, f detect.Finding) []byte {
	t.Helper()
	rcv := &receiver{}
	url, _ := newReceiver(t, rcv)
	if err := mk(url).Send(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if rcv.count() != 1 {
		t.Fatalf("%d requests", rcv.count())
	}
	return rcv.bodies[0]
}

// units counts characters the most expensive way a receiver may: UTF-16
// code units.
func units(s string) int { return len(utf16.Encode([]rune(s))) }

// checkShown fails when s holds a character that would not display as
// itself (controls except newline, bidi and zero-width format characters).
func checkShown(t *testing.T, where, s string, multiline bool) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s: invalid UTF-8 %q", where, s)
	}
	for _, r := range s {
		if (r == '\n' || r == '\t') && multiline {
			continue
		}
		if r == '\u200b' && strings.Contains(s, "{\u200b{") {
			continue // the one character we add, to break a Teams template
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			t.Errorf("%s: hidden character %U in %q", where, r, s)
		}
	}
}

type slackText struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Emoji    *bool  `json:"emoji"`
	Verbatim *bool  `json:"verbatim"`
}

type slackPayload struct {
	Text   string `json:"text"`
	Mrkdwn *bool  `json:"mrkdwn"`
	Blocks []struct {
		Type   string      `json:"type"`
		Text   *slackText  `json:"text"`
		Fields []slackText `json:"fields"`
	} `json:"blocks"`
}

// label is the only text a markup element (Slack mrkdwn, Teams TextBlock
// or Fact) may carry: one of our own bold labels.
var label = regexp.MustCompile(`^\*?[A-Z][A-Za-z ]*\*?:?\s?$`)

// slackUnescape undoes the three entities of Slack's escaping.
var slackUnescape = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

func TestSlackHostileTextIsLiteralAndWithinLimits(t *testing.T) {
	for _, c := range hostileCases {
		t.Run(c.name, func(t *testing.T) {
			f := hostileFinding(c)
			body := sendBody(t, func(u redact.Secret) Channel { return NewSlack(u, 5*time.Second) }, f)
			var msg slackPayload
			if err := json.Unmarshal(body, &msg); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if len(body) > teamsPayloadLimit {
				t.Errorf("payload %d bytes", len(body))
			}
			// The fallback text (mobile notifications) is mrkdwn unless
			// switched off: formatting off, control characters escaped.
			if msg.Mrkdwn == nil || *msg.Mrkdwn {
				t.Errorf("top-level mrkdwn not false: fallback text would render formatting")
			}
			if strings.ContainsAny(msg.Text, "<>") || strings.Contains(strings.NewReplacer("&amp;", "", "&lt;", "", "&gt;", "").Replace(msg.Text), "&") {
				t.Errorf("fallback text not escaped: %q", msg.Text)
			}
			if units(msg.Text) > 4000 {
				t.Errorf("fallback text %d characters", units(msg.Text))
			}
			checkShown(t, "fallback", msg.Text, false)
			if len(msg.Blocks) == 0 || len(msg.Blocks) > slackMaxBlocks {
				t.Fatalf("%d blocks", len(msg.Blocks))
			}
			var plainTexts []string
			check := func(where string, x slackText, limit int) {
				if n := units(x.Text); n == 0 || n > limit {
					t.Errorf("%s: %d characters, limit %d", where, n, limit)
				}
				switch x.Type {
				case "mrkdwn":
					if !label.MatchString(x.Text) {
						t.Errorf("%s: mrkdwn element holds attacker text: %q", where, x.Text)
					}
				case "plain_text":
					if x.Emoji == nil || *x.Emoji {
						t.Errorf("%s: plain_text without emoji:false turns :name: into emoji", where)
					}
					plainTexts = append(plainTexts, x.Text)
				default:
					t.Errorf("%s: text type %q", where, x.Type)
				}
			}
			for i, b := range msg.Blocks {
				switch b.Type {
				case "header":
					if b.Text == nil || b.Text.Type != "plain_text" {
						t.Fatalf("header %+v", b)
					}
					check("header", *b.Text, slackHeaderLimit)
				case "section":
					if b.Text != nil {
						check("section text", *b.Text, slackSectionLimit)
					}
					if len(b.Fields) > slackFieldsLimit {
						t.Errorf("block %d: %d fields", i, len(b.Fields))
					}
					for _, x := range b.Fields {
						check("field", x, slackFieldLimit)
					}
				default:
					t.Errorf("unexpected block %q", b.Type)
				}
			}
			var principal, statement bool
			for _, s := range plainTexts {
				checkShown(t, "plain_text", s, true)
			}
			// The principal shows exactly (its own field, after the
			// "Principal" label), the statement starts as written.
			for _, b := range msg.Blocks {
				for j := 0; j+1 < len(b.Fields); j++ {
					if strings.Contains(b.Fields[j].Text, "Principal") && b.Fields[j].Type == "mrkdwn" {
						principal = true
						if c.wantPrincipal != "" && b.Fields[j+1].Text != c.wantPrincipal {
							t.Errorf("principal shows %q, want %q", b.Fields[j+1].Text, c.wantPrincipal)
						}
					}
				}
			}
			for _, s := range plainTexts {
				if c.statementPrefix != "" && strings.HasPrefix(s, c.statementPrefix) {
					statement = true
				}
			}
			if !principal {
				t.Errorf("no Principal label followed by its value")
			}
			if c.statementPrefix != "" && !statement {
				t.Errorf("no plain_text element starts with the statement %q", c.statementPrefix)
			}
			if !strings.HasPrefix(slackUnescape.Replace(msg.Text), "[CRITICAL] Backup to an unapproved destination on ") {
				t.Errorf("fallback %q", msg.Text)
			}
		})
	}
}

type teamsElem struct {
	Type    string      `json:"type"`
	Text    string      `json:"text"`
	Inlines []teamsElem `json:"inlines"`
	Items   []teamsElem `json:"items"`
	Columns []teamsElem `json:"columns"`
	Facts   []struct {
		Title string `json:"title"`
		Value string `json:"value"`
	} `json:"facts"`
	Weight   string `json:"weight"`
	FontType string `json:"fontType"`
}

// teamsRuns flattens the card: every TextRun in order, and every text of a
// Markdown-rendering element (TextBlock, Fact title and value).
func teamsRuns(es []teamsElem, runs, markdown *[]string) {
	for _, e := range es {
		switch e.Type {
		case "TextRun":
			*runs = append(*runs, e.Text)
		case "TextBlock":
			*markdown = append(*markdown, e.Text)
		case "FactSet":
			for _, x := range e.Facts {
				*markdown = append(*markdown, x.Title, x.Value)
			}
		}
		teamsRuns(e.Inlines, runs, markdown)
		teamsRuns(e.Items, runs, markdown)
		teamsRuns(e.Columns, runs, markdown)
	}
}

func TestTeamsHostileTextIsLiteralAndWithinLimits(t *testing.T) {
	for _, c := range hostileCases {
		t.Run(c.name, func(t *testing.T) {
			f := hostileFinding(c)
			body := sendBody(t, func(u redact.Secret) Channel { return NewTeams(u, 5*time.Second) }, f)
			if len(body) > teamsPayloadLimit {
				t.Errorf("payload %d bytes, Teams accepts about 28 KB", len(body))
			}
			var msg struct {
				Type        string `json:"type"`
				Attachments []struct {
					ContentType string `json:"contentType"`
					Content     struct {
						Type string      `json:"type"`
						Body []teamsElem `json:"body"`
					} `json:"content"`
				} `json:"attachments"`
			}
			if err := json.Unmarshal(body, &msg); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if msg.Type != "message" || len(msg.Attachments) != 1 || msg.Attachments[0].Content.Type != "AdaptiveCard" {
				t.Fatalf("envelope %s", body[:min(len(body), 300)])
			}
			var runs, markdown []string
			teamsRuns(msg.Attachments[0].Content.Body, &runs, &markdown)
			for _, s := range markdown {
				if !label.MatchString(s) {
					t.Errorf("Markdown-rendering element holds attacker text: %q", s)
				}
			}
			for _, s := range runs {
				checkShown(t, "TextRun", s, true)
				if strings.Contains(s, "{{") {
					t.Errorf("date/time template survives in %q", s)
				}
			}
			// The principal is the run after its label; the statement is
			// a run of its own.
			var principal, statement bool
			for i := 0; i+1 < len(runs); i++ {
				if strings.HasPrefix(runs[i], "Principal") {
					principal = true
					if c.wantPrincipal != "" && runs[i+1] != c.wantPrincipal {
						t.Errorf("principal shows %q, want %q", runs[i+1], c.wantPrincipal)
					}
				}
			}
			for _, s := range runs {
				if c.statementPrefix != "" && strings.HasPrefix(s, c.statementPrefix) {
					statement = true
				}
			}
			if !principal {
				t.Errorf("no Principal run followed by its value in %q", runs)
			}
			if c.statementPrefix != "" && !statement {
				t.Errorf("no TextRun starts with the statement %q", c.statementPrefix)
			}
		})
	}
}
