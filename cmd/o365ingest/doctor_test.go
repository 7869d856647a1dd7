package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/emulator"
)

func TestDoctorGivesUpOnAFailingAPIWithItsCause(t *testing.T) {
	emu, err := emulator.New(emulator.Options{Seed: 3, RecordsPerDay: 50, RateLimit: -1, ErrorRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	base, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "o365ingest.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("tenants:\n  - name: contoso\n    tenant_id: %s\n    client_id: %s\n    client_secret: %q\n    api_url: %s\n    login_url: %s\nsink:\n  dsn: %s\n",
		emu.TenantID(), emu.ClientID(), emu.ClientSecret(), base, base, filepath.Join(dir, "o365.db"))), 0o600)
	start := time.Now()
	code, out := runCLI(t, "--config", cfg, "doctor")
	took := time.Since(start)
	if code != exitFailure || !strings.Contains(out, "FAIL  tenant contoso: subscriptions") || !strings.Contains(out, "AF50000") || strings.Contains(out, "context deadline exceeded") {
		t.Errorf("doctor against an API answering 500 exited %d after %s:\n%s", code, took, out)
	}
	if took > 20*time.Second {
		t.Errorf("doctor took %s to give up on the failing API, want at most about 15 s", took)
	}
	t.Logf("gave up after %s", took.Round(time.Millisecond))
}

func TestDoctorExitsTwoOnAConfigError(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("tenants:\n  - name: contoso\n    tenant_id: not-a-guid\n"), 0o600)
	if code, out := runCLI(t, "--config", bad, "doctor"); code != exitUsage || !strings.Contains(out, "tenant_id") {
		t.Errorf("doctor with an invalid config exited %d:\n%s", code, out)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("tenantz: []\n"), 0o600)
	if code, out := runCLI(t, "--config", unknown, "doctor"); code != exitUsage {
		t.Errorf("doctor with an unknown key exited %d:\n%s", code, out)
	}
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, []byte("sink:\n  dsn: "+filepath.Join(dir, "x.db")+"\n"), 0o600)
	if code, out := runCLI(t, "--config", empty, "doctor"); code != exitUsage || !strings.Contains(out, "at least one tenant") {
		t.Errorf("doctor with no tenant exited %d:\n%s", code, out)
	}
}
