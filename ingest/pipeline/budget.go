package pipeline

import (
	"context"
	"sync"
)

// budget counts the records in memory across units: those fetched and normalized but
// not yet loaded, plus an estimate for each download under way (the average blob of its
// unit so far: blob sizes differ by content type). A new download starts only while the
// count is under the limit, so memory is set by the limit, not by the size of the
// backfill.
type budget struct {
	mu       sync.Mutex
	used     int // records of fetched blobs not yet loaded
	reserved int // estimated records of the downloads under way
	limit    int
	changed  chan struct{} // closed and replaced when the count goes down
}

func newBudget(limit int) *budget { return &budget{limit: limit, changed: make(chan struct{})} }

// priorBlobRecords is the estimate of a blob's records before any blob of its unit was
// fetched.
const priorBlobRecords = 1000

// blobEstimate is a unit's running average of records per blob.
type blobEstimate struct {
	mu             sync.Mutex
	records, blobs int
}

func (e *blobEstimate) get() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.blobs == 0 {
		return priorBlobRecords
	}
	return max(1, e.records/e.blobs)
}

func (e *blobEstimate) add(n int) {
	e.mu.Lock()
	e.records += n
	e.blobs++
	e.mu.Unlock()
}

// start waits until the count is under the limit (or ctx is done) and reserves est.
func (b *budget) start(ctx context.Context, est int) error {
	for {
		b.mu.Lock()
		if b.used+b.reserved < b.limit {
			b.reserved += est
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fetched replaces a download's estimate by its n records.
func (b *budget) fetched(est, n int) {
	b.mu.Lock()
	b.reserved -= est
	b.used += n
	b.notify()
	b.mu.Unlock()
}

// failed drops the estimate of a download that brought nothing.
func (b *budget) failed(est int) {
	b.mu.Lock()
	b.reserved -= est
	b.notify()
	b.mu.Unlock()
}

// done counts n records as loaded (or dropped).
func (b *budget) done(n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.notify()
	b.mu.Unlock()
}

// notify wakes the waiters; b.mu is held.
func (b *budget) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}
