package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/config"
	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/geoip"
	"github.com/o365ingest/o365ingest/ingest/monitor"
	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
)

func cmdRun(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	var tenants listFlag
	fs.Var(&tenants, "tenant", "only these configured tenants (repeatable or comma-separated; default all)")
	interval := fs.Duration("interval", 0, "keep running as a service: one pass every `D` (e.g. 15m); 0 runs one pass and exits")
	lookback := fs.String("lookback", "", "how far back each pass lists content, e.g. 7d or 36h (default: config ingest.lookback, 7d)")
	progress := fs.String("progress", "auto", "progress display: auto (a bar on a terminal, else a log line every 10 s), bar, lines or none")
	listen := fs.String("listen", "", "with --interval: serve /metrics and /healthz on `ADDR` (host:port; default: config service.listen)")
	if code, ok := parseFlags(fs, env, args, "run [--tenant NAME] [--interval D [--listen ADDR]] [--lookback 7d] [--progress auto] [--sink D --dsn X]"); !ok {
		return code
	}
	if !validProgress(*progress) {
		return usageError(env, "--progress: %q is not auto, bar, lines or none", *progress)
	}
	if fs.NArg() > 0 {
		return usageError(env, "run takes no arguments (got %q)", fs.Args())
	}
	var mon *monitor.Monitor
	if *interval > 0 {
		mon = monitor.New(*interval, nil)
	}
	cfg, opts, code := ingestOptions(env, tenants, "run", mon)
	if code != 0 {
		return code
	}
	if *lookback != "" {
		d, err := parseSince(*lookback)
		if err != nil {
			return usageError(env, "--lookback: %v", err)
		}
		opts.Lookback = d
	}
	addr := *listen
	if addr == "" {
		addr = cfg.Service.Listen
	}
	if *listen != "" && *interval <= 0 {
		return usageError(env, "--listen serves the service mode's metrics: it needs --interval")
	}
	s, err := sf.open(ctx, env, cfg)
	if err != nil {
		printError(env, err)
		return exitFailure
	}
	defer s.Close()
	opts.Sink = s
	alerter := ingestAlerter(env, cfg)
	if alerter != nil {
		opts.Observer = appendObserver(opts.Observer, alerter)
	}
	if mon != nil {
		seedLag(ctx, env, mon, s, cfg)
	}
	if mon != nil && addr != "" {
		stop, err := serveMonitor(env, mon, addr)
		if err != nil {
			printError(env, err)
			return exitFailure
		}
		defer stop()
	}
	for {
		code := onePass(ctx, env, opts, *progress, &cfg.Detect, alerter)
		if *interval <= 0 || ctx.Err() != nil {
			return code
		}
		env.Logger.Info("next pass", "in", interval.String())
		select {
		case <-ctx.Done():
			// Idle between passes there is nothing to stop: a service manager's
			// SIGTERM is a clean exit, not a failure.
			env.Logger.Info("stopped while idle between passes")
			return exitOK
		case <-time.After(*interval):
		}
	}
}

func cmdBackfill(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	var tenants listFlag
	fs.Var(&tenants, "tenant", "only these configured tenants (repeatable or comma-separated; default all)")
	since := fs.String("since", "", "load content published in the last `D` (e.g. 7d, 36h, 90d); the API keeps 7 days, older days come from Graph's audit log query API for tenants with audit_search: true")
	fromS := fs.String("from", "", "start of the range, by publication time (RFC 3339 or YYYY-MM-DD, UTC)")
	toS := fs.String("to", "", "end of the range, exclusive (default now)")
	progress := fs.String("progress", "auto", "progress display: auto (a bar on a terminal, else a log line every 10 s), bar, lines or none")
	if code, ok := parseFlags(fs, env, args, "backfill [--since 7d | --from T --to T] [--tenant NAME] [--sink D --dsn X]"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(env, "backfill takes no arguments (got %q)", fs.Args())
	}
	if !validProgress(*progress) {
		return usageError(env, "--progress: %q is not auto, bar, lines or none", *progress)
	}
	cfg, opts, code := ingestOptions(env, tenants, "backfill", nil)
	if code != 0 {
		return code
	}
	now := time.Now().UTC()
	var err error
	switch {
	case *since != "" && (*fromS != "" || *toS != ""):
		return usageError(env, "give --since or --from/--to, not both")
	case *since != "":
		d, err := parseSince(*since)
		if err != nil {
			return usageError(env, "--since: %v", err)
		}
		opts.From, opts.To = now.Add(-d), now
	case *fromS != "":
		if opts.From, err = parseTime(*fromS); err != nil {
			return usageError(env, "--from: %v", err)
		}
		opts.To = now
		if *toS != "" {
			if opts.To, err = parseTime(*toS); err != nil {
				return usageError(env, "--to: %v", err)
			}
		}
		if !opts.From.Before(opts.To) {
			return usageError(env, "--from must be before --to")
		}
	case *toS != "":
		return usageError(env, "--to needs --from")
	default:
		opts.From, opts.To = now.Add(-opts.Lookback), now
	}
	var history *pipeline.Options
	if feedFrom := now.Add(-feedDays); opts.From.Before(feedFrom) {
		hts, err := historyTenants(cfg, tenants, env.Logger)
		if err != nil {
			printError(env, err)
			return exitUsage
		}
		if len(hts) < len(opts.Tenants) {
			env.Logger.Warn("the API keeps content for 7 days; the range is clamped to that for tenants without audit_search. For older records set audit_search: true (Graph's audit log query API), or export them with Search-UnifiedAuditLog or the portal and use `o365ingest import`",
				"from", opts.From)
		}
		if len(hts) > 0 {
			// The older part, in whole UTC days up to the one the feed starts in: the
			// day they share is loaded by both and stored once (by record id).
			h := opts
			h.Tenants, h.To = hts, feedFrom
			h.StartSubscriptions = false
			history = &h
		}
		opts.From = feedFrom
	}
	s, err := sf.open(ctx, env, cfg)
	if err != nil {
		printError(env, err)
		return exitFailure
	}
	defer s.Close()
	opts.Sink = s
	alerter := ingestAlerter(env, cfg)
	if alerter != nil {
		opts.Observer = appendObserver(opts.Observer, alerter)
	}
	if history != nil {
		history.Sink, history.Observer = s, opts.Observer
		return onePass(ctx, env, opts, *progress, &cfg.Detect, alerter, *history)
	}
	return onePass(ctx, env, opts, *progress, &cfg.Detect, alerter)
}

