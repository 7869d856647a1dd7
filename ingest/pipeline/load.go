package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/stop"
	"github.com/o365ingest/o365ingest/schema"
)

// loader loads the fetched blobs of one unit: it gathers them into batches of about
// BatchRecords records, commits each batch in one transaction (its blobs' records,
// quarantined records and ledger rows together), and renews the unit's lease as it goes.
// A batch is committed when it is full or when no further blob is ready, so small passes
// commit promptly and large ones in large transactions.
type loader struct {
	r         *runner
	u         unit
	sum       *Summary
	log       *slog.Logger
	leaser    sink.Leaser
	lastRenew time.Time
}

// load runs the loader of unit u over the blobs its fetchers send.
func (r *runner) load(ctx context.Context, u unit, results <-chan fetched, sum *Summary, log *slog.Logger) {
	l := &loader{r: r, u: u, sum: sum, log: log, lastRenew: r.o.Now()}
	l.leaser, _ = r.o.Sink.(sink.Leaser)
	l.run(ctx, results)
}

func (l *loader) run(ctx context.Context, results <-chan fetched) {
	for {
		f, ok := <-results
		if !ok {
			return
		}
		// A batch is gathered only once this unit may load: waiting units leave their
		// blobs with the fetchers, so the batches held in memory are bounded by Loaders,
		// and a batch gathered late is larger.
		l.r.loadSlots <- struct{}{}
		batch, closed := l.gather(f, results)
		ok = l.commit(ctx, batch)
		<-l.r.loadSlots
		if closed {
			return
		}
		if !ok {
			l.drain(results)
			return
		}
	}
}

// gather adds to first the blobs that are ready now, until the batch holds BatchRecords
// records. closed reports that the fetchers are done.
func (l *loader) gather(first fetched, results <-chan fetched) (batch []fetched, closed bool) {
	batch = []fetched{first}
	n := len(first.Records)
	for n < l.r.o.BatchRecords {
		select {
		case f, ok := <-results:
			if !ok {
				return batch, true
			}
			batch = append(batch, f)
			n += len(f.Records)
		default:
			return batch, false
		}
	}
	return batch, false
}

// drain lets the fetchers finish after the unit stopped; what they fetched is loaded by
// the next pass.
func (l *loader) drain(results <-chan fetched) {
	for f := range results {
		l.r.budget.done(len(f.Records))
	}
}

// commit stores a batch and renews the lease. It reports whether the unit goes on.
func (l *loader) commit(ctx context.Context, batch []fetched) bool {
	err := l.store(ctx, batch)
	l.r.budget.done(recordsOf(batch))
	if !l.renew(ctx) {
		return false
	}
	return err == nil || !errors.Is(err, context.Canceled)
}

// store loads the batch in one transaction. When that fails it loads the blobs one by
// one: one blob the database refuses must not fail the blobs batched with it, pass after
// pass, so only the culprit is marked failed; this also retries a batch cut off by a
// dropped connection, on a fresh one. It returns the batch's first error.
func (l *loader) store(ctx context.Context, batch []fetched) error {
	res, err := l.loadBatch(ctx, batch)
	switch {
	case err != nil && stop.Hard(ctx):
		// Abandoned (loadBatch logged it): nothing more is tried, nothing is marked;
		// the ledger does not have these blobs, so the next pass loads them.
	case err == nil:
		l.loaded(batch, res)
	case len(batch) == 1:
		l.failed(ctx, batch[0], err)
	default:
		l.log.Warn("loading a batch failed; loading its blobs one by one", "blobs", len(batch), "err", err)
		for _, f := range batch {
			one := []fetched{f}
			if res, err := l.loadBatch(ctx, one); err == nil {
				l.loaded(one, res)
			} else {
				l.failed(ctx, f, err)
			}
		}
	}
	return err
}

// loadBatch loads blobs in one transaction. A batch already fetched is committed even
// when a signal arrives: it is one atomic transaction either way, and finishing it saves a
// download next pass.
func (l *loader) loadBatch(ctx context.Context, blobs []fetched) (sink.LoadResult, error) {
	fctx, stopFinishing := stop.Finishing(ctx)
	defer stopFinishing()
	lctx, cancel := context.WithTimeout(fctx, 5*time.Minute)
	defer cancel()
	res, _, err := loadRetrying(lctx, l.r.o.Sink, sink.Batch{Blobs: blobs}, l.log)
	if err != nil && stop.Hard(ctx) {
		l.log.Error("hard stop: a batch in flight was abandoned and rolled back; the next pass loads it",
			"blobs", len(blobs), "records", recordsOf(blobs), "first_blob", blobs[0].Entry.ContentID)
	}
	return res, err
}

