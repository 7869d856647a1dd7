package sink

import (
	"context"
	"database/sql"
	"fmt"
)

// CitextExtensionSchema is the schema PostgresCitextSchema installs citext into when the
// database does not have it yet.
const CitextExtensionSchema = "o365ingest_ext"

// PostgresCitextSchema makes PostgreSQL's citext extension (the type of the identity
// columns since migration 00005) available in db's database and returns the schema it
// lives in, for tools that give each run its own schema (tests, bench): an extension
// exists once per database, so such a schema's search_path must name that schema too
// ("search_path=run_schema,<returned>"). Installations with one schema need none of
// this: the migration creates the extension in the tables' schema.
func PostgresCitextSchema(ctx context.Context, db *sql.DB) (string, error) {
	lookup := func() (string, error) {
		var name string
		err := db.QueryRowContext(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'citext'`).Scan(&name)
		return name, err
	}
	if name, err := lookup(); err == nil {
		return name, nil
	} else if err != sql.ErrNoRows {
		return "", fmt.Errorf("postgres: looking up the citext extension: %w", err)
	}
	// Several processes may get here at once: whichever loses the race sees the winner's.
	_, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+CitextExtensionSchema)
	if err == nil {
		_, err = db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS citext SCHEMA "+CitextExtensionSchema)
	}
	if name, lerr := lookup(); lerr == nil {
		return name, nil
	}
	return "", fmt.Errorf("postgres: installing the citext extension: %w", err)
}
