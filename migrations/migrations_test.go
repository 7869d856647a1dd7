package migrations_test

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/o365ingest/o365ingest/migrations"
	"github.com/o365ingest/o365ingest/migrations/internal/ddl"
	"github.com/o365ingest/o365ingest/schema"
)

// TestFilesMatchSchema fails when a checked-in migration file differs from what the
// generator writes from package schema, or when a directory holds a file the generator
// does not write (a hand-written migration or a renumbered version left behind).
func TestFilesMatchSchema(t *testing.T) {
	files, err := ddl.Schema().Files()
	if err != nil {
		t.Fatalf("package schema cannot be rendered: %v", err)
	}
	want := map[string]map[string]string{}
	for _, f := range files {
		if want[f.Dialect] == nil {
			want[f.Dialect] = map[string]string{}
		}
		want[f.Dialect][f.Name] = f.Text
	}
	for _, d := range migrations.Dialects {
		t.Run(d, func(t *testing.T) {
			fsys, err := migrations.FS(d)
			if err != nil {
				t.Fatal(err)
			}
			names, err := fs.Glob(fsys, "*.sql")
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range names {
				got, err := fs.ReadFile(fsys, name)
				if err != nil {
					t.Fatal(err)
				}
				text, ok := want[d][name]
				switch {
				case !ok:
					t.Errorf("migrations/%s/%s is not generated from package schema (every migration is): declare the change in schema/ and run `go generate ./migrations/...`", d, name)
				case string(got) != text:
					t.Errorf("migrations/%s/%s differs from what package schema generates: run `go generate ./migrations/...` and commit the result", d, name)
				}
				delete(want[d], name)
			}
			for name := range want[d] {
				t.Errorf("migrations/%s/%s is missing: run `go generate ./migrations/...` and commit the result", d, name)
			}
		})
	}
}

// TestReleasedFilesAreFrozen fails when a released migration (00001-00003) is not byte
// for byte the file that was released, whether it was edited by hand or regenerated
// after a declaration for a released version changed in schema/.
func TestReleasedFilesAreFrozen(t *testing.T) {
	files, err := ddl.Schema().Files()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range files {
		v, err := goose.NumericComponent(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if v > ddl.FrozenVersions {
			continue
		}
		seen++
		key := f.Dialect + "/" + f.Name
		want, ok := ddl.FrozenSHA256[key]
		if !ok {
			t.Errorf("%s: no released hash", key)
			continue
		}
		fsys, err := migrations.FS(f.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		checkedIn, err := fs.ReadFile(fsys, f.Name)
		if err != nil {
			t.Fatal(err)
		}
		for what, text := range map[string][]byte{"checked-in file": checkedIn, "generator's output": []byte(f.Text)} {
			if got := fmt.Sprintf("%x", sha256.Sum256(text)); got != want {
				t.Errorf("%s: %s has sha256 %s, released %s: versions 1-%d are frozen; declare the change with Since: %d (a new version) instead", key, what, got, want, ddl.FrozenVersions, schema.Newest()+1)
			}
		}
	}
	if seen != len(ddl.FrozenSHA256) {
		t.Errorf("generated %d released files, %d hashes recorded", seen, len(ddl.FrozenSHA256))
	}
}

// TestDialectsHaveSameVersions guards the rule that every dialect directory holds the same
// migration files, so a database on any dialect at version N has the same tables.
func TestDialectsHaveSameVersions(t *testing.T) {
	names := map[string][]string{}
	for _, d := range migrations.Dialects {
		fsys, err := migrations.FS(d)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := fs.Glob(fsys, "*")
		if err != nil {
			t.Fatal(err)
		}
		versions := map[int64]string{}
		for _, name := range entries {
			if path.Ext(name) != ".sql" {
				t.Errorf("%s/%s: only .sql migrations belong here", d, name)
				continue
			}
			v, err := goose.NumericComponent(name)
			if err != nil {
				t.Errorf("%s/%s: %v", d, name, err)
				continue
			}
			if other, dup := versions[v]; dup {
				t.Errorf("%s: version %d twice (%s and %s)", d, v, other, name)
			}
			versions[v] = name
		}
		names[d] = slices.Sorted(maps.Values(versions))
	}
	want := names[migrations.Dialects[0]]
	if len(want) == 0 {
		t.Fatalf("%s has no migrations", migrations.Dialects[0])
	}
	for _, d := range migrations.Dialects[1:] {
		if !slices.Equal(names[d], want) {
			t.Errorf("%s migrations %v, %s has %v: every dialect needs the same files", d, names[d], migrations.Dialects[0], want)
		}
	}
}

func TestDialectListsAgree(t *testing.T) {
	if !slices.Equal(migrations.Dialects, ddl.Dialects) {
		t.Errorf("migrations.Dialects %v != ddl.Dialects %v", migrations.Dialects, ddl.Dialects)
	}
	if _, err := migrations.FS("oracle"); err == nil {
		t.Error("FS(oracle) succeeded; want an error")
	}
}
