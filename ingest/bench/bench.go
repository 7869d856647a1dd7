// Package bench measures the ingest pipeline against the physical limit of its database:
// it backfills an emulated tenant into a fresh database with the real pipeline, then, on
// the same database and tables, loads the same rows (already normalized, in memory) by
// the database's fastest native path (sink.BulkLimiter), and a sample of them one INSERT
// at a time, as simple collectors do. `o365ingest bench` is its command line.
//
// What is measured, in order, on one database:
//
//  1. pipeline: pipeline.Run over the whole look-back into empty tables: wall time,
//     records/s, MB/s of raw JSON, CPU seconds and peak RSS of this process (the
//     emulator runs in another process when Options.Emulator starts it there).
//  2. nothing new: a second pass, which must download no blob.
//  3. bulk-load limit: the tables are truncated and the same records, fetched and
//     normalized beforehand (untimed, in chunks of ChunkRecords), are loaded by
//     sink.BulkLimiter; only those calls are timed.
//  4. row at a time: truncated again, RowSample records go in one INSERT each over one
//     connection, then NewConnSample with a new connection per row.
//  5. processes (with Processes > 1): everything truncated, Processes loading processes
//     (`o365ingest run`, each with the same config naming every tenant) at once against
//     the database, sharing the units through the leases; the database must then hold
//     exactly the emulators' records, each blob loaded by one process.
//  6. latency: everything truncated, the pipeline again against an emulator that adds
//     Latency to every request.
//
// With Processes > 1 the emulator serves that many tenants (one emulator each, Records
// shared between them), and the one-process phases load all of them: the two figures
// are of the same load.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/schema"
)

