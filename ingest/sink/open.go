package sink

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/microsoft/go-mssqldb/msdsn"
)

// driverEntry is one line of the driver table: how to open a sink and which SQL dialect (and
// so which migrations/<dialect> directory and goose dialect) it speaks.
type driverEntry struct {
	dialect string
	open    func(ctx context.Context, dsn string) (Sink, error)
	// describe renders the DSN's host and database without credentials.
	describe func(dsn string) string
}

// drivers is the driver table. Adding a database is one line here, one file with its
// sink, and one migrations/<dialect> directory; the conformance suite then runs it.
var drivers = map[string]driverEntry{
	"sqlite":    {DialectSQLite, func(ctx context.Context, dsn string) (Sink, error) { return OpenSQLite(ctx, dsn) }, describeSQLite},
	"postgres":  {DialectPostgres, func(ctx context.Context, dsn string) (Sink, error) { return OpenPostgres(ctx, dsn) }, describePostgres},
	"mysql":     {DialectMySQL, func(ctx context.Context, dsn string) (Sink, error) { return OpenMySQL(ctx, dsn) }, describeMySQL},
	"sqlserver": {DialectSQLServer, func(ctx context.Context, dsn string) (Sink, error) { return OpenSQLServer(ctx, dsn) }, describeSQLServer},
}

// aliases maps other common names of a driver to its name in the table.
var aliases = map[string]string{
	"sqlite3":    "sqlite",
	"postgresql": "postgres",
	"pgx":        "postgres",
	"mariadb":    "mysql",
	"mssql":      "sqlserver",
	"azuresql":   "sqlserver",
}

// DriverName returns the canonical name of a driver or alias ("mariadb" → "mysql"), or
// ErrUnknownDriver.
func DriverName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := aliases[n]; ok {
		n = a
	}
	if _, ok := drivers[n]; !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownDriver, name)
	}
	return n, nil
}

// Drivers lists the canonical driver names, sorted.
func Drivers() []string {
	names := make([]string, 0, len(drivers))
	for n := range drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens the sink of driver (sqlite, postgres, mysql, sqlserver, or an alias:
// sqlite3, postgresql, mariadb, mssql, azuresql) on dsn, in the driver's native DSN form.
// For sqlite the DSN is a file path (default o365.db). Open checks that the database is
// reachable; it does not migrate (see Migrate). Errors never contain the DSN's secrets.
func Open(ctx context.Context, driverName, dsn string) (Sink, error) {
	n, err := DriverName(driverName)
	if err != nil {
		return nil, err
	}
	return drivers[n].open(ctx, dsn)
}

// Describe renders a sink for logs and errors: the driver, host and database, never the
// user, password or other parameters. It accepts a DSN it cannot parse (saying so).
func Describe(driverName, dsn string) string {
	n, err := DriverName(driverName)
	if err != nil {
		return fmt.Sprintf("%s (unknown driver)", driverName)
	}
	return n + " " + drivers[n].describe(dsn)
}

func describeSQLite(dsn string) string {
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		path = defaultSQLitePath
	}
	return filepath.Clean(path)
}

func describePostgres(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "(unparseable DSN)"
	}
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}

func describeMySQL(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "(unparseable DSN)"
	}
	return cfg.Addr + "/" + cfg.DBName
}

func describeSQLServer(dsn string) string {
	cfg, err := msdsn.Parse(dsn)
	if err != nil {
		return "(unparseable DSN)"
	}
	host := cfg.Host
	if cfg.Instance != "" {
		host += `\` + cfg.Instance
	}
	if cfg.Port != 0 {
		host += fmt.Sprintf(":%d", cfg.Port)
	}
	db := cfg.Database
	if db == "" {
		db = "(default database)"
	}
	return host + "/" + db
}
