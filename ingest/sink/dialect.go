package sink

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/schema"
	"github.com/pressly/goose/v3"
)

// SQLiteTimeFormat is how SQLite columns of logical type Time hold a UTC timestamp: text
// that sorts in time order and that SQLite's date functions read.
const SQLiteTimeFormat = "2006-01-02 15:04:05.999999"

// The dialect names Dialect.Name returns; they are also the migrations/ directory names.
const (
	DialectPostgres  = "postgres"
	DialectMySQL     = "mysql"
	DialectSQLServer = "sqlserver"
	DialectSQLite    = "sqlite"
)

// Dialect is everything that differs between the SQL of the databases: identifier
// quoting, placeholders, time values, literals and ranges, LIMIT/TOP, insert-if-absent
// and the physical column types. It is the one place that spells those differences:
// the sinks, the DDL generator (migrations/internal/ddl), detections, reports and status
// all ask it. There is one value per dialect (see DialectFor); queries written for it
// use ? placeholders and go through Rebind.
type Dialect struct {
	name string
	// quote quotes an identifier.
	quote func(string) string
	// placeholder is the prefix of numbered placeholders ($1, @p1); empty for ?.
	placeholder string
	// top: the dialect limits rows with SELECT TOP (n), not LIMIT n.
	top bool
	// now is the database's current UTC time as an expression of a Time column's type.
	now string
	// later returns an expression for now+d and its arguments (placeholders ?).
	later func(d time.Duration) (string, []any)
	// forUpdate is appended to a single-table SELECT to lock the rows it reads;
	// tableHint goes right after the table name (SQL Server).
	forUpdate, tableHint string
	// length measures Key values the way the database's column length does.
	length lengthFunc
	// uniqueViolation reports whether err is a primary or unique key violation.
	uniqueViolation func(error) bool
	// deadlock, when set, reports whether err made the database roll the transaction
	// back to break a deadlock, so that running it again can succeed.
	deadlock func(error) bool
	// goose is goose's name of the dialect, for the migrations.
	goose goose.Dialect
	// columnType is the physical type of a logical column type (see ColumnType).
	columnType func(c schema.Column) (string, bool)
}

// DialectFor returns the dialect called name (postgres, mysql, sqlserver or sqlite), the
// one the driver table gives each driver.
func DialectFor(name string) (*Dialect, error) {
	for _, drv := range drivers {
		if drv.Dialect.name == name {
			return drv.Dialect, nil
		}
	}
	return nil, fmt.Errorf("sink: no SQL dialect %q", name)
}

// Name returns the dialect's name, which is also its migrations/ directory and goose
// dialect.
func (d *Dialect) Name() string { return d.name }

// String returns the name.
func (d *Dialect) String() string { return d.name }

// Quote quotes an identifier. Every identifier the code writes is quoted, so that no
// column name (list, name, value, scope, ...) can collide with a reserved word.
func (d *Dialect) Quote(ident string) string { return d.quote(ident) }

// QuoteList quotes and joins names with ", ".
func (d *Dialect) QuoteList(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.quote(n))
	}
	return b.String()
}

// Rebind rewrites the ? placeholders of a query into the dialect's form: $1 for
// PostgreSQL, @p1 for SQL Server, ? otherwise. Queries passed here must not hold a
// literal question mark.
func (d *Dialect) Rebind(q string) string {
	if d.placeholder == "" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString(d.placeholder)
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Time converts a time to the value the dialect's driver stores in a Time column: UTC,
// as text on SQLite; nil for the zero time.
func (d *Dialect) Time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	if d.name == DialectSQLite {
		return t.Format(SQLiteTimeFormat)
	}
	return t
}

// TimeLiteral renders a time as a SQL literal of a Time column, for DDL and views where
// no placeholder can stand (partition bounds, fixed cutoffs).
func (d *Dialect) TimeLiteral(t time.Time) string {
	t = t.UTC()
	switch d.name {
	case DialectPostgres:
		return "'" + t.Format("2006-01-02 15:04:05.999999") + "+00'"
	case DialectSQLServer:
		return "CAST('" + t.Format("2006-01-02T15:04:05.999999") + "' AS DATETIME2(6))"
	}
	return "'" + t.Format(SQLiteTimeFormat) + "'"
}

// TimeRange returns the condition col >= ? AND col < ? (the half-open range [from, to))
// and its two arguments, in the dialect's time values.
func (d *Dialect) TimeRange(col string, from, to time.Time) (string, []any) {
	return col + " >= ? AND " + col + " < ?", []any{d.Time(from), d.Time(to)}
}

// Limit makes a SELECT return at most n rows: SELECT TOP (n) on SQL Server, LIMIT n
// appended elsewhere. query must start with SELECT (or SELECT DISTINCT).
func (d *Dialect) Limit(query string, n int) string {
	if !d.top {
		return query + " LIMIT " + strconv.Itoa(n)
	}
	trimmed := strings.TrimLeft(query, " \t\n")
	for _, head := range []string{"SELECT DISTINCT ", "SELECT "} {
		if len(trimmed) >= len(head) && strings.EqualFold(trimmed[:len(head)], head) {
			return trimmed[:len(head)] + fmt.Sprintf("TOP (%d) ", n) + trimmed[len(head):]
		}
	}
	panic("sink: Dialect.Limit needs a SELECT, not " + query)
}

