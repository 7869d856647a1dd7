package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/o365ingest/o365ingest/ingest/escape"
	"github.com/o365ingest/o365ingest/ingest/remediate"
)

func cmdRemediations(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("remediations", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	alertID := fs.String("alert", "", "only the actions of this alert (its id, or the shortened id the tables show)")
	since := fs.String("since", "", "only actions run in this period back from now (7d, 36h); default all")
	format := fs.String("format", "table", "output: table or json (an array of {remediation_id, alert_id, action, target, request, result, http_status, error, os_user, run_at})")
	if code, ok := parseFlags(fs, env, args, `remediations [--alert ID] [--since 30d] [--format table|json]

Lists the remediation actions executed or refused (the remediation_action table), oldest
first: the alert, the action and its target, the result and Graph's HTTP status, the error,
who ran it (the OS user) and when.`); !ok {
		return code
	}
	if *format != "table" && *format != "json" {
		return usageError(env, "remediations: --format %q: want table or json", *format)
	}
	var f remediate.Filter
	f.AlertID = *alertID
	if *since != "" {
		d, err := parseSince(*since)
		if err != nil {
			return usageError(env, "remediations: --since: %v", err)
		}
		f.From = time.Now().Add(-d)
	}
	_, s, code := sf.setup(ctx, env, "remediations")
	if code != 0 {
		return code
	}
	defer s.Close()
	rows, err := remediate.List(ctx, s.Handle(), f)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: remediations:", err)
		return exitFailure
	}
	if err := writeRemediations(env.Stdout, *format, rows); err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: remediations:", err)
		return exitFailure
	}
	return exitOK
}

func writeRemediations(w io.Writer, format string, rows []remediate.Row) error {
	if format == "json" {
		if rows == nil {
			rows = []remediate.Row{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN AT\tALERT\tACTION\tTARGET\tRESULT\tHTTP\tOS USER\tERROR")
	for _, r := range rows {
		status := ""
		if r.HTTPStatus != 0 {
			status = strconv.Itoa(r.HTTPStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.RunAt.UTC().Format("2006-01-02 15:04:05"), r.AlertID[:min(12, len(r.AlertID))],
			r.Action, escape.TerminalCell(r.Target), r.Result, status, escape.TerminalCell(r.OSUser), escape.TerminalCell(r.Error))
	}
	if len(rows) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	return tw.Flush()
}
