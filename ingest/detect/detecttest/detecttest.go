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
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// Drivers returns the dialects a test can run on here, as sinktest gives them (from
// sink's driver table): sqlite always, the servers' when they answer (or fail under CI).
func Drivers(t testing.TB) []string { return sinktest.Drivers(t) }

// Open returns a database of dialect of its own — a SQLite file in a temporary
// directory, a PostgreSQL schema or a MySQL database made for this test and dropped
// after it (see sinktest) — migrated to the latest version.
func Open(t testing.TB, dialect string) *sql.DB {
	t.Helper()
	return sinktest.Open(t, dialect).Handle().DB
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

// Handle returns the read handle of db in dialect, as a sink gives it.
func Handle(db *sql.DB, dialect string) sink.Handle {
	d, err := sink.DialectFor(dialect)
	if err != nil {
		panic(err)
	}
	return sink.Handle{DB: db, Dialect: d}
}

// LoadContext is Load returning the error.
func LoadContext(ctx context.Context, db *sql.DB, dialect string, recs []schema.Record) error {
	cols := schema.AuditRecord.ColumnNames()
	d := Handle(db, dialect).Dialect
	q := d.Quote
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = q(c)
	}
	insRec := d.Rebind("INSERT INTO audit_record (" + strings.Join(quoted, ", ") + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")")
	insProp := d.Rebind("INSERT INTO audit_property (record_id, " + q("list") + ", " + q("ordinal") + ", " + q("name") + ", " + q("value") + ", old_value) VALUES (?, ?, ?, ?, ?, ?)")
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
				args[i] = d.Time(x)
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
