package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

const migrateSynopsis = "migrate up|down|status [--sink D --dsn X]"

// cmdMigrate applies (up), rolls back one (down) or lists (status) the database
// migrations. Load commands migrate up by themselves; this command is for operators who
// want to do it ahead of time, check, or step back while developing.
func cmdMigrate(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	if code, ok := parseFlags(fs, env, args, migrateSynopsis); !ok {
		return code
	}
	// The action stands before, between or after the flags: migrate --sink postgres --dsn X status.
	action := fs.Arg(0)
	if fs.NArg() > 1 {
		return usageError(env, "migrate: unexpected %q (usage: o365ingest %s)", fs.Arg(1), migrateSynopsis)
	}
	switch action {
	case "up", "down", "status":
	case "":
		return usageError(env, "migrate: say up, down or status (usage: o365ingest %s)", migrateSynopsis)
	default:
		return usageError(env, "migrate: unknown action %q: want up, down or status", action)
	}

	cfg, err := loadConfig(env)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest:", err)
		return exitUsage
	}
	driver, dsn := sf.resolve(env, cfg)
	where := sink.Describe(driver, dsn)
	// Not sf.open: it migrates up, which down and status must not do.
	s, err := sink.Open(ctx, driver, dsn)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: migrate:", err) // the sink names driver, host and database
		return exitFailure
	}
	defer s.Close()

	opts := []sink.MigrateOption{sink.MigrateLogger(env.Logger)}
	switch action {
	case "up":
		err = sink.Migrate(ctx, s, opts...)
	case "down":
		err = sink.MigrateDown(ctx, s, opts...)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "o365ingest: migrate %s: %s: %v\n", action, where, err)
		return exitFailure
	}
	st, err := sink.MigrateStatus(ctx, s, opts...)
	if err != nil {
		fmt.Fprintf(env.Stderr, "o365ingest: migrate %s: %s: %v\n", action, where, err)
		return exitFailure
	}
	fmt.Fprintln(env.Stdout, where)
	printMigrations(env, st)
	return exitOK
}

// printMigrations prints one line per migration: version, name, and when it was applied.
func printMigrations(env *Env, st []sink.MigrationStatus) {
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tNAME\tAPPLIED")
	for _, m := range st {
		applied := "pending"
		if m.Applied {
			applied = m.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\n", m.Version, m.Name, applied)
	}
	w.Flush()
}
