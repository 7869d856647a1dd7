// Command gen writes migrations/<dialect>/00001_init.sql for every dialect from package
// schema. Run it from anywhere inside the module:
//
//	go run ./migrations/internal/gen
//
// migrations' tests regenerate the files in memory and fail when the checked-in ones differ.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/o365ingest/o365ingest/migrations/internal/ddl"
)

func main() {
	dir := flag.String("dir", "", "migrations directory (default: <module root>/migrations)")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		dir = filepath.Join(root, "migrations")
	}
	for _, d := range ddl.Dialects {
		text, err := ddl.Init(d)
		if err != nil {
			return fmt.Errorf("rendering %s: %w", d, err)
		}
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
		path := filepath.Join(dir, d, "00001_init.sql")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

// moduleRoot walks up from the working directory to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; pass -dir")
		}
		dir = parent
	}
}
