package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// TestThreeProcessesShareOneDatabase starts three `o365ingest run` processes at once
// against one PostgreSQL or MariaDB database, for two tenants of five content types each
// (ten units). They split the units through the leases in the database; together they
// must store exactly the emulators' truth, load every blob exactly once (the ledger has
// one row per blob and the processes' loaded counts add up to it), and more than one of
// them must have loaded something.
func TestThreeProcessesShareOneDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, driver := range []string{"postgres", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			dsn := sinktest.DSN(t, driver)
			// A few milliseconds per request and half-hour blobs make each unit last long
			// enough that three processes started together overlap.
			emus := []*emulatorProc{
				startEmulator(t, "--seed", "31", "--records-per-day", "1500", "--latency", "3ms", "--blob-interval", "30m"),
				startEmulator(t, "--seed", "32", "--records-per-day", "1500", "--latency", "3ms", "--blob-interval", "30m"),
			}
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			text := "tenants:\n"
			for i, e := range emus {
				text += fmt.Sprintf("  - name: tenant%d\n    tenant_id: %s\n    client_id: %s\n    client_secret: ${MP_SECRET%d}\n    api_url: %s\n    login_url: %s\n",
					i, e.tenantID, e.clientID, i, e.base, e.base)
			}
			text += "ingest:\n  concurrency: 4\n  batch_records: 1000\n  rate_limit: 1000000\n"
			if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			const procs = 3
			outs := make([]string, procs)
			codes := make([]int, procs)
			var wg sync.WaitGroup
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			for p := range procs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cmd := exec.CommandContext(ctx, binary(t), "run", "--config", cfg, "--log-level", "warn", "--sink", driver, "--dsn", dsn)
					cmd.Env = append(os.Environ(), "MP_SECRET0="+emus[0].secret, "MP_SECRET1="+emus[1].secret,
						"O365INGEST_SINK_DRIVER=", "O365INGEST_SINK_DSN=")
					var out bytes.Buffer
					cmd.Stdout, cmd.Stderr = &out, &out
					err := cmd.Run()
					if ee, ok := err.(*exec.ExitError); ok {
						codes[p] = ee.ExitCode()
					} else if err != nil {
						codes[p] = -1
					}
					outs[p] = out.String()
				}()
			}
			wg.Wait()
			loadedBy := make([]int, procs)
			total, busy := 0, 0
			for p := range procs {
				if codes[p] != exitOK {
					t.Fatalf("process %d exited %d:\n%s", p, codes[p], outs[p])
				}
				loadedBy[p] = summaryValue(outs[p], "run: blobs", "loaded")
				if loadedBy[p] < 0 {
					t.Fatalf("process %d printed no summary:\n%s", p, outs[p])
				}
				total += loadedBy[p]
				if loadedBy[p] > 0 {
					busy++
				}
			}
			t.Logf("blobs loaded per process: %v", loadedBy)

			var want []string
			for _, e := range emus {
				want = append(want, e.truth(t)...)
			}
			sort.Strings(want)
			assertSameIDs(t, stored(t, driver, dsn), want)

			s, err := sink.Open(ctx, driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var ledger, distinct int
			if err := s.Handle().DB.QueryRow("SELECT COUNT(*), COUNT(DISTINCT content_id) FROM content_blob WHERE status = 'loaded'").Scan(&ledger, &distinct); err != nil {
				t.Fatal(err)
			}
			if ledger != distinct || total != ledger {
				t.Errorf("the ledger has %d loaded blobs (%d distinct); the processes loaded %d in all: a blob was loaded twice or not counted",
					ledger, distinct, total)
			}
			if busy < 2 {
				t.Errorf("only %d of %d processes loaded anything (%v): the work was not split", busy, procs, loadedBy)
			}
		})
	}
}
