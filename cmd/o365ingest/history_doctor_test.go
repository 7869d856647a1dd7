package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/emulator"
)

// TestDoctorChecksAuditSearch: with audit_search: true doctor checks Graph's audit log
// query permission (ok, or FAIL naming AuditLogsQuery.Read.All and admin consent) and,
// for GCC High and DoD, says the API is offered in the global service only.
func TestDoctorChecksAuditSearch(t *testing.T) {
	for _, tc := range []struct {
		name, cloud string
		withhold    []string
		want        string
		code        int
	}{
		{"granted", "", nil, "ok    tenant contoso: audit_search: Graph's audit log query API answers", exitOK},
		{"withheld", "", []string{"AuditLogsQuery.Read.All"}, "FAIL  tenant contoso: audit_search: missing permission AuditLogsQuery.Read.All", exitFailure},
		{"gcc high", "gcchigh", nil, "global service only, not in GCC High", exitFailure},
		{"dod", "dod", nil, "global service only, not in DoD", exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu, err := emulator.New(emulator.Options{Seed: 3, RecordsPerDay: 50, RateLimit: -1, GraphWithhold: tc.withhold})
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
			cloud := ""
			if tc.cloud != "" {
				cloud = "    cloud: " + tc.cloud + "\n"
			}
			os.WriteFile(cfg, []byte(fmt.Sprintf("tenants:\n  - name: contoso\n    tenant_id: %s\n    client_id: %s\n    client_secret: %q\n    api_url: %s\n    login_url: %s\n    graph_url: %s\n    audit_search: true\n%s    content_types: [Audit.Exchange]\nsink:\n  dsn: %s\n",
				emu.TenantID(), emu.ClientID(), emu.ClientSecret(), base, base, base, cloud, filepath.Join(dir, "o365.db"))), 0o600)
			code, out := runCLI(t, "--config", cfg, "doctor")
			if !strings.Contains(out, tc.want) {
				t.Fatalf("doctor exited %d, its output lacks %q:\n%s", code, tc.want, out)
			}
			// The emulated feed has no subscription yet (a warning): only audit_search can fail.
			if code != tc.code {
				t.Fatalf("doctor exited %d, want %d:\n%s", code, tc.code, out)
			}
		})
	}
}
