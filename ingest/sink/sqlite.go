package sink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/o365ingest/o365ingest/internal/private"
	"github.com/o365ingest/o365ingest/schema"
	"github.com/pressly/goose/v3"
)

// defaultSQLitePath is the database file used when the DSN is empty.
const defaultSQLitePath = "o365.db"

// sqliteDefaults are added to a SQLite DSN unless it sets them: wait up to 10 s for a
// lock instead of failing with SQLITE_BUSY, WAL so readers (status, detections) never
// block the loader, NORMAL sync (safe with WAL; a power cut can lose the last commits,
// never corrupt), and BEGIN IMMEDIATE so a transaction takes the write lock up front
// rather than failing when it upgrades from read to write.
var sqliteDefaults = []struct{ key, param string }{
	{"busy_timeout", "_pragma=busy_timeout(10000)"},
	{"journal_mode", "_pragma=journal_mode(WAL)"},
	{"synchronous", "_pragma=synchronous(NORMAL)"},
	{"_txlock", "_txlock=immediate"},
	{"cache_size", "_pragma=cache_size(-65536)"},
}

// sqliteDSN turns a file path (or a file: URI, with or without parameters) into the DSN
// the sink opens: the path with sqliteDefaults added where the DSN does not set them.
func sqliteDSN(dsn string) string {
	if dsn == "" {
		dsn = defaultSQLitePath
	}
	query := ""
	if i := strings.IndexByte(dsn, '?'); i >= 0 {
		query = dsn[i+1:]
	}
	var add []string
	for _, d := range sqliteDefaults {
		if !strings.Contains(query, d.key) {
			add = append(add, d.param)
		}
	}
	if len(add) == 0 {
		return dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + strings.Join(add, "&")
}

var sqliteDialect = &Dialect{
	goose: goose.DialectSQLite3,
	name:  DialectSQLite,
	quote: func(s string) string { return `"` + s + `"` },
	columnType: func(c schema.Column) (string, bool) {
		switch c.Type {
		case schema.Key, schema.Text:
			if c.FoldCase != 0 {
				return "TEXT COLLATE " + SQLiteFoldCollation, true
			}
			return "TEXT", true
		case schema.Time, schema.JSON:
			return "TEXT", true
		case schema.Int, schema.Bool:
			return "INTEGER", true
		}
		return "", false
	},
	// SQLite's clock as the text form of Time columns (millisecond precision).
	now: `strftime('%Y-%m-%d %H:%M:%f', 'now')`,
	later: func(d time.Duration) (string, []any) {
		return `strftime('%Y-%m-%d %H:%M:%f', 'now', ?)`, []any{fmt.Sprintf("%+.6f seconds", d.Seconds())}
	},
	length: runeLen,
	uniqueViolation: func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		return e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	},
}

// SQLite is the embedded default sink (modernc.org/sqlite, no cgo). It keeps one
// connection: SQLite has one writer, and a second pooled connection would only wait for
// the lock. Times are stored as TEXT 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC.
type SQLite struct {
	base
}

// OpenSQLite opens (creating if needed) the SQLite database at dsn, a file path such as
// o365.db or a file: URI.
func OpenSQLite(ctx context.Context, dsn string) (*SQLite, error) {
	// A new database file is made owner-only (0600) before SQLite opens it, whatever the
	// umask: SQLite gives its -wal and -shm files the database file's mode.
	if path, ok := sqliteFile(dsn); ok {
		if err := private.CreateIfAbsent(path); err != nil {
			return nil, fmt.Errorf("sqlite: creating %s: %w", describeSQLite(dsn), err)
		}
	}
	db, err := sql.Open("sqlite", sqliteDSN(dsn))
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w", describeSQLite(dsn), err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: opening %s: %w", describeSQLite(dsn), err)
	}
	return &SQLite{base{db: db, d: sqliteDialect}}, nil
}

