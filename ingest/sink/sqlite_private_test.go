//go:build unix

package sink_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// TestSQLiteFilesAreOwnerOnly: a new SQLite database and the -wal and -shm files SQLite
// makes beside it are 0600 even under umask 0, and a file: URI is treated the same.
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	for _, form := range []string{"plain", "uri"} {
		t.Run(form, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			dsn := path
			if form == "uri" {
				dsn = "file:" + path + "?_pragma=busy_timeout(5000)"
			}
			ctx := context.Background()
			s, err := sink.Open(ctx, "sqlite", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := sink.Migrate(ctx, s); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Load(ctx, sink.RecordsOnly(sinktest.Record("private-1", nil))); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatalf("%s: %v (is the database in WAL mode?)", filepath.Base(f), err)
				}
				if m := fi.Mode().Perm(); m != 0o600 {
					t.Errorf("%s is %04o, want 0600", filepath.Base(f), m)
				}
			}
		})
	}
}