// Options configure a benchmark run.
type Options struct {
	// Driver and DSN name the database server (sqlite: a file to create, default a temp
	// file). The benchmark works in a database of its own, see Fresh.
	Driver, DSN string
	// Records is how many records the emulator publishes (default 1,000,000).
	Records int
	// RecordsPerBlob is the average blob size the emulator aims at (default 1,000).
	RecordsPerBlob int
	// Latency, when positive, adds the latency phase.
	Latency time.Duration
	// Concurrency, BatchRecords, Loaders and MemoryRecords are passed to the pipeline
	// (0: its defaults).
	Concurrency, BatchRecords, Loaders, MemoryRecords int
	// SQLiteCache and SQLiteMmap bound SQLite's page cache and memory map, in bytes
	// (sink.BoundMemory; 0: SQLite's defaults).
	SQLiteCache, SQLiteMmap int64
	// ChunkRecords is how many records one bulk-limit call loads (default 100,000).
	ChunkRecords int
	// RowSample and NewConnSample size the row-at-a-time phases (defaults 5,000 and 200).
	RowSample, NewConnSample int
	// Seed of the emulated tenant.
	Seed int64
	// Emulator starts the emulator (default InProcess).
	Emulator StartEmulator
	// Processes, when over 1, is how many tenants the emulators serve and how many
	// loading processes the processes phase runs at once, each started by Process.
	Processes int
	Process   RunProcess
	// CPUProfile, when set, receives a pprof CPU profile of the pipeline phase, and
	// MemProfile its allocations (pprof "allocs", taken right after it).
	CPUProfile, MemProfile io.Writer
	// HeapProfile, when set, receives the heap profile (pprof "heap") taken when the
	// pipeline's live heap peaked.
	HeapProfile io.Writer
	// Keep leaves the benchmark database in place.
	Keep bool
	// Queries, after the pipeline phase, runs every documented example query
	// (RunQueries) and prints the bytes per record (MeasureSizes) instead of the
	// other phases; with AllPhases too, the other phases follow (so one load serves
	// both the query times and the throughput figures).
	Queries   bool
	AllPhases bool
	// CostRounds is how many times SchemaCost measures each variant (default 1), and
	// CostVariants, when set, limits it to the current schema, the one before 00009
	// and the variants whose names contain one of these strings.
	CostRounds   int
	CostVariants []string
	// Out receives a line per phase; Logger the pipeline's logs.
	Out    io.Writer
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Records <= 0 {
		o.Records = 1_000_000
	}
	if o.RecordsPerBlob <= 0 {
		o.RecordsPerBlob = 1000
	}
	if o.ChunkRecords <= 0 {
		o.ChunkRecords = 100_000
	}
	if o.RowSample <= 0 {
		o.RowSample = 5000
	}
	if o.NewConnSample <= 0 {
		o.NewConnSample = 200
	}
	o.RowSample = min(o.RowSample, o.Records)
	o.NewConnSample = min(o.NewConnSample, o.Records)
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Emulator == nil {
		o.Emulator = InProcess
	}
	o.Processes = max(o.Processes, 1)
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Phase is one timed load.
type Phase struct {
	Records  int
	Duration time.Duration
}

// RPS is records per second.
func (p Phase) RPS() float64 {
	if p.Duration <= 0 {
		return 0
	}
	return float64(p.Records) / p.Duration.Seconds()
}

// Result is what a run measured.
type Result struct {
	// Queries and Sizes are set with Options.Queries.
	Queries []QueryResult
	Sizes   Sizes
	Driver  string
	// Method names the bulk-limit path.
	Method string
	// Blobs and RawBytes describe what the emulator served (from the ledger).
	Blobs    int
	RawBytes int64
	// Pipeline is the backfill; CPU its CPU time (user+system) and PeakRSS the process's
	// peak resident set during it, in bytes (0 where /proc is missing).
	Pipeline Phase
	CPU      time.Duration
	PeakRSS  int64
	// Allocated is the Go heap allocated during the pipeline phase, in bytes.
	Allocated uint64
	// Server holds the database server's bulk-load settings (MySQL/MariaDB).
	Server  []ServerSetting
	BaseRSS int64
	// PeakHeapLive is the peak of the Go heap found live by a GC, PeakHeapObjects of
	// the heap's objects (live plus garbage not yet collected), during the pipeline.
	PeakHeapLive, PeakHeapObjects int64
	// AtPeakRSS is what made up the resident set at its largest sample (every 50 ms).
	AtPeakRSS    RSSParts
	NothingNew   time.Duration
	NothingNewDL int
	Limit        Phase
	Row, RowConn Phase
	LatencyPhase Phase
	// Processes is how many loading processes the processes phase ran (1: none),
	// ProcessPhase their records together over the time from their start to the last
	// one's end, ProcessResults each one's figures.
	Processes      int
	ProcessPhase   Phase
	ProcessResults []ProcessResult
	Latency        time.Duration
	EmulatorStart  time.Duration
	InProcess      bool
}

// LimitRatio is pipeline/limit; RowRatio pipeline/row at a time; LatencyRatio the
// pipeline with latency over without.
func (r *Result) LimitRatio() float64   { return ratio(r.Pipeline.RPS(), r.Limit.RPS()) }
func (r *Result) RowRatio() float64     { return ratio(r.Pipeline.RPS(), r.Row.RPS()) }
func (r *Result) LatencyRatio() float64 { return ratio(r.LatencyPhase.RPS(), r.Pipeline.RPS()) }

// ProcessesRatio is the processes' aggregate rate over the one process's.
func (r *Result) ProcessesRatio() float64 { return ratio(r.ProcessPhase.RPS(), r.Pipeline.RPS()) }

// ProcessesPeakRSS is the largest peak RSS of the loading processes, in bytes.
func (r *Result) ProcessesPeakRSS() int64 {
	var m int64
	for _, p := range r.ProcessResults {
		m = max(m, p.PeakRSS)
	}
	return m
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// ResultLine is the last line of `o365ingest bench`, for scripts.
func (r *Result) ResultLine() string {
	return fmt.Sprintf("RESULT sink=%s records=%d pipeline_rps=%.0f limit_rps=%.0f ratio=%.3f row_rps=%.0f peak_rss_mb=%.1f "+
		"row_ratio=%.1f row_newconn_rps=%.0f latency_ms=%d latency_rps=%.0f latency_ratio=%.3f nothing_new_s=%.3f cpu_s=%.1f mb_per_s=%.1f "+
		"cpu_us_per_record=%.1f alloc_kb_per_record=%.1f processes=%d processes_rps=%.0f processes_ratio=%.3f processes_peak_rss_mb=%.1f",
		r.Driver, r.Pipeline.Records, r.Pipeline.RPS(), r.Limit.RPS(), r.LimitRatio(), r.Row.RPS(), float64(r.PeakRSS)/(1<<20),
		r.RowRatio(), r.RowConn.RPS(), r.Latency.Milliseconds(), r.LatencyPhase.RPS(), r.LatencyRatio(), r.NothingNew.Seconds(),
		r.CPU.Seconds(), float64(r.RawBytes)/(1<<20)/math.Max(r.Pipeline.Duration.Seconds(), 1e-9),
		r.CPUPerRecord(), r.AllocPerRecord(), max(r.Processes, 1), r.ProcessPhase.RPS(), r.ProcessesRatio(), float64(r.ProcessesPeakRSS())/(1<<20))
}

// span is the part of the 7 days the emulator spreads its history over (see
// emulator.Server.initialData): 7 days less 2 hours and a minute.
const span = 7*24*time.Hour - 2*time.Hour - time.Minute

// spec returns the settings of emulator i (of Processes, each serving its share of
// Records) for o: records per day to publish its share over the look-back, and a blob
// interval that makes blobs of about RecordsPerBlob records (five content types, one
// blob per content type per interval). Each has a seed of its own: another tenant.
func (o *Options) spec(i int, latency time.Duration) EmulatorSpec {
	records := float64(o.Records) / float64(o.Processes)
	perDay := int(math.Ceil(records * 24 / span.Hours()))
	interval := time.Duration(float64(span) * 5 * float64(o.RecordsPerBlob) / records)
	interval = min(max(interval, time.Minute), 24*time.Hour).Round(time.Second)
	return EmulatorSpec{Seed: o.Seed + int64(i), RecordsPerDay: perDay, BlobInterval: interval, Latency: latency}
}

// startEmulators starts the emulators of every tenant, without latency (first
// Processes) and, with Latency, with it (the next Processes), all at once.
func (o *Options) startEmulators(ctx context.Context) ([]*Emulator, []*Emulator, error) {
	n := o.Processes
	if o.Latency > 0 {
		n *= 2
	}
	emus := make([]*Emulator, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := time.Duration(0)
			if i >= o.Processes {
				lat = o.Latency
			}
			emus[i], errs[i] = o.Emulator(ctx, o.spec(i%o.Processes, lat))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, e := range emus {
			if e != nil {
				e.Close()
			}
		}
		return nil, nil, err
	}
	return emus[:o.Processes], emus[o.Processes:], nil
}

// Run runs the benchmark.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	res := &Result{Driver: o.Driver, Latency: o.Latency}
	db, err := Fresh(ctx, o.Driver, o.DSN)
	if err != nil {
		return nil, err
	}
	defer func() {
		if o.Keep {
			fmt.Fprintf(o.Out, "kept the benchmark database: %s\n", db.Describe())
			return
		}
		if err := db.Drop(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(o.Out, "dropping the benchmark database: %v\n", err)
		}
	}()
	res.Driver = db.Driver

	if o.Processes > 1 && o.Process == nil {
		return nil, fmt.Errorf("%d processes: no way to start a loading process (Options.Process)", o.Processes)
	}
	// The emulators (and those with latency) are started together, before anything is
	// timed.
	start := time.Now()
	emus, latEmus, err := o.startEmulators(ctx)
	if err != nil {
		return nil, fmt.Errorf("starting the emulator: %w", err)
	}
	for _, e := range append(emus, latEmus...) {
		defer e.Close()
	}
	res.EmulatorStart = time.Since(start)
	res.InProcess = emus[0].InProcess
	res.Processes = o.Processes
	sp := o.spec(0, 0)
	where := "in a child process"
	if res.InProcess {
		where = "in this process (its memory and CPU are counted below)"
	}
	tenants := ""
	if o.Processes > 1 {
		where += " each"
		tenants = fmt.Sprintf(" in %d tenants (one emulator each)", o.Processes)
	}
	fmt.Fprintf(o.Out, "emulator: about %d records over 7 days%s, blobs every %s per content type, ready in %s %s\n",
		o.Records, tenants, sp.BlobInterval, res.EmulatorStart.Round(100*time.Millisecond), where)

	s, err := sink.Open(ctx, db.Driver, sink.BoundMemory(db.Driver, db.DSN, o.SQLiteCache, o.SQLiteMmap))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := sink.Migrate(ctx, s); err != nil {
		return nil, err
	}
	if res.Server, err = ServerSettings(ctx, s); err != nil {
		return nil, err
	}
	if len(res.Server) > 0 {
		fmt.Fprintf(o.Out, "server: %s\n", FormatSettings(res.Server))
	}

	// 1. The pipeline.
	tenant, err := tenantsOf(ctx, emus, o.Logger)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	res.BaseRSS = currentRSS()
	resetPeakRSS()
	if o.CPUProfile != nil {
		if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
			return nil, err
		}
	}
	cpu0, alloc0 := cpuTime(), allocatedBytes()
	heap := sampleHeap(o.HeapProfile != nil)
	sum, took, err := o.pass(ctx, s, tenant)
	res.CPU, res.Allocated = cpuTime()-cpu0, allocatedBytes()-alloc0
	live, objects := heap.Stop()
	res.PeakHeapLive, res.PeakHeapObjects = int64(live), int64(objects)
	res.AtPeakRSS = heap.atPeak
	if o.HeapProfile != nil {
		if _, err := heap.profile.WriteTo(o.HeapProfile); err != nil {
			return nil, err
		}
	}
	if o.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	res.PeakRSS = peakRSS()
	if err != nil {
		return nil, err
	}
	if o.MemProfile != nil {
		if err := pprof.Lookup("allocs").WriteTo(o.MemProfile, 0); err != nil {
			return nil, err
		}
	}
	res.Pipeline = Phase{Records: sum.RecordsLoaded, Duration: took}
	if err := ledgerTotals(ctx, s, res); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "pipeline: %d records (%d blobs, %.1f MB of JSON) in %s: %.0f records/s, %.1f MB/s, CPU %.1f s (%.1f µs and %.1f KB allocated a record), peak RSS %.0f MB (Go heap: %.0f MB live at most, %.0f MB with garbage)\n",
		res.Pipeline.Records, res.Blobs, float64(res.RawBytes)/(1<<20), took.Round(time.Millisecond), res.Pipeline.RPS(),
		float64(res.RawBytes)/(1<<20)/took.Seconds(), res.CPU.Seconds(), res.CPUPerRecord(), res.AllocPerRecord(), float64(res.PeakRSS)/(1<<20),
		float64(res.PeakHeapLive)/(1<<20), float64(res.PeakHeapObjects)/(1<<20))

	var truth map[string]struct{}
	if o.Processes > 1 {
		// Checked here too, so the figure the processes are compared with is of the
		// same records.
		if truth, err = fetchTruth(ctx, emus); err != nil {
			return nil, err
		}
		if err := checkTruth(ctx, s, truth); err != nil {
			return nil, fmt.Errorf("one process: %w", err)
		}
	}

	fmt.Fprintf(o.Out, "resident at the peak: %.0f MB = %.0f MB held by the Go runtime + %.0f MB of mapped files (executable, SQLite's map) + %.0f MB other (SQLite's cache and allocator)\n",
		float64(res.AtPeakRSS.RSS)/(1<<20), float64(res.AtPeakRSS.Go)/(1<<20), float64(res.AtPeakRSS.File)/(1<<20), float64(res.AtPeakRSS.Other())/(1<<20))

	if o.Queries {
		if res.Queries, err = RunQueries(ctx, s.Handle(), o.Out); err != nil {
			return nil, err
		}
		if res.Sizes, err = MeasureSizes(ctx, s.Handle()); err != nil {
			return nil, err
		}
		PrintSizes(o.Out, res.Sizes)
		if !o.AllPhases {
			return res, nil
		}
	}

	// 2. Nothing new.
	sum2, took2, err := o.pass(ctx, s, tenant)
	if err != nil {
		return nil, err
	}
	res.NothingNew, res.NothingNewDL = took2, sum2.BlobsLoaded+sum2.BlobsFailed
	fmt.Fprintf(o.Out, "nothing new: %d blobs listed, %d downloaded, in %s\n", sum2.BlobsListed, res.NothingNewDL, took2.Round(time.Millisecond))

	// The processes.
	if o.Processes > 1 {
		if err := o.runProcesses(ctx, db, s, emus, truth, res); err != nil {
			return nil, err
		}
		truth = nil
		for i, p := range res.ProcessResults {
			fmt.Fprintf(o.Out, "process %d: %d blobs, %d records (%d already stored) in %s: %.0f records/s, CPU %.1f s, peak RSS %.0f MB\n",
				i, p.Blobs, p.Records, p.Duplicates, p.Duration.Round(time.Millisecond), Phase{Records: p.Records, Duration: p.Duration}.RPS(),
				p.CPU.Seconds(), float64(p.PeakRSS)/(1<<20))
		}
		fmt.Fprintf(o.Out, "%d processes: %d records in %s: %.0f records/s together (one process: %.0f, %.2f×), the database holds exactly the emulators' records\n",
			o.Processes, res.ProcessPhase.Records, res.ProcessPhase.Duration.Round(time.Millisecond), res.ProcessPhase.RPS(), res.Pipeline.RPS(), res.ProcessesRatio())
	}

	// 3 and 4. The references, on the same tables.
	if err := o.references(ctx, s, db, tenant, res); err != nil {
		return nil, err
	}

	// 5. Latency.
	if o.Latency > 0 {
		if err := truncate(ctx, s, true); err != nil {
			return nil, err
		}
		lt, err := tenantsOf(ctx, latEmus, o.Logger)
		if err != nil {
			return nil, err
		}
		sum, took, err := o.pass(ctx, s, lt)
		if err != nil {
			return nil, err
		}
		res.LatencyPhase = Phase{Records: sum.RecordsLoaded, Duration: took}
		fmt.Fprintf(o.Out, "pipeline with %s per request: %d records in %s: %.0f records/s (%.2f of the figure without)\n",
			o.Latency, sum.RecordsLoaded, took.Round(time.Millisecond), res.LatencyPhase.RPS(), res.LatencyRatio())
	}
	fmt.Fprintf(o.Out, "pipeline / bulk-load limit: %.2f; pipeline / row at a time: %.1f\n", res.LimitRatio(), res.RowRatio())
	return res, nil
}

