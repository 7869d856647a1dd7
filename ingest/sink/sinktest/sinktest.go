// Package sinktest gives tests real, isolated databases for every sink: a fresh SQLite
// file, PostgreSQL schema, MariaDB/MySQL database or SQL Server database per test,
// migrated and dropped when the test ends, so packages and tests run in parallel.
//
// The servers come from environment variables (defaults in brackets):
//
//	O365INGEST_TEST_POSTGRES_DSN  [postgres://postgres@127.0.0.1:5432/test?sslmode=disable]
//	O365INGEST_TEST_MYSQL_DSN     [root@tcp(127.0.0.1:3306)/test?parseTime=true]
//	O365INGEST_TEST_MSSQL_DSN     [none: SQL Server tests run only when it is set]
//
// A test whose database cannot be reached is skipped, except when CI is set: then it
// fails, so a broken service cannot turn a CI run green. The user needs the right to
// create schemas (PostgreSQL) or databases (MySQL, SQL Server).
package sinktest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for schema setup
	_ "github.com/microsoft/go-mssqldb"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/internal/corpus"
	"github.com/o365ingest/o365ingest/schema"
)

// Environment variables naming the test servers.
const (
	EnvPostgres = "O365INGEST_TEST_POSTGRES_DSN"
	EnvMySQL    = "O365INGEST_TEST_MYSQL_DSN"
	EnvMSSQL    = "O365INGEST_TEST_MSSQL_DSN"
)

// Default DSNs of the local test services.
const (
	DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultMySQLDSN    = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
)

// Drivers lists the sinks to test: sqlite always, postgres and mysql (they skip at Open
// when their server is down), and sqlserver when O365INGEST_TEST_MSSQL_DSN is set.
func Drivers(t testing.TB) []string {
	t.Helper()
	d := []string{"sqlite", "postgres", "mysql"}
	if os.Getenv(EnvMSSQL) != "" {
		d = append(d, "sqlserver")
	}
	return d
}

// Unavailable skips the test, or fails it when CI is set: a missing service or corpus
// must not pass silently in CI.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so this cannot be skipped: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Open returns a sink on a fresh, migrated database of driver, closed and dropped when
// the test ends.
func Open(t testing.TB, driver string) sink.Sink {
	t.Helper()
	s := OpenUnmigrated(t, driver)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := sink.Migrate(ctx, s); err != nil {
		t.Fatalf("migrating %s: %v", driver, err)
	}
	return s
}

// OpenUnmigrated is Open without the migrations, for tests of migrating itself.
func OpenUnmigrated(t testing.TB, driver string) sink.Sink {
	t.Helper()
	dsn := DSN(t, driver)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sink.Open(ctx, driver, dsn)
	if err != nil {
		t.Fatalf("opening %s: %v", sink.Describe(driver, dsn), err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing %s: %v", driver, err)
		}
	})
	return s
}

// DSN creates an empty, isolated database for driver and returns its DSN; the database
// is dropped when the test ends (after cleanups registered later, such as closing a sink).
func DSN(t testing.TB, driver string) string {
	t.Helper()
	name, err := sink.DriverName(driver)
	if err != nil {
		t.Fatal(err)
	}
	switch name {
	case "sqlite":
		return filepath.Join(t.TempDir(), "o365.db")
	case "postgres":
		return postgresDSN(t)
	case "mysql":
		return mysqlDSN(t)
	case "sqlserver":
		return sqlserverDSN(t)
	}
	t.Fatalf("sinktest: no isolation for driver %s", name)
	return ""
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// uniqueName returns a fresh schema or database name.
func uniqueName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "o365t_" + hex.EncodeToString(b)
}

// connect opens and pings an administrative connection, or marks the test unavailable.
func connect(t testing.TB, driverName, dsn, describe string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		Unavailable(t, "%s: %v", describe, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		Unavailable(t, "%s unreachable: %v", describe, err)
	}
	return db
}

// dropLater drops what was created when the test ends, with a fresh context (the test's
// may be cancelled by then).
func dropLater(t testing.TB, db *sql.DB, stmt string) {
	t.Cleanup(func() {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Errorf("cleaning up (%s): %v", stmt, err)
		}
	})
}

func postgresDSN(t testing.TB) string {
	t.Helper()
	base := env(EnvPostgres, DefaultPostgresDSN)
	db := connect(t, "pgx", base, sink.Describe("postgres", base))
	name := uniqueName()
	if _, err := db.Exec("CREATE SCHEMA " + name); err != nil {
		db.Close()
		t.Fatalf("creating schema %s: %v", name, err)
	}
	dropLater(t, db, "DROP SCHEMA "+name+" CASCADE")
	// pgx passes unknown DSN parameters to the server as run-time parameters.
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		qv := u.Query()
		qv.Set("search_path", name)
		u.RawQuery = qv.Encode()
		return u.String()
	}
	return base + " search_path=" + name
}

