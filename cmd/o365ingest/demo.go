package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/graph"
	"github.com/o365ingest/o365ingest/ingest/investigate"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
	"github.com/o365ingest/o365ingest/ingest/remediate"
	"github.com/o365ingest/o365ingest/ingest/sink"
)

func cmdDemo(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dbPath := fs.String("db", "o365-demo.db", "SQLite file to create (replaced if it exists)")
	seed := fs.Int64("seed", 1, "seed of the emulator's synthetic tenant")
	perDay := fs.Int("records-per-day", 2000, "synthetic records per day across the five content types")
	if code, ok := parseFlags(fs, env, args, `demo [--db FILE] [--seed N] [--records-per-day N]

Starts the API emulator in-process on a loopback port, backfills its 7 days into a local
SQLite file with the real pipeline, prints the summary and answers a few investigation
questions from the database. Needs no config and no network.`); !ok {
		return code
	}
	if env.LogLevel == "" {
		// The demo's own output tells the story; logs only for errors unless asked.
		env.Logger = newLogger(env.Stderr, "error", env.LogFormat)
	}
	start := time.Now()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(*dbPath + suffix); err != nil && !os.IsNotExist(err) {
			fmt.Fprintln(env.Stderr, "o365ingest: demo:", err)
			return exitFailure
		}
	}
	// The emulator's quota and the client's rate limit are lifted: the demo shows the
	// pipeline, not the 2,000 requests a minute a real tenant allows.
	emu, err := emulator.New(emulator.Options{Seed: *seed, RecordsPerDay: *perDay, Logger: env.Logger, RateLimit: -1})
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: demo: emulator:", err)
		return exitFailure
	}
	base, err := emu.Start("127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: demo: emulator:", err)
		return exitFailure
	}
	defer emu.Close()
	fmt.Fprintf(env.Stdout, "Emulator of the Management Activity API at %s (tenant %s)\n", base, emu.TenantID())

	client, err := api.New(api.Config{TenantID: emu.TenantID(), ClientID: emu.ClientID(), ClientSecret: emu.ClientSecret(),
		APIURL: base, LoginURL: base, Logger: env.Logger, RateLimit: -1})
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: demo:", err)
		return exitFailure
	}
	s, err := sink.Open(ctx, "sqlite", *dbPath)
	if err == nil {
		err = sink.Migrate(ctx, s)
	}
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: demo: database:", err)
		return exitFailure
	}
	defer s.Close()
	fmt.Fprintf(env.Stdout, "Backfilling 7 days into %s ...\n\n", *dbPath)
	sum, err := pipeline.Run(ctx, pipeline.Options{
		Tenants:            []pipeline.Tenant{{Name: "demo", TenantID: emu.TenantID(), ContentTypes: api.ContentTypes, Source: pipeline.APISource{Client: client}}},
		Sink:               s,
		Logger:             env.Logger,
		Command:            "backfill",
		StartSubscriptions: true,
	})
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: demo:", err)
		return exitFailure
	}
	printSummary(env.Stdout, "demo", &sum)
	if err := investigate.First(ctx, env.Stdout, s.Handle()); err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: demo: querying:", err)
		return exitFailure
	}
	now := time.Now().UTC()
	alerts, _, err := detect.Run(ctx, s.Handle(), detect.Config{}, now.Add(-8*24*time.Hour), now.Add(time.Hour), false, nil, env.Logger)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: demo: detections:", err)
		return exitFailure
	}
	fmt.Fprintf(env.Stdout, "\n== Alerts raised by the detection rules (%d)\n", len(alerts))
	if err := writeAlerts(env.Stdout, "table", alerts, nil); err != nil {
		return exitFailure
	}
	for _, a := range alerts {
		if len(a.Remediation) > 0 {
			fmt.Fprintf(env.Stdout, "\nRemediation for %s (%s):\n", a.Rule, a.UserID)
			for _, r := range a.Remediation {
				fmt.Fprintf(env.Stdout, "  %s\n", r)
			}
		}
	}
	if err := demoRemediation(ctx, env.Stdout, s, alerts, emu.AttackStory(), base); err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: demo: remediation:", err)
		return exitFailure
	}
	fmt.Fprintf(env.Stdout, "\nDemo finished in %s. Explore it: sqlite3 %s, or `o365ingest status --dsn %s`.\n",
		time.Since(start).Round(100*time.Millisecond), *dbPath, *dbPath)
	if sum.Missing() {
		return exitIncomplete
	}
	return exitOK
}

// demoRemediation shows, as a dry run, what o365ingest remediate would do for the planted
// forwarding rule, against the emulator's Graph endpoints: nothing is sent.
func demoRemediation(ctx context.Context, w io.Writer, s sink.Sink, alerts []detect.Alert, story emulator.AttackStory, base string) error {
	for _, a := range alerts {
		if a.Rule != detect.RuleInboxForwardExternal || a.RecordID != story.InboxRuleID {
			continue
		}
		p, _, err := remediate.Load(ctx, s.Handle(), a.ID, base+"/"+graph.Version)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n== What `o365ingest remediate --alert %s` would do for the forwarding rule (dry run: nothing is sent)\n", a.ID[:12])
		printPlan(w, p, nil, "demo")
		fmt.Fprintf(w, "\nTo execute against the emulator: o365ingest emulate, a config with its graph_url, then\n  o365ingest remediate --alert %s --action remove-inbox-rule,revoke-sessions --yes\n", a.ID[:12])
		return nil
	}
	return fmt.Errorf("no alert on the planted forwarding rule (record %s)", story.InboxRuleID)
}
