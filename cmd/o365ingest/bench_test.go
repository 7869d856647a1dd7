package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

func TestBenchFlags(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help goes to stdout with exit 0", []string{"bench", "--help"}, exitOK, "RESULT sink=..."},
		{"a negative record count is a usage error", []string{"bench", "--records", "-5"}, exitUsage, "must be positive"},
		{"a negative latency is a usage error", []string{"bench", "--latency", "-1s"}, exitUsage, "not negative"},
		{"no processes is a usage error", []string{"bench", "--processes", "0"}, exitUsage, "must be positive"},
		{"processes do not go with the queries", []string{"bench", "--processes", "2", "--queries"}, exitUsage, "--processes goes with neither"},
		{"an unknown flag is a usage error", []string{"bench", "--nope"}, exitUsage, "flag provided but not defined"},
		{"stray arguments are a usage error", []string{"bench", "extra"}, exitUsage, "unexpected arguments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d, want %d; output lacks %q:\n%s", code, c.code, c.want, out)
			}
		})
	}
}

// TestBenchResultLine runs the real binary (its emulator runs as a child process of it)
// on a tiny backfill into SQLite and reads its last line as a script would.
func TestBenchResultLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	db := filepath.Join(t.TempDir(), "bench.db")
	out, err := exec.Command(binary(t), "bench", "--sink", "sqlite", "--dsn", db, "--records", "3000",
		"--latency", "20ms", "--row-sample", "50", "--newconn-sample", "5", "--log-level", "warn").CombinedOutput()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "RESULT ") {
		t.Fatalf("last line is not the RESULT line:\n%s", out)
	}
	kv := map[string]string{}
	for _, f := range strings.Fields(strings.TrimPrefix(last, "RESULT ")) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("field %q is not key=value in %q", f, last)
		}
		kv[k] = v
	}
	if kv["sink"] != "sqlite" {
		t.Errorf("sink=%q, want sqlite", kv["sink"])
	}
	for _, k := range []string{"records", "pipeline_rps", "limit_rps", "ratio", "row_rps", "peak_rss_mb", "row_newconn_rps", "latency_rps", "latency_ratio", "nothing_new_s"} {
		v, err := strconv.ParseFloat(kv[k], 64)
		if err != nil {
			t.Errorf("%s=%q is not a number", k, kv[k])
			continue
		}
		if v <= 0 && k != "nothing_new_s" {
			t.Errorf("%s=%v, want > 0", k, v)
		}
	}
	if n, _ := strconv.Atoi(kv["records"]); n < 2900 {
		t.Errorf("records=%d, want about 3000", n)
	}
	if !strings.Contains(string(out), "nothing new: ") || !strings.Contains(string(out), ", 0 downloaded") {
		t.Errorf("the second pass downloaded blobs or was not reported:\n%s", out)
	}
}

// TestBenchProcesses runs `bench --processes 3` on SQLite and on PostgreSQL when it is
// there: three loading processes share three emulated tenants through the leases, the
// database holds exactly the emulators' records (the bench checks it and fails
// otherwise), the processes' loads add up to the one process's, and the RESULT line
// carries the aggregate beside the one process's figure.
func TestBenchProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	drivers := []string{"sqlite"}
	if sinktest.ServerDSN("postgres") != "" {
		drivers = append(drivers, "postgres")
	}
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			args := []string{"bench", "--sink", driver, "--records", "3000", "--records-per-blob", "100", "--latency", "0",
				"--row-sample", "20", "--newconn-sample", "2", "--processes", "3", "--log-level", "warn"}
			if driver == "sqlite" {
				args = append(args, "--dsn", filepath.Join(t.TempDir(), "bench.db"))
			} else {
				args = append(args, "--dsn", sinktest.ServerDSN(driver))
			}
			cmd := exec.Command(binary(t), args...)
			cmd.Env = append(os.Environ(), "O365INGEST_SINK_DRIVER=", "O365INGEST_SINK_DSN=")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("bench: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			kv := map[string]string{}
			for _, f := range strings.Fields(strings.TrimPrefix(lines[len(lines)-1], "RESULT ")) {
				k, v, _ := strings.Cut(f, "=")
				kv[k] = v
			}
			if kv["processes"] != "3" {
				t.Fatalf("processes=%q, want 3:\n%s", kv["processes"], out)
			}
			for _, k := range []string{"pipeline_rps", "processes_rps", "processes_ratio", "processes_peak_rss_mb", "peak_rss_mb"} {
				if v, err := strconv.ParseFloat(kv[k], 64); err != nil || v <= 0 {
					t.Errorf("%s=%q, want a positive number", k, kv[k])
				}
			}
			if !strings.Contains(string(out), "3 processes: "+kv["records"]+" records in ") ||
				!strings.Contains(string(out), "the database holds exactly the emulators' records") {
				t.Errorf("no aggregate line naming the one process's %s records:\n%s", kv["records"], out)
			}
			procs := 0
			for _, l := range lines {
				if strings.HasPrefix(l, "process ") && strings.Contains(l, " peak RSS ") {
					procs++
				}
			}
			if procs != 3 {
				t.Errorf("%d process lines, want 3:\n%s", procs, out)
			}
		})
	}
}
