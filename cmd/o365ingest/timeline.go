package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/o365ingest/o365ingest/ingest/report"
)

func cmdTimeline(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("timeline", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	rf := addRangeFlags(fs)
	user := fs.String("user", "", "the user (UPN) to pivot on: records they made, on their mailbox, or about them")
	format := fs.String("format", "table", "output: table, csv or json")
	limit := fs.Int("limit", 0, "at most this many records (0: all)")
	if code, ok := parseFlags(fs, env, args, `timeline --user UPN [--since 7d | --from T --to T] [--format table|csv|json] [--limit N]

Every record of one user in time order across workloads: sign-ins, mailbox and admin
activity, files, directory changes made to them.`); !ok {
		return code
	}
	if *user == "" {
		return usageError(env, "timeline: --user is required")
	}
	if *format != "table" && *format != "csv" && *format != "json" {
		return usageError(env, "timeline: --format %q: want table, csv or json", *format)
	}
	from, to, err := rf.resolve(time.Now())
	if err != nil {
		return usageError(env, "timeline: %v", err)
	}
	_, s, code := sf.setup(ctx, env, "timeline")
	if code != 0 {
		return code
	}
	defer s.Close()
	entries, err := report.Timeline(ctx, s.Handle(), *user, from, to, *limit)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: timeline:", err)
		return exitFailure
	}
	if err := report.WriteTimeline(env.Stdout, *format, entries); err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: timeline:", err)
		return exitFailure
	}
	return exitOK
}
