package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

func TestPruneCommand(t *testing.T) {
	if code, out := runCLI(t, "prune"); code != exitUsage || !strings.Contains(out, "--older-than is required") {
		t.Errorf("prune without --older-than: exit %d\n%s", code, out)
	}
	for arg, want := range map[string]string{
		"soon": "not a retention period",
		"1m":   "minutes or months",
		"12h":  "at least one day",
		"90m":  "minutes or months",
		"0d":   "at least one day",
		"3x":   "unknown unit",
	} {
		if code, out := runCLI(t, "prune", "--older-than", arg); code != exitUsage || !strings.Contains(out, want) {
			t.Errorf("prune --older-than %s: exit %d, want 2 saying %q\n%s", arg, code, want, out)
		}
	}
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			dsn := sinktest.DSN(t, driver)
			ctx := context.Background()
			s, err := sink.Open(ctx, driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := sink.Migrate(ctx, s); err != nil {
				t.Fatal(err)
			}
			old := sinktest.Record("old", map[string]any{"creation_time": time.Now().UTC().AddDate(-2, 0, 0)})
			recent := sinktest.Record("recent", map[string]any{"creation_time": time.Now().UTC().AddDate(0, 0, -1)})
			if _, err := s.Load(ctx, sink.RecordsOnly(old, recent)); err != nil {
				t.Fatal(err)
			}
			prune := []string{"prune", "--sink", driver, "--dsn", dsn, "--older-than", "1y"}
			code, out := runCLI(t, prune...)
			if code != exitUsage || !strings.Contains(out, "prune will delete 1 records") || !strings.Contains(out, "pass --yes") {
				t.Fatalf("prune off a terminal without --yes: exit %d, want 2 with the count and --yes named\n%s", code, out)
			}
			code, out = runCLIInteractive(t, "no\n", prune...)
			if code != exitOK || !strings.Contains(out, "Delete them? [y/N]") || !strings.Contains(out, "nothing deleted") {
				t.Fatalf("prune answered no: exit %d\n%s", code, out)
			}
			if n := countRows(t, driver, dsn, "audit_record"); n != 2 {
				t.Fatalf("refused prunes left %d records, want 2", n)
			}
			code, out = runCLIInteractive(t, "y\n", prune...)
			if code != exitOK || !strings.Contains(out, "pruned 1 records") {
				t.Fatalf("prune answered y: exit %d\n%s", code, out)
			}
			code, out = runCLI(t, append(prune, "--yes")...)
			if code != exitOK || !strings.Contains(out, "nothing to prune") {
				t.Fatalf("prune --yes with nothing old: exit %d\n%s", code, out)
			}
			var ids []string
			rows, err := s.Handle().DB.Query("SELECT id FROM audit_record")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				rows.Scan(&id)
				ids = append(ids, id)
			}
			rows.Close()
			if len(ids) != 1 || ids[0] != "recent" {
				t.Errorf("left %v, want [recent]", ids)
			}
		})
	}
}

// runCLIInteractive is runCLI on a terminal whose user types answer.
func runCLIInteractive(t *testing.T, answer string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &out, Stdin: strings.NewReader(answer), Interactive: true, Getenv: func(string) string { return "" }, LogLevel: "warn"}
	code := run(context.Background(), args, env)
	return code, out.String()
}

func TestParseRetention(t *testing.T) {
	const day = 24 * time.Hour
	for in, want := range map[string]time.Duration{"1d": day, "30d": 30 * day, "4w": 28 * day, "1y": 365 * day, "2Y": 730 * day, "365D": 365 * day} {
		if got, err := parseRetention(in); err != nil || got != want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "1m", "1mo", "24h", "1440m", "86400s", "0d", "-1d", "1.5y", "1 d x", "99999y"} {
		if got, err := parseRetention(in); err == nil {
			t.Errorf("parseRetention(%q) = %v, want an error", in, got)
		}
	}
}

// TestPrunePromptIsInterruptible: SIGINT at the prompt ends prune with exit 4 and
// deletes nothing.
func TestPrunePromptIsInterruptible(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "o365.db")
	ctx := context.Background()
	s, err := sink.Open(ctx, "sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := sink.Migrate(ctx, s); err != nil {
		t.Fatal(err)
	}
	old := sinktest.Record("old", map[string]any{"creation_time": time.Now().UTC().AddDate(-2, 0, 0)})
	if _, err := s.Load(ctx, sink.RecordsOnly(old)); err != nil {
		t.Fatal(err)
	}
	stdin, w := io.Pipe() // nobody answers
	defer w.Close()
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &out, Stdin: stdin, Interactive: true, Getenv: func(string) string { return "" }, LogLevel: "warn"}
	if code := run(cctx, []string{"prune", "--dsn", dsn, "--older-than", "30d"}, env); code != exitInterrupted || !strings.Contains(out.String(), "nothing deleted") {
		t.Fatalf("interrupted prompt: exit %d, want 4\n%s", code, out.String())
	}
	if n := countRows(t, "sqlite", dsn, "audit_record"); n != 1 {
		t.Errorf("an interrupted prompt left %d records, want 1", n)
	}
}