func mysqlDSN(t testing.TB) string {
	t.Helper()
	base := env(EnvMySQL, DefaultMySQLDSN)
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvMySQL, err)
	}
	db := connect(t, "mysql", base, sink.Describe("mysql", base))
	name := uniqueName()
	if _, err := db.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		db.Close()
		t.Fatalf("creating database %s: %v", name, err)
	}
	dropLater(t, db, "DROP DATABASE "+name)
	cfg.DBName = name
	return cfg.FormatDSN()
}

func sqlserverDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvMSSQL)
	if base == "" {
		t.Skipf("%s is not set", EnvMSSQL)
	}
	db := connect(t, "sqlserver", base, sink.Describe("sqlserver", base))
	name := uniqueName()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		db.Close()
		t.Fatalf("creating database %s: %v", name, err)
	}
	// Sessions of the sink may still be pooled server-side; take the database over.
	dropLater(t, db, "ALTER DATABASE "+name+" SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE "+name)
	if strings.HasPrefix(base, "sqlserver://") {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		qv := u.Query()
		qv.Set("database", name)
		u.RawQuery = qv.Encode()
		return u.String()
	}
	return strings.TrimRight(base, ";") + ";database=" + name
}

// Root returns the module root (see internal/corpus).
func Root(t testing.TB) string { return corpus.Root(t) }

// CorpusDir returns the shared corpus directory (../shared/corpus from the module root),
// or skips (fails under CI) when it is absent. The corpus is never copied into the repo.
func CorpusDir(t testing.TB) string { return corpus.Dir(t) }

// CorpusRecord is one line of the corpus's records/*.jsonl.
type CorpusRecord struct {
	// File is the file's base name and Line the 1-based line number, for messages.
	File string
	Line int
	// Raw is the line as stored.
	Raw []byte
}

// String names the record for messages: file:line.
func (c CorpusRecord) String() string { return fmt.Sprintf("%s:%d", c.File, c.Line) }

// Corpus reads every record line of the corpus (records/*.jsonl, files in name order).
func Corpus(t testing.TB) []CorpusRecord {
	t.Helper()
	dir := filepath.Join(CorpusDir(t), "records")
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var out []CorpusRecord
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 64<<20)
		line := 0
		for sc.Scan() {
			line++
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			out = append(out, CorpusRecord{File: filepath.Base(f), Line: line, Raw: bytes.Clone(sc.Bytes())})
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no records in %s", dir)
	}
	return out
}

// Record builds a minimal valid record by hand: id, tenant "tenant-1", creation and
// ingest times fixed, raw {"Id": id}; set overrides columns by name (a nil value is
// NULL). It panics on an unknown column name, to catch typos in tests.
func Record(id string, set map[string]any) schema.Record {
	ct := time.Date(2026, 11, 20, 10, 30, 0, 123456000, time.UTC)
	r := schema.Record{ID: id, CreationTime: ct, Values: make([]any, len(schema.AuditRecord.Columns))}
	defaults := map[string]any{
		"id": id, "tenant_id": "tenant-1", "creation_time": ct,
		"ingested_at": time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC),
		"raw":         fmt.Sprintf(`{"Id":%q}`, id),
	}
	for k, v := range defaults {
		r.Values[schema.AuditRecord.ColumnIndex(k)] = v
	}
	for k, v := range set {
		i := schema.AuditRecord.ColumnIndex(k)
		if i < 0 {
			panic("sinktest.Record: no column " + k)
		}
		r.Values[i] = v
		if k == "creation_time" {
			if tm, ok := v.(time.Time); ok {
				r.CreationTime = tm
			}
		}
	}
	return r
}

// ErrInjected is the error tests inject into a Load to check that it rolls back.
var ErrInjected = errors.New("injected failure")

// StoredIDs returns every record id the database holds, in audit_record and in
// quarantine, sorted, with repeats kept, so a caller can tell a lost record from a
// doubled one.
func StoredIDs(t testing.TB, db *sql.DB) []string {
	t.Helper()
	var ids []string
	for _, q := range []string{`SELECT id FROM audit_record`, `SELECT record_id FROM quarantine WHERE record_id IS NOT NULL AND record_id <> ''`} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	sort.Strings(ids)
	return ids
}
