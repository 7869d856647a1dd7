package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionFromAGitCheckout follows the README's install steps on a fresh clone of
// this checkout's HEAD (git clone, go build ./cmd/o365ingest) and checks that the
// binary's `version --json` names the clone's revision and commit time.
func TestVersionFromAGitCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("clones the repository and builds the binary")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not built from a git checkout")
	}
	clone := filepath.Join(t.TempDir(), "o365ingest")
	if out, err := exec.Command("git", "clone", "--quiet", "--no-hardlinks", strings.TrimSpace(string(root)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	head, err := exec.Command("git", "-C", clone, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "o365ingest")
	build := exec.Command("go", "build", "-o", bin, "./cmd/o365ingest")
	build.Dir = clone
	build.Env = append(os.Environ(), "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/o365ingest in a fresh clone: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("version --json: %v", err)
	}
	var v buildVersion
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("version --json printed %q: %v", out, err)
	}
	if v.Revision != strings.TrimSpace(string(head)) || v.Time == "" || v.Modified || v.Version == "" || !strings.HasPrefix(v.Go, "go") {
		t.Errorf("version --json = %+v, want revision %s, a time, not modified", v, head)
	}
	plain, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.Contains(string(plain), "rev "+v.Revision[:12]) {
		t.Errorf("version printed %q (%v), want the revision in it", plain, err)
	}
}
