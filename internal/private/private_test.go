//go:build unix

package private

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// withUmask runs f under umask, the most permissive (0) by default.
func withUmask(t *testing.T, umask int, f func()) {
	old := syscall.Umask(umask)
	defer syscall.Umask(old)
	f()
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestPrivateWhateverTheUmask(t *testing.T) {
	for _, umask := range []int{0, 0o022, 0o002} {
		dir := t.TempDir()
		withUmask(t, umask, func() {
			nested := filepath.Join(dir, "a", "b", "c")
			if err := MkdirAll(nested); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b"), nested} {
				if m := mode(t, d); m != 0o700 {
					t.Errorf("umask %03o: folder %s is %04o, want 0700", umask, d, m)
				}
			}
			db := filepath.Join(nested, "x.db")
			if err := CreateIfAbsent(db); err != nil {
				t.Fatal(err)
			}
			if m := mode(t, db); m != 0o600 {
				t.Errorf("umask %03o: created file is %04o, want 0600", umask, m)
			}
			report := filepath.Join(nested, "report.html")
			if err := os.WriteFile(report, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chmod(report, 0o644)
			if err := WriteFile(report, []byte("<html>")); err != nil {
				t.Fatal(err)
			}
			if m := mode(t, report); m != 0o600 {
				t.Errorf("umask %03o: written file is %04o, want 0600", umask, m)
			}
			if b, _ := os.ReadFile(report); string(b) != "<html>" {
				t.Errorf("written file holds %q", b)
			}
			left, _ := filepath.Glob(filepath.Join(nested, ".report.html.tmp-*"))
			if len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestExistingFilesKeepTheirMode(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared.db")
	if err := os.WriteFile(shared, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o640)
	if err := CreateIfAbsent(shared); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, shared); m != 0o640 {
		t.Errorf("an existing database became %04o, want its own 0640", m)
	}
	os.Chmod(dir, 0o750)
	if err := MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, dir); m != 0o750 {
		t.Errorf("an existing folder became %04o, want its own 0750", m)
	}
}
