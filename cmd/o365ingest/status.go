package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/o365ingest/o365ingest/ingest/escape"
	"github.com/o365ingest/o365ingest/ingest/sink"
)

// coverageRow is one line of the status report: a tenant, content type and period.
type coverageRow struct {
	Tenant      string `json:"tenant_id"`
	ContentType string `json:"content_type"`
	Period      string `json:"period"`
	Blobs       int    `json:"blobs_loaded"`
	Records     int64  `json:"records"`
	Quarantined int64  `json:"quarantined"`
	Failed      int    `json:"blobs_failed"`
	Expired     int    `json:"blobs_expired"`
}

// missingBlob is a blob known not to be loaded.
type missingBlob struct {
	Tenant      string    `json:"tenant_id"`
	ContentType string    `json:"content_type"`
	ContentID   string    `json:"content_id"`
	Created     time.Time `json:"content_created"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason"`
}

// lastRun is the newest ingest_run row.
type lastRun struct {
	RunID    string     `json:"run_id"`
	Command  string     `json:"command"`
	Started  time.Time  `json:"started_at"`
	Finished *time.Time `json:"finished_at"`
	Outcome  string     `json:"outcome"`
	Loaded   int64      `json:"records_loaded"`
	Blobs    int64      `json:"blobs_loaded"`
	Failed   int64      `json:"blobs_failed"`
	Expired  int64      `json:"blobs_expired"`
	Message  string     `json:"message,omitempty"`
}

// statusReport is what status prints.
type statusReport struct {
	Since    time.Time     `json:"since"`
	By       string        `json:"by"`
	LastRun  *lastRun      `json:"last_run"`
	Coverage []coverageRow `json:"coverage"`
	Gaps     []string      `json:"gaps"`
	Missing  []missingBlob `json:"missing"`
	Records  int64         `json:"audit_records_total"`
}

func cmdStatus(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	since := fs.String("since", "7d", "report on content published in the last `D`")
	by := fs.String("by", "day", "granularity: day or hour")
	format := fs.String("format", "table", "output: table or json")
	if code, ok := parseFlags(fs, env, args, "status [--since 7d] [--by day|hour] [--format table|json] [--sink D --dsn X]"); !ok {
		return code
	}
	d, err := parseSince(*since)
	if err != nil {
		return usageError(env, "--since: %v", err)
	}
	if *by != "day" && *by != "hour" {
		return usageError(env, "--by must be day or hour")
	}
	if *format != "table" && *format != "json" {
		return usageError(env, "--format must be table or json")
	}
	_, s, code := sf.setup(ctx, env, "status")
	if code != 0 {
		return code
	}
	defer s.Close()
	rep, err := buildStatus(ctx, s, time.Now().UTC().Add(-d), *by)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: status:", err)
		return exitFailure
	}
	if *format == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return exitFailure
		}
	} else {
		printStatus(env.Stdout, rep)
	}
	if len(rep.Missing) > 0 {
		return exitIncomplete
	}
	return exitOK
}

