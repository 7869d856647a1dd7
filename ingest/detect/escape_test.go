package detect_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/ingest/escape"
)

// hostileRuleName is an inbox rule name made of issue 11's attack strings: a U+2019
// quote that PowerShell ends a literal with, three backticks that close a Slack code
// block, a Slack broadcast, a disguised Slack link, a Teams markdown link and terminal
// escapes.
const hostileRuleName = "x\u2019; Start-Process calc; #```<!channel> <https://evil.example/x|https://login.microsoftonline.com> [teams](https://evil.example) \x1b]0;t\x07"

// hostileAlert is the alert raised by an external forwarding rule with that name.
func hostileAlert(t *testing.T) detect.Alert {
	t.Helper()
	db := load(t, "sqlite", []string{
		exo("hostile-rule", day, megan, "203.0.113.66:50412", "New-InboxRule", "Name", hostileRuleName, "ForwardTo", "collect@exfil-mail.example"),
	})
	alerts, err := detect.Evaluate(context.Background(), detecttest.Handle(db.DB, db.dialect), from, to, detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if a.Rule == "inbox_rule_forward_external" {
			return a
		}
	}
	t.Fatalf("no forwarding alert: %v", alertKeys(alerts))
	return detect.Alert{}
}

func TestRemediationKeepsHostileTextInsideItsLiteral(t *testing.T) {
	a := hostileAlert(t)
	want := "Remove-InboxRule -Mailbox " + escape.PowerShell(megan) + " -Identity " + escape.PowerShell(hostileRuleName) + " -Confirm:$false"
	found := false
	for _, r := range a.Remediation {
		found = found || r == want
		if strings.ContainsAny(r, "\x1b\x07") {
			t.Errorf("remediation holds a raw control character: %q", r)
		}
		if strings.Contains(r, "x\u2019; Start") {
			t.Errorf("remediation leaves the literal at the U+2019: %q", r)
		}
	}
	if !found {
		t.Errorf("remediation %q lacks %q", a.Remediation, want)
	}
	if !strings.Contains(want, "-Identity ('x\u2019\u2019; Start-Process calc; #```") {
		t.Errorf("the literal is not the doubled form: %s", want)
	}
}

// jsonStrings calls f with every string of a decoded JSON value and the object that
// holds it (nil in an array).
func jsonStrings(v any, parent map[string]any, key string, f func(parent map[string]any, key, s string)) {
	switch v := v.(type) {
	case string:
		f(parent, key, v)
	case []any:
		for _, e := range v {
			jsonStrings(e, nil, key, f)
		}
	case map[string]any:
		for k, e := range v {
			jsonStrings(e, v, k, f)
		}
	}
}

func TestSlackPayloadShowsHostileTextAsText(t *testing.T) {
	a := hostileAlert(t)
	body, err := detect.Payload("slack", a)
	if err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	for _, live := range []string{"<!channel>", "<https://", "```"} {
		if top := msg["text"].(string); strings.Contains(top, live) {
			t.Errorf("top-level text holds %q: %s", live, top)
		}
	}
	var pre []string
	jsonStrings(msg, nil, "", func(parent map[string]any, key, s string) {
		if key == "type" {
			switch s {
			case "header", "plain_text", "rich_text", "rich_text_section", "rich_text_preformatted", "text":
			default:
				t.Errorf("element of type %q: only text elements may carry record text", s)
			}
			return
		}
		if key != "text" || parent == nil {
			return
		}
		switch parent["type"] {
		case "plain_text":
			if strings.Contains(s, "<") || strings.Contains(s, "channel") {
				t.Errorf("header holds record text: %q", s)
			}
		case "text": // rich_text text: shown as is, never parsed by Slack
			if strings.ContainsAny(s, "\x1b\x07") {
				t.Errorf("rich text holds a raw control character: %q", s)
			}
		case nil:
		default:
			t.Errorf("text of a %v object holds %q", parent["type"], s)
		}
	})
	blocks := msg["blocks"].([]any)
	last := blocks[len(blocks)-1].(map[string]any)["elements"].([]any)
	code := last[len(last)-1].(map[string]any)
	if code["type"] != "rich_text_preformatted" {
		t.Fatalf("remediation block is %v, want rich_text_preformatted", code["type"])
	}
	jsonStrings(code, nil, "", func(parent map[string]any, key, s string) {
		if key == "text" {
			pre = append(pre, s)
		}
	})
	if got := strings.Join(pre, ""); got != strings.Join(a.Remediation, "\n") {
		t.Errorf("remediation in Slack %q, want the commands exactly %q", got, a.Remediation)
	}
}

func TestTeamsPayloadShowsHostileMarkdownAsText(t *testing.T) {
	a := hostileAlert(t)
	body, err := detect.Payload("teams", a)
	if err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	var runs []string
	jsonStrings(msg, nil, "", func(parent map[string]any, key, s string) {
		if parent == nil || (key != "text" && key != "value" && key != "title") {
			return
		}
		if strings.ContainsAny(s, "\x1b\x07") {
			t.Errorf("card text holds a raw control character: %q", s)
		}
		if parent["type"] == "TextRun" { // RichTextBlock: never markdown
			runs = append(runs, s)
			return
		}
		// TextBlock and Fact: markdown.
		if strings.Contains(s, "](") || strings.Contains(s, "[teams]") {
			t.Errorf("markdown text holds a live link: %q", s)
		}
	})
	if !strings.Contains(strings.Join(runs, "\n"), strings.Join(a.Remediation, "\n\n")) {
		t.Errorf("remediation not shown exactly in a TextRun: %q", runs)
	}
	if !strings.Contains(string(body), `\\[teams\\]\\(https://evil.example\\)`) {
		t.Errorf("the rule name's link is not escaped in the facts:\n%s", body)
	}
}
