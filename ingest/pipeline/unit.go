package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/stop"
	"github.com/o365ingest/o365ingest/schema"
)

// fetched is one downloaded and normalized blob, ready to load: its ledger entry with
// its records and quarantined records.
type fetched = sink.Blob

// knownChunk bounds how many content ids one ledger query asks about.
const knownChunk = 500

// runUnit lists, fetches and loads one tenant and content type.
func (r *runner) runUnit(ctx context.Context, u unit, from, to time.Time) {
	log := r.o.Logger.With("tenant", u.tenant.Name, "content_type", u.contentType)
	// However the unit ends, its listing is over for the progress display: with the
	// new blobs it found (see below), or with none.
	listingDone := false
	defer func() {
		if !listingDone {
			r.reportListing(0, 0, 0, 1)
		}
	}()
	var sum Summary
	started := r.o.Now()
	observed := false
	defer func() {
		r.addSummary(sum)
		if observed && ctx.Err() == nil {
			r.observe(u, Event{Kind: UnitFinished, Err: unitErr(&sum), Duration: r.o.Now().Sub(started)})
		}
	}()

	leaser, _ := r.o.Sink.(sink.Leaser)
	if leaser != nil {
		ok, err := r.acquire(ctx, leaser, u.name())
		if err != nil {
			observed = true
			r.failUnit(&sum, unitError(u, "taking the lease", err))
			return
		}
		if !ok {
			log.Warn("another o365ingest process is loading this tenant and content type; skipped")
			sum.UnitsHeld++
			r.observe(u, Event{Kind: UnitHeld})
			return
		}
		defer func() {
			rctx, cancel := stop.Finishing(ctx)
			defer cancel()
			if err := retryDB(rctx, func() error { return leaser.Release(rctx, u.name(), r.o.Holder) }); err != nil {
				log.Warn("releasing the lease (it lapses by itself)", "err", err)
			}
		}()
	}

	observed = true
	r.observe(u, Event{Kind: UnitStarted, Time: started})
	if r.o.StartSubscriptions {
		startedSubs, err := u.tenant.Source.EnsureSubscriptions(ctx, []string{u.contentType})
		if err != nil {
			if ctx.Err() == nil {
				r.failUnit(&sum, unitError(u, "starting the subscription", err))
			}
			return
		}
		if len(startedSubs) > 0 {
			log.Warn("started subscription; the API may serve no content for up to 12 hours after a start")
		}
	}

	todo, listed, err := r.list(ctx, u, from, to)
	var le *ledgerError
	window := fmt.Sprintf("listing content %s/%s", from.Format(time.RFC3339), to.Sub(from))
	switch {
	case ctx.Err() != nil:
		return
	case errors.As(err, &le):
		r.failUnit(&sum, unitError(u, "reading the ledger", le.err))
		return
	case errors.Is(err, errListingBound):
		// What was listed loads; the pass says the unit is incomplete, and the next
		// pass, finding these in the ledger, lists further.
		r.failUnit(&sum, unitError(u, window, fmt.Errorf("%w (%d, max_listing_entries); those load now and the next run lists the rest", err, r.o.MaxListed)))
	case err != nil:
		r.failUnit(&sum, unitError(u, window, err))
		if _, paged := u.tenant.Source.(PageLister); !paged {
			return
		}
		// The pages that arrived went through the ledger check: their new blobs load.
	}
	if err == nil {
		sum.UnitsOK++
	}
	sum.BlobsListed = listed
	sum.BlobsSkipped = listed - len(todo)
	sortBlobs(todo)
	log.Info("listed content", "from", from, "to", to, "blobs", listed, "new", len(todo))
	listingDone = true
	r.reportListing(len(todo), 0, 0, 1)
	if len(todo) == 0 {
		return
	}

	// Unbuffered: a fetched blob waits in its fetcher, which keeps its download slot
	// until the loader takes it, so the blobs in memory are bounded by Concurrency across
	// all units (plus each unit's batch) and memory does not grow with the backfill.
	results := make(chan fetched)
	var wg sync.WaitGroup
	go func() {
		defer close(results)
		var sizes blobEstimate
		for _, b := range todo {
			est := sizes.get()
			if err := r.budget.start(ctx, est); err != nil {
				wg.Wait()
				return
			}
			select {
			case r.fetchSlots <- struct{}{}:
			case <-ctx.Done():
				r.budget.failed(est)
				wg.Wait()
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-r.fetchSlots }()
				f, err := r.fetch(ctx, u, b, log)
				if err != nil {
					r.budget.failed(est)
					if ctx.Err() == nil {
						r.markFailed(ctx, u, b, err, &sum, log)
					}
					return
				}
				sizes.add(len(f.Records))
				r.budget.fetched(est, len(f.Records))
				results <- f
			}()
		}
		wg.Wait()
	}()
	r.load(ctx, u, results, &sum, log)
}

