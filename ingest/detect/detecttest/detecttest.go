// Package detecttest gives the tests of ingest/detect and ingest/report real, migrated,
// isolated databases and a way to fill them with records built from small JSON
// documents. SQLite always; PostgreSQL and MariaDB/MySQL through
// O365INGEST_TEST_POSTGRES_DSN and O365INGEST_TEST_MYSQL_DSN (defaulting to the local
// services), skipped when unreachable unless CI is set, in which case the test fails.
//
// It migrates with goose straight from the embedded migrations, and inserts rows with
// plain parameterized INSERTs, so it depends on neither the sinks nor the pipeline.
package detecttest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/migrations"
	"github.com/o365ingest/o365ingest/schema"
)

// Default DSNs of the local test services.
const (
	DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultMySQLDSN    = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
)

// Drivers returns the dialects a test can run on here: sqlite always, postgres and
// mysql when their server answers. Outside CI an unreachable server is logged and left
// out; under CI (env CI non-empty) it fails the test.
func Drivers(t testing.TB) []string {
	t.Helper()
	out := []string{sink.DialectSQLite}
	for _, d := range []string{sink.DialectPostgres, sink.DialectMySQL} {
		if err := ping(d); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s test database unreachable under CI: %v", d, err)
			}
			t.Logf("skipping %s: %v", d, err)
			continue
		}
		out = append(out, d)
	}
	return out
}

func dsnOf(dialect string) string {
	switch dialect {
	case sink.DialectPostgres:
		if v := os.Getenv("O365INGEST_TEST_POSTGRES_DSN"); v != "" {
			return v
		}
		return DefaultPostgresDSN
	case sink.DialectMySQL:
		if v := os.Getenv("O365INGEST_TEST_MYSQL_DSN"); v != "" {
			return v
		}
		return DefaultMySQLDSN
	}
	return ""
}

func driverName(dialect string) string {
	switch dialect {
	case sink.DialectPostgres:
		return "pgx"
	case sink.DialectMySQL:
		return "mysql"
	}
	return "sqlite"
}

