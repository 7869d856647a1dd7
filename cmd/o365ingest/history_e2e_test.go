package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/ingest/status"
)

// historyConfig is writeConfig with graph_url and audit_search for the emulator.
func (e *emulatorProc) historyConfig(t *testing.T) string {
	t.Helper()
	p := e.writeConfig(t, "")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "    login_url: "+e.base+"\n", "    login_url: "+e.base+"\n    graph_url: "+e.base+"\n    audit_search: true\n", 1)
	s = strings.Replace(s, "concurrency: 4", "concurrency: 16", 1)
	if s == string(b) {
		t.Fatal("config template changed")
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEndToEndHistory: with `emulate --history-days 30`, `backfill --since 30d` takes the
// last 7 days from the feed and the rest from the audit log query API, and stores
// exactly the truth (history included); a second backfill loads nothing; SIGKILLs
// during the history part and a re-run end equal to the truth, nothing doubled.
func TestEndToEndHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			t.Run("backfill --since 30d equals the truth, and again loads nothing", func(t *testing.T) {
				dsn := sinktest.DSN(t, driver)
				e := startEmulator(t, "--seed", "17", "--records-per-day", "200", "--history-days", "30", "--history-query-delay", "300ms")
				cfg := e.historyConfig(t)
				ctx := context.Background()
				truth := e.truth(t)
				if len(truth) < 4000 {
					t.Fatalf("the truth holds %d records; 30 days at 200 a day should be about 6000", len(truth))
				}
				code, out := cli(t, ctx, e, "--config", cfg, "--log-level", "warn", "backfill", "--since", "30d", "--sink", driver, "--dsn", dsn)
				if code != exitOK {
					t.Fatalf("backfill exited %d:\n%s", code, out)
				}
				assertSameIDs(t, stored(t, driver, dsn), truth)
				if got := summaryValue(out, "backfill: records", "loaded"); got != len(truth) {
					t.Fatalf("backfill reported %d records loaded, the truth has %d:\n%s", got, len(truth), out)
				}
				// 24 days of history x 5 content types, plus the feed's blobs.
				if got := summaryValue(out, "backfill: blobs", "loaded"); got < 5*23 {
					t.Fatalf("only %d blobs and windows loaded:\n%s", got, out)
				}
				code, out = cli(t, ctx, e, "--config", cfg, "--log-level", "warn", "backfill", "--since", "30d", "--sink", driver, "--dsn", dsn)
				if code != exitOK {
					t.Fatalf("second backfill exited %d:\n%s", code, out)
				}
				if got := summaryValue(out, "backfill: records", "loaded"); got != 0 {
					t.Fatalf("the second backfill loaded %d records:\n%s", got, out)
				}
				if got := summaryValue(out, "backfill: blobs", "loaded"); got != 0 {
					t.Fatalf("the second backfill loaded %d blobs or windows:\n%s", got, out)
				}
				assertSameIDs(t, stored(t, driver, dsn), truth)
			})
			t.Run("SIGKILLs during the history part, then a re-run, end equal to the truth", func(t *testing.T) {
				dsn := sinktest.DSN(t, driver)
				// Queries of 1s and 4 at a time make the history part last several seconds.
				e := startEmulator(t, "--seed", "19", "--records-per-day", "200", "--history-days", "30", "--history-query-delay", "1s")
				cfg := e.historyConfig(t)
				b, _ := os.ReadFile(cfg)
				os.WriteFile(cfg, []byte(strings.Replace(string(b), "concurrency: 16", "concurrency: 4", 1)), 0o600)
				// At most 5 rounds of 1.5-4.5 s: 120 windows of at least 1 s, 4 at a time, take
				// 30 s of wall time whatever the machine, so 5 rounds (22.5 s at the most) always
				// leave the history unfinished; the 20 rounds CI gives the crash test would
				// finish it and leave nothing open to check.
				rounds, killedMidRun := min(crashRounds(), 5), 0
				rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
				for i := 0; i < rounds; i++ {
					cmd := exec.Command(binary(t), "--config", cfg, "--log-level", "error", "backfill", "--since", "30d", "--sink", driver, "--dsn", dsn)
					cmd.Env = append(os.Environ(), "E2E_SECRET="+e.secret)
					if err := cmd.Start(); err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Duration(1500+rng.IntN(3000)) * time.Millisecond)
					cmd.Process.Kill()
					if err := cmd.Wait(); err != nil && strings.Contains(err.Error(), "killed") {
						killedMidRun++
					}
				}
				if killedMidRun == 0 {
					t.Fatalf("none of %d kills landed while the backfill ran; the test proved nothing", rounds)
				}
				partial := len(stored(t, driver, dsn))
				truth := e.truth(t)
				t.Logf("%d of %d kills landed mid-run; %d of %d records stored before the last run", killedMidRun, rounds, partial, len(truth))
				if partial >= len(truth) {
					t.Fatalf("the killed runs stored everything (%d); the kills did not land in the history part", partial)
				}
				// status names the windows the kills left open (their query created, not loaded).
				rep := statusJSON(t, e, cfg, driver, dsn)
				open := 0
				for _, m := range rep.Missing {
					if m.Status != "open" || !strings.HasPrefix(m.ContentID, "auditquery:") {
						t.Fatalf("after the kills status lists %s %s: want only open windows", m.Status, m.ContentID)
					}
					open++
				}
				if open == 0 {
					t.Fatal("status names no open window after a kill during the history part")
				}
				code, out := cli(t, context.Background(), e, "--config", cfg, "--log-level", "warn", "backfill", "--since", "30d", "--sink", driver, "--dsn", dsn)
				if code != exitOK {
					t.Fatalf("final backfill exited %d:\n%s", code, out)
				}
				assertSameIDs(t, stored(t, driver, dsn), truth)
				rep = statusJSON(t, e, cfg, driver, dsn)
				sources := map[string]int{}
				for _, c := range rep.Coverage {
					sources[c.Source]++
				}
				if len(rep.Missing) != 0 || sources["feed"] == 0 || sources["audit_search"] < 5*23 {
					t.Fatalf("after the re-run status lists %d missing, coverage rows by source %v", len(rep.Missing), sources)
				}
			})
		})
	}
}

func statusJSON(t *testing.T, e *emulatorProc, cfg, driver, dsn string) status.Report {
	t.Helper()
	_, out := cli(t, context.Background(), e, "--config", cfg, "--log-level", "error", "status", "--since", "32d", "--format", "json", "--sink", driver, "--dsn", dsn)
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("status --format json: %v\n%s", err, out)
	}
	return rep
}
