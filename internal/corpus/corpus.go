// Package corpus finds, for tests, the module root and the shared corpus of real audit
// records and API samples at ../shared/corpus beside the repository. The corpus is never
// copied into the repository: tests that need it skip when it is absent (a user's clone),
// except under CI (CI set), where they fail.
package corpus

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the module root: the nearest directory above the working directory that
// holds go.mod.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Dir returns the corpus directory (../shared/corpus from the module root). When it is
// absent the test is skipped, or failed under CI.
func Dir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(Root(t), "..", "shared", "corpus")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("corpus missing under CI: %v", err)
		}
		t.Skipf("corpus not available: %v", err)
	}
	return dir
}
