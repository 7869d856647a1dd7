package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/examples"
	"github.com/o365ingest/o365ingest/ingest/sink"
)

// QueryResult is one documented example query timed on a database.
type QueryResult struct {
	Name string
	// Rows is how many rows it returned.
	Rows int
	// First is the first run's time, Best the best of Runs runs.
	First, Best time.Duration
	// Indexes are the indexes EXPLAIN shows; Expected whether one of the query's own
	// (examples.Query.Indexes) is among them (always true for a query without).
	Indexes  []string
	Expected bool
	Err      error
}

// Runs is how many times each query runs.
const Runs = 3

// RunQueries refreshes the planner's statistics and runs every documented example
// (examples.Queries) on h's database, Runs times each, with its EXPLAIN; it prints one
// line per query to out and returns the results. SQL Server has no EXPLAIN reader here:
// its queries are timed only.
func RunQueries(ctx context.Context, h sink.Handle, out io.Writer) ([]QueryResult, error) {
	d := h.Dialect.Name()
	if err := analyze(ctx, h.DB, d); err != nil {
		return nil, err
	}
	var res []QueryResult
	fmt.Fprintf(out, "queries on %s (best of %d runs; index: what EXPLAIN shows):\n", d, Runs)
	for _, q := range examples.Queries {
		text := strings.TrimSuffix(q.For(d), ";")
		r := QueryResult{Name: q.Name}
		for i := range Runs {
			start := time.Now()
			n, err := drain(ctx, h.DB, text)
			took := time.Since(start)
			if err != nil {
				r.Err = err
				break
			}
			r.Rows = n
			if i == 0 || took < r.Best {
				r.Best = took
			}
			if i == 0 {
				r.First = took
			}
		}
		if r.Err == nil && d != "sqlserver" {
			_, used, err := examples.Explain(ctx, h.DB, d, text)
			if err != nil {
				r.Err = err
			}
			r.Indexes = dedup(used)
			r.Expected = len(q.Indexed(d)) == 0 || examples.Serves(used, q.Indexed(d))
		}
		res = append(res, r)
		switch {
		case r.Err != nil:
			fmt.Fprintf(out, "  %-28s error: %v\n", q.Name, r.Err)
		default:
			idx := strings.Join(r.Indexes, ",")
			if idx == "" {
				idx = "none (scan)"
			}
			mark := ""
			if !r.Expected {
				mark = " NOT the expected " + strings.Join(q.Indexed(d), "/")
			}
			fmt.Fprintf(out, "  %-28s %8.1f ms (first %8.1f ms) %7d rows  index: %s%s\n",
				q.Name, ms(r.Best), ms(r.First), r.Rows, idx, mark)
		}
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func dedup(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func drain(ctx context.Context, db *sql.DB, q string) (int, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

// analyze refreshes the planner's statistics of the record tables.
func analyze(ctx context.Context, db *sql.DB, d string) error {
	var stmts []string
	switch d {
	case "postgres":
		stmts = []string{"ANALYZE audit_record", "ANALYZE audit_property"}
	case "mysql":
		stmts = []string{"ANALYZE TABLE audit_record, audit_property"}
	case "sqlite":
		stmts = []string{"ANALYZE"}
	}
	for _, q := range stmts {
		if _, err := drain(ctx, db, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// Sizes is what the record tables take on disk, in bytes.
type Sizes struct {
	Records int64
	// RecordTable and PropertyTable are the tables' data (PostgreSQL: with TOAST),
	// RecordIndexes and PropertyIndexes their indexes, Raw the raw column's values.
	RecordTable, RecordIndexes, PropertyTable, PropertyIndexes, Raw int64
}

// PerRecord divides b by the record count.
func (s Sizes) PerRecord(b int64) float64 {
	if s.Records == 0 {
		return 0
	}
	return float64(b) / float64(s.Records)
}

// sizeQuery is a catalog query and where its columns go.
type sizeQuery struct {
	sql  string
	dest []any
}

// MeasureSizes reads the record tables' sizes from the database's catalog (SQLite:
// the dbstat table).
func MeasureSizes(ctx context.Context, h sink.Handle) (Sizes, error) {
	var s Sizes
	db := h.DB
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_record").Scan(&s.Records); err != nil {
		return s, err
	}
	var q []sizeQuery
	switch h.Dialect.Name() {
	case "postgres":
		q = append(q,
			sizeQuery{`SELECT COALESCE(SUM(pg_table_size(c.oid)), 0), COALESCE(SUM(pg_indexes_size(c.oid)), 0)
			     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass('audit_record')`, []any{&s.RecordTable, &s.RecordIndexes}},
			sizeQuery{`SELECT pg_table_size(to_regclass('audit_property')), pg_indexes_size(to_regclass('audit_property'))`, []any{&s.PropertyTable, &s.PropertyIndexes}},
			sizeQuery{`SELECT COALESCE(SUM(pg_column_size(raw)), 0) FROM audit_record`, []any{&s.Raw}})
	case "mysql":
		q = append(q,
			sizeQuery{`SELECT DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'audit_record'`, []any{&s.RecordTable, &s.RecordIndexes}},
			sizeQuery{`SELECT DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'audit_property'`, []any{&s.PropertyTable, &s.PropertyIndexes}},
			sizeQuery{`SELECT COALESCE(SUM(LENGTH(raw)), 0) FROM audit_record`, []any{&s.Raw}})
	case "sqlite":
		// dbstat names each b-tree: a table, or an index of tbl_name.
		sizeOf := `SELECT COALESCE(SUM(d.pgsize), 0) FROM dbstat d JOIN sqlite_schema m ON m.name = d.name WHERE m.tbl_name = '%s' AND m.type = '%s'`
		for _, x := range []struct {
			table, typ string
			dest       *int64
		}{{"audit_record", "table", &s.RecordTable}, {"audit_record", "index", &s.RecordIndexes}, {"audit_property", "table", &s.PropertyTable}, {"audit_property", "index", &s.PropertyIndexes}} {
			q = append(q, sizeQuery{fmt.Sprintf(sizeOf, x.table, x.typ), []any{x.dest}})
		}
		q = append(q, sizeQuery{`SELECT COALESCE(SUM(LENGTH(raw)), 0) FROM audit_record`, []any{&s.Raw}})
	default:
		return s, fmt.Errorf("%s: sizes are read on postgres, mysql and sqlite", h.Dialect.Name())
	}
	for _, x := range q {
		if err := db.QueryRowContext(ctx, x.sql).Scan(x.dest...); err != nil {
			return s, fmt.Errorf("reading sizes: %w", err)
		}
	}
	return s, nil
}

// PrintSizes writes the sizes per record.
func PrintSizes(out io.Writer, s Sizes) {
	total := s.RecordTable + s.RecordIndexes + s.PropertyTable + s.PropertyIndexes
	fmt.Fprintf(out, "bytes per record (%d records): audit_record %.0f (raw %.0f of it), its indexes %.0f, audit_property %.0f, its indexes %.0f; total %.0f\n",
		s.Records, s.PerRecord(s.RecordTable), s.PerRecord(s.Raw), s.PerRecord(s.RecordIndexes),
		s.PerRecord(s.PropertyTable), s.PerRecord(s.PropertyIndexes), s.PerRecord(total))
}
