package pipeline

import (
	"time"
)

// Observer is told what a pass does as it happens: the one seam that metrics, the
// health endpoint and ingest alerts hang on, so none of them is spread over the
// pipeline. Observe is called from many goroutines at once; it must be safe for that,
// and quick (it runs on the pipeline's own goroutines, so it must not block on I/O).
type Observer interface {
	Observe(Event)
}

// EventKind says what an Event reports.
type EventKind int

// The events of a pass, per unit (tenant and content type).
const (
	// UnitStarted: the unit's pass began (its lease is held).
	UnitStarted EventKind = iota + 1
	// UnitFinished: the unit's pass ended; Err nil means it succeeded (listed, and
	// every new blob loaded or expired), else Err is why not. Duration is set.
	UnitFinished
	// BlobsLoaded: one load transaction committed Blobs blobs with Inserted new
	// records, Duplicates already stored and Quarantined kept aside; Newest is the
	// latest contentCreated among them.
	BlobsLoaded
	// BlobFailed: a blob could not be fetched or loaded (retried next pass); Err says why.
	BlobFailed
	// BlobExpired: the API no longer serves a blob that was never loaded; Err says so.
	BlobExpired
	// UnitHeld: another process holds the unit's lease and is loading it; this pass
	// skipped it (no UnitStarted or UnitFinished follows).
	UnitHeld
)

// Event is one thing a pass did. Tenant is the config name; TenantID the GUID.
type Event struct {
	Kind                EventKind
	Tenant, TenantID    string
	ContentType         string
	Time                time.Time
	Err                 error
	Duration            time.Duration
	Blobs               int
	Inserted            int
	Duplicates          int
	Quarantined         int
	Newest              time.Time
	ContentID           string    // BlobFailed, BlobExpired
	Created, Expiration time.Time // BlobFailed, BlobExpired: the blob's contentCreated and contentExpiration
}

// Observers fans events out to several observers.
type Observers []Observer

// Observe implements Observer.
func (os Observers) Observe(e Event) {
	for _, o := range os {
		o.Observe(e)
	}
}

func (r *runner) observe(u unit, e Event) {
	if r.o.Observer == nil {
		return
	}
	e.Tenant, e.TenantID, e.ContentType = u.tenant.Name, u.tenant.TenantID, u.contentType
	if e.Time.IsZero() {
		e.Time = r.o.Now()
	}
	r.o.Observer.Observe(e)
}
