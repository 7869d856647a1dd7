package main

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// truthOf lists the truth's record ids of the given content types, sorted.
func (e *emulatorProc) truthOf(t *testing.T, contentTypes ...string) []string {
	t.Helper()
	var ids []string
	for _, ct := range contentTypes {
		resp, err := http.Get(e.base + "/_emulator/truth?contentType=" + ct)
		if err != nil {
			t.Fatal(err)
		}
		var recs []struct {
			ID          string `json:"id"`
			ContentType string `json:"content_type"`
		}
		err = json.NewDecoder(resp.Body).Decode(&recs)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.ContentType != ct {
				t.Fatalf("truth?contentType=%s lists a %s record", ct, r.ContentType)
			}
			ids = append(ids, r.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// TestEndToEndAgainstTheRealServiceQuirks is issue 10's acceptance: with every quirk of
// the real service on, plus throttling, server errors and duplicates, backfill then run
// store exactly the truth of every content type but DLP.All, exit 3, and the summary,
// status and doctor name DLP.All and the permission it lacks; the second pass loads
// nothing new.
func TestEndToEndAgainstTheRealServiceQuirks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	readable := []string{"Audit.AzureActiveDirectory", "Audit.Exchange", "Audit.SharePoint", "Audit.General"}
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			dsn := sinktest.DSN(t, driver)
			e := startEmulator(t, "--seed", "21", "--records-per-day", "300", "--quirks", "all",
				"--throttle-rate", "0.05", "--error-rate", "0.03", "--duplicate-rate", "0.1")
			cfg := e.writeConfig(t, "")
			ctx := context.Background()
			if all, ours := len(e.truth(t)), len(e.truthOf(t, readable...)); ours == 0 || ours == all {
				t.Fatalf("truth: %d records, %d outside DLP.All: the test needs both", all, ours)
			}
			namesUnit := func(what, out string) {
				t.Helper()
				if !strings.Contains(out, "DLP.All") || !strings.Contains(out, "ActivityFeed.ReadDlp") {
					t.Fatalf("%s does not name DLP.All and ActivityFeed.ReadDlp:\n%s", what, out)
				}
			}

			code, out := cli(t, ctx, e, "--config", cfg, "--log-level", "warn", "backfill", "--since", "7d", "--sink", driver, "--dsn", dsn)
			if code != exitIncomplete {
				t.Fatalf("backfill exited %d, want %d:\n%s", code, exitIncomplete, out)
			}
			if !strings.Contains(out, `backfill: unit failed tenant=contoso content_type=DLP.All`) {
				t.Fatalf("the summary lacks the failed unit:\n%s", out)
			}
			namesUnit("backfill", out)
			assertSameIDs(t, stored(t, driver, dsn), e.truthOf(t, readable...))

			code, out = cli(t, ctx, e, "run", "--config", cfg, "--log-level", "warn", "--sink", driver, "--dsn", dsn)
			if code != exitIncomplete {
				t.Fatalf("run exited %d, want %d:\n%s", code, exitIncomplete, out)
			}
			namesUnit("run", out)
			if n := summaryValue(out, "run: records", "loaded"); n != 0 {
				t.Fatalf("the second pass loaded %d records:\n%s", n, out)
			}
			assertSameIDs(t, stored(t, driver, dsn), e.truthOf(t, readable...))

			code, out = cli(t, ctx, e, "status", "--config", cfg, "--sink", driver, "--dsn", dsn)
			if code != exitIncomplete {
				t.Fatalf("status exited %d, want %d:\n%s", code, exitIncomplete, out)
			}
			namesUnit("status", out)

			code, out = cli(t, ctx, e, "doctor", "--config", cfg, "--sink", driver, "--dsn", dsn)
			if code == exitOK || !strings.Contains(out, "DLP.All: missing permission ActivityFeed.ReadDlp") {
				t.Fatalf("doctor exited %d without naming DLP.All's missing permission:\n%s", code, out)
			}
		})
	}
}
