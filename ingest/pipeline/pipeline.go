// Package pipeline joins the API client, the normalizer and a sink into the ingest job:
// list every content blob of the look-back window, skip the ones the ledger already has,
// fetch the rest with bounded concurrency, normalize their records and load them, each
// blob's records together with its ledger entry in one transaction.
//
// Completeness model. The API filters listings by when a blob was published, publishes
// some records days late, repeats records and expires blobs. So the pipeline keeps no
// time cursor: every pass lists the whole look-back (7 days by default) and lets the
// ledger say what is new. A crash can only repeat work, never skip it, and record ids
// absorb repeats. Blobs that expired or failed are written to the ledger with the reason,
// and the Summary says whether anything is known to be missing.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/stop"
)

// Source is the Management Activity API as the pipeline uses it; *api.Client provides it
// through APISource.
type Source interface {
	// EnsureSubscriptions starts the subscriptions that are missing and returns those started.
	EnsureSubscriptions(ctx context.Context, contentTypes []string) ([]string, error)
	// ListRange lists the blobs published in [from, to), however many windows and pages it takes.
	ListRange(ctx context.Context, contentType string, from, to time.Time) ([]api.ContentBlob, error)
	// Fetch downloads one blob, writing the body exactly as received to archive (when
	// not nil), and hands each record to fn in order, each exactly once, only after the
	// whole body arrived. A body the service keeps serving malformed is handed on as
	// well as it can be split, with BlobStats.Malformed saying why (see
	// api.FetchOptions.Salvage): what does not parse is quarantined, not retried forever.
	// A record over the client's MaxRecordBytes is not handed to fn but described in
	// BlobStats.Oversized, and the pipeline quarantines it.
	Fetch(ctx context.Context, b api.ContentBlob, archive io.Writer, fn func(rec json.RawMessage, index int) error) (api.BlobStats, error)
}

// OpenReporter is an optional capability of a Source whose blobs take a while to come
// into being (an audit log query window: its query is created, runs, then serves its
// records). It calls the function given to OnOpen when a blob opens, with a reason, and
// the pipeline ledgers that blob as failed with the reason until its load overwrites
// the row, so that status names what a crash or a stop left open and the next pass
// fetches it again.
type OpenReporter interface {
	OnOpen(fn func(ctx context.Context, b api.ContentBlob, reason string))
}

// APISource adapts *api.Client to Source.
type APISource struct{ *api.Client }

// Fetch implements Source.
func (s APISource) Fetch(ctx context.Context, b api.ContentBlob, archive io.Writer, fn func(rec json.RawMessage, index int) error) (api.BlobStats, error) {
	return s.FetchBlobWith(ctx, b, api.FetchOptions{Archive: archive, Salvage: true}, fn)
}

// Tenant is one configured tenant.
type Tenant struct {
	// Name is the config name (used in leases, logs and archive paths).
	Name string
	// TenantID is the tenant's GUID.
	TenantID string
	// ContentTypes to load.
	ContentTypes []string
	// Source is the API client for the tenant.
	Source Source
}

// Options configure a pass.
type Options struct {
	Tenants []Tenant
	Sink    sink.Sink
	Logger  *slog.Logger
	// Command names the pass in ingest_run: run or backfill.
	Command string
	// From and To bound the listing (by contentCreated). Zero From means To-Lookback;
	// zero To means now.
	From, To time.Time
	// Lookback is how far back a pass lists when From is zero (default 7 days).
	Lookback time.Duration
	// Concurrency is how many blob downloads may be in flight (default 8).
	Concurrency int
	// BatchRecords is how many records one load transaction aims at (default 5000).
	BatchRecords int
	// Loaders is how many load transactions may run at once across units (default 1
	// on SQLite, which has one writer, else 2). Memory holds at most Loaders batches
	// plus Concurrency fetched blobs.
	Loaders int
	// MemoryRecords bounds the records in memory: fetched but not yet loaded, plus an
	// estimate for each download under way; no download starts while more are held
	// (default BatchRecords, or two batches when Loaders is 1). It sets the pass's
	// memory (about 8 KB a record, with the garbage collector's headroom), whatever the
	// size of the backfill.
	MemoryRecords int
	// MaxListed bounds the new blobs one unit (tenant and content type) holds from
	// its listing in a pass (default 100000): with a PageLister source the listing
	// goes through the ledger page by page and stops there; those load and the pass
	// reports the unit incomplete.
	MaxListed int
	// Geo, when set, fills each record's client_country and client_asn from its
	// client_ip (a *geoip.DB, config ingest.geoip_db).
	Geo normalize.Locator
	// ArchiveDir, when set, keeps every blob as received under
	// <ArchiveDir>/<tenant>/<content type>/<yyyy-mm-dd>/<contentId>.json.gz.
	ArchiveDir string
	// StartSubscriptions starts missing subscriptions before listing.
	StartSubscriptions bool
	// Holder identifies this process in leases (default host/pid/random).
	Holder string
	// LeaseTTL is how long a lease on a tenant and content type lasts unless renewed.
	LeaseTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress, when set, is called as blobs are listed and loaded.
	Progress func(Progress)
	// Observer, when set, is told of every unit's start and end and every blob's
	// outcome (metrics, health, ingest alerts).
	Observer Observer
}

