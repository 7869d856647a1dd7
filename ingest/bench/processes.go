package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// ProcessSpec is what one loading process of the processes phase is given: the
// benchmark database and every emulated tenant. Every process gets the same tenants, as
// docs/scaling.md has it (same config, same database): the leases in the database
// split the units (tenant × content type) between the processes.
type ProcessSpec struct {
	// Index numbers the process (0 to Processes-1).
	Index int
	// Driver and DSN name the benchmark database.
	Driver, DSN string
	// Tenants are the emulators, one tenant each; Names their tenant names.
	Tenants []*Emulator
	Names   []string
	// Concurrency and BatchRecords are the pipeline's (0: its defaults).
	Concurrency, BatchRecords int
}

// ProcessResult is what a loading process did, read when it ended.
type ProcessResult struct {
	// Blobs and Records it loaded, Duplicates the records it found stored already.
	Blobs, Records, Duplicates int
	// Duration is from its start to its exit.
	Duration time.Duration
	// PeakRSS is its peak resident set (bytes), CPU its user plus system time.
	PeakRSS int64
	CPU     time.Duration
}

// RunProcess runs one loading process (`o365ingest run` in a child process) to its
// end.
type RunProcess func(ctx context.Context, spec ProcessSpec) (ProcessResult, error)

// tenantNames names the benchmark's tenants: "bench" alone, else bench0, bench1…
func tenantNames(n int) []string {
	if n == 1 {
		return []string{"bench"}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bench%d", i)
	}
	return names
}

// runProcesses empties the tables and the ledger, runs o.Processes loading processes at
// once against the database and checks that together they stored exactly the emulators'
// truth, each blob loaded by one process and each record by one.
func (o *Options) runProcesses(ctx context.Context, db *Database, s sink.Sink, emus []*Emulator, truth map[string]struct{}, res *Result) error {
	if err := truncate(ctx, s, true); err != nil {
		return err
	}
	names := tenantNames(len(emus))
	results := make([]ProcessResult, o.Processes)
	errs := make([]error, o.Processes)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range o.Processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = o.Process(ctx, ProcessSpec{Index: i, Driver: db.Driver, DSN: db.DSN, Tenants: emus, Names: names,
				Concurrency: o.Concurrency, BatchRecords: o.BatchRecords})
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("loading process %d: %w", i, err)
		}
	}
	res.ProcessResults = results
	total := 0
	for _, r := range results {
		total += r.Records
	}
	res.ProcessPhase = Phase{Records: total, Duration: took}
	blobs := 0
	for _, r := range results {
		blobs += r.Blobs
	}
	n, _, err := s.Handle().LedgerTotals(ctx)
	if err != nil {
		return err
	}
	if int(n) != blobs || blobs != res.Blobs {
		return fmt.Errorf("the %d processes loaded %d blobs between them, the ledger holds %d, one process loaded %d", o.Processes, blobs, n, res.Blobs)
	}
	if total != len(truth) {
		return fmt.Errorf("the %d processes loaded %d records between them, the emulators serve %d", o.Processes, total, len(truth))
	}
	return checkTruth(ctx, s, truth)
}

// checkTruth checks that the database holds each record of truth once and nothing else.
func checkTruth(ctx context.Context, s sink.Sink, truth map[string]struct{}) error {
	h := s.Handle()
	rows, err := h.DB.QueryContext(ctx, "SELECT "+h.Dialect.Quote("id")+" FROM "+h.Dialect.Quote("audit_record"))
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := make(map[string]struct{}, len(truth))
	extra, repeated := 0, 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if _, ok := truth[id]; !ok {
			extra++
		} else if _, ok := seen[id]; ok {
			repeated++
		}
		seen[id] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if missing := len(truth) - (len(seen) - extra); missing != 0 || extra != 0 || repeated != 0 {
		return fmt.Errorf("the database does not hold the emulators' truth: %d of %d records missing, %d not in it, %d stored twice", missing, len(truth), extra, repeated)
	}
	return nil
}

// fetchTruth reads the ids of every record the emulators serve (GET /_emulator/truth).
func fetchTruth(ctx context.Context, emus []*Emulator) (map[string]struct{}, error) {
	ids := map[string]struct{}{}
	for _, e := range emus {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(e.BaseURL, "/")+"/_emulator/truth", nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("reading the emulator's truth: %w", err)
		}
		var truth []struct {
			ID string `json:"id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&truth)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the emulator's truth: %w", err)
		}
		for _, t := range truth {
			ids[t.ID] = struct{}{}
		}
	}
	return ids, nil
}
