package sink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/microsoft/go-mssqldb/msdsn"
)

// Driver is one line of the driver table: a database o365ingest can load into. Everything
// else derives from the table: Open and DriverName, the dialect (and so the
// migrations/<dialect> directory and goose dialect), the databases sinktest gives tests
// (and so the conformance suite) and the benchmark's fresh database.
type Driver struct {
	// Name is the canonical name (sink.driver in the config); Aliases are other spellings.
	Name    string
	Aliases []string
	// Dialect is the SQL the database speaks.
	Dialect *Dialect
	// open connects (it does not migrate).
	open func(ctx context.Context, dsn string) (Sink, error)
	// describe renders the DSN's host and database without credentials.
	describe func(dsn string) string
	// rawDriver is the database/sql driver name for administrative connections.
	rawDriver string
	// TestEnv names the environment variable that gives tests a server's DSN; TestDSN
	// is the local server tried when it is unset ("": the driver is tested only when
	// TestEnv is set).
	TestEnv, TestDSN string
	// scratch creates the empty database (schema) name on the server of dsn through
	// admin, and returns the DSN that uses it and the statement that drops it. nil: the
	// DSN is a file path (SQLite) and a new file is a new database.
	scratch func(ctx context.Context, admin *sql.DB, dsn, name string) (newDSN, drop string, err error)
}

// drivers is the driver table. Adding a database is one line here and one file with its
// sink (its Dialect value, Open, describe and scratch); its migrations are generated
// into migrations/<dialect>, and the conformance suite runs it.
var drivers = []*Driver{
	{Name: "sqlite", Aliases: []string{"sqlite3"}, Dialect: sqliteDialect,
		open:     func(ctx context.Context, dsn string) (Sink, error) { return OpenSQLite(ctx, dsn) },
		describe: describeSQLite, rawDriver: "sqlite", TestDSN: "(a new file)"},
	{Name: "postgres", Aliases: []string{"postgresql", "pgx"}, Dialect: postgresDialect,
		open:     func(ctx context.Context, dsn string) (Sink, error) { return OpenPostgres(ctx, dsn) },
		describe: describePostgres, rawDriver: "pgx", scratch: scratchPostgres,
		TestEnv: "O365INGEST_TEST_POSTGRES_DSN", TestDSN: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"},
	{Name: "mysql", Aliases: []string{"mariadb"}, Dialect: mysqlDialect,
		open:     func(ctx context.Context, dsn string) (Sink, error) { return OpenMySQL(ctx, dsn) },
		describe: describeMySQL, rawDriver: "mysql", scratch: scratchMySQL,
		TestEnv: "O365INGEST_TEST_MYSQL_DSN", TestDSN: "root@tcp(127.0.0.1:3306)/test?parseTime=true"},
	{Name: "sqlserver", Aliases: []string{"mssql", "azuresql"}, Dialect: sqlserverDialect,
		open:     func(ctx context.Context, dsn string) (Sink, error) { return OpenSQLServer(ctx, dsn) },
		describe: describeSQLServer, rawDriver: "sqlserver", scratch: scratchSQLServer,
		TestEnv: "O365INGEST_TEST_MSSQL_DSN"},
}

// DriverTable returns the driver table, in a stable order (sqlite first).
func DriverTable() []*Driver { return drivers }

// LookupDriver returns the line of the table for a driver name or alias
// ("mariadb" → mysql), or ErrUnknownDriver.
func LookupDriver(name string) (*Driver, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, d := range drivers {
		if d.Name == n || slices.Contains(d.Aliases, n) {
			return d, nil
		}
	}
	return nil, fmt.Errorf("%w %q (want %s)", ErrUnknownDriver, name, strings.Join(Drivers(), ", "))
}

// DriverName returns the canonical name of a driver or alias ("mariadb" → "mysql"), or
// ErrUnknownDriver.
func DriverName(name string) (string, error) {
	d, err := LookupDriver(name)
	if err != nil {
		return "", err
	}
	return d.Name, nil
}

// Drivers lists the canonical driver names, sorted.
func Drivers() []string {
	names := make([]string, 0, len(drivers))
	for _, d := range drivers {
		names = append(names, d.Name)
	}
	sort.Strings(names)
	return names
}

// Scratch is an empty database made for a test or a benchmark: a PostgreSQL schema, a
// MySQL or SQL Server database, or a new SQLite file.
type Scratch struct {
	// DSN opens the new database.
	DSN   string
	admin *sql.DB
	drop  string
}

// NewScratch creates the empty database name on the server dsn names (for sqlite, dsn is
// the path of a file that must not exist yet). Drop removes it.
func (d *Driver) NewScratch(ctx context.Context, dsn, name string) (*Scratch, error) {
	if d.scratch == nil {
		if _, err := os.Stat(dsn); err == nil {
			return nil, fmt.Errorf("%s: %s exists; a new file is needed", d.Name, dsn)
		}
		return &Scratch{DSN: dsn}, nil
	}
	admin, err := sql.Open(d.rawDriver, dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("%s: connecting to %s: %w", d.Name, d.describe(dsn), err)
	}
	newDSN, drop, err := d.scratch(ctx, admin, dsn, name)
	if err != nil {
		admin.Close()
		return nil, fmt.Errorf("%s: creating %s: %w", d.Name, name, err)
	}
	return &Scratch{DSN: newDSN, admin: admin, drop: drop}, nil
}

// Drop removes the scratch database (for sqlite, the file and its -wal and -shm).
func (s *Scratch) Drop(ctx context.Context) error {
	if s.admin == nil {
		for _, suffix := range []string{"-wal", "-shm"} {
			os.Remove(s.DSN + suffix)
		}
		if err := os.Remove(s.DSN); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	defer s.admin.Close()
	_, err := s.admin.ExecContext(ctx, s.drop)
	return err
}

func scratchPostgres(ctx context.Context, admin *sql.DB, dsn, name string) (string, string, error) {
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", "", err
	}
	drop := "DROP SCHEMA " + name + " CASCADE"
	ext, err := PostgresCitextSchema(ctx, admin)
	if err != nil {
		admin.ExecContext(ctx, drop)
		return "", "", err
	}
	path := name + "," + ext
	// pgx passes unknown DSN parameters to the server as run-time parameters.
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set("search_path", path)
			u.RawQuery = q.Encode()
			return u.String(), drop, nil
		}
	}
	return dsn + " search_path=" + path, drop, nil
}