// Progress is a running count, for progress bars. BlobsTotal only grows, and only
// while Listing > 0: once every unit has listed, it is the pass's total.
type Progress struct {
	BlobsTotal, BlobsDone int
	Records               int
	// Listing is how many units (tenant and content type) have not finished listing.
	Listing int
}

// Summary is the outcome of a pass.
type Summary struct {
	BlobsListed, BlobsSkipped, BlobsLoaded, BlobsFailed, BlobsExpired int
	RecordsLoaded, RecordsDuplicate, RecordsQuarantined               int
	// UnitsHeld counts tenant/content type pairs skipped because another process
	// holds their lease.
	UnitsHeld int
	// UnitsOK counts the units that were listed (whatever became of their blobs).
	UnitsOK int
	// Errors are the failures of whole units (starting the subscription or listing
	// failed, the database failed): a *UnitError each, naming the unit and its cause,
	// each once; Run does not log them (the caller prints them, once).
	Errors   []error
	Duration time.Duration
	// Interrupted is set when the pass was cancelled.
	Interrupted bool

	firstBlobErr error // the first failed blob's error, for the unit's outcome
}

// Missing reports whether some data is known to be missing after the pass: a blob
// failed or expired, or a tenant/content type could not be listed or loaded.
func (s *Summary) Missing() bool {
	return s.BlobsFailed > 0 || s.BlobsExpired > 0 || len(s.Errors) > 0
}

// Add adds the counts and errors of another pass (backfill's history and feed).
func (s *Summary) Add(o Summary) { s.add(o) }

func (s *Summary) add(o Summary) {
	s.BlobsListed += o.BlobsListed
	s.BlobsSkipped += o.BlobsSkipped
	s.BlobsLoaded += o.BlobsLoaded
	s.BlobsFailed += o.BlobsFailed
	s.BlobsExpired += o.BlobsExpired
	s.RecordsLoaded += o.RecordsLoaded
	s.RecordsDuplicate += o.RecordsDuplicate
	s.RecordsQuarantined += o.RecordsQuarantined
	s.UnitsHeld += o.UnitsHeld
	s.UnitsOK += o.UnitsOK
	s.Errors = append(s.Errors, o.Errors...)
}

// UnitError is the failure of one unit (tenant × content type) in a pass. The other
// units of the tenant carry on; what this unit did not load is loaded by a later pass
// once the cause is gone.
type UnitError struct {
	Tenant, ContentType string
	// Step is what failed: "starting the subscription", "listing content"…
	Step string
	// Cause says what to do about it, in words a tenant admin can act on.
	Cause string
	// Permission is the API permission the app lacks, when that is the cause.
	Permission string
	// Throttled is set when the service asked to wait longer than the pass does
	// (the subscription-start limit): not failed for good, tried again next pass.
	Throttled bool
	Err       error
}

func (e *UnitError) Error() string {
	return fmt.Sprintf("%s/%s: %s: %s: %v", e.Tenant, e.ContentType, e.Step, e.Cause, e.Err)
}

func (e *UnitError) Unwrap() error { return e.Err }

// unitError classifies err of one unit's step.
func unitError(u unit, step string, err error) *UnitError {
	ue := &UnitError{Tenant: u.tenant.Name, ContentType: u.contentType, Step: step, Err: err, Cause: "failed"}
	var ae *api.APIError
	switch perm, ok := api.MissingPermission(err, u.contentType); {
	case ok:
		ue.Permission = perm
		ue.Cause = "missing permission " + perm + " (Office 365 Management APIs application permission, with admin consent)"
	case api.IsStartThrottled(err):
		ue.Throttled = true
		ue.Cause = "throttled: the service limits subscription starts"
		if errors.As(err, &ae) && ae.RetryAfter > 0 {
			ue.Cause += " and asks to retry after " + ae.RetryAfter.String()
		}
		ue.Cause += "; tried again next pass"
	case api.IsThrottled(err):
		ue.Throttled = true
		ue.Cause = "throttled; tried again next pass"
	case api.IsRedirectRefused(err):
		ue.Cause = "redirected off the API origin (refused, no credential sent)"
	case errors.As(err, &ae) && ae.Hint != "":
		ue.Cause = ae.Hint
	}
	return ue
}

// ErrNothingToDo is returned by Run when Options has no tenant.
var ErrNothingToDo = errors.New("no tenant configured")

