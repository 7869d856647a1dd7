package faults_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// A fault decides what happens to one request. It returns true when it answered the
// request itself; false passes the request on (to the next fault, then the emulator).
// n counts the requests of that kind so far, this one included (1-based).
type fault func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, n int) bool

// proxy is a fault-injecting handler in front of the emulator. It also records every
// Authorization header it sees, so tests can look for bearer tokens in output.
type proxy struct {
	next http.Handler

	mu     sync.Mutex
	faults []fault
	count  map[string]int
	tokens map[string]bool
}

func newProxy(next http.Handler) *proxy {
	return &proxy{next: next, count: map[string]int{}, tokens: map[string]bool{}}
}

// set replaces the faults (nil switches them off).
func (p *proxy) set(fs ...fault) {
	p.mu.Lock()
	p.faults = fs
	p.mu.Unlock()
}

// requestKind names what a request is: token, list (first page of a listing), page (a
// NextPageUri page), blob, subs (subscriptions), hook (the emulator's test hooks).
func requestKind(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/_emulator/"):
		return "hook"
	case strings.Contains(p, "/oauth2/"):
		return "token"
	case strings.Contains(p, "/activity/feed/audit/"):
		return "blob"
	case strings.HasSuffix(p, "/subscriptions/content"):
		for k := range r.URL.Query() {
			if strings.EqualFold(k, "nextPage") {
				return "page"
			}
		}
		return "list"
	}
	return "subs"
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := requestKind(r)
	p.mu.Lock()
	p.count[kind]++
	n := p.count[kind]
	if a := r.Header.Get("Authorization"); a != "" {
		p.tokens[strings.TrimPrefix(a, "Bearer ")] = true
	}
	fs := p.faults
	p.mu.Unlock()
	for _, f := range fs {
		if f(p, w, r, kind, n) {
			return
		}
	}
	p.next.ServeHTTP(w, r)
}

// seenTokens returns the bearer tokens the API was sent.
func (p *proxy) seenTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for t := range p.tokens {
		out = append(out, t)
	}
	return out
}

// record runs the emulator for r and returns its answer, for faults that alter it.
func (p *proxy) record(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, r)
	return rec
}

// Fault building blocks.

// answer writes an error answer in the API's form (or body verbatim when code is "").
func answer(w http.ResponseWriter, status int, code, msg, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	if code == "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprint(w, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, code, msg)
}