func scratchMySQL(ctx context.Context, admin *sql.DB, dsn, name string) (string, string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", "", errors.New("cannot parse the DSN")
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return "", "", err
	}
	cfg.DBName = name
	return cfg.FormatDSN(), "DROP DATABASE " + name, nil
}

func scratchSQLServer(ctx context.Context, admin *sql.DB, dsn, name string) (string, string, error) {
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", err
	}
	// Sessions of the sink may still be pooled server-side; take the database over.
	drop := "ALTER DATABASE " + name + " SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE " + name
	if strings.HasPrefix(dsn, "sqlserver://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set("database", name)
			u.RawQuery = q.Encode()
			return u.String(), drop, nil
		}
	}
	return strings.TrimRight(dsn, ";") + ";database=" + name, drop, nil
}

// Open opens the sink of driver (sqlite, postgres, mysql, sqlserver, or an alias:
// sqlite3, postgresql, mariadb, mssql, azuresql) on dsn, in the driver's native DSN form.
// For sqlite the DSN is a file path (default o365.db). Open checks that the database is
// reachable; it does not migrate (see Migrate). Errors never contain the DSN's secrets.
func Open(ctx context.Context, driverName, dsn string) (Sink, error) {
	d, err := LookupDriver(driverName)
	if err != nil {
		return nil, err
	}
	return d.open(ctx, dsn)
}

// Describe renders a sink for logs and errors: the driver, host and database, never the
// user, password or other parameters. It accepts a DSN it cannot parse (saying so).
func Describe(driverName, dsn string) string {
	d, err := LookupDriver(driverName)
	if err != nil {
		return fmt.Sprintf("%s (unknown driver)", driverName)
	}
	return d.Name + " " + d.describe(dsn)
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