// PageLister is a Source that can hand its listing on page by page
// (api.Client.ListPages); the pipeline then checks each page against the ledger as it
// arrives and holds only the new blobs, at most Options.MaxListed of them.
type PageLister interface {
	ListPages(ctx context.Context, contentType string, from, to time.Time, fn func([]api.ContentBlob) error) error
}

// errListingBound stops a listing holding Options.MaxListed new blobs.
var errListingBound = errors.New("listing stopped at the most new blobs one unit may hold")

// ledgerError is a failed ledger lookup during a listing.
type ledgerError struct{ err error }

func (e *ledgerError) Error() string { return e.err.Error() }

// list returns the blobs of [from, to) the ledger lacks (each once) and how many
// entries the listing held. With a PageLister the listing goes through the ledger page
// by page and stops with errListingBound past MaxListed new blobs; what it found
// until an error is returned with the error.
func (r *runner) list(ctx context.Context, u unit, from, to time.Time) ([]api.ContentBlob, int, error) {
	pl, ok := u.tenant.Source.(PageLister)
	if !ok {
		all, err := u.tenant.Source.ListRange(ctx, u.contentType, from, to)
		if err != nil {
			return nil, 0, err
		}
		todo, err := r.unknown(ctx, u.tenant.TenantID, all)
		if err != nil {
			return nil, 0, &ledgerError{err}
		}
		return todo, len(all), nil
	}
	var todo []api.ContentBlob
	listed := 0
	held := map[string]bool{}
	err := pl.ListPages(ctx, u.contentType, from, to, func(page []api.ContentBlob) error {
		listed += len(page)
		fresh, err := r.unknown(ctx, u.tenant.TenantID, page)
		if err != nil {
			return &ledgerError{err}
		}
		for _, b := range fresh {
			key, _ := contentKey(b.ContentID)
			if held[key] {
				listed-- // listed again (windows may overlap on the real service)
				continue
			}
			if len(todo) >= r.o.MaxListed {
				return errListingBound
			}
			held[key] = true
			todo = append(todo, b)
		}
		return nil
	})
	return todo, listed, err
}

