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
	return id, s.StartRun(ctx, sink.Run{ID: id, Command: command, Host: host, Started: start})
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
	return s.FinishRun(ctx, sink.Run{ID: runID, Finished: end, Outcome: sum.Outcome(),
		BlobsListed: sum.BlobsListed, BlobsSkipped: sum.BlobsSkipped, BlobsLoaded: sum.BlobsLoaded,
		BlobsFailed: sum.BlobsFailed, BlobsExpired: sum.BlobsExpired, RecordsLoaded: sum.RecordsLoaded,
		RecordsDuplicate: sum.RecordsDuplicate, RecordsQuarantined: sum.RecordsQuarantined, Message: strings.Join(msg, "\n")})
}
