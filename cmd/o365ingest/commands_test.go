package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/emulator"
)

// emulatedTenant starts an in-process emulator and writes a config for it; secret
// overrides the client secret written in the config (to test a wrong one).
func emulatedTenant(t *testing.T, secret string) (cfgPath, dbPath string) {
	t.Helper()
	emu, err := emulator.New(emulator.Options{Seed: 3, RecordsPerDay: 200, RateLimit: -1, BlobInterval: 4 * 3600e9})
	if err != nil {
		t.Fatal(err)
	}
	base, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	if secret == "" {
		secret = emu.ClientSecret()
	}
	dir := t.TempDir()
	cfgPath = filepath.Join(dir, "o365ingest.yaml")
	dbPath = filepath.Join(dir, "o365.db")
	cfg := fmt.Sprintf(`tenants:
  - name: contoso
    tenant_id: %s
    client_id: %s
    client_secret: %q
    api_url: %s
    login_url: %s
sink:
  driver: sqlite
  dsn: %s
ingest:
  rate_limit: 1000000
`, emu.TenantID(), emu.ClientID(), secret, base, base, dbPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dbPath
}

func TestCommandsAgainstTheEmulator(t *testing.T) {
	cfg, _ := emulatedTenant(t, "")
	t.Run("doctor before any load passes every check and notes the missing subscriptions", func(t *testing.T) {
		code, out := runCLI(t, "--config", cfg, "doctor")
		if code != exitOK || !strings.Contains(out, "ok    tenant contoso: token") || !strings.Contains(out, "no subscription") {
			t.Fatalf("doctor exited %d:\n%s", code, out)
		}
	})
	t.Run("backfill loads and prints the summary", func(t *testing.T) {
		code, out := runCLI(t, "backfill", "--config", cfg, "--since", "7d")
		if code != exitOK || !strings.Contains(out, "backfill: records loaded=") || !strings.Contains(out, "outcome=ok") {
			t.Fatalf("backfill exited %d:\n%s", code, out)
		}
	})
	t.Run("status reports coverage for every content type and nothing missing", func(t *testing.T) {
		code, out := runCLI(t, "--config", cfg, "status")
		if code != exitOK || !strings.Contains(out, "Nothing known missing.") || !strings.Contains(out, "Last run: backfill") {
			t.Fatalf("status exited %d:\n%s", code, out)
		}
		code, out = runCLI(t, "--config", cfg, "status", "--format", "json", "--by", "hour")
		var rep struct {
			Coverage []struct {
				ContentType string `json:"content_type"`
			} `json:"coverage"`
		}
		if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil {
			t.Fatalf("status --format json exited %d:\n%s", code, out)
		}
		types := map[string]bool{}
		for _, c := range rep.Coverage {
			types[c.ContentType] = true
		}
		if len(types) != 5 {
			t.Fatalf("coverage has %d content types, want 5", len(types))
		}
	})
	t.Run("doctor after a load sees enabled subscriptions with content", func(t *testing.T) {
		code, out := runCLI(t, "--config", cfg, "doctor")
		if code != exitOK || strings.Count(out, "subscription enabled") != 5 || !strings.Contains(out, "schema up to date") {
			t.Fatalf("doctor exited %d:\n%s", code, out)
		}
	})
	t.Run("subscriptions list shows the five enabled subscriptions", func(t *testing.T) {
		code, out := runCLI(t, "--config", cfg, "subscriptions", "list")
		if code != exitOK || strings.Count(out, "enabled") != 5 {
			t.Fatalf("subscriptions list exited %d:\n%s", code, out)
		}
	})
	t.Run("a second run finds nothing new", func(t *testing.T) {
		code, out := runCLI(t, "run", "--config", cfg)
		if code != exitOK || !strings.Contains(out, "run: records loaded=0 ") || !strings.Contains(out, "loaded=0 failed=0") {
			t.Fatalf("run exited %d:\n%s", code, out)
		}
	})
}

func TestDoctorNamesABadSecret(t *testing.T) {
	cfg, _ := emulatedTenant(t, "not-the-secret")
	code, out := runCLI(t, "--config", cfg, "doctor")
	if code != exitFailure || !strings.Contains(out, "FAIL  tenant contoso: token") {
		t.Fatalf("doctor exited %d:\n%s", code, out)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"run", "--no-such-flag"},
		{"backfill", "--since", "7d", "--from", "2026-11-01"},
		{"status", "--by", "week"},
		{"subscriptions", "pause"},
		{"import"},
	} {
		if code, out := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v exited %d, want 2:\n%s", args, code, out)
		}
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for name := range commands() {
		code, out := runCLI(t, name, "--help")
		if code != exitOK || !strings.Contains(out, "Usage: o365ingest "+name) && !strings.Contains(out, "o365ingest "+name) {
			t.Errorf("%s --help exited %d:\n%s", name, code, out)
		}
	}
}

func TestAnInvalidConfigIsRejectedBeforeAnyNetworkCall(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	dir := t.TempDir()
	for name, tenant := range map[string]string{
		"a bad client id":                 "client_id: not-a-guid\n    client_secret: s",
		"an unknown cloud":                "client_id: 2c9e4a51-8d3f-4b7a-9e61-0f5d3c2b1a90\n    client_secret: s\n    cloud: moon",
		"an unknown content type":         "client_id: 2c9e4a51-8d3f-4b7a-9e61-0f5d3c2b1a90\n    client_secret: s\n    content_types: [Audit.Everything]",
		"a secret and a certificate both": "client_id: 2c9e4a51-8d3f-4b7a-9e61-0f5d3c2b1a90\n    client_secret: s\n    certificate_file: /nonexistent.pem\n    private_key_file: /nonexistent.key",
		"no credential":                   "client_id: 2c9e4a51-8d3f-4b7a-9e61-0f5d3c2b1a90",
	} {
		t.Run(name, func(t *testing.T) {
			cfg := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
			body := fmt.Sprintf("tenants:\n  - name: contoso\n    tenant_id: 7b1f4c2e-3a9d-4e61-b0c8-2f5d9a6e1c47\n    %s\n    api_url: %s\n    login_url: %s\nsink:\n  dsn: %s\n",
				tenant, srv.URL, srv.URL, filepath.Join(dir, "o365.db"))
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out := runCLI(t, "--config", cfg, "run")
			if code != exitUsage || !strings.Contains(out, "tenants[0].") {
				t.Fatalf("run exited %d, want 2 with the field's path:\n%s", code, out)
			}
			if n := calls.Load(); n != 0 {
				t.Fatalf("the API was called %d times before the config was rejected", n)
			}
		})
	}
}