// unknown returns the listed blobs the ledger does not mark as loaded or expired.
func (r *runner) unknown(ctx context.Context, tenantID string, listed []api.ContentBlob) ([]api.ContentBlob, error) {
	var todo []api.ContentBlob
	for i := 0; i < len(listed); i += knownChunk {
		chunk := listed[i:min(i+knownChunk, len(listed))]
		ids := make([]string, len(chunk))
		for j, b := range chunk {
			ids[j], _ = contentKey(b.ContentID)
		}
		var known map[string]bool
		err := retryDB(ctx, func() (err error) {
			known, err = r.o.Sink.Known(ctx, tenantID, ids)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, b := range chunk {
			if key, _ := contentKey(b.ContentID); !known[key] {
				todo = append(todo, b)
			}
		}
	}
	return todo, nil
}

// fetch downloads one blob and normalizes its records.
func (r *runner) fetch(ctx context.Context, u unit, b api.ContentBlob, log *slog.Logger) (fetched, error) {
	now := r.o.Now().UTC()
	key, note := contentKey(b.ContentID)
	src := normalize.Source{TenantID: u.tenant.TenantID, ContentType: u.contentType, ContentID: key, IngestedAt: now, Geo: r.o.Geo}
	var arch *archiveFile
	if r.o.ArchiveDir != "" {
		kb := b
		kb.ContentID = key
		var err error
		if arch, err = createArchive(r.o.ArchiveDir, u.tenant.Name, u.contentType, kb); err != nil {
			return fetched{}, err
		}
		defer arch.abort()
	}
	f := fetched{Entry: schema.Blob{
		TenantID: u.tenant.TenantID, ContentType: u.contentType, ContentID: key, ContentURI: b.ContentURI,
		Created: b.Created, Expiration: b.Expiration, Status: schema.BlobLoaded, LoadedAt: now, Reason: note,
	}}
	var archive io.Writer
	if arch != nil {
		archive = arch
	}
	stats, err := u.tenant.Source.Fetch(ctx, b, archive, func(raw json.RawMessage, i int) error {
		rec, err := normalize.Record(raw, src)
		if err != nil {
			q := normalize.Quarantine(raw, i, err)
			log.Warn("record quarantined", "blob", b.ContentID, "ordinal", i, "reason", q.Reason)
			f.Quarantined = append(f.Quarantined, q)
			return nil
		}
		f.Records = append(f.Records, rec)
		return nil
	})
	if err != nil {
		return fetched{}, err
	}
	if arch != nil {
		if err := arch.commit(); err != nil {
			return fetched{}, fmt.Errorf("archiving blob %s: %w", b.ContentID, err)
		}
	}
	for _, o := range stats.Oversized {
		// Too large to hold as a record: kept with its head, size and hash, so it is
		// accounted for, and the rest of its blob loads.
		q := normalize.Quarantine(o.Head, o.Index, errors.New(o.Reason()))
		log.Warn("record quarantined", "blob", b.ContentID, "ordinal", o.Index, "reason", q.Reason)
		f.Quarantined = append(f.Quarantined, q)
	}
	f.Entry.SHA256, f.Entry.Bytes, f.Entry.Records = stats.SHA256, stats.Bytes, stats.Records
	f.Entry.Quarantined = len(f.Quarantined)
	if stats.Malformed != "" {
		// The service keeps serving this body malformed: what parsed is loaded, the rest
		// is quarantined with the body's problem in its reason, and the ledger says so.
		log.Warn("blob body is malformed; its valid records are loaded and the rest quarantined",
			"blob", b.ContentID, "reason", stats.Malformed, "quarantined", len(f.Quarantined))
		f.Entry.Reason = withNote(note, "malformed body: "+stats.Malformed)
		for i := range f.Quarantined {
			f.Quarantined[i].Reason = "malformed blob body (" + stats.Malformed + "): " + f.Quarantined[i].Reason
		}
	}
	return f, nil
}

// loadError marks a blob that was fetched but could not be loaded.
type loadError struct{ error }

func (e loadError) Unwrap() error { return e.error }

// markFailed writes a blob that could not be fetched to the ledger: expired when the API
// no longer serves it, failed (retried next pass) otherwise.
func (r *runner) markFailed(ctx context.Context, u unit, b api.ContentBlob, err error, sum *Summary, log *slog.Logger) {
	// Only the service's own word (AF20051, AF20050) or a contentExpiration already
	// past when the pass began means the blob is gone for good; a bare 404 or anything else is failed and
	// fetched again by the next pass.
	status := schema.BlobFailed
	var le loadError
	if api.IsExpired(err) || api.IsNotFound(err) ||
		(!errors.As(err, &le) && !b.Expiration.IsZero() && b.Expiration.Before(r.started)) {
		status = schema.BlobExpired
	}
	log.Error("blob not loaded", "blob", b.ContentID, "status", status, "err", err)
	key, note := contentKey(b.ContentID)
	mark := schema.Blob{TenantID: u.tenant.TenantID, ContentType: u.contentType, ContentID: key,
		ContentURI: b.ContentURI, Created: b.Created, Expiration: b.Expiration, Status: status,
		Reason: withNote(note, err.Error()), LoadedAt: r.o.Now().UTC()}
	// The ledger row is what status shows: retry a transient refusal (a deadlock
	// between concurrent marks on MariaDB, a dropped connection) before giving up.
	mctx, cancel := stop.Finishing(ctx)
	defer cancel()
	if merr := retryDB(mctx, func() error { return r.o.Sink.MarkBlob(mctx, mark) }); merr != nil {
		log.Error("recording the blob in the ledger", "blob", b.ContentID, "err", merr)
	}
	r.mu.Lock()
	kind := BlobFailed
	if status == schema.BlobExpired {
		sum.BlobsExpired++
		kind = BlobExpired
	} else {
		sum.BlobsFailed++
		if sum.firstBlobErr == nil {
			sum.firstBlobErr = fmt.Errorf("blob %s: %w", b.ContentID, err)
		}
	}
	r.mu.Unlock()
	r.observe(u, Event{Kind: kind, Err: err, Blobs: 1, ContentID: b.ContentID, Created: b.Created, Expiration: b.Expiration})
	r.report(0, 1, 0)
}

// unitErr is why a unit's pass did not succeed, nil when it did: its first error, else
// its failed blobs (expired ones are final, not a failure of the pass).
func unitErr(sum *Summary) error {
	switch {
	case len(sum.Errors) > 0:
		return sum.Errors[0]
	case sum.BlobsFailed > 0:
		return fmt.Errorf("%d blobs failed (retried next pass); the first: %w", sum.BlobsFailed, sum.firstBlobErr)
	}
	return nil
}

// ledgerOpen returns the OpenReporter callback of tenant t: an opened blob is ledgered as
// failed with the source's reason (retried like every ledger mark, and finished after a
// soft stop), so status names it until it loads.
func (r *runner) ledgerOpen(t Tenant) func(ctx context.Context, b api.ContentBlob, reason string) {
	return func(ctx context.Context, b api.ContentBlob, reason string) {
		key, note := contentKey(b.ContentID)
		mark := schema.Blob{TenantID: t.TenantID, ContentType: b.ContentType, ContentID: key, Created: b.Created,
			Status: schema.BlobFailed, Reason: withNote(note, reason), LoadedAt: r.o.Now().UTC()}
		mctx, cancel := stop.Finishing(ctx)
		defer cancel()
		if err := retryDB(mctx, func() error { return r.o.Sink.MarkBlob(mctx, mark) }); err != nil {
			r.o.Logger.Warn("recording an opened blob in the ledger", "tenant", t.Name, "blob", b.ContentID, "err", err)
		}
	}
}