// reset drops the connection with a TCP RST and no answer at all.
func reset(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// cut sends the emulator's answer with its full Content-Length but only part of its
// body, then drops the connection.
func cut(p *proxy, w http.ResponseWriter, r *http.Request) {
	rec := p.record(r)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	reset(w)
}

// rewrite sends the emulator's answer with its body changed by fn (2xx answers only).
func rewrite(p *proxy, w http.ResponseWriter, r *http.Request, fn func([]byte) []byte) {
	rec := p.record(r)
	body := rec.Body.Bytes()
	if rec.Code/100 == 2 {
		body = fn(body)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// blobID is the content id of a blob request.
func blobID(r *http.Request) string {
	return r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
}

// env is one scenario's world: an emulator behind the proxy, an API client, a sink.
type env struct {
	t     *testing.T
	emu   *emulator.Server
	proxy *proxy
	url   string
	src   pipeline.Source
	sink  sink.Sink
	log   *slog.Logger
	// extra are record ids a test served beyond the emulator's own (hand-written blobs);
	// optional ones may be stored or not (the loser of a duplicated "Id" key).
	extra, optional []string
	// notServed are blobs whose body a test replaced: their records never reached us.
	notServed map[string]bool
	// concurrency of downloads (default 4).
	concurrency int
}

// small keeps scenarios fast: two days of a small tenant, a blob per content type every
// two hours, short listing pages so NextPageUri is exercised, no rate limit.
func small(o emulator.Options) emulator.Options {
	if o.RecordsPerDay == 0 {
		o.RecordsPerDay = 150
	}
	if o.Days == 0 {
		o.Days = 2
	}
	if o.BlobInterval == 0 {
		o.BlobInterval = 2 * time.Hour
	}
	if o.PageSize == 0 {
		o.PageSize = 5
	}
	if o.RateLimit == 0 {
		o.RateLimit = -1
	}
	return o
}

func newEnv(t *testing.T, s sink.Sink, opts emulator.Options) *env {
	t.Helper()
	emu, err := emulator.New(small(opts))
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(emu.Handler())
	srv := httptest.NewServer(px)
	t.Cleanup(srv.Close)
	e := &env{t: t, emu: emu, proxy: px, url: srv.URL, sink: s, log: testLogger(t), concurrency: 4}
	e.src = pipeline.APISource{Client: e.client(emu.ClientSecret())}
	return e
}

// client builds an API client for the emulator with fast back-off: the faults are real,
// only the waits are short (a server's Retry-After is capped at 20ms).
func (e *env) client(secret string) *api.Client {
	c, err := api.New(api.Config{TenantID: e.emu.TenantID(), ClientID: e.emu.ClientID(), ClientSecret: secret,
		APIURL: e.url, LoginURL: e.url, Logger: e.log, RateLimit: -1, MaxRetries: 12,
		BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond, RetryAfterMax: 20 * time.Millisecond,
		HTTPClient: &http.Client{Timeout: 30 * time.Second}})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) options() pipeline.Options {
	return pipeline.Options{
		Tenants:            []pipeline.Tenant{{Name: "contoso", TenantID: e.emu.TenantID(), ContentTypes: emulator.ContentTypes, Source: e.src}},
		Sink:               e.sink,
		Logger:             e.log,
		Command:            "backfill",
		Lookback:           3 * 24 * time.Hour,
		StartSubscriptions: true,
		Concurrency:        e.concurrency,
		BatchRecords:       200,
	}
}

// run makes one pass; a Run error (not a per-unit one) fails the test.
func (e *env) run(ctx context.Context) pipeline.Summary {
	e.t.Helper()
	start := time.Now()
	sum, err := pipeline.Run(ctx, e.options())
	if err != nil {
		e.t.Fatalf("pipeline.Run: %v", err)
	}
	e.t.Logf("pass: %s listed=%d skipped=%d loaded=%d failed=%d expired=%d records=%d dup=%d quarantined=%d errors=%v (%s)",
		sum.Outcome(), sum.BlobsListed, sum.BlobsSkipped, sum.BlobsLoaded, sum.BlobsFailed, sum.BlobsExpired,
		sum.RecordsLoaded, sum.RecordsDuplicate, sum.RecordsQuarantined, sum.Errors, time.Since(start).Round(time.Millisecond))
	return sum
}

// ledger returns each content id's status and reason.
func ledger(t *testing.T, s sink.Sink) map[string][2]string {
	t.Helper()
	rows, err := s.Handle().DB.Query(`SELECT content_id, status, reason FROM content_blob`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][2]string{}
	for rows.Next() {
		var id, status string
		var reason *string
		if err := rows.Scan(&id, &status, &reason); err != nil {
			t.Fatal(err)
		}
		r := ""
		if reason != nil {
			r = *reason
		}
		out[id] = [2]string{status, r}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// storedIDs counts each record id in audit_record and quarantine.
func storedIDs(t *testing.T, s sink.Sink) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, id := range sinktest.StoredIDs(t, s.Handle().DB) {
		out[id]++
	}
	return out
}

// lastOutcome is the outcome the last finished pass wrote to ingest_run.
func lastOutcome(t *testing.T, s sink.Sink) string {
	t.Helper()
	var outcome string
	err := s.Handle().DB.QueryRow(`SELECT outcome FROM ingest_run WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, started_at DESC`).Scan(&outcome)
	if err != nil {
		t.Fatalf("reading the last run: %v", err)
	}
	return outcome
}

// account compares the database with the emulator's truth after a pass: no id stored
// twice, none the API never served, and every id missing accounted for by a ledger row
// saying why (expired or failed) and by the pass reporting missing data. It returns how
// many ids are missing.
func (e *env) account(sum pipeline.Summary) int {
	t := e.t
	t.Helper()
	truth := map[string]emulator.TruthRecord{}
	for _, r := range e.emu.Truth() {
		truth[r.ID] = r
	}
	for id, r := range truth {
		if e.notServed[r.ContentID] {
			delete(truth, id)
		}
	}
	for _, id := range e.extra {
		truth[id] = emulator.TruthRecord{ID: id}
	}
	optional := map[string]bool{}
	for _, id := range e.optional {
		optional[id] = true
	}
	// A unit (tenant/content type) whose listing or ledger read failed is named in the
	// pass's errors: its blobs may not be in the ledger at all.
	failedUnit := map[string]bool{}
	for _, err := range sum.Errors {
		for _, ct := range emulator.ContentTypes {
			if strings.HasPrefix(err.Error(), "contoso/"+ct+":") {
				failedUnit[ct] = true
			}
		}
	}
	stored := storedIDs(t, e.sink)
	var problems []string
	for id, n := range stored {
		if n > 1 {
			problems = append(problems, fmt.Sprintf("record %s stored %d times", id, n))
		}
		if _, ok := truth[id]; !ok && !optional[id] {
			problems = append(problems, fmt.Sprintf("record %s stored but never served", id))
		}
	}
	led := ledger(t, e.sink)
	missing, unreported := 0, 0
	for id, tr := range truth {
		if stored[id] > 0 {
			continue
		}
		missing++
		st := led[tr.ContentID]
		if st[0] != "expired" {
			unreported++
		}
		if st[0] != "expired" && st[0] != "failed" && !failedUnit[tr.ContentType] {
			problems = append(problems, fmt.Sprintf("record %s (blob %s) is missing and the ledger says %q", id, tr.ContentID, st[0]))
		}
	}
	// Expired blobs are final: the pass that met them reported them, and the ledger keeps
	// saying so (o365ingest status). Anything else missing is retried, so every pass must
	// report it.
	if unreported > 0 && !sum.Missing() {
		problems = append(problems, fmt.Sprintf("%d records missing (not expired) but the pass says %s", unreported, sum.Outcome()))
	}
	if got := lastOutcome(t, e.sink); got != sum.Outcome() {
		problems = append(problems, fmt.Sprintf("ingest_run says %s, the pass %s", got, sum.Outcome()))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("… and %d more", len(problems)-20))
		}
		t.Fatalf("the database does not account for the truth (%d ids, %d stored):\n%s", len(truth), len(stored), strings.Join(problems, "\n"))
	}
	return missing
}

// dropServedBy removes from the truth the records of blobs whose body a test replaced.
func (e *env) dropServedBy(blobs map[string]bool) { e.notServed = blobs }

// complete asserts a pass that must have loaded everything: nothing missing.
func (e *env) complete(sum pipeline.Summary) {
	e.t.Helper()
	if missing := e.account(sum); missing > 0 || sum.Missing() {
		e.t.Fatalf("pass %s with %d records missing, want everything loaded: %+v", sum.Outcome(), missing, sum)
	}
}

// testLogger sends errors to t.Log (retries are logged at warn and would drown the
// output of a failure).
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// drivers are the sinks every database scenario runs on.
func drivers(t *testing.T) []string { return sinktest.Drivers(t) }
