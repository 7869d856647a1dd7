package sink

import (
	"strconv"
	"strings"
	"time"
)

// SQLiteTimeFormat is how SQLite columns of logical type Time hold a UTC timestamp: text
// that sorts in time order and that SQLite's date functions read.
const SQLiteTimeFormat = "2006-01-02 15:04:05.999999"

// TimeValue converts a time to the value a dialect's driver stores in a Time column.
func TimeValue(dialect string, t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	if dialect == "sqlite" {
		return t.Format(SQLiteTimeFormat)
	}
	return t
}

// Rebind rewrites the ? placeholders of a query into the dialect's form: $1 for
// PostgreSQL, @p1 for SQL Server, ? otherwise. Queries passed here must not hold a
// literal question mark.
func Rebind(dialect, q string) string {
	var prefix string
	switch dialect {
	case "postgres":
		prefix = "$"
	case "sqlserver":
		prefix = "@p"
	default:
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString(prefix)
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// The dialect names Sink.Dialect returns; they are also the migrations/ directory names.
const (
	DialectPostgres  = "postgres"
	DialectMySQL     = "mysql"
	DialectSQLServer = "sqlserver"
	DialectSQLite    = "sqlite"
)

// sqlDialect holds what the statements shared by every sink (ledger, leases, lookups)
// need to know about a database. Queries use ? placeholders and go through Rebind.
type sqlDialect struct {
	name string
	// quote quotes an identifier.
	quote func(string) string
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
}

// retryable reports whether a transaction that failed with err can simply run again.
func (d *sqlDialect) retryable(err error) bool {
	return d.uniqueViolation(err) || (d.deadlock != nil && d.deadlock(err))
}

// time converts a Go time to the dialect's value for a Time column (nil for zero).
func (d *sqlDialect) time(t time.Time) any { return TimeValue(d.name, t) }

// args converts the Go values of a row (as prepare returns them) for the driver:
// times for SQLite become text, booleans 0/1 so that STRICT INTEGER columns take them.
func (d *sqlDialect) args(vals []any) []any {
	if d.name != DialectSQLite {
		return vals
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case time.Time:
			out[i] = TimeValue(DialectSQLite, x)
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
func (d *sqlDialect) rebind(q string) string { return Rebind(d.name, q) }

// columns quotes and joins column names.
func (d *sqlDialect) columns(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.quote(n))
	}
	return b.String()
}

// placeholders returns "?, ?, ..." for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
