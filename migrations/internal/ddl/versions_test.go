package ddl_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/migrations/internal/ddl"
	"github.com/o365ingest/o365ingest/schema"
)

// next is the version the tests declare on top of package schema's.
var next = schema.Newest() + 1

// changed returns package schema's Source plus a version next that declares one of each
// change: columns of each kind added to audit_record with indexes, a column added to an
// alert table, a column made case-insensitive, an index dropped and one made partial, a
// new table, and a view rewritten with a new column.
func changed() ddl.Source {
	src := ddl.Schema()
	src.Versions = append(append([]schema.Version(nil), src.Versions...), schema.Version{Number: next, Name: "test_change", Doc: "A test."})
	var tables []*schema.Table
	for _, t := range src.Tables {
		c := *t
		c.Columns = append([]schema.Column(nil), t.Columns...)
		c.Indexes = append([]schema.Index(nil), t.Indexes...)
		switch t.Name {
		case "audit_record":
			c.Columns = append(c.Columns,
				schema.Column{Name: "added_key", Type: schema.Key, Size: 64, Since: next},
				schema.Column{Name: "added_text", Type: schema.Text, Since: next},
				schema.Column{Name: "added_json", Type: schema.JSON, Since: next},
				schema.Column{Name: "added_flag", Type: schema.Bool, Since: next})
			c.Indexes = append(c.Indexes,
				schema.Index{Name: "ix_audit_record_added_key", Columns: []string{"added_key", "creation_time"}, Since: next},
				schema.Index{Name: "ix_audit_record_added_text", Columns: []string{"added_text"}, Since: next},
				schema.Index{Name: "ix_audit_record_item_folder", Columns: []string{"item_folder"}, Since: next})
			for i, col := range c.Columns {
				if col.Name == "client_info_string" {
					c.Columns[i].FoldCase = next
				}
			}
			// An index dropped and one made partial (PostgreSQL, SQLite).
			for i, ix := range c.Indexes {
				switch ix.Name {
				case "ix_audit_record_object":
					c.Indexes[i].Dropped = next
				case "ix_audit_record_user_time":
					c.Indexes[i].Sparse = next
				}
			}
		case "alert":
			c.Columns = append(c.Columns, schema.Column{Name: "added_time", Type: schema.Time, Since: next})
		}
		tables = append(tables, &c)
	}
	tables = append(tables, &schema.Table{Name: "added_table", Since: next, Columns: []schema.Column{
		{Name: "k", Type: schema.Key, Size: 64, NotNull: true}, {Name: "v", Type: schema.JSON}},
		PrimaryKey: []string{"k"}, Indexes: []schema.Index{{Name: "ix_added_table_v", Columns: []string{"v"}}}})
	src.Tables = tables
	var views []schema.View
	for _, v := range src.Views {
		if v.Name == "v_file_activity" {
			v.Defs = append(append([]schema.ViewDef(nil), v.Defs...), schema.ViewDef{Since: next,
				SQL: strings.Replace(v.Defs[0].SQL, "r.user_agent\n", "r.user_agent,\n       r.added_key\n", 1)})
		}
		views = append(views, v)
	}
	src.Views = views
	return src
}

// TestReleasedVersionsUnchangedByANewOne: declaring a new version changes no earlier file.
func TestReleasedVersionsUnchangedByANewOne(t *testing.T) {
	now, err := ddl.Schema().Files()
	if err != nil {
		t.Fatal(err)
	}
	next, err := changed().Files()
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]string{}
	for _, f := range now {
		old[f.Dialect+"/"+f.Name] = f.Text
	}
	for _, f := range next {
		if text, ok := old[f.Dialect+"/"+f.Name]; ok && text != f.Text {
			t.Errorf("%s/%s changed when version 4 was declared", f.Dialect, f.Name)
		}
	}
}

var gooseDialect = map[string]goose.Dialect{
	"postgres": goose.DialectPostgres, "mysql": goose.DialectMySQL,
	"sqlserver": goose.DialectMSSQL, "sqlite": goose.DialectSQLite3,
}

