package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/status"
)

const hostileText = "x\u2019; calc #\x1b]0;owned\x07\x1b[2J\nFAKE ROW\x9b31m\u0085\x7f"

// rawControl reports the first character a terminal would interpret, if any.
func rawControl(s string) (rune, bool) {
	for _, r := range s {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\ufffd' {
			return r, true
		}
	}
	return 0, false
}

func TestAlertsTableShowsControlCharactersAsEscapes(t *testing.T) {
	var buf bytes.Buffer
	a := detect.Alert{ID: "a1", Rule: "inbox_rule_forward_external", Severity: "high", UserID: hostileText, ClientIP: "203.0.113.66",
		CreationTime: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Summary: "Inbox rule " + hostileText}
	if err := writeAlerts(&buf, "table", []detect.Alert{a}, map[string]bool{"a1": true}); err != nil {
		t.Fatal(err)
	}
	if r, bad := rawControl(buf.String()); bad {
		t.Errorf("alerts table holds raw %U:\n%q", r, buf.String())
	}
	if n := strings.Count(strings.TrimSpace(buf.String()), "\n"); n != 1 {
		t.Errorf("alerts table has %d line breaks, want 1 (header and one row):\n%s", n, buf.String())
	}
}

func TestStatusShowsControlCharactersAsEscapes(t *testing.T) {
	fin := time.Date(2026, 3, 2, 9, 1, 0, 0, time.UTC)
	rep := &status.Report{
		Since:    time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		By:       "day",
		LastRun:  &status.LastRun{RunID: "r1", Command: "run", Started: fin.Add(-time.Minute), Finished: &fin, Outcome: "partial", Message: "api said: " + hostileText},
		Coverage: []status.CoverageRow{{Tenant: "t1", ContentType: "Audit.Exchange", Period: "2026-03-01", Blobs: 1}},
		Missing:  []status.MissingBlob{{Tenant: "t1", ContentType: "Audit.Exchange", ContentID: "id" + hostileText, Status: "failed", Reason: hostileText}},
	}
	var buf bytes.Buffer
	status.Print(&buf, rep)
	if r, bad := rawControl(buf.String()); bad {
		t.Errorf("status holds raw %U:\n%q", r, buf.String())
	}
	if strings.Contains(buf.String(), "\nFAKE ROW") {
		t.Errorf("a newline in a record started a line of its own:\n%s", buf.String())
	}
}
