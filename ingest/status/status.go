// Package status reports what the database holds: the coverage of the ledger by tenant,
// content type and period, the gaps, the blobs known missing and the last run. It reads
// through the sink's read handle and never writes.
package status

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/o365ingest/o365ingest/ingest/auditquery"
	"github.com/o365ingest/o365ingest/ingest/escape"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/schema"
)

// CoverageRow is one line of the status report: a tenant, content type and period.
type CoverageRow struct {
	Tenant      string `json:"tenant_id"`
	ContentType string `json:"content_type"`
	Period      string `json:"period"`
	// Source is feed (the Management Activity API's blobs, and imported files) or
	// audit_search (backfill's audit log query windows, a UTC day each).
	Source      string `json:"source"`
	Blobs       int    `json:"blobs_loaded"`
	Records     int64  `json:"records"`
	Quarantined int64  `json:"quarantined"`
	Failed      int    `json:"blobs_failed"`
	Expired     int    `json:"blobs_expired"`
}

// MissingBlob is a blob known not to be loaded.
type MissingBlob struct {
	Tenant      string    `json:"tenant_id"`
	ContentType string    `json:"content_type"`
	ContentID   string    `json:"content_id"`
	Created     time.Time `json:"content_created"`
	// Status is failed, expired, or open: an audit log query window whose query was
	// created and not loaded (a crash or a stop left it; the next backfill queries it).
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// Source names where a ledger row came from (CoverageRow.Source).
func Source(contentID string) string {
	if strings.HasPrefix(contentID, auditquery.Prefix) {
		return SourceAuditSearch
	}
	return SourceFeed
}

// The sources of CoverageRow.Source.
const (
	SourceFeed        = "feed"
	SourceAuditSearch = "audit_search"
)

// LastRun is the newest ingest_run row.
type LastRun struct {
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

// Report is what status prints (its JSON form is the --format json output).
type Report struct {
	Since    time.Time     `json:"since"`
	By       string        `json:"by"`
	LastRun  *LastRun      `json:"last_run"`
	Coverage []CoverageRow `json:"coverage"`
	Gaps     []string      `json:"gaps"`
	Missing  []MissingBlob `json:"missing"`
	Records  int64         `json:"audit_records_total"`
}

// Build reads the ledger and the run log. by is day or hour. Aggregation happens here
// rather than in SQL because date truncation differs in every dialect, and a week of
// blobs is small.
func Build(ctx context.Context, h sink.Handle, since time.Time, by string) (*Report, error) {
	rep := &Report{Since: since, By: by, Coverage: []CoverageRow{}, Gaps: []string{}, Missing: []MissingBlob{}}
	entries, err := h.Ledger(ctx, since)
	if err != nil {
		return nil, err
	}
	layout, step := "2006-01-02", 24*time.Hour
	if by == "hour" {
		layout, step = "2006-01-02T15Z", time.Hour
	}
	cov := map[[4]string]*CoverageRow{}
	seen := map[[2]string]map[string]bool{}
	for _, e := range entries {
		period := "(no date)"
		if !e.Created.IsZero() {
			period = e.Created.UTC().Truncate(step).Format(layout)
		}
		src := Source(e.ContentID)
		k := [4]string{e.TenantID, e.ContentType, period, src}
		row := cov[k]
		if row == nil {
			row = &CoverageRow{Tenant: e.TenantID, ContentType: e.ContentType, Period: period, Source: src}
			cov[k] = row
		}
		switch e.Status {
		case schema.BlobLoaded:
			row.Blobs++
			row.Records += e.Records
			row.Quarantined += e.Quarantined
			u := [2]string{e.TenantID, e.ContentType}
			if seen[u] == nil {
				seen[u] = map[string]bool{}
			}
			seen[u][period] = true
		case schema.BlobFailed:
			row.Failed++
		case schema.BlobExpired:
			row.Expired++
		}
		if e.Status != schema.BlobLoaded {
			st := e.Status
			if src == SourceAuditSearch && st == schema.BlobFailed && strings.HasPrefix(e.Reason, auditquery.OpenReason) {
				st = "open"
			}
			rep.Missing = append(rep.Missing, MissingBlob{Tenant: e.TenantID, ContentType: e.ContentType, ContentID: e.ContentID,
				Created: e.Created, Status: st, Reason: e.Reason})
		}
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
		if a.Period != b.Period {
			return a.Period < b.Period
		}
		return a.Source < b.Source
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

	last, err := h.LastRun(ctx)
	if err != nil {
		return nil, err
	}
	if last != nil {
		lr := &LastRun{RunID: last.ID, Command: last.Command, Started: last.Started, Outcome: last.Outcome,
			Loaded: int64(last.RecordsLoaded), Blobs: int64(last.BlobsLoaded), Failed: int64(last.BlobsFailed),
			Expired: int64(last.BlobsExpired), Message: last.Message}
		if !last.Finished.IsZero() {
			f := last.Finished
			lr.Finished = &f
		}
		if lr.Outcome == "" {
			lr.Outcome = "unfinished (still running, or the process died)"
		}
		rep.LastRun = lr
	}
	if rep.Records, err = h.CountRecords(ctx); err != nil {
		return nil, err
	}
	return rep, nil
}

// Print writes the report as text for a terminal.
func Print(w io.Writer, rep *Report) {
	if rep.LastRun != nil {
		lr := rep.LastRun
		dur := "running or died"
		if lr.Finished != nil {
			dur = lr.Finished.Sub(lr.Started).Round(time.Millisecond).String()
		}
		fmt.Fprintf(w, "Last run: %s %s at %s (%s): %s; blobs loaded %d, failed %d, expired %d; records loaded %d\n",
			lr.Command, lr.RunID, lr.Started.Format(time.RFC3339), dur, lr.Outcome, lr.Blobs, lr.Failed, lr.Expired, lr.Loaded)
		if lr.Message != "" {
			// The units (tenant/content type) the last run could not list or load,
			// each with its cause (a missing permission, the start limit…).
			fmt.Fprintf(w, "  Not loaded by this run (tried again by the next run):\n  %s\n", strings.ReplaceAll(escape.Terminal(lr.Message), "\n", "\n  "))
		}
	} else {
		fmt.Fprintln(w, "Last run: none yet")
	}
	fmt.Fprintf(w, "Records stored: %d\n\n", rep.Records)
	fmt.Fprintf(w, "Coverage since %s by %s of blob publication (UTC):\n", rep.Since.Format(time.RFC3339), rep.By)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	history := false
	for _, r := range rep.Coverage {
		history = history || r.Source == SourceAuditSearch
	}
	if history {
		// Backfill's audit log query windows beside the feed: one more column.
		fmt.Fprintln(tw, "TENANT\tCONTENT TYPE\tPERIOD\tSOURCE\tBLOBS\tRECORDS\tQUARANTINED\tFAILED\tEXPIRED")
	} else {
		fmt.Fprintln(tw, "TENANT\tCONTENT TYPE\tPERIOD\tBLOBS\tRECORDS\tQUARANTINED\tFAILED\tEXPIRED")
	}
	for _, r := range rep.Coverage {
		src := ""
		if history {
			src = r.Source + "\t"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s%d\t%d\t%d\t%d\t%d\n", escape.TerminalCell(r.Tenant), escape.TerminalCell(r.ContentType), r.Period, src, r.Blobs, r.Records, r.Quarantined, r.Failed, r.Expired)
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
		fmt.Fprintf(w, "\nKnown missing (%d blobs or query windows not loaded; failed and open ones are retried by the next run, or backfill for windows):\n", len(rep.Missing))
		for _, m := range rep.Missing {
			fmt.Fprintf(w, "  %s %s %s %s: %s\n", escape.TerminalCell(m.Status), escape.TerminalCell(m.Tenant), escape.TerminalCell(m.ContentType),
				escape.TerminalCell(m.ContentID), escape.TerminalCell(m.Reason))
		}
	} else if rep.LastRun == nil || rep.LastRun.Message == "" {
		fmt.Fprintln(w, "\nNothing known missing.")
	} else {
		fmt.Fprintln(w, "\nNo blob known missing, but the last run could not list some content types (above).")
	}
}
