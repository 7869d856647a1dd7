package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/config"
	"github.com/o365ingest/o365ingest/ingest/monitor"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/schema"
)

// printError prints one error on stderr: a JSON log line with --log-format json (so
// every line of stderr parses), else "o365ingest: <error>".
func printError(env *Env, err error) {
	if env.JSONLogs {
		env.Logger.Error(err.Error())
		return
	}
	fmt.Fprintln(env.Stderr, "o365ingest:", err)
}

// printErrors prints the failures of a pass, each cause once: units that failed for
// the same reason (a refused token fails every content type of a tenant; the service's
// answers then differ only in trace ids and times) are named together before it.
func printErrors(env *Env, errs []error) {
	type group struct {
		cause string
		units []string
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, err := range errs {
		unit, key, cause := splitUnitError(err)
		g := byKey[key]
		if g == nil {
			g = &group{cause: cause}
			byKey[key] = g
			groups = append(groups, g)
		}
		if unit != "" {
			g.units = append(g.units, unit)
		}
	}
	for _, g := range groups {
		if env.JSONLogs {
			env.Logger.Error(g.cause, "units", g.units)
			continue
		}
		if len(g.units) > 0 {
			fmt.Fprintf(env.Stderr, "error: %s: %s\n", strings.Join(g.units, ", "), g.cause)
		} else {
			fmt.Fprintln(env.Stderr, "error:", g.cause)
		}
	}
}

// splitUnitError splits a pass error into the unit it names, a key that is the same
// for every unit failing for the same reason, and the text to print: for an API error,
// the step and the service's answer (its code and message verbatim, with the hint);
// the key is its status, code and hint, which a second answer shares.
func splitUnitError(err error) (unit, key, cause string) {
	msg := err.Error()
	step := ""
	var ue *pipeline.UnitError
	if errors.As(err, &ue) {
		unit, step = ue.Tenant+"/"+ue.ContentType, ue.Step
		msg = strings.TrimPrefix(msg, unit+": ")
	} else if head, rest, ok := strings.Cut(msg, ": "); ok {
		switch {
		case strings.HasPrefix(head, "tenant ") && !strings.Contains(head[len("tenant "):], " "):
			unit, msg = head[len("tenant "):], rest
		case strings.Contains(head, "/") && !strings.Contains(head, " "):
			unit, msg = head, rest
		}
	}
	var e *api.APIError
	if errors.As(err, &e) {
		if errors.Is(err, api.ErrAuthentication) {
			step = "authenticating"
		}
		cause = e.Error()
		if step != "" {
			cause = step + ": " + cause
		}
		return unit, fmt.Sprintf("%s|%d|%s|%s|%s", step, e.Status, e.Code, e.Hint, e.Method), cause
	}
	return unit, msg, msg
}

// nothingLoaded says why a pass loaded nothing when every failure was an
// authentication failure, "" otherwise.
func nothingLoaded(s *pipeline.Summary) string {
	if s.BlobsLoaded > 0 || len(s.Errors) == 0 || s.Interrupted {
		return ""
	}
	for _, err := range s.Errors {
		if !errors.Is(err, api.ErrAuthentication) {
			return ""
		}
	}
	return "authentication failed (the error above says why and what to check); no content was listed"
}

// summaryJSON is the summary of a pass as one JSON object (--log-format json).
type summaryJSON struct {
	Summary            string  `json:"summary"` // the command: run, backfill
	BlobsListed        int     `json:"blobs_listed"`
	BlobsSkipped       int     `json:"blobs_skipped"`
	BlobsLoaded        int     `json:"blobs_loaded"`
	BlobsFailed        int     `json:"blobs_failed"`
	BlobsExpired       int     `json:"blobs_expired"`
	RecordsLoaded      int     `json:"records_loaded"`
	RecordsDuplicate   int     `json:"records_duplicates"`
	RecordsQuarantined int     `json:"records_quarantined"`
	DurationSeconds    float64 `json:"duration_seconds"`
	Outcome            string  `json:"outcome"`
	UnitsHeld          int     `json:"held_by_other_process,omitempty"`
	Errors             int     `json:"errors"`
	Missing            bool    `json:"data_missing"`
	NothingLoaded      string  `json:"nothing_loaded,omitempty"`
	AlertsNew          *int    `json:"alerts_new,omitempty"`
	// UnitsFailed are the tenant/content type units this pass could not list, with
	// their cause (a missing permission, the start limit…).
	UnitsFailed []unitJSON `json:"units_failed,omitempty"`
}

// unitJSON is one failed unit of summaryJSON.
type unitJSON struct {
	Tenant      string `json:"tenant"`
	ContentType string `json:"content_type"`
	Step        string `json:"step"`
	Cause       string `json:"cause"`
	Permission  string `json:"missing_permission,omitempty"`
	Throttled   bool   `json:"throttled,omitempty"`
}

func printSummaryJSON(w io.Writer, command string, s *pipeline.Summary, alertsNew int) {
	out := summaryJSON{Summary: command, BlobsListed: s.BlobsListed, BlobsSkipped: s.BlobsSkipped, BlobsLoaded: s.BlobsLoaded,
		BlobsFailed: s.BlobsFailed, BlobsExpired: s.BlobsExpired, RecordsLoaded: s.RecordsLoaded, RecordsDuplicate: s.RecordsDuplicate,
		RecordsQuarantined: s.RecordsQuarantined, DurationSeconds: s.Duration.Seconds(), Outcome: s.Outcome(), UnitsHeld: s.UnitsHeld,
		Errors: len(s.Errors), NothingLoaded: nothingLoaded(s)}
	out.Missing = s.Missing() && out.NothingLoaded == ""
	for _, e := range s.Errors {
		var ue *pipeline.UnitError
		if errors.As(e, &ue) {
			out.UnitsFailed = append(out.UnitsFailed, unitJSON{ue.Tenant, ue.ContentType, ue.Step, ue.Cause, ue.Permission, ue.Throttled})
		}
	}
	if alertsNew >= 0 {
		out.AlertsNew = &alertsNew
	}
	b, _ := json.Marshal(out)
	fmt.Fprintln(w, string(b))
}

// ingestAlerter returns the ingest alerts of the config's webhooks, nil without any.
func ingestAlerter(env *Env, cfg *config.Config) *monitor.Alerter {
	if len(cfg.Detect.Webhooks) == 0 {
		return nil
	}
	return monitor.NewAlerter(cfg.AlertStatePath(), cfg.Detect, nil, env.Logger)
}

func appendObserver(o pipeline.Observer, more pipeline.Observer) pipeline.Observer {
	if o == nil {
		return more
	}
	return pipeline.Observers{o, more}
}

// seedLag tells the monitor the newest blob each unit has loaded, from the ledger of
// the last 8 days (the API keeps 7), so the lag is right from the first scrape.
func seedLag(ctx context.Context, env *Env, mon *monitor.Monitor, s sink.Sink, cfg *config.Config) {
	names := map[string]string{}
	for _, t := range cfg.Tenants {
		names[t.TenantID] = t.Name
	}
	entries, err := s.Handle().Ledger(ctx, time.Now().UTC().Add(-8*24*time.Hour))
	if err != nil {
		env.Logger.Warn("reading the ledger for the lag metric; it starts with the next load", "err", err)
		return
	}
	for _, e := range entries {
		if name, ok := names[e.TenantID]; ok && e.Status == schema.BlobLoaded && !e.Created.IsZero() {
			mon.SeedNewest(name, e.ContentType, e.Created)
		}
	}
}

// serveMonitor serves /metrics and /healthz on addr until stop is called.
func serveMonitor(env *Env, mon *monitor.Monitor, addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("service.listen: %w", err)
	}
	srv := &http.Server{Handler: mon.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	env.Logger.Info("serving /metrics and /healthz", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
