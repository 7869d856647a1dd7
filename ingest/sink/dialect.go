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
