//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReportAndDatabaseAreOwnerOnly: under umask 0, report makes its SQLite database
// (and its -wal and -shm) and the HTML page readable by their owner only.
func TestReportAndDatabaseAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	db, page := filepath.Join(dir, "o365.db"), filepath.Join(dir, "report.html")
	if code, out := runCLI(t, "report", "--dsn", db, "--since", "1d", "--out", page); code != exitOK {
		t.Fatalf("report: exit %d\n%s", code, out)
	}
	for _, f := range []string{db, page} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s is %04o, want 0600", filepath.Base(f), m)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".report.html.tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
