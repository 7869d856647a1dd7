package escape

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// PowerShell returns a PowerShell expression whose value is exactly s, for the
// commands o365ingest suggests (Remove-InboxRule -Identity <literal>, ...), wherever
// they are shown: alerts, the report, Slack and Teams.
//
// It is a single-quoted literal, in which PowerShell gives no character a meaning
// except its five single-quote characters (' U+2018 U+2019 U+201A U+201B): each is
// doubled, which PowerShell reads as that one character, so `x’; Start-Process calc; #`
// stays inside the literal. A control character (see Terminal) never appears raw: the
// literal is split around it and it is written [char]0x1b, all in parentheses, which
// is one argument in a command's argument list:
//
//	'x’’; Start-Process calc; #'
//	('rule' + [char]0x0a + 'name')
func PowerShell(s string) string {
	var parts []string
	var lit strings.Builder
	hasControl := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			r = utf8.RuneError // a byte that is not UTF-8: PowerShell strings are UTF-16
			lit.WriteRune(r)
		case isSingleQuote(r):
			lit.WriteRune(r)
			lit.WriteRune(r)
		case isControl(r):
			hasControl = true
			if lit.Len() > 0 || len(parts) == 0 {
				parts = append(parts, "'"+lit.String()+"'")
			}
			parts = append(parts, fmt.Sprintf("[char]0x%02x", r))
			lit.Reset()
		default:
			lit.WriteRune(r)
		}
	}
	if !hasControl {
		return "'" + lit.String() + "'"
	}
	if lit.Len() > 0 {
		parts = append(parts, "'"+lit.String()+"'")
	}
	// The first part is always a string literal (perhaps ''), so + concatenates strings.
	return "(" + strings.Join(parts, " + ") + ")"
}

// isSingleQuote reports the characters PowerShell's tokenizer takes for a single quote.
func isSingleQuote(r rune) bool {
	switch r {
	case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
		return true
	}
	return false
}
