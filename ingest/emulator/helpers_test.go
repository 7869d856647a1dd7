package emulator_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/o365ingest/o365ingest/internal/corpus"
)

// corpusDir is ../shared/corpus (the test skips without it, fails under CI).
func corpusDir(t *testing.T) string { return corpus.Dir(t) }

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
