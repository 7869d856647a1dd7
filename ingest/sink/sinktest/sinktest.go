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
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for schema setup
	_ "github.com/microsoft/go-mssqldb"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/internal/corpus"
	"github.com/o365ingest/o365ingest/schema"
)

// Environment variables naming the test servers (from the driver table).
var (
	EnvPostgres = driver("postgres").TestEnv
	EnvMySQL    = driver("mysql").TestEnv
	EnvMSSQL    = driver("sqlserver").TestEnv
)

// Default DSNs of the local test services (from the driver table).
var (
	DefaultPostgresDSN = driver("postgres").TestDSN
	DefaultMySQLDSN    = driver("mysql").TestDSN
)

func driver(name string) *sink.Driver {
	d, err := sink.LookupDriver(name)
	if err != nil {
		panic(err)
	}
	return d
}

// Drivers lists the sinks to test, from sink's driver table: every driver with a local
// test server (sqlite always; postgres and mysql, which skip at Open when their server
// is down, or fail under CI), and the others when their TestEnv variable is set
// (sqlserver: O365INGEST_TEST_MSSQL_DSN).
func Drivers(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, d := range sink.DriverTable() {
		if d.TestDSN != "" || (d.TestEnv != "" && os.Getenv(d.TestEnv) != "") {
			out = append(out, d.Name)
		}
	}
	return out
}

// ServerDSN returns the DSN of the test server of driver: its TestEnv variable, else
// its local default; "" for sqlite (a file) or a driver without a server here.
func ServerDSN(driverName string) string {
	d := driver(driverName)
	if d.TestEnv == "" {
		return ""
	}
	return env(d.TestEnv, d.TestDSN)
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
func DSN(t testing.TB, driverName string) string {
	t.Helper()
	d, err := sink.LookupDriver(driverName)
	if err != nil {
		t.Fatal(err)
	}
	var base string
	if d.TestEnv == "" {
		base = filepath.Join(t.TempDir(), "o365.db")
	} else if base = ServerDSN(d.Name); base == "" {
		t.Skipf("%s is not set", d.TestEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc, err := d.NewScratch(ctx, base, uniqueName())
	if err != nil {
		Unavailable(t, "%s: %v", sink.Describe(d.Name, base), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sc.Drop(ctx); err != nil {
			t.Errorf("dropping the test database of %s: %v", d.Name, err)
		}
	})
	return sc.DSN
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
