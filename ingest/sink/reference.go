package sink

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/o365ingest/o365ingest/schema"
)

// The reference loaders of the benchmark (o365ingest bench, package ingest/bench): what
// the database's own bulk loader does with rows already normalized and held in memory,
// and what a row-at-a-time collector does. They are not load paths: no dedup, no
// ledger, no validation beyond the driver's own. Use them on benchmark tables only.

// BulkLimiter is implemented by sinks that can write records by their database's fastest
// native path, straight into audit_record and audit_property: COPY FROM STDIN on
// PostgreSQL, LOAD DATA LOCAL INFILE on MySQL/MariaDB, bulk copy on SQL Server, one
// transaction of prepared INSERTs on SQLite. A record id already stored fails the call
// (there is no dedup): load into empty tables. It is the physical limit the pipeline is
// measured against.
type BulkLimiter interface {
	BulkLimit(ctx context.Context, recs []schema.Record) error
}

// LimitShape is what a shaped bulk-limit load writes (the benchmark's --schema-cost
// variants): Columns of audit_record (nil: every column; the others are left NULL) and
// whether the property rows go in too.
type LimitShape struct {
	Columns []string
	NoProps bool
	// ScrubRaw (PostgreSQL) replaces the escapes jsonb cannot hold in raw (\u0000, a
	// lone surrogate) with \ufffd, for a raw column that is jsonb (before 00009).
	ScrubRaw bool
}

// ShapedBulkLimiter is a BulkLimiter that loads a subset of the columns, or no
// property rows (LimitShape).
type ShapedBulkLimiter interface {
	BulkLimiter
	BulkLimitShape(ctx context.Context, recs []schema.Record, shape LimitShape) error
}

// shapeColumns returns the column names shape loads and their positions in a record's
// Values (nil positions: every column in order).
func shapeColumns(shape LimitShape) ([]string, []int, error) {
	if shape.Columns == nil {
		return schema.AuditRecord.ColumnNames(), nil, nil
	}
	at := make([]int, len(shape.Columns))
	for i, c := range shape.Columns {
		if at[i] = schema.AuditRecord.ColumnIndex(c); at[i] < 0 {
			return nil, nil, fmt.Errorf("no column audit_record.%s", c)
		}
	}
	return shape.Columns, at, nil
}

func pick(vals []any, at []int) []any {
	if at == nil {
		return vals
	}
	out := make([]any, len(at))
	for i, j := range at {
		out[i] = vals[j]
	}
	return out
}

// BulkLimit COPYs the records and their properties straight into the tables, in one
// transaction.
func (s *Postgres) BulkLimit(ctx context.Context, recs []schema.Record) error {
	return s.BulkLimitShape(ctx, recs, LimitShape{})
}

// BulkLimitShape is BulkLimit with the columns and properties of shape.
func (s *Postgres) BulkLimitShape(ctx context.Context, recs []schema.Record, shape LimitShape) error {
	cols, at, err := shapeColumns(shape)
	if err != nil {
		return err
	}
	if err := s.ensurePartitions(ctx, recs); err != nil {
		return err
	}
	rawAt := schema.AuditRecord.ColumnIndex("raw")
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_record"}, cols,
			pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
				vals := pgRecordValues(recs[i])
				if shape.ScrubRaw {
					if raw, ok := vals[rawAt].(string); ok {
						if fixed, changed := pgScrubJSON(raw); changed {
							vals = append([]any(nil), vals...)
							vals[rawAt] = fixed
						}
					}
				}
				return pick(vals, at), nil
			})); err != nil {
			return fmt.Errorf("postgres: copying records: %w", err)
		}
		if shape.NoProps {
			return nil
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_property"}, schema.AuditProperty.ColumnNames(), newPropSource(recs)); err != nil {
			return fmt.Errorf("postgres: copying properties: %w", err)
		}
		return nil
	})
}

// propSource streams the properties of records to CopyFrom without building them all.
type propSource struct {
	recs     []schema.Record
	r, p     int
	current  []any
	id, list any // the current record's id and property list, boxed
}

func newPropSource(recs []schema.Record) *propSource { return &propSource{recs: recs, p: -1} }

func (s *propSource) Next() bool {
	s.p++
	for s.r < len(s.recs) && s.p >= len(s.recs[s.r].Props) {
		s.r, s.p = s.r+1, 0
	}
	if s.r >= len(s.recs) {
		return false
	}
	// One row at a time: CopyFrom encodes a row before it asks for the next.
	// propValues, with a record's id and the list shared with the row before boxed
	// once rather than per row.
	r, p := &s.recs[s.r], s.recs[s.r].Props[s.p]
	if s.p == 0 {
		s.id = r.ID
	}
	if s.p == 0 || p.List != r.Props[s.p-1].List {
		s.list = p.List
	}
	var v, old any
	if p.Value.Valid {
		v = p.Value.String
	}
	if p.OldValue.Valid {
		old = p.OldValue.String
	}
	s.current = append(s.current[:0], s.id, s.list, int64(p.Ordinal), p.Name, v, old)
	pgScrubNUL(s.current, nil)
	return true
}

func (s *propSource) Values() ([]any, error) { return s.current, nil }
func (s *propSource) Err() error             { return nil }