// pass runs one pipeline pass over the tenants' whole look-back.
func (o *Options) pass(ctx context.Context, s sink.Sink, ts []pipeline.Tenant) (pipeline.Summary, time.Duration, error) {
	start := time.Now()
	sum, err := pipeline.Run(ctx, pipeline.Options{
		Tenants: ts, Sink: s, Logger: o.Logger, Command: "backfill",
		Concurrency: o.Concurrency, BatchRecords: o.BatchRecords, Loaders: o.Loaders, MemoryRecords: o.MemoryRecords,
	})
	took := time.Since(start)
	if err != nil {
		return sum, took, err
	}
	if ctx.Err() != nil {
		return sum, took, ctx.Err()
	}
	if len(sum.Errors) > 0 || sum.BlobsFailed > 0 {
		return sum, took, fmt.Errorf("the pipeline did not load everything: %d blobs failed, errors: %v", sum.BlobsFailed, errors.Join(sum.Errors...))
	}
	return sum, took, nil
}

// tenantsOf builds the pipeline tenants of the emulators (named by tenantNames) and
// starts their subscriptions.
func tenantsOf(ctx context.Context, emus []*Emulator, log *slog.Logger) ([]pipeline.Tenant, error) {
	names := tenantNames(len(emus))
	ts := make([]pipeline.Tenant, len(emus))
	for i, e := range emus {
		t, err := tenantOf(ctx, e, names[i], log)
		if err != nil {
			return nil, err
		}
		ts[i] = t
	}
	return ts, nil
}