// loaded counts a committed batch in the summary and the progress.
func (l *loader) loaded(batch []fetched, res sink.LoadResult) {
	l.r.mu.Lock()
	l.sum.BlobsLoaded += len(batch)
	l.sum.RecordsLoaded += res.Inserted
	l.sum.RecordsDuplicate += res.Duplicates
	l.sum.RecordsQuarantined += res.Quarantined
	l.r.mu.Unlock()
	var newest time.Time
	for _, f := range batch {
		if f.Entry.Created.After(newest) {
			newest = f.Entry.Created
		}
	}
	l.r.observe(l.u, Event{Kind: BlobsLoaded, Blobs: len(batch), Inserted: res.Inserted, Duplicates: res.Duplicates,
		Quarantined: res.Quarantined, Newest: newest})
	// Per batch at debug: the progress display (a bar, or a line every 10 s) says how far the pass is.
	l.log.Debug("loaded", "blobs", len(batch), "records", recordsOf(batch), "inserted", res.Inserted,
		"duplicates", res.Duplicates, "quarantined", res.Quarantined)
	l.r.report(0, len(batch), res.Inserted)
}

// failed marks a blob the database did not take as failed, for the next pass.
func (l *loader) failed(ctx context.Context, f fetched, err error) {
	e := f.Entry
	l.r.markFailed(ctx, l.u, api.ContentBlob{ContentID: e.ContentID, ContentURI: e.ContentURI, Created: e.Created, Expiration: e.Expiration},
		loadError{fmt.Errorf("loading: %w", err)}, l.sum, l.log)
}

// renew renews the unit's lease when a third of its time has passed. It reports false
// when the lease is lost: the unit stops, and the pass must not say it is complete.
func (l *loader) renew(ctx context.Context) bool {
	if l.leaser == nil || l.r.o.Now().Sub(l.lastRenew) <= l.r.o.LeaseTTL/3 {
		return true
	}
	rctx, cancel := stop.Finishing(ctx)
	defer cancel()
	var ok bool
	err := retryDB(rctx, func() (err error) {
		ok, err = l.leaser.Acquire(rctx, l.u.name(), l.r.o.Holder, l.r.o.LeaseTTL)
		return err
	})
	if err != nil || !ok {
		// What this unit has not loaded yet is loaded by the next pass.
		l.r.failUnit(l.sum, unitError(l.u, "renewing the lease", fmt.Errorf("renewing the lease failed (held: %v, err: %v); the unit stopped and the next pass loads the rest", !ok, err)))
		return false
	}
	l.lastRenew = l.r.o.Now()
	return true
}

// recordsOf counts the records of blobs.
func recordsOf(blobs []fetched) int {
	n := 0
	for _, f := range blobs {
		n += len(f.Records)
	}
	return n
}

// loadAttempts is how many times a batch is loaded when the database fails it
// transiently (sink.Transient: a dropped connection, a restart, a deadlock), waiting
// 200 ms, doubling up to 3 s, in between: about 6 s, what a database restart takes.
const loadAttempts = 6

// loadRetrying is loadQuarantining, run again on a transient failure (a fresh connection
// from the pool). It returns the batch as loaded (with the records moved to quarantine).
func loadRetrying(ctx context.Context, s sink.Sink, b sink.Batch, log *slog.Logger) (sink.LoadResult, sink.Batch, error) {
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		res, final, err := loadQuarantining(ctx, s, b, log)
		if err == nil || attempt == loadAttempts || !sink.Transient(err) || ctx.Err() != nil {
			return res, final, err
		}
		log.Warn("loading failed; trying again", "attempt", attempt, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return res, final, err
		}
		wait = min(2*wait, 3*time.Second)
	}
}

// loadQuarantining loads a batch; when the sink refuses a value of one record (a
// *sink.ValueError naming it), that record moves to its blob's quarantined records with
// the sink's reason and the batch is loaded again, so one value a database cannot hold
// never keeps a blob from loading, pass after pass, and never loses the record. The
// caller's blobs are not changed.
func loadQuarantining(ctx context.Context, s sink.Sink, b sink.Batch, log *slog.Logger) (sink.LoadResult, sink.Batch, error) {
	for {
		res, err := s.Load(ctx, b)
		var ve *sink.ValueError
		if err == nil || !errors.As(err, &ve) {
			return res, b, err
		}
		if !quarantineRecord(&b, ve) {
			return res, b, err
		}
		log.Warn("record quarantined: the database cannot store one of its values", "record", ve.RecordID, "reason", ve.Error())
	}
}

// quarantineRecord moves the record ve names to the quarantined records of its blob, in
// a copy of b's blobs. It reports false when no record of b has that id.
func quarantineRecord(b *sink.Batch, ve *sink.ValueError) bool {
	for j, bl := range b.Blobs {
		i := slices.IndexFunc(bl.Records, func(rec schema.Record) bool { return rec.ID == ve.RecordID })
		if i < 0 {
			continue
		}
		rec := bl.Records[i]
		raw, _ := rec.Value("raw").(string)
		bl.Records = slices.Delete(slices.Clone(bl.Records), i, i+1)
		bl.Quarantined = append(slices.Clone(bl.Quarantined), schema.Quarantined{Ordinal: -1, RecordID: rec.ID, Reason: ve.Error(), Raw: raw})
		bl.Entry.Quarantined++
		b.Blobs = slices.Clone(b.Blobs)
		b.Blobs[j] = bl
		return true
	}
	return false
}
