package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/o365ingest/o365ingest/ingest/config"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/stop"
)

// sinkFlags are the flags of every command that touches the database.
type sinkFlags struct{ driver, dsn string }

func addSinkFlags(fs *flag.FlagSet) *sinkFlags {
	sf := &sinkFlags{}
	fs.StringVar(&sf.driver, "sink", "", "database driver: sqlite, postgres, mysql or sqlserver (default: $O365INGEST_SINK_DRIVER, config sink.driver, else sqlite)")
	fs.StringVar(&sf.dsn, "dsn", "", "database DSN in the driver's native form (default: $O365INGEST_SINK_DSN, config sink.dsn or sink.dsn_file, else o365.db); one holding a password is visible in ps, so prefer those")
	return sf
}

// resolve picks the sink: flags, then environment, then config, then SQLite o365.db
// (see config.ResolveSink).
func (sf *sinkFlags) resolve(env *Env, cfg *config.Config) (driver, dsn string) {
	driver, dsn = config.ResolveSink(sf.driver, sf.dsn, cfg, env.Getenv)
	if sf.dsn != "" && sink.HasPassword(driver, sf.dsn) {
		warnDSNPassword(env)
	}
	return driver, dsn
}

// warnDSNPassword says, without the password, that --dsn put one on the command line.
func warnDSNPassword(env *Env) {
	fmt.Fprintln(env.Stderr, "warning: --dsn holds a password, which other users can see in the process list (ps); "+
		"put the DSN in a file named by sink.dsn_file, or in $O365INGEST_SINK_DSN, instead")
}

// openSink opens the database and migrates it up: migrations run before every command
// that touches the database, and are additive.
func (sf *sinkFlags) open(ctx context.Context, env *Env, cfg *config.Config) (sink.Sink, error) {
	driver, dsn := sf.resolve(env, cfg)
	if dsn == "" {
		return nil, fmt.Errorf("no DSN for sink %s: set $O365INGEST_SINK_DSN, sink.dsn or sink.dsn_file, or pass --dsn", driver)
	}
	// A migration is not cut short by a soft stop (only by a hard one), so that a command
	// stopped early still records its run as interrupted.
	fctx, cancel := stop.Finishing(ctx)
	defer cancel()
	mem := applyMemory(env, cfg, driver)
	s, err := sink.Open(fctx, driver, sink.BoundMemory(driver, dsn, mem.SQLiteCache, mem.SQLiteMmap))
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", sink.Describe(driver, dsn), err)
	}
	if err := sink.Migrate(fctx, s); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrating %s: %w", sink.Describe(driver, dsn), err)
	}
	return s, nil
}

// setup loads the config and opens the sink (migrated), printing any problem as
// "o365ingest: <what>: <error>". A non-zero code means the command must return it.
func (sf *sinkFlags) setup(ctx context.Context, env *Env, what string) (*config.Config, sink.Sink, int) {
	cfg, err := loadConfig(env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "o365ingest: %s: %v\n", what, err)
		return nil, nil, exitUsage
	}
	s, err := sf.open(ctx, env, cfg)
	if err != nil {
		fmt.Fprintf(env.Stderr, "o365ingest: %s: %v\n", what, err)
		return nil, nil, exitFailure
	}
	return cfg, s, 0
}