// Run performs one pass over every tenant and content type. Its error is set only for
// problems that stop the whole pass (bad options, the database unreachable when
// recording the run); per-unit failures are in Summary.Errors.
func Run(ctx context.Context, o Options) (Summary, error) {
	if len(o.Tenants) == 0 {
		return Summary{}, ErrNothingToDo
	}
	o.defaults()
	start := o.Now()
	r := &runner{o: o, started: start, fetchSlots: make(chan struct{}, o.Concurrency), loadSlots: make(chan struct{}, o.Loaders),
		budget: newBudget(o.MemoryRecords)}
	// The run is recorded even when a signal is already pending, so status shows it
	// as interrupted rather than not at all.
	var runID string
	rctx, stopFinishing := stop.Finishing(ctx)
	defer stopFinishing()
	err := retryDB(rctx, func() (err error) {
		runID, err = startRun(rctx, o.Sink, o.Command, start)
		return err
	})
	if err != nil {
		return Summary{}, fmt.Errorf("recording the run: %w", err)
	}

	// Each unit starts its own subscription, lists, fetches and fails on its own:
	// one content type the app may not read (DLP.All without ActivityFeed.ReadDlp)
	// or the start limit never stops the tenant's other content types.
	var units []unit
	for _, t := range o.Tenants {
		if op, ok := t.Source.(OpenReporter); ok {
			op.OnOpen(r.ledgerOpen(t))
		}
		for _, ct := range t.ContentTypes {
			units = append(units, unit{tenant: t, contentType: ct})
		}
	}

	from, to := o.window(start)
	r.progress.Listing = len(units)
	var wg sync.WaitGroup
	unitSlots := make(chan struct{}, min(4, max(1, len(units))))
	for _, u := range units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case unitSlots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-unitSlots }()
			r.runUnit(ctx, u, from, to)
		}()
	}
	wg.Wait()

	sum := r.summary()
	sum.Duration = o.Now().Sub(start)
	sum.Interrupted = ctx.Err() != nil
	if err := retryDB(rctx, func() error { return finishRun(rctx, o.Sink, runID, o.Now(), &sum) }); err != nil {
		if stop.Hard(ctx) {
			o.Logger.Error("hard stop: the end of the run was not recorded; status shows it unfinished", "run", runID, "err", err)
		} else {
			o.Logger.Error("recording the end of the run", "err", err)
		}
	}
	return sum, nil
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Lookback <= 0 {
		o.Lookback = 7 * 24 * time.Hour
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.BatchRecords <= 0 {
		o.BatchRecords = 5000
	}
	if o.Loaders <= 0 {
		o.Loaders = 2
		if o.Sink != nil && o.Sink.Handle().Dialect.Name() == sink.DialectSQLite {
			o.Loaders = 1
		}
	}
	if o.MemoryRecords <= 0 {
		// One loader needs room for the next batch while it loads one, or fetching
		// and loading take turns; several loaders share one batch's worth and overlap
		// with each other.
		o.MemoryRecords = o.BatchRecords
		if o.Loaders == 1 {
			o.MemoryRecords = 2 * o.BatchRecords
		}
	}
	if o.Command == "" {
		o.Command = "run"
	}
	if o.MaxListed <= 0 {
		o.MaxListed = 100000
	}
	if o.Holder == "" {
		o.Holder = defaultHolder()
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 2 * time.Minute
	}
}

// window resolves the listing range [from, to).
func (o *Options) window(now time.Time) (time.Time, time.Time) {
	to := o.To
	if to.IsZero() {
		to = now
	}
	from := o.From
	if from.IsZero() {
		from = to.Add(-o.Lookback)
	}
	return from.UTC(), to.UTC()
}

// unit is one tenant and content type: the unit of leasing and of listing.
type unit struct {
	tenant      Tenant
	contentType string
}

func (u unit) name() string { return u.tenant.Name + "/" + u.contentType }

type runner struct {
	o          Options
	started    time.Time     // when the pass started: a blob listed as expiring before it is expired
	fetchSlots chan struct{} // bounds downloads across all units
	loadSlots  chan struct{} // bounds load transactions (and batches in memory) across units
	budget     *budget       // bounds records in memory across units

	mu       sync.Mutex
	sum      Summary
	progress Progress
}

// fail records the failure of a whole tenant (before its units start).
func (r *runner) fail(err error) {
	r.mu.Lock()
	r.sum.Errors = append(r.sum.Errors, err)
	r.mu.Unlock()
}

// failUnit records the failure of a unit in its summary.
func (r *runner) failUnit(sum *Summary, err error) {
	r.mu.Lock()
	sum.Errors = append(sum.Errors, err)
	r.mu.Unlock()
}

func (r *runner) addSummary(s Summary) {
	r.mu.Lock()
	r.sum.add(s)
	r.mu.Unlock()
}

func (r *runner) summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sum
}

func (r *runner) report(blobsTotal, blobsDone, records int) {
	r.reportListing(blobsTotal, blobsDone, records, 0)
}

// reportListing is report that also counts units done listing.
func (r *runner) reportListing(blobsTotal, blobsDone, records, listed int) {
	if r.o.Progress == nil {
		return
	}
	r.mu.Lock()
	r.progress.Listing -= listed
	r.progress.BlobsTotal += blobsTotal
	r.progress.BlobsDone += blobsDone
	r.progress.Records += records
	p := r.progress
	r.mu.Unlock()
	r.o.Progress(p)
}

// sortBlobs orders blobs oldest first, so a pass interrupted half-way has loaded the
// blobs closest to expiry.
func sortBlobs(bs []api.ContentBlob) {
	sort.SliceStable(bs, func(i, j int) bool { return bs[i].Created.Before(bs[j].Created) })
}
