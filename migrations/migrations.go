// Package migrations holds o365ingest's goose migrations, one directory per SQL dialect
// (postgres, mysql, sqlserver, sqlite), embedded in the binary. Every directory has the same
// version numbers and file names, every one generated from package schema (see
// README.md for the rules a new migration follows).
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
)

//go:generate go run ./internal/gen

// Every directory with .sql files is a dialect's: a new dialect's generated directory is
// embedded without an edit here.
//
//go:embed */*.sql
var files embed.FS

// Dialects lists the dialects that have a migration directory, sorted.
var Dialects = func() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}()

// FS returns the migrations of dialect (postgres, mysql, sqlserver or sqlite) with the
// .sql files at its root, as goose.NewProvider expects.
func FS(dialect string) (fs.FS, error) {
	if !slices.Contains(Dialects, dialect) {
		return nil, fmt.Errorf("migrations: no migrations for dialect %q (want one of %v)", dialect, Dialects)
	}
	return fs.Sub(files, dialect)
}