// tenantOf builds the pipeline tenant of an emulator and starts its subscriptions
// (untimed: a real deployment starts them once).
func tenantOf(ctx context.Context, e *Emulator, name string, log *slog.Logger) (pipeline.Tenant, error) {
	c, err := api.New(api.Config{TenantID: e.TenantID, ClientID: e.ClientID, ClientSecret: e.ClientSecret,
		APIURL: e.BaseURL, LoginURL: e.BaseURL, RateLimit: -1, Logger: log})
	if err != nil {
		return pipeline.Tenant{}, err
	}
	if _, err := c.EnsureSubscriptions(ctx, api.ContentTypes); err != nil {
		return pipeline.Tenant{}, fmt.Errorf("starting the subscriptions: %w", err)
	}
	return pipeline.Tenant{Name: name, TenantID: e.TenantID, ContentTypes: api.ContentTypes, Source: pipeline.APISource{Client: c}}, nil
}

// ledgerTotals reads the blobs and raw bytes the pipeline loaded.
func ledgerTotals(ctx context.Context, s sink.Sink, res *Result) error {
	n, bytes, err := s.Handle().LedgerTotals(ctx)
	res.Blobs, res.RawBytes = int(n), bytes
	return err
}

// references measures the bulk-load limit and the row-at-a-time loaders.
func (o *Options) references(ctx context.Context, s sink.Sink, db *Database, ts []pipeline.Tenant, res *Result) error {
	bl, ok := s.(sink.BulkLimiter)
	if !ok {
		return fmt.Errorf("sink %s has no bulk-load path to compare with", s.Handle().Dialect.Name())
	}
	res.Method = limitMethod[s.Handle().Dialect.Name()]
	if err := truncate(ctx, s, false); err != nil {
		return err
	}
	var sample []schema.Record
	var chunk []schema.Record
	seen := map[string]bool{}
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		runtime.GC() // the untimed fetch's garbage is not the loader's
		start := time.Now()
		if err := bl.BulkLimit(ctx, chunk); err != nil {
			return err
		}
		res.Limit.Duration += time.Since(start)
		res.Limit.Records += len(chunk)
		chunk = chunk[:0]
		return nil
	}
	var err error
	for _, t := range ts {
		if err != nil {
			break
		}
		err = eachRecord(ctx, t, func(r schema.Record) error {
			if seen[r.ID] {
				return nil
			}
			seen[r.ID] = true
			if len(sample) < o.RowSample {
				sample = append(sample, r)
			}
			chunk = append(chunk, r)
			if len(chunk) >= o.ChunkRecords {
				return flush()
			}
			return nil
		})
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("bulk-load limit: %w", err)
	}
	fmt.Fprintf(o.Out, "bulk-load limit (%s): %d records in %s: %.0f records/s\n", res.Method, res.Limit.Records,
		res.Limit.Duration.Round(time.Millisecond), res.Limit.RPS())
	if res.Limit.Records != res.Pipeline.Records {
		fmt.Fprintf(o.Out, "warning: the pipeline loaded %d records, the emulator serves %d distinct ones\n", res.Pipeline.Records, res.Limit.Records)
	}

	if err := truncate(ctx, s, false); err != nil {
		return err
	}
	query, args, err := sink.RowInsert(s.Handle().Dialect.Name())
	if err != nil {
		return err
	}
	one, err := sink.OpenRaw(db.Driver, db.DSN)
	if err != nil {
		return err
	}
	defer one.Close()
	one.SetMaxOpenConns(1)
	if err := one.PingContext(ctx); err != nil {
		return err
	}
	start := time.Now()
	for _, r := range sample {
		if _, err := one.ExecContext(ctx, query, args(r)...); err != nil {
			return fmt.Errorf("row at a time: %w", err)
		}
	}
	res.Row = Phase{Records: len(sample), Duration: time.Since(start)}
	fmt.Fprintf(o.Out, "row at a time, one connection: %d records in %s: %.0f records/s\n", res.Row.Records,
		res.Row.Duration.Round(time.Millisecond), res.Row.RPS())

	if err := truncate(ctx, s, false); err != nil {
		return err
	}
	start = time.Now()
	for _, r := range sample[:min(len(sample), o.NewConnSample)] {
		c, err := sink.OpenRaw(db.Driver, db.DSN)
		if err != nil {
			return err
		}
		_, err = c.ExecContext(ctx, query, args(r)...)
		c.Close()
		if err != nil {
			return fmt.Errorf("row at a time, new connection: %w", err)
		}
		res.RowConn.Records++
	}
	res.RowConn.Duration = time.Since(start)
	fmt.Fprintf(o.Out, "row at a time, new connection per row: %d records in %s: %.0f records/s\n", res.RowConn.Records,
		res.RowConn.Duration.Round(time.Millisecond), res.RowConn.RPS())
	return nil
}

