package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// TestSIGTERMStopsCleanly sends SIGTERM to a backfill in the middle of its work: it must
// exit within seconds with the "interrupted" code, every blob the ledger calls loaded
// must have all its records (nothing half-done), the run must be recorded as
// interrupted, and the next backfill must complete the load exactly.
func TestSIGTERMStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			dsn := sinktest.DSN(t, driver)
			// Migrated first, so that the signal lands in the backfill's work, not in
			// the migrations (which take seconds on a loaded machine).
			pre, err := sink.Open(context.Background(), driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if err := sink.Migrate(context.Background(), pre); err != nil {
				t.Fatal(err)
			}
			pre.Close()
			e := startEmulator(t, "--seed", "12", "--records-per-day", "600", "--days", "3", "--latency", "20ms")
			cfg := e.writeConfig(t, "")
			cmd := exec.Command(binary(t), "--config", cfg, "--log-level", "warn", "backfill", "--since", "3d", "--sink", driver, "--dsn", dsn)
			cmd.Env = append(os.Environ(), "E2E_SECRET="+e.secret)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			sent := time.Now()
			cmd.Process.Signal(syscall.SIGTERM)
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running 15s after SIGTERM:\n%s", out.String())
			}
			took := time.Since(sent)
			if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
				t.Fatalf("exit code %d after SIGTERM, want %d (interrupted):\n%s", code, exitInterrupted, out.String())
			}
			t.Logf("stopped %s after SIGTERM", took.Round(time.Millisecond))

			s, err := sink.Open(context.Background(), driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var outcome string
			if err := s.Handle().DB.QueryRow(`SELECT outcome FROM ingest_run WHERE finished_at IS NOT NULL`).Scan(&outcome); err != nil || outcome != "interrupted" {
				t.Errorf("ingest_run outcome %q (%v), want interrupted", outcome, err)
			}
			// Every loaded blob holds all its records: the emulator repeats none here, so
			// each record of a loaded blob is stored under that blob.
			rows, err := s.Handle().DB.Query(`SELECT b.content_id, b.record_count, b.quarantined,
				(SELECT COUNT(*) FROM audit_record r WHERE r.content_id = b.content_id)
				FROM content_blob b WHERE b.status = 'loaded'`)
			if err != nil {
				t.Fatal(err)
			}
			loaded := 0
			for rows.Next() {
				var id string
				var recs, quar, stored int
				if err := rows.Scan(&id, &recs, &quar, &stored); err != nil {
					t.Fatal(err)
				}
				loaded++
				if stored != recs-quar {
					t.Errorf("blob %s is loaded with %d of its %d records", id, stored, recs-quar)
				}
			}
			rows.Close()
			if loaded == 0 {
				t.Logf("nothing was loaded before SIGTERM")
			}
			code, outText := cli(t, context.Background(), e, "--config", cfg, "--log-level", "warn", "backfill", "--since", "3d", "--sink", driver, "--dsn", dsn)
			if code != exitOK {
				t.Fatalf("backfill after the interrupted one exited %d:\n%s", code, outText)
			}
			assertSameIDs(t, sinktest.StoredIDs(t, s.Handle().DB), e.truth(t))
		})
	}
}

// TestASignalDuringSetupExitsInterrupted: a signal that arrives while a command is still
// opening and migrating its database makes that step fail with the context's error; the
// exit code must still say "interrupted" (4), not "failed" (1).
func TestASignalDuringSetupExitsInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dsn := filepath.Join(t.TempDir(), "interrupted.db")
	for _, args := range [][]string{
		{"status", "--sink", "sqlite", "--dsn", dsn},
		{"migrate", "up", "--sink", "sqlite", "--dsn", dsn},
	} {
		var out bytes.Buffer
		env := &Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }, LogLevel: "warn"}
		if code := run(ctx, args, env); code != exitInterrupted {
			t.Errorf("%v with a cancelled context exited %d, want %d:\n%s", args, code, exitInterrupted, out.String())
		}
	}
}
