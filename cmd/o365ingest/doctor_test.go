package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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

func TestDoctorGivesUpOnAHangingEndpointWithin15s(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 15 s")
	}
	released := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-released:
		}
	}))
	defer hang.Close()
	defer close(released)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "o365ingest.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("tenants:\n  - name: contoso\n    tenant_id: 7b1f4c2e-3a9d-4e61-b0c8-2f5d9a6e1c47\n    client_id: 2c9e4a51-8d3f-4b7a-9e61-0f5d3c2b1a90\n    client_secret: x\n    api_url: %s\n    login_url: %s\nsink:\n  dsn: %s\n",
		hang.URL, hang.URL, filepath.Join(dir, "o365.db"))), 0o600)
	start := time.Now()
	code, out := runCLI(t, "--config", cfg, "doctor")
	took := time.Since(start)
	if code != exitFailure || !strings.Contains(out, "FAIL  tenant contoso: token") || !strings.Contains(out, "no answer within 15s") {
		t.Errorf("doctor against a login endpoint that never answers exited %d after %s:\n%s", code, took, out)
	}
	if took > 20*time.Second {
		t.Errorf("doctor took %s, want about 15 s", took)
	}
}
