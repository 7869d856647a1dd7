package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// defaultHolder names this process in leases: host, pid and a random suffix, so two
// processes on one host never share an identity.
func defaultHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), randomID(4))
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startRun writes the ingest_run row of a pass; its outcome stays NULL until finishRun,
// so a crashed pass shows as unfinished in status.
func startRun(ctx context.Context, s sink.Sink, command string, start time.Time) (string, error) {
	id := start.UTC().Format("20060102T150405Z") + "-" + randomID(4)
	host, _ := os.Hostname()
	_, err := s.DB().ExecContext(ctx, rebind(s.Dialect(),
		`INSERT INTO ingest_run (run_id, command, host, started_at) VALUES (?, ?, ?, ?)`),
		id, command, host, sink.TimeValue(s.Dialect(), start))
	return id, err
}

// Outcome names how a pass ended, as stored in ingest_run.outcome.
func (s *Summary) Outcome() string {
	switch {
	case s.Interrupted:
		return "interrupted"
	case s.Missing():
		return "incomplete"
	}
	return "ok"
}

func finishRun(ctx context.Context, s sink.Sink, runID string, end time.Time, sum *Summary) error {
	var msg []string
	for _, e := range sum.Errors {
		msg = append(msg, e.Error())
	}
	_, err := s.DB().ExecContext(ctx, rebind(s.Dialect(), `UPDATE ingest_run SET finished_at = ?, outcome = ?,
		blobs_listed = ?, blobs_skipped = ?, blobs_loaded = ?, blobs_failed = ?, blobs_expired = ?,
		records_loaded = ?, records_duplicate = ?, records_quarantined = ?, message = ? WHERE run_id = ?`),
		sink.TimeValue(s.Dialect(), end), sum.Outcome(), sum.BlobsListed, sum.BlobsSkipped, sum.BlobsLoaded,
		sum.BlobsFailed, sum.BlobsExpired, sum.RecordsLoaded, sum.RecordsDuplicate, sum.RecordsQuarantined,
		nullIfEmpty(strings.Join(msg, "\n")), runID)
	return err
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// rebind turns ? placeholders into the dialect's form.
func rebind(dialect, q string) string {
	return sink.Rebind(dialect, q)
}
