package sink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Run is one row of the run log (ingest_run): a pass of run or backfill, or an import.
// Its outcome stays empty (NULL) until FinishRun, so a crashed pass shows as unfinished.
type Run struct {
	ID, Command, Host string
	Started, Finished time.Time
	// Outcome is ok, incomplete, failed or interrupted; empty while running.
	Outcome                                                           string
	BlobsListed, BlobsSkipped, BlobsLoaded, BlobsFailed, BlobsExpired int
	RecordsLoaded, RecordsDuplicate, RecordsQuarantined               int
	// Message is the error or summary text (empty: NULL).
	Message string
}

// StartRun writes the ingest_run row of r (ID, Command, Host, Started).
func (s *base) StartRun(ctx context.Context, r Run) error {
	q := s.d.quote
	_, err := s.db.ExecContext(ctx, s.d.rebind(fmt.Sprintf("INSERT INTO %s (%s) VALUES (?, ?, ?, ?)",
		q("ingest_run"), s.d.columns([]string{"run_id", "command", "host", "started_at"}))),
		r.ID, r.Command, nullString(r.Host), s.d.time(r.Started))
	if err != nil {
		return fmt.Errorf("%s: recording the start of run %s: %w", s.d.name, r.ID, err)
	}
	return nil
}

// FinishRun writes the end, outcome, counters and message of run r.ID.
func (s *base) FinishRun(ctx context.Context, r Run) error {
	set := []string{"finished_at", "outcome", "blobs_listed", "blobs_skipped", "blobs_loaded", "blobs_failed", "blobs_expired",
		"records_loaded", "records_duplicate", "records_quarantined", "message"}
	assign := make([]string, len(set))
	for i, c := range set {
		assign[i] = s.d.quote(c) + " = ?"
	}
	_, err := s.db.ExecContext(ctx, s.d.rebind(fmt.Sprintf("UPDATE %s SET %s WHERE %s = ?",
		s.d.quote("ingest_run"), strings.Join(assign, ", "), s.d.quote("run_id"))),
		s.d.time(r.Finished), nullString(r.Outcome), r.BlobsListed, r.BlobsSkipped, r.BlobsLoaded, r.BlobsFailed, r.BlobsExpired,
		r.RecordsLoaded, r.RecordsDuplicate, r.RecordsQuarantined, nullString(r.Message), r.ID)
	if err != nil {
		return fmt.Errorf("%s: recording the end of run %s: %w", s.d.name, r.ID, err)
	}
	return nil
}

// Holder returns who holds the lease name (expired or not), or "" when nobody does.
func (s *base) Holder(ctx context.Context, name string) (string, error) {
	var holder string
	err := s.db.QueryRowContext(ctx, s.d.rebind(fmt.Sprintf("SELECT %s FROM %s WHERE %s = ?",
		s.d.quote("holder"), s.d.quote("ingest_lease"), s.d.quote("name"))), name).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: reading the holder of lease %s: %w", s.d.name, name, err)
	}
	return holder, nil
}