// InsertIfAbsent returns an INSERT of one row of cols into table that does nothing (zero
// rows affected) when a row with the same key exists; the key is the first keyCols of
// cols. values are the value expressions, one per column ("?" for each when nil). The
// returned function orders the arguments (those of values, in order) for the statement.
// The query is rebound.
func (d *Dialect) InsertIfAbsent(table string, cols []string, keyCols int, values []string) (string, func(args []any) []any) {
	if values == nil {
		values = make([]string, len(cols))
		for i := range values {
			values[i] = "?"
		}
	}
	qt, list, vals := d.quote(table), d.QuoteList(cols), strings.Join(values, ", ")
	same := func(a []any) []any { return a }
	switch d.name {
	case DialectMySQL:
		// ON DUPLICATE KEY with a no-op update reports 0 rows for an existing key,
		// without INSERT IGNORE's swallowing of data errors.
		k := d.quote(cols[0])
		return d.Rebind(fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON DUPLICATE KEY UPDATE %s = %s", qt, list, vals, k, k)), same
	case DialectSQLServer:
		where := make([]string, keyCols)
		for i, c := range cols[:keyCols] {
			where[i] = d.quote(c) + " = ?"
		}
		q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s WHERE NOT EXISTS (SELECT 1 FROM %s WITH (UPDLOCK, HOLDLOCK) WHERE %s)",
			qt, list, vals, qt, strings.Join(where, " AND "))
		// The key's arguments again for the NOT EXISTS; the key's values must be plain ?.
		return d.Rebind(q), func(a []any) []any { return append(append([]any{}, a...), a[:keyCols]...) }
	}
	return d.Rebind(fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO NOTHING", qt, list, vals, d.QuoteList(cols[:keyCols]))), same
}

// ColumnType returns the physical type of c in the dialect, without NULL-ness:
//
//	logical   postgres     mysql                 sqlserver                   sqlite
//	Key(n)    text         VARCHAR(n)            NVARCHAR(n) BIN2            TEXT
//	Text      text         LONGTEXT              NVARCHAR(MAX) BIN2          TEXT
//	Int       bigint       BIGINT                BIGINT                      INTEGER
//	Bool      boolean      TINYINT(1)            BIT                         INTEGER (0/1)
//	Time      timestamptz  DATETIME(6) UTC       DATETIME2(6) UTC            TEXT 'YYYY-MM-DD HH:MM:SS[.ffffff]' UTC
//	JSON      jsonb        JSON                  NVARCHAR(MAX) + ISJSON      TEXT + json_valid
//
// A Key or Text column with FoldCase set compares case-insensitively: citext, COLLATE
// utf8mb4_unicode_ci, COLLATE Latin1_General_100_CI_AS, TEXT COLLATE NOCASE.
func (d *Dialect) ColumnType(c schema.Column) (string, error) {
	if t, ok := d.columnType(c); ok {
		return t, nil
	}
	return "", fmt.Errorf("column %s: unknown logical type %d", c.Name, c.Type)
}

// SQLServerCollation is the collation of every SQL Server string column: a binary
// collation, so ids compare exactly (the usual database default is case-insensitive,
// which would make 'ABC' and 'abc' one id) and queries behave as on the other databases.
const SQLServerCollation = "Latin1_General_100_BIN2"

// Case-insensitive comparison, per dialect, of the columns with schema.Column.FoldCase
// (addresses and UPNs, since migration 00005): PostgreSQL's citext type (extension), a
// case-insensitive collation on MySQL/MariaDB (utf8mb4_unicode_ci exists on both; it also
// ignores accents) and SQL Server, NOCASE on SQLite (ASCII letters only).
const (
	PostgresFoldType       = "citext"
	MySQLFoldCollation     = "utf8mb4_unicode_ci"
	SQLServerFoldCollation = "Latin1_General_100_CI_AS"
	SQLiteFoldCollation    = "NOCASE"
)

// retryable reports whether a transaction that failed with err can simply run again.
func (d *Dialect) retryable(err error) bool {
	return d.uniqueViolation(err) || (d.deadlock != nil && d.deadlock(err))
}

// time converts a Go time to the dialect's value for a Time column (nil for zero).
func (d *Dialect) time(t time.Time) any { return d.Time(t) }

// args converts the Go values of a row (as prepare returns them) for the driver:
// times for SQLite become text, booleans 0/1 so that STRICT INTEGER columns take them.
func (d *Dialect) args(vals []any) []any {
	if d.name != DialectSQLite {
		return vals
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case time.Time:
			out[i] = d.Time(x)
		case bool:
			if x {
				out[i] = int64(1)
			} else {
				out[i] = int64(0)
			}
		default:
			out[i] = v
		}
	}
	return out
}

// rebind rewrites ? placeholders for the dialect.
func (d *Dialect) rebind(q string) string { return d.Rebind(q) }

// columns quotes and joins column names.
func (d *Dialect) columns(names []string) string { return d.QuoteList(names) }

// placeholders returns "?, ?, ..." for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Placeholders returns "?, ?, ..." for n values (before Rebind).
func Placeholders(n int) string { return placeholders(n) }

// EmptyTable returns the statement that deletes every row of table at once: TRUNCATE
// TABLE, or DELETE FROM on SQLite (which has no TRUNCATE).
func (d *Dialect) EmptyTable(table string) string {
	if d.name == DialectSQLite {
		return "DELETE FROM " + d.quote(table)
	}
	return "TRUNCATE TABLE " + d.quote(table)
}
