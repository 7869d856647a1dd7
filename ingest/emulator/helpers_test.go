package emulator_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// corpusDir finds ../shared/corpus relative to the repository root; it skips
// when absent unless CI is set.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root not found")
		}
		dir = parent
	}
	c := filepath.Join(dir, "..", "shared", "corpus")
	if _, err := os.Stat(c); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("corpus missing at %s", c)
		}
		t.Skipf("corpus not found at %s", c)
	}
	return c
}

func corpusLines(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "records", "*.jsonl"))
	out := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			out[string(bytes.TrimSpace(sc.Bytes()))] = true
		}
	}
	return out
}
