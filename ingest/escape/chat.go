package escape

import "strings"

// Slack returns s for any text field of a Slack message that Slack parses for
// control sequences (the top-level text, mrkdwn and plain_text objects): &, < and >
// become &amp;, &lt; and &gt; (Slack's own rule), so <!channel>, <@U123> and a
// disguised link <https://evil/|https://login.microsoftonline.com> are shown as
// text, and control characters are shown as in Terminal.
func Slack(s string) string {
	return slackEntities.Replace(Terminal(s))
}

var slackEntities = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// SlackMrkdwn is Slack for mrkdwn text, where a backtick in record text could also
// open or close a code span or block: each backtick is shown as U+02CB (ˋ), which
// Slack does not parse. For exact text (a command to copy), use a rich_text block
// instead, which Slack does not parse at all.
func SlackMrkdwn(s string) string {
	return strings.ReplaceAll(Slack(s), "`", "\u02cb")
}

// TeamsMarkdown returns s for the text of an Adaptive Card TextBlock or Fact, which
// Teams renders as markdown: every character markdown or the card's {{DATE()}}
// functions could use (\ ` * _ ~ [ ] ( ) < > # | ! { }), and a - + or "1." that opens
// a line, gets a backslash, so [teams](https://evil.example) arrives as text. Teams
// clients do not all honour backslash escapes, but even where one shows the
// backslashes, the markup is broken apart and stays inert. Control characters are
// shown as in Terminal. For exact text (a command to copy), use a RichTextBlock with
// TextRun elements, which Teams does not parse as markdown.
func TeamsMarkdown(s string) string {
	s = Terminal(s)
	var b strings.Builder
	b.Grow(len(s) + 8)
	lineStart := true // only spaces since the line began
	digitRun := false // only spaces, then digits, since the line began
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '`', '*', '_', '~', '[', ']', '(', ')', '<', '>', '#', '|', '!', '{', '}':
			b.WriteByte('\\')
		case '-', '+':
			if lineStart {
				b.WriteByte('\\')
			}
		case '.':
			if digitRun { // "12." opening a line is an ordered list item
				b.WriteByte('\\')
			}
		}
		b.WriteByte(c)
		isDigit := c >= '0' && c <= '9'
		digitRun = isDigit && (lineStart || digitRun)
		lineStart = c == '\n' || (lineStart && (c == ' ' || c == '\t'))
	}
	return b.String()
}