func ping(dialect string) error {
	db, err := sql.Open(driverName(dialect), dsnOf(dialect))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// Open returns a database of dialect (sqlite, postgres or mysql) of its own — a SQLite
// file in a temporary directory, a PostgreSQL schema or a MySQL database made for this
// test and dropped after it — migrated to the latest version.
func Open(t testing.TB, dialect string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	var db *sql.DB
	var err error
	switch dialect {
	case sink.DialectSQLite:
		db, err = sql.Open("sqlite", filepath.Join(t.TempDir(), "test.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
		if err == nil {
			db.SetMaxOpenConns(1)
		}
	case sink.DialectPostgres:
		name := "t_" + random()
		admin, err2 := sql.Open("pgx", dsnOf(dialect))
		if err2 != nil {
			t.Fatal(err2)
		}
		if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+name); err != nil {
			admin.Close()
			t.Fatalf("postgres: creating schema: %v", err)
		}
		t.Cleanup(func() {
			admin.ExecContext(context.Background(), `DROP SCHEMA `+name+` CASCADE`)
			admin.Close()
		})
		u, err2 := url.Parse(dsnOf(dialect))
		if err2 != nil {
			t.Fatalf("postgres DSN: %v", err2)
		}
		q := u.Query()
		q.Set("search_path", name)
		u.RawQuery = q.Encode()
		db, err = sql.Open("pgx", u.String())
	case sink.DialectMySQL:
		name := "t_" + random()
		admin, err2 := sql.Open("mysql", dsnOf(dialect))
		if err2 != nil {
			t.Fatal(err2)
		}
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
			admin.Close()
			t.Fatalf("mysql: creating database: %v", err)
		}
		t.Cleanup(func() {
			admin.ExecContext(context.Background(), "DROP DATABASE "+name)
			admin.Close()
		})
		cfg, err2 := mysql.ParseDSN(dsnOf(dialect))
		if err2 != nil {
			t.Fatalf("mysql DSN: %v", err2)
		}
		cfg.DBName = name
		cfg.ParseTime = true
		cfg.Loc = time.UTC
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["time_zone"] = "'+00:00'"
		db, err = sql.Open("mysql", cfg.FormatDSN())
	default:
		t.Fatalf("detecttest: unknown dialect %q", dialect)
	}
	if err != nil {
		t.Fatalf("%s: opening: %v", dialect, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := Migrate(ctx, db, dialect); err != nil {
		t.Fatalf("%s: %v", dialect, err)
	}
	return db
}

// Migrate applies every embedded migration of dialect to db.
func Migrate(ctx context.Context, db *sql.DB, dialect string) error {
	fsys, err := migrations.FS(dialect)
	if err != nil {
		return err
	}
	gd := map[string]goose.Dialect{
		sink.DialectSQLite: goose.DialectSQLite3, sink.DialectPostgres: goose.DialectPostgres,
		sink.DialectMySQL: goose.DialectMySQL, sink.DialectSQLServer: goose.DialectMSSQL,
	}[dialect]
	p, err := goose.NewProvider(gd, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("preparing migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating up: %w", err)
	}
	return nil
}

func random() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Tenant is the tenant id Record gives records that name none.
const Tenant = "7b1f4c2e-3a9d-4e61-b0c8-2f5d9a6e1c47"

// Record normalizes one raw JSON record (as the API sends it) for tenant Tenant,
// failing the test when it cannot be normalized.
func Record(t testing.TB, raw string) schema.Record {
	t.Helper()
	r, err := normalize.Record([]byte(raw), normalize.Source{TenantID: Tenant, ContentType: "Audit.General", ContentID: "test", IngestedAt: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatalf("normalizing test record: %v\n%s", err, raw)
	}
	return r
}

// Load inserts records (audit_record and audit_property rows) into db in one
// transaction, skipping none: a duplicate id fails the test.
func Load(t testing.TB, db *sql.DB, dialect string, recs []schema.Record) {
	t.Helper()
	if err := LoadContext(context.Background(), db, dialect, recs); err != nil {
		t.Fatal(err)
	}
}

// LoadContext is Load returning the error.
func LoadContext(ctx context.Context, db *sql.DB, dialect string, recs []schema.Record) error {
	cols := schema.AuditRecord.ColumnNames()
	q := func(s string) string {
		if dialect == sink.DialectMySQL {
			return "`" + s + "`"
		}
		return `"` + s + `"`
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = q(c)
	}
	insRec := sink.Rebind(dialect, "INSERT INTO audit_record ("+strings.Join(quoted, ", ")+") VALUES ("+strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")+")")
	insProp := sink.Rebind(dialect, "INSERT INTO audit_property (record_id, "+q("list")+", "+q("ordinal")+", "+q("name")+", "+q("value")+", old_value) VALUES (?, ?, ?, ?, ?, ?)")
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, r := range recs {
		args := make([]any, len(r.Values))
		for i, v := range r.Values {
			switch x := v.(type) {
			case time.Time:
				args[i] = sink.TimeValue(dialect, x)
			case bool:
				if dialect == sink.DialectSQLite {
					args[i] = map[bool]int64{false: 0, true: 1}[x]
				} else {
					args[i] = x
				}
			default:
				args[i] = v
			}
		}
		if _, err := tx.ExecContext(ctx, insRec, args...); err != nil {
			return fmt.Errorf("inserting record %s: %w", r.ID, err)
		}
		for _, p := range r.Props {
			if _, err := tx.ExecContext(ctx, insProp, r.ID, p.List, p.Ordinal, p.Name, p.Value, p.OldValue); err != nil {
				return fmt.Errorf("inserting property %s/%s.%d: %w", r.ID, p.List, p.Ordinal, err)
			}
		}
	}
	return tx.Commit()
}