// ingestOptions loads and validates the config and builds the pipeline options shared by
// run and backfill; a non-zero code means the command must return it.
// With mon set, the pass reports to it and every API answer is counted.
func ingestOptions(env *Env, only []string, command string, mon *monitor.Monitor) (*config.Config, pipeline.Options, int) {
	cfg, err := loadConfig(env)
	if err == nil {
		err = cfg.ValidateForIngest()
	}
	if err != nil {
		printError(env, err)
		return nil, pipeline.Options{}, exitUsage
	}
	var hooks []clientHook
	if mon != nil {
		hooks = append(hooks, func(t config.Tenant, c *api.Config) { c.OnResponse = mon.OnResponse(t.Name) })
	}
	ts, err := pipelineTenants(cfg, only, env.Logger, hooks...)
	if err != nil {
		printError(env, err)
		return nil, pipeline.Options{}, exitUsage
	}
	var observer pipeline.Observer
	if mon != nil {
		for _, t := range ts {
			mon.Expect(t.Name, t.ContentTypes...)
		}
		observer = mon
	}
	var geo normalize.Locator
	if files := cfg.Ingest.GeoIPFiles(); len(files) > 0 {
		// Opened once for the process (the files are read in place, not copied).
		db, err := geoip.Open(files...)
		if err != nil {
			printError(env, fmt.Errorf("ingest.geoip_db: %w", err))
			return nil, pipeline.Options{}, exitUsage
		}
		geo = db
	}
	return cfg, pipeline.Options{
		Observer:           observer,
		Geo:                geo,
		Tenants:            ts,
		Logger:             env.Logger,
		Command:            command,
		Lookback:           time.Duration(cfg.Ingest.Lookback),
		Concurrency:        cfg.Ingest.Concurrency,
		BatchRecords:       cfg.Ingest.BatchRecords,
		MemoryRecords:      cfg.Ingest.MemoryFor("", nil).Records,
		ArchiveDir:         cfg.Ingest.ArchiveDir,
		StartSubscriptions: cfg.Ingest.StartSubscriptions,
		MaxListed:          cfg.Ingest.MaxListingEntries,
	}, 0
}