// sqliteFile returns the file a SQLite DSN names, and false for an in-memory database.
func sqliteFile(dsn string) (string, bool) {
	if strings.Contains(dsn, "mode=memory") || strings.Contains(dsn, "vfs=memdb") {
		return "", false
	}
	path := describeSQLite(dsn)
	if path == "" || strings.HasPrefix(path, ":") {
		return "", false
	}
	return path, true
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// Load stores the batch in one transaction. One prepared INSERT ... ON CONFLICT DO
// NOTHING per row was measured fastest on SQLite (go-bulkload.md §5): statements are
// in-process calls, so multi-row statements buy nothing and cost parsing.
func (s *SQLite) Load(ctx context.Context, b Batch) (LoadResult, error) {
	p, err := prepare(b, s.d.length)
	if err != nil {
		return LoadResult{}, err
	}
	res := LoadResult{Duplicates: p.dups}
	err = s.load(ctx, p, &res)
	if err != nil {
		return LoadResult{}, fmt.Errorf("sqlite: loading %d records: %w", b.Records(), err)
	}
	return res, nil
}

func (s *SQLite) load(ctx context.Context, p *prepared, res *LoadResult) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := s.d.quote
	insertIgnore := func(t *schema.Table, conflict []string) (*sql.Stmt, error) {
		return tx.PrepareContext(ctx, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO NOTHING",
			q(t.Name), s.d.columns(t.ColumnNames()), placeholders(len(t.Columns)), s.d.columns(conflict)))
	}
	recStmt, err := insertIgnore(&schema.AuditRecord, []string{"id"})
	if err != nil {
		return err
	}
	defer recStmt.Close()
	propStmt, err := insertIgnore(&schema.AuditProperty, schema.AuditProperty.PrimaryKey)
	if err != nil {
		return err
	}
	defer propStmt.Close()
	for _, r := range p.recs {
		out, err := recStmt.ExecContext(ctx, s.d.args(r.Values)...)
		if err != nil {
			return fmt.Errorf("storing record %s: %w", r.ID, err)
		}
		n, err := out.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			res.Duplicates++
			continue // stored before, with its properties
		}
		res.Inserted++
		for _, pr := range r.Props {
			if _, err := propStmt.ExecContext(ctx, propValues(r.ID, pr)...); err != nil {
				return fmt.Errorf("storing property %s[%d] of record %s: %w", pr.List, pr.Ordinal, r.ID, err)
			}
		}
	}
	if err := s.at(stageRecords); err != nil {
		return err
	}
	if len(p.quarantined) > 0 {
		qStmt, err := insertIgnore(&schema.Quarantine, schema.Quarantine.PrimaryKey)
		if err != nil {
			return err
		}
		defer qStmt.Close()
		for _, qr := range p.quarantined {
			out, err := qStmt.ExecContext(ctx, s.d.args(quarantineValues(qr, p.now))...)
			if err != nil {
				return fmt.Errorf("storing quarantined record %d of blob %s: %w", qr.Ordinal, qr.ContentID, err)
			}
			if n, _ := out.RowsAffected(); n > 0 {
				res.Quarantined++
			}
		}
	}
	if err := s.writeLedger(ctx, tx, p); err != nil {
		return err
	}
	if err := s.at(stageLedger); err != nil {
		return err
	}
	return tx.Commit()
}

// BoundMemory returns the DSN of driver with the memory the database keeps in the
// client process bounded: on SQLite, the page cache to cache bytes (PRAGMA cache_size)
// and the memory map to mmap bytes (PRAGMA mmap_size), each unless the DSN sets it or
// the bound is 0. Other drivers keep their caches in the server: their DSN is returned
// as given.
func BoundMemory(driver, dsn string, cache, mmap int64) string {
	if n, _ := DriverName(driver); n != DialectSQLite {
		return dsn
	}
	if dsn == "" {
		dsn = defaultSQLitePath
	}
	query := ""
	if i := strings.IndexByte(dsn, '?'); i >= 0 {
		query = dsn[i+1:]
	}
	var add []string
	if cache > 0 && !strings.Contains(query, "cache_size") {
		add = append(add, fmt.Sprintf("_pragma=cache_size(%d)", -max(cache>>10, 1))) // negative: KiB
	}
	if mmap > 0 && !strings.Contains(query, "mmap_size") {
		add = append(add, fmt.Sprintf("_pragma=mmap_size(%d)", mmap))
	}
	if len(add) == 0 {
		return dsn
	}
	sep := "?"
	if query != "" || strings.HasSuffix(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + strings.Join(add, "&")
}