// TestNewVersionAppliesAndRollsBack runs the generated version next of changed() on
// every database: up from the version before, the new columns, indexes, table, view
// column and case-insensitive comparison there; down again, all gone; up again.
func TestNewVersionAppliesAndRollsBack(t *testing.T) {
	src := changed()
	files, err := src.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s := sinktest.OpenUnmigrated(t, driver)
			d := s.Handle().Dialect.Name()
			fsys := fstest.MapFS{}
			for _, f := range files {
				if f.Dialect == d {
					fsys[f.Name] = &fstest.MapFile{Data: []byte(f.Text)}
				}
			}
			p, err := goose.NewProvider(gooseDialect[d], s.Handle().DB, fsys, goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, int64(next-1)); err != nil {
				t.Fatal(err)
			}
			has := func(query string) bool {
				rows, err := s.Handle().DB.QueryContext(ctx, query)
				if err != nil {
					return false
				}
				rows.Close()
				return true
			}
			probes := []string{
				"SELECT added_key, added_text, added_json, added_flag FROM audit_record",
				"SELECT added_time FROM alert",
				"SELECT k, v FROM added_table",
				"SELECT added_key FROM v_file_activity",
			}
			check := func(when string, want bool) {
				t.Helper()
				for _, q := range probes {
					if got := has(q); got != want {
						t.Errorf("%s: %q works: %v, want %v", when, q, got, want)
					}
				}
				if !has("SELECT record_id, user_agent FROM v_file_activity") {
					t.Errorf("%s: v_file_activity does not answer", when)
				}
			}
			now := s.Handle().Dialect.Time(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
			if _, err := s.Handle().DB.ExecContext(ctx, s.Handle().Dialect.Rebind(`INSERT INTO audit_record (id, tenant_id, creation_time, ingested_at, raw, client_info_string) VALUES (?, ?, ?, ?, ?, ?)`),
				"r1", "t", now, now, `{"Id":"r1"}`, "Client=OWA"); err != nil {
				t.Fatal(err)
			}
			folded := func() int {
				var n int
				if err := s.Handle().DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_record WHERE client_info_string = 'CLIENT=owa'").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			check("before", false)
			if folded() != 0 {
				t.Error("before: client_info_string compares case-insensitively already")
			}
			for round := 1; round <= 2; round++ {
				if _, err := p.Up(ctx); err != nil {
					t.Fatalf("up (round %d): %v", round, err)
				}
				check("at the new version", true)
				if folded() != 1 {
					t.Error("at the new version: client_info_string does not compare case-insensitively (or the row was lost)")
				}
				if _, err := p.DownTo(ctx, int64(next-1)); err != nil {
					t.Fatalf("down (round %d): %v", round, err)
				}
				check("back at the version before", false)
				if folded() != 0 {
					t.Error("back at the version before: client_info_string still compares case-insensitively")
				}
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*ddl.Source)
		want string
	}{
		{"a NOT NULL column added to an existing table", func(s *ddl.Source) {
			s.Tables[0].Columns = append(s.Tables[0].Columns, schema.Column{Name: "x", Type: schema.Int, NotNull: true, Since: next})
		}, "must be nullable"},
		{"a Since naming no version", func(s *ddl.Source) {
			s.Tables[0].Columns = append(s.Tables[0].Columns, schema.Column{Name: "x", Type: schema.Int, Since: next + 5})
		}, "not in schema.Versions"},
		{"an index older than its column", func(s *ddl.Source) {
			s.Tables[0].Indexes = append(s.Tables[0].Indexes, schema.Index{Name: "ix_x", Columns: []string{"added_key"}, Since: next - 1})
		}, "after the index"},
		{"a version out of order", func(s *ddl.Source) { s.Versions[next-1].Number = next + 1 }, "is version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := changed()
			tc.edit(&src)
			err := src.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
