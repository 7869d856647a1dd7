package migrations_test

import (
	"io/fs"
	"maps"
	"path"
	"slices"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/o365ingest/o365ingest/migrations"
	"github.com/o365ingest/o365ingest/migrations/internal/ddl"
)

// TestInitMatchesSchema fails when schema/ changed and 00001_init.sql was not regenerated.
func TestInitMatchesSchema(t *testing.T) {
	for _, d := range migrations.Dialects {
		t.Run(d, func(t *testing.T) {
			fsys, err := migrations.FS(d)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fs.ReadFile(fsys, "00001_init.sql")
			if err != nil {
				t.Fatal(err)
			}
			want, err := ddl.Init(d)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Errorf("migrations/%s/00001_init.sql differs from what package schema generates (schema drift): run `go run ./migrations/internal/gen` and commit the result", d)
			}
		})
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
