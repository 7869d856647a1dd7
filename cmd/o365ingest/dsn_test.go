package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDSNPasswordOnTheCommandLineIsWarnedAbout: a --dsn with a password gets a warning
// that never shows the password; one without gets none.
func TestDSNPasswordOnTheCommandLineIsWarnedAbout(t *testing.T) {
	// Port 1 refuses at once; the command fails, after the warning.
	_, out := runCLI(t, "status", "--sink", "postgres", "--dsn", "postgres://o365:Hunter2secret@127.0.0.1:1/o365?sslmode=disable&connect_timeout=2")
	if !strings.Contains(out, "warning: --dsn holds a password") || !strings.Contains(out, "sink.dsn_file") {
		t.Errorf("no warning about the password on the command line:\n%s", out)
	}
	if strings.Contains(out, "Hunter2secret") {
		t.Errorf("the password was printed:\n%s", out)
	}
	_, out = runCLI(t, "status", "--dsn", filepath.Join(t.TempDir(), "o365.db"))
	if strings.Contains(out, "warning: --dsn") {
		t.Errorf("a DSN without a password was warned about:\n%s", out)
	}
}

// TestDSNFromFileOrEnvironment: with no --dsn, a command opens the database named by
// the config's sink.dsn_file, and $O365INGEST_SINK_DSN over it.
func TestDSNFromFileOrEnvironment(t *testing.T) {
	dir := t.TempDir()
	fromFile, fromEnv := filepath.Join(dir, "from-file.db"), filepath.Join(dir, "from-env.db")
	dsnFile, cfgFile := filepath.Join(dir, "dsn"), filepath.Join(dir, "o365ingest.yaml")
	if err := os.WriteFile(dsnFile, []byte(fromFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, []byte("sink:\n  driver: sqlite\n  dsn_file: "+dsnFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"sink.dsn_file", nil, fromFile},
		{"O365INGEST_SINK_DSN", map[string]string{"O365INGEST_SINK_DSN": fromEnv}, fromEnv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			env := &Env{Stdout: &out, Stderr: &out, LogLevel: "warn", Getenv: func(k string) string { return tc.env[k] }}
			for _, cmd := range [][]string{{"status"}, {"alerts"}, {"timeline", "--user", "megan@contoso.example", "--format", "csv"}, {"migrate", "status"}} {
				args := append([]string{"--config", cfgFile}, cmd...)
				if code := run(context.Background(), args, env); code != exitOK {
					t.Fatalf("%v: exit %d\n%s", cmd, code, out.String())
				}
			}
			if _, err := os.Stat(tc.want); err != nil {
				t.Errorf("the database named by %s was not used: %v\n%s", tc.name, err, out.String())
			}
		})
	}
}