// BulkLimit sends the records and their properties as TSV through LOAD DATA LOCAL INFILE,
// in one transaction. The server's local_infile must be ON.
func (s *MySQL) BulkLimit(ctx context.Context, recs []schema.Record) error {
	return s.BulkLimitShape(ctx, recs, LimitShape{})
}

// BulkLimitShape is BulkLimit with the columns and properties of shape.
func (s *MySQL) BulkLimitShape(ctx context.Context, recs []schema.Record, shape LimitShape) error {
	_, at, err := shapeColumns(shape)
	if err != nil {
		return err
	}
	t := &schema.AuditRecord
	if at != nil {
		narrow := *t
		narrow.Columns = nil
		for _, j := range at {
			narrow.Columns = append(narrow.Columns, t.Columns[j])
		}
		t = &narrow
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := s.loadData(ctx, tx, t, len(recs), func(i int) []any { return pick(recs[i].Values, at) }); err != nil {
		return err
	}
	if !shape.NoProps {
		var props [][]any
		for _, r := range recs {
			for _, p := range r.Props {
				props = append(props, propValues(r.ID, p))
			}
		}
		if _, err := s.loadData(ctx, tx, &schema.AuditProperty, len(props), func(i int) []any { return props[i] }); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// BulkLimit inserts the records and their properties with one prepared INSERT each, in
// one transaction.
func (s *SQLite) BulkLimit(ctx context.Context, recs []schema.Record) error {
	return s.BulkLimitShape(ctx, recs, LimitShape{})
}

// BulkLimitShape is BulkLimit with the columns and properties of shape.
func (s *SQLite) BulkLimitShape(ctx context.Context, recs []schema.Record, shape LimitShape) error {
	cols, at, err := shapeColumns(shape)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	recStmt, err := tx.PrepareContext(ctx, s.d.rebind(fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)",
		s.d.quote("audit_record"), s.d.columns(cols), placeholders(len(cols)))))
	if err != nil {
		return err
	}
	defer recStmt.Close()
	propStmt, err := tx.PrepareContext(ctx, s.d.insertSQL(&schema.AuditProperty))
	if err != nil {
		return err
	}
	defer propStmt.Close()
	for _, r := range recs {
		if _, err := recStmt.ExecContext(ctx, s.d.args(pick(r.Values, at))...); err != nil {
			return fmt.Errorf("sqlite: storing record %s: %w", r.ID, err)
		}
		if shape.NoProps {
			continue
		}
		for _, p := range r.Props {
			if _, err := propStmt.ExecContext(ctx, propValues(r.ID, p)...); err != nil {
				return fmt.Errorf("sqlite: storing a property of record %s: %w", r.ID, err)
			}
		}
	}
	return tx.Commit()
}

// BulkLimit bulk-copies the records and their properties straight into the tables, in
// one transaction.
func (s *SQLServer) BulkLimit(ctx context.Context, recs []schema.Record) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	copyIn := func(t *schema.Table, n int, row func(i int) []any) error {
		stmt, err := tx.PrepareContext(ctx, mssql.CopyIn(t.Name, mssql.BulkOptions{Tablock: true}, t.ColumnNames()...))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range n {
			if _, err := stmt.ExecContext(ctx, row(i)...); err != nil {
				return err
			}
		}
		_, err = stmt.ExecContext(ctx)
		return err
	}
	if err := copyIn(&schema.AuditRecord, len(recs), func(i int) []any { return recs[i].Values }); err != nil {
		return fmt.Errorf("sqlserver: bulk copy of records: %w", err)
	}
	var props [][]any
	for _, r := range recs {
		for _, p := range r.Props {
			props = append(props, propValues(r.ID, p))
		}
	}
	if err := copyIn(&schema.AuditProperty, len(props), func(i int) []any { return props[i] }); err != nil {
		return fmt.Errorf("sqlserver: bulk copy of properties: %w", err)
	}
	return tx.Commit()
}

// RowInsert returns the statement a row-at-a-time collector runs for each record (one
// INSERT of the audit_record row, autocommitted) in dialect, and the arguments it takes
// for a record.
func RowInsert(dialect string) (string, func(r schema.Record) []any, error) {
	d, err := DialectFor(dialect)
	if err != nil {
		return "", nil, err
	}
	return d.insertSQL(&schema.AuditRecord), func(r schema.Record) []any {
		vals := r.Values
		if d.name == DialectPostgres {
			vals = pgRecordValues(r)
		}
		return d.args(vals)
	}, nil
}

// OpenRaw opens a plain database/sql handle on dsn for driver, configured as the sink
// configures its own connections (MySQL session settings, SQLite pragmas), without
// checking that it is reachable. The benchmark uses it for its new-connection-per-row
// reference.
func OpenRaw(driver, dsn string) (*sql.DB, error) {
	n, err := DriverName(driver)
	if err != nil {
		return nil, err
	}
	switch n {
	case "postgres":
		return sql.Open("pgx", dsn)
	case "mysql":
		cfg, err := mysqlConfig(dsn)
		if err != nil {
			return nil, err
		}
		return sql.Open("mysql", cfg.FormatDSN())
	case "sqlite":
		return sql.Open("sqlite", sqliteDSN(dsn))
	default:
		return sql.Open("sqlserver", dsn)
	}
}
