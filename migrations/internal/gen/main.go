// Command gen writes every migration file, migrations/<dialect>/NNNNN_<name>.sql, from
// package schema (ddl.Schema), and removes any other .sql file there. Run it with
//
//	go generate ./migrations/...
//
// (or go run ./migrations/internal/gen from anywhere inside the module). The migrations
// tests render the files in memory and fail when the checked-in ones differ.
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
	files, err := ddl.Schema().Files()
	if err != nil {
		return err
	}
	written := map[string]bool{}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Join(dir, f.Dialect), 0o755); err != nil {
			return err
		}
		path := filepath.Join(dir, f.Dialect, f.Name)
		if err := os.WriteFile(path, []byte(f.Text), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		written[path] = true
	}
	for _, d := range ddl.Dialects {
		old, err := filepath.Glob(filepath.Join(dir, d, "*.sql"))
		if err != nil {
			return err
		}
		for _, path := range old {
			if !written[path] {
				if err := os.Remove(path); err != nil {
					return err
				}
				fmt.Fprintln(os.Stderr, "gen: removed", path, "(no such version in schema.Versions)")
			}
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
