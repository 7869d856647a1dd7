package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// cmdPrune applies a retention period: records created before now-older-than go, with
// their properties; the ledger stays (see sink.Pruner).
func cmdPrune(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("prune", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	olderThan := fs.String("older-than", "", "delete records created more than this long ago, e.g. 365d (required)")
	if code, ok := parseFlags(fs, env, args, `prune --older-than 365d [--sink S --dsn DSN]

Deletes the audit records created before now minus --older-than, with their properties,
and the quarantined records quarantined before then. On PostgreSQL the months wholly
before the cutoff are dropped as partitions (instant, no table bloat); the rest, and
every other database, is deleted in transactions of 5,000 records, so an interrupted
prune can simply run again. The ledger (content_blob) is kept: it records that the
blobs were loaded. Alerts are kept.`); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(env, "prune: unexpected arguments %q", fs.Args())
	}
	if *olderThan == "" {
		return usageError(env, "prune: --older-than is required (e.g. --older-than 365d)")
	}
	age, err := parseSince(*olderThan)
	if err != nil {
		return usageError(env, "prune: --older-than: %v", err)
	}
	_, s, code := sf.setup(ctx, env, "prune")
	if code != 0 {
		return code
	}
	defer s.Close()
	p, ok := s.(sink.Pruner)
	if !ok {
		fmt.Fprintf(env.Stderr, "o365ingest: prune: the %s sink cannot prune\n", s.Handle().Dialect.Name())
		return exitFailure
	}
	cutoff := time.Now().UTC().Add(-age)
	res, err := p.Prune(ctx, cutoff)
	fmt.Fprintf(env.Stdout, "pruned %d records (%d properties) created before %s, and %d quarantined records\n",
		res.Records, res.Properties, cutoff.Format(time.RFC3339), res.Quarantined)
	if len(res.Partitions) > 0 {
		fmt.Fprintf(env.Stdout, "dropped partitions: %s\n", strings.Join(res.Partitions, ", "))
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(env.Stderr, "o365ingest: prune: interrupted; run it again to finish")
			return exitInterrupted
		}
		fmt.Fprintln(env.Stderr, "o365ingest: prune:", err)
		return exitFailure
	}
	return exitOK
}
