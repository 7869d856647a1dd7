package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// cmdPrune applies a retention period: records created before now-older-than go, with
// their properties; the ledger stays (see sink.Pruner). It says what it will delete and
// asks first; --yes is for scripts.
func cmdPrune(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("prune", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	olderThan := fs.String("older-than", "", "delete records created more than this long ago: days, weeks or years, e.g. 365d, 52w, 1y; at least 1d (required)")
	yes := fs.Bool("yes", false, "delete without asking (for scripts; off a terminal prune refuses without it)")
	if code, ok := parseFlags(fs, env, args, `prune --older-than 365d [--yes] [--sink S --dsn DSN]

Deletes the audit records created before now minus --older-than, with their properties,
and the quarantined records quarantined before then. --older-than takes days, weeks or
years (30d, 4w, 1y = 365d) and at least one day; minutes and hours are refused, so that
"1m" cannot delete a month's worth by mistake. prune first prints how many records it
will delete and asks on the terminal; off a terminal (cron, a script) it deletes only
with --yes.

On PostgreSQL the months wholly before the cutoff are dropped as partitions (instant,
no table bloat); the rest, and every other database, is deleted in transactions of
5,000 records, so an interrupted prune can simply run again. The ledger (content_blob)
is kept: it records that the blobs were loaded. Alerts are kept.`); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(env, "prune: unexpected arguments %q", fs.Args())
	}
	if *olderThan == "" {
		return usageError(env, "prune: --older-than is required (e.g. --older-than 365d)")
	}
	age, err := parseRetention(*olderThan)
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
	plan, err := p.PrunePreview(ctx, cutoff)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: prune:", err)
		return exitFailure
	}
	fmt.Fprintf(env.Stdout, "prune will delete %d records created before %s (%s ago), with their properties, and %d quarantined records\n",
		plan.Records, cutoff.Format(time.RFC3339), *olderThan, plan.Quarantined)
	if len(plan.Partitions) > 0 {
		fmt.Fprintf(env.Stdout, "and drop the partitions %s\n", strings.Join(plan.Partitions, ", "))
	}
	if plan.Records == 0 && plan.Quarantined == 0 && len(plan.Partitions) == 0 {
		fmt.Fprintln(env.Stdout, "nothing to prune")
		return exitOK
	}
	if !*yes {
		if !env.Interactive || env.Stdin == nil {
			fmt.Fprintln(env.Stderr, "o365ingest: prune: not on a terminal, so nobody can confirm: pass --yes to delete without asking")
			return exitUsage
		}
		fmt.Fprint(env.Stderr, "Delete them? [y/N] ")
		answer, err := readLine(ctx, env.Stdin)
		if err != nil {
			fmt.Fprintln(env.Stderr, "\no365ingest: prune: interrupted; nothing deleted")
			return exitInterrupted
		}
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(env.Stdout, "nothing deleted")
			return exitOK
		}
	}
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

// readLine reads one line from r, or returns ctx's error when ctx ends first (SIGINT
// at the prompt).
func readLine(ctx context.Context, r io.Reader) (string, error) {
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		return s, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// parseRetention parses a retention period: a whole number of days (30d), weeks (4w)
// or years (1y, 365 days), at least one day. Minutes, hours and months are refused with
// a message that says why: "1m" meant as a month once deleted almost everything.
func parseRetention(s string) (time.Duration, error) {
	const day = 24 * time.Hour
	units := map[string]time.Duration{"d": day, "w": 7 * day, "y": 365 * day}
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToLower(strings.TrimSpace(s[len(num):]))
	n, err := strconv.Atoi(num)
	per, ok := units[unit]
	switch {
	case num == "" || err != nil:
		return 0, fmt.Errorf("%q is not a retention period: give days, weeks or years, e.g. 365d, 52w, 1y", s)
	case unit == "m" || unit == "mo" || unit == "month" || unit == "months" || unit == "min":
		return 0, fmt.Errorf("%q: \"m\" could mean minutes or months, so it is refused: give days, weeks or years, e.g. 30d, 4w, 1y", s)
	case unit == "h" || unit == "s" || unit == "ms":
		return 0, fmt.Errorf("%q: prune keeps at least one day, so it takes days, weeks or years (30d, 4w, 1y), not hours, minutes or seconds", s)
	case !ok:
		return 0, fmt.Errorf("%q: unknown unit %q: give days, weeks or years, e.g. 365d, 52w, 1y", s, unit)
	case n < 1:
		return 0, fmt.Errorf("%q: prune keeps at least one day (1d)", s)
	case n > 100*365:
		return 0, fmt.Errorf("%q: more than 100 years", s)
	}
	return time.Duration(n) * per, nil
}