// buildStatus reads the ledger and the run log. Aggregation happens here rather than in
// SQL because date truncation differs in every dialect, and a week of blobs is small.
func buildStatus(ctx context.Context, s sink.Sink, since time.Time, by string) (*statusReport, error) {
	db, d := s.DB(), s.Dialect()
	rep := &statusReport{Since: since, By: by, Coverage: []coverageRow{}, Gaps: []string{}, Missing: []missingBlob{}}
	rows, err := db.QueryContext(ctx, sink.Rebind(d, `SELECT tenant_id, content_type, content_id, content_created, status,
		record_count, quarantined, reason FROM content_blob WHERE content_created >= ? OR content_created IS NULL`), sink.TimeValue(d, since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	layout, step := "2006-01-02", 24*time.Hour
	if by == "hour" {
		layout, step = "2006-01-02T15Z", time.Hour
	}
	cov := map[[3]string]*coverageRow{}
	seen := map[[2]string]map[string]bool{}
	for rows.Next() {
		var tenant, ct, id, status string
		var created any
		var recs, quar *int64
		var reason *string
		if err := rows.Scan(&tenant, &ct, &id, &created, &status, &recs, &quar, &reason); err != nil {
			return nil, err
		}
		t := scanTime(created)
		period := "(no date)"
		if !t.IsZero() {
			period = t.UTC().Truncate(step).Format(layout)
		}
		k := [3]string{tenant, ct, period}
		row := cov[k]
		if row == nil {
			row = &coverageRow{Tenant: tenant, ContentType: ct, Period: period}
			cov[k] = row
		}
		switch status {
		case "loaded":
			row.Blobs++
			if recs != nil {
				row.Records += *recs
			}
			if quar != nil {
				row.Quarantined += *quar
			}
			u := [2]string{tenant, ct}
			if seen[u] == nil {
				seen[u] = map[string]bool{}
			}
			seen[u][period] = true
		case "failed":
			row.Failed++
		case "expired":
			row.Expired++
		}
		if status != "loaded" {
			r := ""
			if reason != nil {
				r = *reason
			}
			rep.Missing = append(rep.Missing, missingBlob{Tenant: tenant, ContentType: ct, ContentID: id, Created: t, Status: status, Reason: r})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, r := range cov {
		rep.Coverage = append(rep.Coverage, *r)
	}
	sort.Slice(rep.Coverage, func(i, j int) bool {
		a, b := rep.Coverage[i], rep.Coverage[j]
		if a.Tenant != b.Tenant {
			return a.Tenant < b.Tenant
		}
		if a.ContentType != b.ContentType {
			return a.ContentType < b.ContentType
		}
		return a.Period < b.Period
	})
	// A gap is a period inside the covered span of a tenant and content type with no
	// blob loaded: quiet hours look the same, so status reports gaps, not errors.
	now := time.Now().UTC()
	for u, periods := range seen {
		for t := since.Truncate(step); t.Before(now.Truncate(step)); t = t.Add(step) {
			p := t.Format(layout)
			if !periods[p] {
				rep.Gaps = append(rep.Gaps, fmt.Sprintf("%s %s %s", u[0], u[1], p))
			}
		}
	}
	sort.Strings(rep.Gaps)

	var lr lastRun
	var started, finished any
	var outcome, message *string
	var loaded, blobs, failed, expired *int64
	err = db.QueryRowContext(ctx, `SELECT run_id, command, started_at, finished_at, outcome, records_loaded, blobs_loaded,
		blobs_failed, blobs_expired, message FROM ingest_run ORDER BY started_at DESC`+limitOne(d)).
		Scan(&lr.RunID, &lr.Command, &started, &finished, &outcome, &loaded, &blobs, &failed, &expired, &message)
	if err == nil {
		lr.Started = scanTime(started)
		if f := scanTime(finished); !f.IsZero() {
			lr.Finished = &f
		}
		lr.Outcome = deref(outcome, "unfinished (still running, or the process died)")
		lr.Loaded, lr.Blobs, lr.Failed, lr.Expired = derefInt(loaded), derefInt(blobs), derefInt(failed), derefInt(expired)
		lr.Message = deref(message, "")
		rep.LastRun = &lr
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_record`).Scan(&rep.Records); err != nil {
		return nil, err
	}
	return rep, nil
}

// limitOne is the dialect's way to keep one row of an ORDER BY.
func limitOne(dialect string) string {
	if dialect == "sqlserver" {
		return " OFFSET 0 ROWS FETCH NEXT 1 ROWS ONLY"
	}
	return " LIMIT 1"
}

func deref(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

func derefInt(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

// scanTime reads a Time column whatever the driver returned: time.Time, or SQLite's text.
func scanTime(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t.UTC()
	case string:
		return parseDBTime(t)
	case []byte:
		return parseDBTime(string(t))
	}
	return time.Time{}
}

func parseDBTime(s string) time.Time {
	for _, layout := range []string{sink.SQLiteTimeFormat, time.RFC3339Nano, "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func printStatus(w io.Writer, rep *statusReport) {
	if rep.LastRun != nil {
		lr := rep.LastRun
		dur := "running or died"
		if lr.Finished != nil {
			dur = lr.Finished.Sub(lr.Started).Round(time.Millisecond).String()
		}
		fmt.Fprintf(w, "Last run: %s %s at %s (%s): %s; blobs loaded %d, failed %d, expired %d; records loaded %d\n",
			lr.Command, lr.RunID, lr.Started.Format(time.RFC3339), dur, lr.Outcome, lr.Blobs, lr.Failed, lr.Expired, lr.Loaded)
		if lr.Message != "" {
			fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(escape.Terminal(lr.Message), "\n", "\n  "))
		}
	} else {
		fmt.Fprintln(w, "Last run: none yet")
	}
	fmt.Fprintf(w, "Records stored: %d\n\n", rep.Records)
	fmt.Fprintf(w, "Coverage since %s by %s of blob publication (UTC):\n", rep.Since.Format(time.RFC3339), rep.By)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tCONTENT TYPE\tPERIOD\tBLOBS\tRECORDS\tQUARANTINED\tFAILED\tEXPIRED")
	for _, r := range rep.Coverage {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", escape.TerminalCell(r.Tenant), escape.TerminalCell(r.ContentType), r.Period, r.Blobs, r.Records, r.Quarantined, r.Failed, r.Expired)
	}
	tw.Flush()
	if len(rep.Gaps) > 0 {
		fmt.Fprintf(w, "\nPeriods with no blob loaded (%d; quiet periods look the same):\n", len(rep.Gaps))
		for i, g := range rep.Gaps {
			if i == 20 {
				fmt.Fprintf(w, "  ... and %d more (use --format json)\n", len(rep.Gaps)-20)
				break
			}
			fmt.Fprintf(w, "  %s\n", g)
		}
	}
	if len(rep.Missing) > 0 {
		fmt.Fprintf(w, "\nKnown missing (%d blobs not loaded; failed ones are retried by the next run):\n", len(rep.Missing))
		for _, m := range rep.Missing {
			fmt.Fprintf(w, "  %s %s %s %s: %s\n", escape.TerminalCell(m.Status), escape.TerminalCell(m.Tenant), escape.TerminalCell(m.ContentType),
				escape.TerminalCell(m.ContentID), escape.TerminalCell(m.Reason))
		}
	} else {
		fmt.Fprintln(w, "\nNothing known missing.")
	}
}
