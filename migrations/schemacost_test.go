package migrations_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// indexNames lists the ix_ indexes of table.
func indexNames(t *testing.T, ctx context.Context, s sink.Sink, table string) []string {
	t.Helper()
	var q string
	switch s.Handle().Dialect.Name() {
	case sink.DialectPostgres:
		q = `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 AND indexname LIKE 'ix\_%' ORDER BY 1`
	case sink.DialectMySQL:
		q = `SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME LIKE 'ix\_%' ORDER BY 1`
	default:
		q = `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND name LIKE 'ix\_%' ESCAPE '\' ORDER BY 1`
	}
	rows, err := s.Handle().DB.QueryContext(ctx, q, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// rawOf reads a record's raw column as text.
func rawOf(t *testing.T, ctx context.Context, s sink.Sink, id string) string {
	t.Helper()
	q := `SELECT raw FROM audit_record WHERE id = ?`
	if s.Handle().Dialect.Name() == sink.DialectPostgres {
		q = `SELECT raw::text FROM audit_record WHERE id = $1`
	}
	var raw string
	if err := s.Handle().DB.QueryRowContext(ctx, q, id).Scan(&raw); err != nil {
		t.Fatalf("raw of %s: %v", id, err)
	}
	return raw
}

func sameJSON(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

// TestSchemaCostUpgrade: version 9 on a database holding records at version 8. The
// records and their properties are all there afterwards, raw means the same (PostgreSQL:
// jsonb's text, now json), the dropped indexes are gone and the partial ones are
// partial; a record loaded since keeps raw byte for byte, \u0000 included (PostgreSQL
// jsonb could not); Down to 8 gives the indexes back and, on PostgreSQL, jsonb (the
// \u0000 as U+FFFD).
func TestSchemaCostUpgrade(t *testing.T) {
	const v = schema.SchemaCostVersion
	for _, driver := range sinktest.Drivers(t) {
		if driver == "sqlserver" {
			continue
		}
		t.Run(driver, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			s := sinktest.OpenUnmigrated(t, driver)
			p := gooseProvider(t, s)
			if _, err := p.UpTo(ctx, v-1); err != nil {
				t.Fatal(err)
			}
			d := s.Handle().Dialect.Name()
			recs := identityRecords()
			old := sinktest.Record("sc-old", map[string]any{"raw": `{"Id":"sc-old",  "B":1, "A":[1,2], "B":2}`})
			old.Props = []schema.Property{prop("Parameters", 0, "ForwardTo", "x@example.com")}
			recs = append(recs, old)
			if _, err := s.Load(ctx, sink.RecordsOnly(recs...)); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, ctx, s)
			oldRaw := rawOf(t, ctx, s, "sc-old")
			recIx, propIx := indexNames(t, ctx, s, "audit_record"), indexNames(t, ctx, s, "audit_property")

			// As a command does: sink.Migrate, which also drops the connections'
			// cached statement descriptions (raw's type changes on PostgreSQL).
			if err := sink.MigrateTo(ctx, s, v); err != nil {
				t.Fatalf("migrating to %d: %v", v, err)
			}
			after := snapshot(t, ctx, s)
			for name := range before {
				if name != "audit_record" && name != "audit_property" {
					delete(before, name)
					delete(after, name)
				}
			}
			if diff := compareSnapshots(before, after); diff != "" {
				t.Errorf("rows changed by version %d:\n%s", v, diff)
			}
			if got := rawOf(t, ctx, s, "sc-old"); got != oldRaw {
				t.Errorf("raw of a stored record: %s, was %s", got, oldRaw)
			}
			gone := []string{"ix_audit_record_tenant_time", "ix_audit_record_content"}
			for _, ix := range gone {
				if slices.Contains(indexNames(t, ctx, s, "audit_record"), ix) || !slices.Contains(recIx, ix) {
					t.Errorf("%s: at %d %v, at %d %v", ix, v-1, recIx, v, indexNames(t, ctx, s, "audit_record"))
				}
			}
			nameKept := d == sink.DialectMySQL
			if got := slices.Contains(indexNames(t, ctx, s, "audit_property"), "ix_audit_property_name"); got != nameKept || !slices.Contains(propIx, "ix_audit_property_name") {
				t.Errorf("ix_audit_property_name after %d: %v (want %v), before %v", v, got, nameKept, propIx)
			}
			if d == sink.DialectPostgres {
				// lz4 on the parent and its partitions (PostgreSQL 14+ with lz4).
				var n, lz4 int
				if err := s.Handle().DB.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE attcompression = 'l') FROM pg_attribute
					WHERE attname = 'raw' AND (attrelid = to_regclass('audit_record') OR attrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass('audit_record')))`).Scan(&n, &lz4); err != nil {
					t.Fatal(err)
				}
				var version int
				s.Handle().DB.QueryRowContext(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version)
				if n < 2 || (version >= 140000 && lz4 != n) {
					t.Errorf("raw compression: %d of %d tables lz4 (server %d)", lz4, n, version)
				}
			}
			if d != sink.DialectMySQL {
				var def string
				q := `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'ix_audit_record_actor_time'`
				if d == sink.DialectSQLite {
					q = `SELECT sql FROM sqlite_schema WHERE name = 'ix_audit_record_actor_time'`
				}
				if err := s.Handle().DB.QueryRowContext(ctx, q).Scan(&def); err != nil {
					t.Fatal(err)
				}
				if !containsFold(def, `WHERE`) || !containsFold(def, `IS NOT NULL`) {
					t.Errorf("ix_audit_record_actor_time is not partial: %s", def)
				}
			}

			const nul = `{"Id":"sc-nul", "Subject":"a\u0000b",  "Half":"\udc00", "Id":"sc-nul"}`
			// MariaDB's json_valid refuses a lone surrogate escape.
			const nulMySQL = `{"Id":"sc-nul", "Subject":"a\u0000b",  "Id":"sc-nul"}`
			fresh := sinktest.Record("sc-nul", map[string]any{"raw": nul})
			if d == sink.DialectMySQL {
				fresh = sinktest.Record("sc-nul", map[string]any{"raw": nulMySQL})
			}
			if _, err := s.Load(ctx, sink.RecordsOnly(fresh)); err != nil {
				t.Fatal(err)
			}
			got := rawOf(t, ctx, s, "sc-nul")
			if d == sink.DialectMySQL {
				// MariaDB keeps the text; MySQL 8's binary JSON normalizes it.
				if got != nulMySQL && !sameJSON(got, `{"Id":"sc-nul","Subject":"a\u0000b"}`) {
					t.Errorf("raw = %s", got)
				}
			} else if got != nul {
				t.Errorf("raw = %s, want byte for byte %s", got, nul)
			}

			if _, err := p.DownTo(ctx, v-1); err != nil {
				t.Fatalf("down to %d: %v", v-1, err)
			}
			if got := indexNames(t, ctx, s, "audit_record"); !reflect.DeepEqual(got, recIx) {
				t.Errorf("indexes after down: %v, want %v", got, recIx)
			}
			if got := indexNames(t, ctx, s, "audit_property"); !reflect.DeepEqual(got, propIx) {
				t.Errorf("property indexes after down: %v, want %v", got, propIx)
			}
			if d == sink.DialectPostgres {
				var typ string
				if err := s.Handle().DB.QueryRowContext(ctx, `SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'audit_record' AND column_name = 'raw'`).Scan(&typ); err != nil {
					t.Fatal(err)
				}
				var subject sql.NullString
				if err := s.Handle().DB.QueryRowContext(ctx, `SELECT raw->>'Subject' FROM audit_record WHERE id = 'sc-nul'`).Scan(&subject); err != nil {
					t.Fatal(err)
				}
				if typ != "jsonb" || subject.String != "a\uFFFDb" {
					t.Errorf("after down: raw %s, Subject %q", typ, subject.String)
				}
			}
			if _, err := p.UpTo(ctx, v); err != nil {
				t.Fatalf("up again: %v", err)
			}
		})
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToUpper(s), strings.ToUpper(sub))
}
