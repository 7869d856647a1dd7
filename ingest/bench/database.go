package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// Database is the benchmark's own database: a PostgreSQL schema or a MySQL database
// named o365bench_<random>, made on the server the DSN names and dropped afterwards, or a
// new SQLite file. Nothing outside it is touched.
type Database struct {
	// Driver is the canonical driver name and DSN the DSN of the fresh database.
	Driver, DSN string
	name        string
	admin       *sql.DB
	sqliteDir   string
	sqliteFile  string
}

// Fresh creates the benchmark database. For sqlite, dsn names a file that must not exist
// yet (default: a file in a new temporary directory).
func Fresh(ctx context.Context, driver, dsn string) (*Database, error) {
	n, err := sink.DriverName(driver)
	if err != nil {
		return nil, err
	}
	d := &Database{Driver: n, name: "o365bench_" + randomHex(6)}
	switch n {
	case "sqlite":
		if dsn == "" {
			dir, err := os.MkdirTemp("", "o365bench")
			if err != nil {
				return nil, err
			}
			d.sqliteDir, dsn = dir, filepath.Join(dir, "bench.db")
		} else if _, err := os.Stat(dsn); err == nil {
			return nil, fmt.Errorf("sqlite: %s exists; the benchmark needs a new file", dsn)
		}
		d.DSN, d.sqliteFile = dsn, dsn
		return d, nil
	case "postgres":
		if dsn == "" {
			return nil, fmt.Errorf("postgres: a --dsn is needed")
		}
		if d.admin, err = sql.Open("pgx", dsn); err != nil {
			return nil, err
		}
		if _, err := d.admin.ExecContext(ctx, "CREATE SCHEMA "+d.name); err != nil {
			d.admin.Close()
			return nil, fmt.Errorf("postgres: creating schema %s: %w", d.name, err)
		}
		d.DSN = withSearchPath(dsn, d.name)
		return d, nil
	case "mysql":
		if dsn == "" {
			return nil, fmt.Errorf("mysql: a --dsn is needed")
		}
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("mysql: cannot parse the DSN")
		}
		if d.admin, err = sql.Open("mysql", dsn); err != nil {
			return nil, err
		}
		if _, err := d.admin.ExecContext(ctx, "CREATE DATABASE "+d.name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
			d.admin.Close()
			return nil, fmt.Errorf("mysql: creating database %s: %w", d.name, err)
		}
		cfg.DBName = d.name
		d.DSN = cfg.FormatDSN()
		return d, nil
	}
	return nil, fmt.Errorf("%s: the benchmark makes fresh databases on sqlite, postgres and mysql only; "+
		"run the SQL Server sink's figures with go test ./ingest/sink -bench", n)
}

// Describe names the database for messages.
func (d *Database) Describe() string {
	if d.sqliteFile != "" {
		return d.sqliteFile
	}
	return d.Driver + " " + d.name
}

// Drop removes the database.
func (d *Database) Drop(ctx context.Context) error {
	switch {
	case d.sqliteDir != "":
		return os.RemoveAll(d.sqliteDir)
	case d.sqliteFile != "":
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(d.sqliteFile + suffix)
		}
		return nil
	case d.admin == nil:
		return nil
	}
	defer d.admin.Close()
	stmt := "DROP DATABASE " + d.name
	if d.Driver == "postgres" {
		stmt = "DROP SCHEMA " + d.name + " CASCADE"
	}
	_, err := d.admin.ExecContext(ctx, stmt)
	return err
}

// withSearchPath sets search_path in a pgx DSN (URL or key=value); pgx passes unknown
// parameters to the server.
func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
