package sink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Handle is what read-only users of the database get (status, detections, reports,
// timelines): the database and its dialect, not the Sink. Its methods are the read
// queries of the ingest tables (ledger, run log); other packages write their own read
// queries of the audit tables with the Dialect's help, never spelling a dialect
// difference themselves.
type Handle struct {
	DB      *sql.DB
	Dialect *Dialect
}

// Handle returns the read handle of the sink's database.
func (s *base) Handle() Handle { return Handle{DB: s.db, Dialect: s.d} }

// LedgerEntry is one ledger row (content_blob) as status reads it.
type LedgerEntry struct {
	TenantID, ContentType, ContentID string
	// Created is when the blob was published (zero when unknown).
	Created time.Time
	// Status is loaded, failed or expired.
	Status string
	// Records and Quarantined count the blob's records (loaded blobs).
	Records, Quarantined int64
	Reason               string
}

// Ledger returns the ledger rows of blobs published at or after since, and those whose
// publication time is unknown.
func (h Handle) Ledger(ctx context.Context, since time.Time) ([]LedgerEntry, error) {
	d := h.Dialect
	q := d.Quote
	rows, err := h.DB.QueryContext(ctx, d.Rebind(fmt.Sprintf("SELECT %s FROM %s WHERE %s >= ? OR %s IS NULL",
		d.QuoteList([]string{"tenant_id", "content_type", "content_id", "content_created", "status", "record_count", "quarantined", "reason"}),
		q("content_blob"), q("content_created"), q("content_created"))), d.Time(since))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the ledger: %w", d.name, err)
	}
	defer rows.Close()
	var out []LedgerEntry
	for rows.Next() {
		var e LedgerEntry
		var created any
		var recs, quar sql.NullInt64
		var reason sql.NullString
		if err := rows.Scan(&e.TenantID, &e.ContentType, &e.ContentID, &created, &e.Status, &recs, &quar, &reason); err != nil {
			return nil, fmt.Errorf("%s: reading the ledger: %w", d.name, err)
		}
		if e.Created, err = ScanTime(created); err != nil {
			return nil, fmt.Errorf("%s: reading the ledger: blob %s: %w", d.name, e.ContentID, err)
		}
		e.Records, e.Quarantined, e.Reason = recs.Int64, quar.Int64, reason.String
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: reading the ledger: %w", d.name, err)
	}
	return out, nil
}

// LastRun returns the newest row of the run log, or nil when there is none. A run
// without an outcome is still running or its process died.
func (h Handle) LastRun(ctx context.Context) (*Run, error) {
	d := h.Dialect
	var r Run
	var started, finished any
	var host, outcome, message sql.NullString
	var loaded, blobs, failed, expired, listed, skipped, dup, quar sql.NullInt64
	err := h.DB.QueryRowContext(ctx, d.Limit(fmt.Sprintf("SELECT %s FROM %s ORDER BY %s DESC",
		d.QuoteList([]string{"run_id", "command", "host", "started_at", "finished_at", "outcome", "records_loaded", "blobs_loaded",
			"blobs_failed", "blobs_expired", "blobs_listed", "blobs_skipped", "records_duplicate", "records_quarantined", "message"}),
		d.Quote("ingest_run"), d.Quote("started_at")), 1)).
		Scan(&r.ID, &r.Command, &host, &started, &finished, &outcome, &loaded, &blobs, &failed, &expired, &listed, &skipped, &dup, &quar, &message)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading the run log: %w", d.name, err)
	}
	if r.Started, err = ScanTime(started); err != nil {
		return nil, fmt.Errorf("%s: reading the run log: run %s: %w", d.name, r.ID, err)
	}
	if r.Finished, err = ScanTime(finished); err != nil {
		return nil, fmt.Errorf("%s: reading the run log: run %s: %w", d.name, r.ID, err)
	}
	r.Host, r.Outcome, r.Message = host.String, outcome.String, message.String
	r.RecordsLoaded, r.BlobsLoaded, r.BlobsFailed, r.BlobsExpired = int(loaded.Int64), int(blobs.Int64), int(failed.Int64), int(expired.Int64)
	r.BlobsListed, r.BlobsSkipped, r.RecordsDuplicate, r.RecordsQuarantined = int(listed.Int64), int(skipped.Int64), int(dup.Int64), int(quar.Int64)
	return &r, nil
}

// CountRecords returns how many audit records are stored.
func (h Handle) CountRecords(ctx context.Context) (int64, error) {
	var n int64
	if err := h.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+h.Dialect.Quote("audit_record")).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: counting records: %w", h.Dialect.name, err)
	}
	return n, nil
}

// ScanTime converts what a driver returns for a Time column into a UTC time: time.Time
// (PostgreSQL, SQL Server, MySQL with parseTime), text (SQLite, MySQL without it), or
// nil (NULL: the zero time).
func ScanTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		return parseDBTime(x)
	case []byte:
		return parseDBTime(string(x))
	case nil:
		return time.Time{}, nil
	}
	return time.Time{}, fmt.Errorf("unexpected time value of type %T", v)
}

func parseDBTime(s string) (time.Time, error) {
	for _, layout := range []string{SQLiteTimeFormat, "2006-01-02 15:04:05.999999999Z07:00", time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", s)
}

// LedgerTotals returns how many blobs the ledger holds and their raw bytes.
func (h Handle) LedgerTotals(ctx context.Context) (blobs, bytes int64, err error) {
	q := h.Dialect.Quote
	err = h.DB.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*), COALESCE(SUM(%s), 0) FROM %s", q("bytes"), q("content_blob"))).Scan(&blobs, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: reading the ledger totals: %w", h.Dialect.name, err)
	}
	return blobs, bytes, nil
}