// onePass runs the pipeline once, then the detections over the records of the
// look-back, sends the ingest alerts, prints the summary (one JSON object on stdout
// with --log-format json) and each error once, and returns the exit code.
// Passes in before (backfill's history) run first, into the same summary and progress.
func onePass(ctx context.Context, env *Env, opts pipeline.Options, progressMode string, dcfg *detect.Config, alerter *monitor.Alerter, before ...pipeline.Options) int {
	start := time.Now().UTC()
	pr := startProgress(ctx, env, progressMode)
	var done pipeline.Progress // of the passes before
	if pr != nil {
		opts.Progress = func(p pipeline.Progress) {
			p.BlobsTotal += done.BlobsTotal
			p.BlobsDone += done.BlobsDone
			p.Records += done.Records
			pr.update(p)
		}
	}
	var sum pipeline.Summary
	var err error
	detectFrom := opts.From
	for _, b := range before {
		if detectFrom.IsZero() || b.From.Before(detectFrom) {
			detectFrom = b.From
		}
		var last pipeline.Progress
		if pr != nil {
			b.Progress = func(p pipeline.Progress) {
				p.BlobsTotal += done.BlobsTotal
				p.BlobsDone += done.BlobsDone
				p.Records += done.Records
				last = p
				pr.update(p)
			}
		}
		var bs pipeline.Summary
		bs, err = pipeline.Run(ctx, b)
		if err != nil {
			break
		}
		sum.Add(bs)
		if last.BlobsTotal > 0 {
			done = last
			done.Listing = 0
		}
		if bs.Interrupted {
			sum.Interrupted = true
			break
		}
	}
	if err == nil && !sum.Interrupted {
		var fs pipeline.Summary
		fs, err = pipeline.Run(ctx, opts)
		sum.Add(fs)
		sum.Interrupted = fs.Interrupted
	}
	sum.Duration = time.Since(start)
	if pr != nil {
		pr.finish(err == nil && !sum.Interrupted)
	}
	if err != nil {
		printError(env, err)
		return exitFailure
	}
	if alerter != nil {
		if err := alerter.Flush(ctx); err != nil {
			env.Logger.Warn("ingest alerts: "+err.Error(), "hint", "set ingest.alert_state_file to a writable path")
		}
	}
	alertsNew, code := -1, 0
	if dcfg != nil && !sum.Interrupted {
		// Records published late carry old event times, so the rules look at the
		// whole look-back; alerts are keyed by their records, so re-reading is harmless.
		from := detectFrom
		if from.IsZero() {
			from = start.Add(-opts.Lookback)
		}
		_, fresh, err := detect.Run(ctx, opts.Sink.Handle(), *dcfg, from.Add(-24*time.Hour), start.Add(time.Hour), true, nil, env.Logger)
		if err != nil {
			printError(env, fmt.Errorf("detections: %w", err))
			code = exitFailure
		} else {
			alertsNew = len(fresh)
		}
	}
	printErrors(env, sum.Errors)
	if env.JSONSummary {
		printSummaryJSON(env.Stdout, opts.Command, &sum, alertsNew)
	} else {
		printSummary(env.Stdout, opts.Command, &sum)
		if alertsNew >= 0 {
			fmt.Fprintf(env.Stdout, "%s: alerts new=%d\n", opts.Command, alertsNew)
		}
	}
	switch {
	case sum.Interrupted:
		return exitInterrupted
	case sum.BlobsFailed > 0 || sum.BlobsExpired > 0:
		return exitIncomplete
	case code != 0:
		return exitFailure
	case len(sum.Errors) > 0 && sum.UnitsOK > 0:
		// Some units failed (a permission the app lacks, the start limit) while
		// the others loaded: data is known missing, not a failed run.
		return exitIncomplete
	case len(sum.Errors) > 0:
		return exitFailure
	}
	return exitOK
}

// printSummary prints the pass summary: stable key=value lines a script can read.
func printSummary(w io.Writer, command string, s *pipeline.Summary) {
	fmt.Fprintf(w, "%s: blobs listed=%d skipped=%d loaded=%d failed=%d expired=%d\n",
		command, s.BlobsListed, s.BlobsSkipped, s.BlobsLoaded, s.BlobsFailed, s.BlobsExpired)
	fmt.Fprintf(w, "%s: records loaded=%d duplicates=%d quarantined=%d\n",
		command, s.RecordsLoaded, s.RecordsDuplicate, s.RecordsQuarantined)
	held := ""
	if s.UnitsHeld > 0 {
		held = fmt.Sprintf(" held_by_other_process=%d", s.UnitsHeld)
	}
	fmt.Fprintf(w, "%s: duration=%s outcome=%s%s\n", command, s.Duration.Round(time.Millisecond), s.Outcome(), held)
	if s.UnitsHeld > 0 {
		fmt.Fprintf(w, "%s: %d tenant/content type pairs were being loaded by another o365ingest process and were skipped\n", command, s.UnitsHeld)
	}
	why := nothingLoaded(s)
	for _, e := range s.Errors {
		var ue *pipeline.UnitError
		if errors.As(e, &ue) && why == "" { // one authentication failure is said once, below
			kind := "failed"
			if ue.Throttled {
				kind = "throttled"
			}
			fmt.Fprintf(w, "%s: unit %s tenant=%s content_type=%s step=%q cause=%q\n", command, kind, ue.Tenant, ue.ContentType, ue.Step, ue.Cause)
		}
	}
	if why != "" {
		fmt.Fprintf(w, "%s: nothing was loaded: %s\n", command, why)
	} else if s.Missing() {
		fmt.Fprintf(w, "%s: some data is known to be missing; see `o365ingest status`\n", command)
	}
}
