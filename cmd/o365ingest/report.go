package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/report"
	"github.com/o365ingest/o365ingest/internal/private"
)

func cmdReport(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	rf := addRangeFlags(fs)
	out := fs.String("out", "report.html", "HTML file to write (replaced; created readable by its owner only, 0600)")
	if code, ok := parseFlags(fs, env, args, `report [--since 7d | --from T --to T] [--out report.html]

Writes one self-contained HTML page (no script, nothing fetched when opened): activity over
time per workload, top operations, users and addresses, sign-in failures, and the stored
alerts of the range with their evidence (run o365ingest detect first to refresh them).`); !ok {
		return code
	}
	from, to, err := rf.resolve(time.Now())
	if err != nil {
		return usageError(env, "report: %v", err)
	}
	_, s, code := sf.setup(ctx, env, "report")
	if code != 0 {
		return code
	}
	defer s.Close()
	alerts, err := detect.List(ctx, s.Handle(), from, to)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: report:", err)
		return exitFailure
	}
	page, err := report.Render(ctx, s.Handle(), from, to, alerts)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: report:", err)
		return exitFailure
	}
	// Owner-only (0600), written next to the target and renamed, so a reader never
	// sees half a page.
	if err := private.WriteFile(*out, page); err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: report:", err)
		return exitFailure
	}
	fmt.Fprintf(env.Stdout, "Wrote %s (%d alerts, %s to %s).\n", *out, len(alerts), from.Format(time.RFC3339), to.Format(time.RFC3339))
	return exitOK
}
