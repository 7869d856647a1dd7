package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
