package main

// End-to-end tests of the real binary: `o365ingest emulate` in one process, `backfill` and
// `run` in others, against SQLite, PostgreSQL and MariaDB; the stored ids must equal the
// emulator's truth exactly, through late publication, faults and SIGKILLs.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds o365ingest once per test process.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "o365ingest-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "o365ingest")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// emulatorProc is a running `o365ingest emulate`.
type emulatorProc struct {
	base, tenantID, clientID, secret string
}

func startEmulator(t *testing.T, args ...string) *emulatorProc {
	t.Helper()
	// No background publishing (the tests publish through the hook) and no quota, so
	// the truth only changes when a test says so and nothing waits on the rate limit.
	base := []string{"emulate", "--listen", "127.0.0.1:0", "--publish-interval", "0", "--rate-limit", "-1", "--blob-interval", "2h"}
	cmd := exec.Command(binary(t), append(base, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	e := &emulatorProc{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && e.base == "" {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		switch k {
		case "tenant_id":
			e.tenantID = v
		case "client_id":
			e.clientID = v
		case "client_secret":
			e.secret = v
		case "base_url":
			e.base = v
		}
	}
	if e.base == "" {
		t.Fatalf("emulate printed no base_url; stderr: %s", stderr.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return e
}

func (e *emulatorProc) truth(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get(e.base + "/_emulator/truth")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var recs []struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	sort.Strings(ids)
	return ids
}

func (e *emulatorProc) publish(t *testing.T, n int, late float64) {
	t.Helper()
	body := fmt.Sprintf(`{"records": %d, "late": %g}`, n, late)
	resp, err := http.Post(e.base+"/_emulator/publish", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish: %s", resp.Status)
	}
}

// writeConfig writes a config for the emulator; the secret comes from the environment.
func (e *emulatorProc) writeConfig(t *testing.T, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	cfg := fmt.Sprintf(`tenants:
  - name: contoso
    tenant_id: %s
    client_id: %s
    client_secret: ${E2E_SECRET}
    api_url: %s
    login_url: %s
ingest:
  concurrency: 4
  batch_records: 500
  rate_limit: 1000000
%s`, e.tenantID, e.clientID, e.base, e.base, extra)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// cli runs the binary and returns its exit code and output.
func cli(t *testing.T, ctx context.Context, e *emulatorProc, args ...string) (int, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(os.Environ(), "E2E_SECRET="+e.secret, "O365INGEST_SINK_DRIVER=", "O365INGEST_SINK_DSN=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String()
}

func stored(t *testing.T, driver, dsn string) []string {
	t.Helper()
	s, err := sink.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return sinktest.StoredIDs(t, s.Handle().DB)
}

func assertSameIDs(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("database holds %d record ids, /_emulator/truth has %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("ids differ at %d: %s in the database, %s in the truth", i, got[i], want[i])
		}
	}
}

// summaryValue reads key=value from the summary line of a command that starts with
// prefix (e.g. "run: records").
func summaryValue(out, prefix, key string) int {
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
	}
	return -1
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				args []string
			}{
				{"backfill then run after new and late activity equals the truth", nil},
				{"the same holds with throttling, server errors and duplicate records on",
					[]string{"--throttle-rate", "0.1", "--error-rate", "0.05", "--duplicate-rate", "0.1", "--truncate-rate", "0.02"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					dsn := sinktest.DSN(t, driver)
					e := startEmulator(t, append([]string{"--seed", "5", "--records-per-day", "400"}, tc.args...)...)
					cfg := e.writeConfig(t, "")
					ctx := context.Background()
					code, out := cli(t, ctx, e, "--config", cfg, "--log-level", "warn", "backfill", "--since", "7d", "--sink", driver, "--dsn", dsn)
					if code != exitOK {
						t.Fatalf("backfill exited %d:\n%s", code, out)
					}
					assertSameIDs(t, stored(t, driver, dsn), e.truth(t))

					before := len(e.truth(t))
					e.publish(t, 300, 0.3)
					code, out = cli(t, ctx, e, "run", "--config", cfg, "--log-level", "warn", "--sink", driver, "--dsn", dsn)
					if code != exitOK {
						t.Fatalf("run exited %d:\n%s", code, out)
					}
					assertSameIDs(t, stored(t, driver, dsn), e.truth(t))
					if got, want := summaryValue(out, "run: records", "loaded"), len(e.truth(t))-before; got != want && tc.args == nil {
						t.Fatalf("run reported %d records loaded, %d were new:\n%s", got, want, out)
					}
				})
			}
			t.Run("a pipeline killed mid-load and run again loses and doubles nothing", func(t *testing.T) {
				dsn := sinktest.DSN(t, driver)
				// Many small blobs and some latency make a backfill last seconds, so the
				// kills land mid-load.
				e := startEmulator(t, "--seed", "9", "--records-per-day", "600", "--latency", "5ms", "--blob-interval", "30m")
				cfg := e.writeConfig(t, "")
				rounds, killedMidRun := crashRounds(), 0
				rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
				for i := 0; i < rounds; i++ {
					ctx, cancel := context.WithCancel(context.Background())
					cmd := exec.CommandContext(ctx, binary(t), "--config", cfg, "--log-level", "error", "backfill", "--since", "7d", "--sink", driver, "--dsn", dsn)
					cmd.Env = append(os.Environ(), "E2E_SECRET="+e.secret)
					if err := cmd.Start(); err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Duration(50+rng.IntN(700)) * time.Millisecond)
					cmd.Process.Kill() // SIGKILL: no chance to clean up
					if err := cmd.Wait(); err != nil && strings.Contains(err.Error(), "killed") {
						killedMidRun++
					}
					cancel()
					if i%3 == 2 {
						e.publish(t, 100, 0.5)
					}
				}
				if killedMidRun == 0 {
					t.Fatalf("none of %d kills landed while the backfill ran; the test proved nothing", rounds)
				}
				t.Logf("%d of %d kills landed mid-run", killedMidRun, rounds)
				code, out := cli(t, context.Background(), e, "--config", cfg, "--log-level", "warn", "backfill", "--since", "7d", "--sink", driver, "--dsn", dsn)
				if code != exitOK {
					t.Fatalf("final backfill exited %d:\n%s", code, out)
				}
				assertSameIDs(t, stored(t, driver, dsn), e.truth(t))
			})
		})
	}
}

// crashRounds is how many SIGKILLs the crash test deals: O365INGEST_CRASH_ROUNDS, default 5.
func crashRounds() int {
	if n, err := strconv.Atoi(os.Getenv("O365INGEST_CRASH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 5
}
