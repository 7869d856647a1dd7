package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/emulator"
)

// TestABlobOverTheLimitIsShownByStatus: ingest.max_blob_bytes from the config bounds a
// blob body; the one over it fails after one download with the limit named, the run
// exits 3 saying failed=1, and status lists that blob with its reason and agrees.
func TestABlobOverTheLimitIsShownByStatus(t *testing.T) {
	emu, err := emulator.New(emulator.Options{Seed: 5, RecordsPerDay: 100, RateLimit: -1, BlobInterval: 6 * 3600e9, Days: 2})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	hostile, downloads := "", 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/activity/feed/audit/") {
			id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
			mu.Lock()
			if hostile == "" {
				hostile = id
			}
			mine := hostile == id
			if mine {
				downloads++
			}
			mu.Unlock()
			if mine {
				io.WriteString(w, "[")
				io.Copy(w, io.LimitReader(zeros{}, 3<<20)) // 3 MiB of '[' after it
				return
			}
		}
		emu.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "o365ingest.yaml")
	err = os.WriteFile(cfg, []byte(fmt.Sprintf(`tenants:
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
  max_blob_bytes: 1MiB
  max_record_bytes: 64KiB
`, emu.TenantID(), emu.ClientID(), emu.ClientSecret(), srv.URL, srv.URL, filepath.Join(dir, "o365.db"))), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	code, out := runCLI(t, "backfill", "--config", cfg, "--since", "3d")
	if code != exitIncomplete || !strings.Contains(out, "failed=1") {
		t.Fatalf("backfill exited %d, want %d with failed=1:\n%s", code, exitIncomplete, out)
	}
	if downloads != 1 {
		t.Errorf("the blob over the limit was downloaded %d times, want 1", downloads)
	}
	code, out = runCLI(t, "--config", cfg, "status")
	if code == exitOK || !strings.Contains(out, hostile) || !strings.Contains(out, "max_blob_bytes") ||
		!strings.Contains(out, "failed 1") || strings.Contains(out, "Nothing known missing") {
		t.Fatalf("status exited %d; want it to list blob %s failed with the limit, agreeing with the run:\n%s", code, hostile, out)
	}
	t.Logf("status:\n%s", out)
}

// zeros reads as endless '['.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '['
	}
	return len(p), nil
}
