//go:build unix

package pipeline

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
)

// TestArchiveIsOwnerOnly: archived blobs are 0600 in 0700 folders even under umask 0.
func TestArchiveIsOwnerOnly(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "archive")
	b := api.ContentBlob{ContentType: "Audit.Exchange", ContentID: "blob-1", Created: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
	a, err := createArchive(dir, "contoso", "Audit.Exchange", b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte(`[{"Id":"1"}]`)); err != nil {
		t.Fatal(err)
	}
	if err := a.commit(); err != nil {
		t.Fatal(err)
	}
	final := ArchivePath(dir, "contoso", "Audit.Exchange", b)
	for p := final; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o700)
		if p == final {
			want = 0o600
		}
		if m := fi.Mode().Perm(); m != want {
			t.Errorf("%s is %04o, want %04o", p, m, want)
		}
		if p == dir {
			break
		}
	}
}
