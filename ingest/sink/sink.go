// Package sink stores normalized audit records in SQL databases: PostgreSQL, MySQL/MariaDB,
// SQL Server/Azure SQL and SQLite (the embedded default). One file per database, one
// factory (Open) and one conformance suite that every sink passes.
//
// Guarantees every sink gives:
//   - Load is atomic: the records, the quarantined records and the ledger rows of a
//     batch commit in one transaction, or none of them do.
//   - Load is idempotent: a record id already stored is skipped and counted as a
//     duplicate, never an error; loading the same batch twice changes nothing.
//   - Nothing is truncated: a value that does not fit its column fails the load with
//     an error naming the record and column (the normalizer prevents this upstream).
//     Load checks every value against package schema before it writes anything and
//     returns a *ValueError; the one exception is PostgreSQL, which cannot store NUL in
//     text: its sink stores U+FFFD instead and says so in parse_notes (raw, json since
//     version 9, keeps \u0000 escapes as received).
//   - A record's properties are stored with it, exactly once: when a record id is
//     already stored, the properties of the new copy are not added to it.
//   - Every sink is a Leaser, and the ledger status of a blob only moves up
//     (failed < expired < loaded).
//
// The package is the one home of the ingest tables' SQL: loads, the ledger, leases and
// the run log are Sink methods, and status reads the ledger and run log through Handle.
// Read-only users of the database (detections, reports, status) get a Handle, the
// database with its Dialect, the one value that spells what differs between databases
// (quoting, placeholders, time values and literals, LIMIT/TOP, insert-if-absent, column
// types); the DDL generator asks it too.
//
// The driver table (open.go) lists every database: its name and aliases, Dialect, Open,
// and how tests and the benchmark make an empty database on its server. sinktest, the
// conformance suite and the benchmark derive their drivers from it.
//
// Open takes the driver's native DSN; Describe renders it for logs without credentials.
// Migrate (goose, migrations/<dialect>) runs before anything else touches the database.
// Tests get isolated, migrated databases of every driver from package sinktest.
package sink

import (
	"context"
	"errors"
	"time"

	"github.com/o365ingest/o365ingest/schema"
)

// Batch is what one Load call stores: blobs, each with its ledger entry, its normalized
// records and its quarantined records. Duplicated ids inside a batch are fine: the first
// one is stored.
type Batch struct {
	Blobs []Blob
}

// Blob is one content blob of a batch (or one chunk of an imported file): its ledger
// entry and what it holds. Its quarantined records are stored under the entry's tenant,
// content type and content id. An Entry with no ContentID writes no ledger row (tests and
// tools that store records alone).
type Blob struct {
	Entry       schema.Blob
	Records     []schema.Record
	Quarantined []schema.Quarantined
}

// RecordsOnly is a batch of records with no ledger entry.
func RecordsOnly(recs ...schema.Record) Batch { return Batch{Blobs: []Blob{{Records: recs}}} }

// Records counts the records of the batch (not the quarantined ones).
func (b Batch) Records() int {
	n := 0
	for _, bl := range b.Blobs {
		n += len(bl.Records)
	}
	return n
}

// QuarantinedRecord is a quarantined record with the blob it came from, as the
// quarantine table stores it.
type QuarantinedRecord struct {
	schema.Quarantined
	TenantID    string
	ContentType string
	ContentID   string
}

// LoadResult counts what a Load stored.
type LoadResult struct {
	// Inserted is how many records were new.
	Inserted int
	// Duplicates is how many records were already stored (or repeated in the batch).
	Duplicates int
	// Quarantined is how many quarantined records were stored.
	Quarantined int
}

// Sink is the seam between the pipeline and a database.
type Sink interface {
	// Load stores a batch in one transaction (see the package guarantees). Each blob's
	// ledger row is written with status loaded; a blob already loaded stays loaded.
	Load(ctx context.Context, b Batch) (LoadResult, error)
	// Known reports which of these content ids of a tenant need no more work: they are
	// in the ledger as loaded or expired. Failed blobs are not known: they are retried.
	Known(ctx context.Context, tenantID string, contentIDs []string) (map[string]bool, error)
	// MarkBlob records a blob that could not be loaded (status failed or expired, with
	// the reason). It never downgrades a loaded blob, and counts attempts of a failed one.
	MarkBlob(ctx context.Context, b schema.Blob) error
	// StartRun writes the run log row of a pass (ID, Command, Host, Started); its outcome
	// stays empty until FinishRun, so a crashed pass shows as unfinished.
	StartRun(ctx context.Context, r Run) error
	// FinishRun records the end, outcome and counters of run r.ID.
	FinishRun(ctx context.Context, r Run) error
	// Handle is the read handle (database and dialect) for migrations, status,
	// detections and reports.
	Handle() Handle
	// Close releases the connections.
	Close() error
}

// Leaser is implemented by sinks that can hold named leases in the database, so that
// processes sharing one database split the work and never load the same blobs at once.
type Leaser interface {
	// Acquire takes or renews the lease called name for holder until now+ttl. It
	// returns false when another holder has an unexpired lease.
	Acquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// Release gives the lease up if holder has it.
	Release(ctx context.Context, name, holder string) error
	// Holder returns who holds the lease name, expired or not ("" when nobody does).
	Holder(ctx context.Context, name string) (string, error)
}

// ErrUnknownDriver is returned by Open for a driver name not in the table.
// The error names the drivers of the table.
var ErrUnknownDriver = errors.New("unknown sink driver")