var limitMethod = map[string]string{
	sink.DialectPostgres:  "COPY FROM STDIN",
	sink.DialectMySQL:     "LOAD DATA LOCAL INFILE",
	sink.DialectSQLServer: "bulk copy",
	sink.DialectSQLite:    "one transaction of prepared INSERTs",
}

// eachRecord fetches every blob of the tenant's look-back and hands on its records,
// normalized as the pipeline does.
func eachRecord(ctx context.Context, t pipeline.Tenant, fn func(schema.Record) error) error {
	to := time.Now().UTC()
	from := to.Add(-7 * 24 * time.Hour)
	now := time.Now().UTC()
	for _, ct := range t.ContentTypes {
		blobs, err := t.Source.ListRange(ctx, ct, from, to)
		if err != nil {
			return err
		}
		for _, b := range blobs {
			src := normalize.Source{TenantID: t.TenantID, ContentType: ct, ContentID: b.ContentID, IngestedAt: now}
			if _, err := t.Source.Fetch(ctx, b, nil, func(raw json.RawMessage, i int) error {
				r, err := normalize.Record(raw, src)
				if err != nil {
					return nil // quarantined by the pipeline too
				}
				return fn(r)
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// truncate empties the record tables (and with all, the ledger, quarantine and runs).
func truncate(ctx context.Context, s sink.Sink, all bool) error {
	tables := []string{"audit_property", "audit_record"}
	if all {
		tables = append(tables, "quarantine", "content_blob", "ingest_run")
	}
	for _, t := range tables {
		h := s.Handle()
		if _, err := h.DB.ExecContext(ctx, h.Dialect.EmptyTable(t)); err != nil {
			return fmt.Errorf("emptying %s: %w", t, err)
		}
	}
	return nil
}
