package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// Database is the benchmark's own database: a PostgreSQL schema or a MySQL/SQL Server
// database named o365bench_<random>, made on the server the DSN names and dropped
// afterwards (sink's driver table makes it, as it does the tests' databases), or a new
// SQLite file. Nothing outside it is touched.
type Database struct {
	// Driver is the canonical driver name and DSN the DSN of the fresh database.
	Driver, DSN string
	name        string
	scratch     *sink.Scratch
	sqliteDir   string
	sqliteFile  string
}

// Fresh creates the benchmark database. For sqlite, dsn names a file that must not exist
// yet (default: a file in a new temporary directory).
func Fresh(ctx context.Context, driver, dsn string) (*Database, error) {
	drv, err := sink.LookupDriver(driver)
	if err != nil {
		return nil, err
	}
	d := &Database{Driver: drv.Name, name: "o365bench_" + randomHex(6)}
	if drv.Name == "sqlite" && dsn == "" {
		dir, err := os.MkdirTemp("", "o365bench")
		if err != nil {
			return nil, err
		}
		d.sqliteDir, dsn = dir, filepath.Join(dir, "bench.db")
	} else if dsn == "" {
		return nil, fmt.Errorf("%s: a --dsn is needed", drv.Name)
	}
	if d.scratch, err = drv.NewScratch(ctx, dsn, d.name); err != nil {
		if d.sqliteDir != "" {
			os.RemoveAll(d.sqliteDir)
		}
		return nil, err
	}
	d.DSN = d.scratch.DSN
	if drv.Name == "sqlite" {
		d.sqliteFile = d.DSN
	}
	return d, nil
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
	if d.sqliteDir != "" {
		return os.RemoveAll(d.sqliteDir)
	}
	if d.scratch == nil {
		return nil
	}
	return d.scratch.Drop(ctx)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
