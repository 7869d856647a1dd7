package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/o365ingest/o365ingest/ingest/emulator"
)

// cmdEmulate serves an emulator of the Management Activity API and its login
// endpoint on one host until ctx is cancelled.
func cmdEmulate(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("emulate", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	listen := fs.String("listen", "127.0.0.1:8365", "address to listen on")
	seed := fs.Int64("seed", 1, "seed of the synthetic tenant (same seed, same data)")
	tenantID := fs.String("tenant-id", "", "tenant id (GUID; default derived from the seed)")
	clientID := fs.String("client-id", "", "client (app) id accepted by the token endpoint (default derived from the seed)")
	clientSecret := fs.String("client-secret", "", "client secret accepted by the token endpoint (default derived from the seed)")
	latency := fs.Duration("latency", 0, "delay added to every request, e.g. 50ms")
	throttleRate := fs.Float64("throttle-rate", 0, "fraction of API requests answered AF429")
	throttleStatus := fs.Int("throttle-status", http.StatusForbidden, "HTTP status of AF429 answers: 403 (documented) or 429")
	retryAfter := fs.Bool("retry-after", false, "send Retry-After with AF429 answers")
	errorRate := fs.Float64("error-rate", 0, "fraction of API requests answered 500 AF50000")
	duplicateRate := fs.Float64("duplicate-rate", 0, "fraction of records repeated in a later blob")
	lateRate := fs.Float64("late-rate", 0, "fraction of newly published records put in backdated blobs")
	truncateRate := fs.Float64("truncate-rate", 0, "fraction of listing and blob responses cut short")
	expireRate := fs.Float64("expire-rate", 0, "fraction of blobs that answer AF20051 (expired)")
	perDay := fs.Int("records-per-day", 2000, "synthetic records per day across all content types (negative: none)")
	days := fs.Int("days", 7, "days of history (at most 7)")
	historyDays := fs.Int("history-days", 0, "days of older history (8 to 180), served only by the Microsoft Graph audit log query API (/v1.0/security/auditLog/queries) and included in /_emulator/truth")
	historyDelay := fs.Duration("history-query-delay", 2*time.Second, "how long an audit log query runs (notStarted for a third of it, then running) before it succeeds or, under --error-rate, fails")
	historyLimit := fs.Int("history-record-limit", 50000, "most records one audit log query returns (isRecordCountLimitReached past it)")
	pageSize := fs.Int("page-size", 20, "blobs per listing page before a NextPageUri")
	corpus := fs.String("corpus", "", "also serve the real records of this corpus directory (records/*.jsonl), unchanged")
	tokenLifetime := fs.Duration("token-lifetime", time.Hour, "lifetime of issued access tokens")
	publishEvery := fs.Duration("publish-interval", time.Minute, "publish new records at the records-per-day pace on this tick (0: off)")
	blobEvery := fs.Duration("blob-interval", 30*time.Minute, "one blob per content type per interval of synthetic history")
	quirks := fs.String("quirks", "", "comma-separated behaviours of the real service to reproduce: dlp-permission, strict-window, start-throttle, python-repr-errors, af10001-401, foreign-content-uri, transient-404, blob-paging, redirect-login, or all")
	rateLimit := fs.Int("rate-limit", 2000, "per-tenant requests per minute before AF429, as the real API's quota (-1: no quota)")
	var graphWithhold listFlag
	fs.Var(&graphWithhold, "graph-withhold", "Microsoft Graph application permissions the emulated app lacks (comma-separated, e.g. User.RevokeSessions.All): calls needing one are answered 403 in Graph's error shape")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: o365ingest emulate [flags]\n\nServe an emulator of the Office 365 Management Activity API (login and API on one host).\nTest hooks: GET /_emulator/truth[?contentType=X], POST /_emulator/publish {\"records\":N,\"late\":0.3}, GET /_emulator/expired, GET /_emulator/attack.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseInterspersed(fs, args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "emulate: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return 2
	}
	for name, v := range map[string]float64{"throttle-rate": *throttleRate, "error-rate": *errorRate, "duplicate-rate": *duplicateRate,
		"late-rate": *lateRate, "truncate-rate": *truncateRate, "expire-rate": *expireRate} {
		if v < 0 || v > 1 {
			fmt.Fprintf(env.Stderr, "emulate: --%s must be between 0 and 1\n", name)
			return 2
		}
	}
	if *throttleStatus != http.StatusForbidden && *throttleStatus != http.StatusTooManyRequests {
		fmt.Fprintln(env.Stderr, "emulate: --throttle-status must be 403 or 429")
		return 2
	}
	if *historyDays < 0 || *historyDays > 180 {
		fmt.Fprintln(env.Stderr, "emulate: --history-days must be between 0 and 180")
		return 2
	}
	q, err := emulator.ParseQuirks(*quirks)
	if err != nil {
		fmt.Fprintf(env.Stderr, "emulate: --quirks: %v\n", err)
		return 2
	}
	emu, err := emulator.New(emulator.Options{
		Quirks: q,
		Seed:   *seed, TenantID: *tenantID, ClientID: *clientID, ClientSecret: *clientSecret,
		RecordsPerDay: *perDay, Days: *days, PageSize: *pageSize, BlobInterval: *blobEvery, RateLimit: *rateLimit,
		Latency: *latency, ThrottleRate: *throttleRate, ThrottleStatus: *throttleStatus, RetryAfter: *retryAfter,
		ErrorRate: *errorRate, DuplicateRate: *duplicateRate, LateRate: *lateRate, TruncateRate: *truncateRate,
		ExpireRate: *expireRate, TokenLifetime: *tokenLifetime, PublishInterval: *publishEvery,
		CorpusDir: *corpus, Logger: env.Logger, GraphWithhold: graphWithhold,
		HistoryDays: *historyDays, HistoryQueryDelay: *historyDelay, HistoryRecordLimit: *historyLimit,
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "emulate: %v\n", err)
		return 2
	}
	base, err := emu.Start(*listen)
	if err != nil {
		fmt.Fprintf(env.Stderr, "emulate: %v\n", err)
		return 1
	}
	defer emu.Close()
	fmt.Fprintf(env.Stdout, "tenant_id: %s\nclient_id: %s\nclient_secret: %s\nbase_url: %s\n", emu.TenantID(), emu.ClientID(), emu.ClientSecret(), base)
	if len(q) > 0 {
		fmt.Fprintf(env.Stdout, "quirks: %s\n", q)
	}
	fmt.Fprintln(env.Stdout)
	fmt.Fprintf(env.Stdout, "# config.yaml tenant snippet:\ntenants:\n  - name: emulator\n    tenant_id: %s\n    client_id: %s\n    client_secret: %s\n    api_url: %s\n    login_url: %s\n    graph_url: %s\n",
		emu.TenantID(), emu.ClientID(), emu.ClientSecret(), base, base, base)
	<-ctx.Done()
	return 0
}
