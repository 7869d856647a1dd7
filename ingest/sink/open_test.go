package sink

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/migrations"
)

func TestDriverNames(t *testing.T) {
	for alias, want := range map[string]string{
		"sqlite": "sqlite", "SQLite3": "sqlite", "postgres": "postgres", "postgresql": "postgres",
		"mysql": "mysql", "mariadb": "mysql", "sqlserver": "sqlserver", "mssql": "sqlserver", "azuresql": "sqlserver",
	} {
		if got, err := DriverName(alias); err != nil || got != want {
			t.Errorf("DriverName(%q) = %q, %v; want %q", alias, got, err, want)
		}
	}
	if _, err := Open(context.Background(), "oracle", "x"); !errors.Is(err, ErrUnknownDriver) {
		t.Errorf("Open(oracle): %v, want ErrUnknownDriver", err)
	}
	for _, d := range drivers {
		if d.Dialect.goose == "" {
			t.Errorf("driver %s: dialect %s has no goose dialect", d.Name, d.Dialect.name)
		}
		if _, err := migrations.FS(d.Dialect.name); err != nil {
			t.Errorf("driver %s: %v", d.Name, err)
		}
	}
}

func TestDescribeHidesCredentials(t *testing.T) {
	for _, c := range []struct{ driver, dsn, want string }{
		{"postgres", "postgres://audit:Hunter2@db.example.com:5433/o365?sslmode=require", "postgres db.example.com:5433/o365"},
		{"postgresql", "host=db.example.com user=audit password=Hunter2 dbname=o365", "postgres db.example.com:5432/o365"},
		{"mariadb", "audit:Hunter2@tcp(db.example.com:3306)/o365?parseTime=true", "mysql db.example.com:3306/o365"},
		{"mssql", "sqlserver://audit:Hunter2@db.example.com?database=o365", "sqlserver db.example.com/o365"},
		{"sqlite", "file:/var/lib/o365/o365.db?_pragma=busy_timeout(5000)", "sqlite /var/lib/o365/o365.db"},
		{"sqlite", "", "sqlite o365.db"},
		{"postgres", "postgres://audit:Hunter2@[bad", "postgres (unparseable DSN)"},
	} {
		got := Describe(c.driver, c.dsn)
		if got != c.want {
			t.Errorf("Describe(%s, ...) = %q, want %q", c.driver, got, c.want)
		}
		if strings.Contains(got, "Hunter2") || strings.Contains(got, "audit") {
			t.Errorf("Describe(%s, ...) = %q leaks credentials", c.driver, got)
		}
	}
}

func TestSQLiteDSN(t *testing.T) {
	for in, want := range map[string]string{
		"o365.db": "o365.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate&_pragma=cache_size(-65536)",
		"":        "o365.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate&_pragma=cache_size(-65536)",
		"file:x.db?_pragma=journal_mode(DELETE)&_txlock=deferred": "file:x.db?_pragma=journal_mode(DELETE)&_txlock=deferred&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-65536)",
	} {
		if got := sqliteDSN(in); got != want {
			t.Errorf("sqliteDSN(%q) =\n %q\nwant\n %q", in, got, want)
		}
	}
}
