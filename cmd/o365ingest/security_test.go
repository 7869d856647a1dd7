package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// TestSecretsNeverInOutput runs the whole CLI in-process at debug level against an
// emulator — a backfill, a run, a failing login, status, doctor, subscriptions and the
// --help of every command — and searches every byte written to stdout and stderr for the
// client secret, the database password and every bearer token the API was sent.
func TestSecretsNeverInOutput(t *testing.T) {
	const secret = "Sup3r~Secret.ClientValue_7f3a9" // distinctive, with characters URL-encoding changes
	const dbPassword = "Db-Passw0rd_9c1e"
	emu, err := emulator.New(emulator.Options{Seed: 3, ClientSecret: secret, RecordsPerDay: 100, Days: 2, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	tokens := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			mu.Lock()
			tokens[strings.TrimPrefix(a, "Bearer ")] = true
			mu.Unlock()
		}
		emu.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()

	// A PostgreSQL DSN with a password when the server is there (trust auth ignores it),
	// else SQLite.
	driver, dsn := "sqlite", filepath.Join(t.TempDir(), "o365.db")
	if pg := postgresWithPassword(t, dbPassword); pg != "" {
		driver, dsn = "postgres", pg
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "o365ingest.yaml")
	cfg := fmt.Sprintf(`tenants:
  - name: contoso
    tenant_id: %s
    client_id: %s
    client_secret: %q
    api_url: %s
    login_url: %s
sink:
  driver: %s
  dsn: %q
ingest:
  start_subscriptions: true
  rate_limit: 100000
log:
  level: debug
`, emu.TenantID(), emu.ClientID(), secret, srv.URL, srv.URL, driver, dsn)
	// Readable by others on purpose: the CLI must warn about it.
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	badPath := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badPath, []byte(strings.Replace(cfg, secret, secret+"-wrong", 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	var all bytes.Buffer
	cli := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		env := &Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
		code := run(context.Background(), args, env)
		all.Write(out.Bytes())
		all.Write(errb.Bytes())
		return code, out.String() + errb.String()
	}
	base := []string{"--config", cfgPath, "--log-level", "debug"}
	code, out := cli(append(base, "backfill", "--since", "2d")...)
	if code != exitOK {
		t.Fatalf("backfill exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "readable by other users") {
		t.Errorf("no warning about a config holding a secret that others can read:\n%.2000s", out)
	}
	cli(append(base, "--log-format", "text", "run")...)
	cli(append(base, "status")...)
	cli(append(base, "doctor")...)
	cli(append(base, "subscriptions", "list")...)
	code, out = cli("--config", badPath, "--log-level", "debug", "run")
	if code == exitOK {
		t.Errorf("a run with a wrong secret exited 0:\n%s", out)
	}
	cli("--help")
	for name := range commands() {
		cli(name, "--help")
		cli("help", name)
	}

	mu.Lock()
	var seen []string
	for tok := range tokens {
		seen = append(seen, tok)
	}
	mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the API saw no bearer token: the pipeline did not run")
	}
	sort.Strings(seen)
	needles := map[string]string{
		"client secret":              secret,
		"client secret, URL-encoded": url.QueryEscape(secret),
		"database password":          dbPassword,
	}
	for i, tok := range seen {
		needles[fmt.Sprintf("bearer token %d", i)] = tok
		// A JWT's signature alone is as good as the token for nothing, but its
		// payload+signature tail would be: look for the last 40 characters too.
		if len(tok) > 40 {
			needles[fmt.Sprintf("bearer token %d (tail)", i)] = tok[len(tok)-40:]
		}
	}
	output := all.String()
	for what, s := range needles {
		if i := strings.Index(output, s); i >= 0 {
			lo, hi := max(0, i-200), min(len(output), i+len(s)+50)
			t.Errorf("the %s appears in the output: …%s…", what, output[lo:hi])
		}
	}
	t.Logf("searched %d bytes of output for %d secrets (%d bearer tokens, sink %s)", len(output), len(needles), len(seen), driver)
}

// postgresWithPassword returns an isolated PostgreSQL DSN carrying password, or "" when
// the server is unreachable (failing under CI).
func postgresWithPassword(t *testing.T, password string) string {
	t.Helper()
	base := os.Getenv(sinktest.EnvPostgres)
	if base == "" {
		base = sinktest.DefaultPostgresDSN
	}
	db, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = db.PingContext(ctx)
		cancel()
		db.Close()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and PostgreSQL is unreachable: %v", err)
		}
		t.Logf("PostgreSQL unreachable (%v): the DSN-password check runs on SQLite without a password", err)
		return ""
	}
	u, err := url.Parse(sinktest.DSN(t, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}
