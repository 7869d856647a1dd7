package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/o365ingest/o365ingest/ingest/bench"
	"github.com/o365ingest/o365ingest/ingest/config"
	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/sink"
)

func cmdBench(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	records := fs.Int("records", 1_000_000, "records the emulator publishes over 7 days")
	perBlob := fs.Int("records-per-blob", 1000, "average records per content blob")
	latency := fs.Duration("latency", 50*time.Millisecond, "per-request latency of the second pipeline run (0: skip it)")
	concurrency := fs.Int("concurrency", 0, "blob downloads in flight (default: the pipeline's, 8)")
	batch := fs.Int("batch", 0, "records per load transaction (default: the pipeline's, 5000)")
	loaders := fs.Int("loaders", 0, "load transactions at once (default: the pipeline's, 1 on SQLite, else 2)")
	memRecords := fs.Int("memory-records", 0, "records held in memory at most (default: from ingest.memory_limit, 8192 at 256MiB)")
	rowSample := fs.Int("row-sample", 5000, "records inserted one at a time over one connection")
	connSample := fs.Int("newconn-sample", 200, "records inserted with a new connection each")
	seed := fs.Int64("seed", 1, "seed of the emulated tenant")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the pipeline run to this file")
	memProfile := fs.String("memprofile", "", "write the allocations of the pipeline run (pprof allocs) to this file")
	heapProfile := fs.String("heapprofile", "", "write the heap profile taken at the pipeline's peak of live memory to this file")
	processes := fs.Int("processes", 1, "also run N loading processes (o365ingest run, one config naming N emulated tenants) at once against the database and print their aggregate records/s beside one process's")
	inProcess := fs.Bool("in-process", false, "run the emulator in this process (its memory and CPU then count as the pipeline's)")
	keep := fs.Bool("keep", false, "keep the benchmark database")
	queries := fs.Bool("queries", false, "after the load, time every documented example query with its EXPLAIN, and print the bytes per record (instead of the other phases)")
	schemaCost := fs.Bool("schema-cost", false, "measure the bulk-load limit on fresh tables of the current schema, the schema before 00009, and variants each changing one part (raw's type, each secondary index dropped, no property rows, fewer columns), instead of the other phases (default --records 100000)")
	rounds := fs.Int("rounds", 1, "with --schema-cost: measure every variant this many times, round-robin, and keep the best")
	variants := fs.String("variants", "", "with --schema-cost: only the current schema, the one before 00009 and the variants whose names contain one of these comma-separated strings (\"none\": those two alone)")
	allPhases := fs.Bool("all-phases", false, "with --queries: after the queries and the bytes per record, run the other phases too, on the same load")
	existing := fs.Bool("existing", false, "with --queries: load nothing, run the queries on the database --dsn names as it is (e.g. one kept by --keep)")
	if code, ok := parseFlags(fs, env, args, `bench [--sink S --dsn DSN] [--records N] [--latency 50ms] [--concurrency N] [flags]

Starts the API emulator (in a child process, so that the figures are the pipeline's
alone), publishes N records, backfills them with the real pipeline into a fresh
database (a new o365bench_<random> schema on PostgreSQL or database on MySQL/MariaDB,
dropped afterwards; a new SQLite file), and prints records/s, MB/s of raw JSON, CPU
seconds and peak RSS. On the same tables it then measures the database's bulk-load limit
(the same rows, normalized, loaded by COPY / LOAD DATA LOCAL INFILE / one transaction of
prepared INSERTs) and a row-at-a-time loader (one INSERT per record over one connection,
and with a new connection per row), and the pipeline again with --latency per request.
The last line is for scripts:
RESULT sink=... records=... pipeline_rps=... limit_rps=... ratio=... row_rps=... peak_rss_mb=...
... cpu_us_per_record=... alloc_kb_per_record=... (process CPU, user+system, and Go heap
allocated during the pipeline run, per record). On MySQL/MariaDB it first prints the
server's innodb_buffer_pool_size, innodb_flush_log_at_trx_commit, innodb_log_file_size
and sync_binlog.

With --processes N (N > 1) the emulator serves N tenants (one emulator process each,
the records shared between them) and, after the one-process pipeline run over all of
them, N child processes run "o365ingest run" at once with the same config (every
tenant) into the same emptied database, sharing the tenants' content types through the
leases as docs/scaling.md recommends. It prints each process's records/s, CPU and peak
RSS and the aggregate records/s beside the one process's, checks that the database then
holds exactly the emulators' records (each blob loaded by one process), and adds
processes=N processes_rps=... processes_ratio=... (aggregate over one process)
processes_peak_rss_mb=... (the largest process's) to the RESULT line.

With --queries, after the pipeline load it runs every example query of README.md and
ingest/detect/README.md (ingest/examples) three times, printing the best and first time,
the rows and the indexes EXPLAIN shows, then the bytes per record (table, raw, indexes,
properties). --queries --existing runs them on the database --sink/--dsn names, loading
nothing (for a database kept by --keep: its schema or database name in the DSN).
--queries --all-phases goes on after them with the other phases, so that one load gives
both the query times and the throughput figures.

With --schema-cost (--records defaults to 100000) it runs no pipeline: it fetches and
normalizes the records once, then for each variant makes a fresh database and loads them
by the same bulk loader as the limit: the current schema; the schema before version 9
(goose up to version 8); raw as jsonb, json and text (PostgreSQL) or LONGTEXT without the
JSON check (MySQL/MariaDB); each secondary index dropped in turn; every one dropped; no
property rows; 7 of the columns (the typed ones NULL); and a narrow table (those, no
secondary index, no properties). One line per variant gives records/s, the ratio to the
current schema and bytes per record (--rounds N: each variant N times, round-robin, the best
kept, every round's figure shown; --variants raw,property: only the current schema, the one
before 00009 and the variants whose names contain one of those; --variants none: the two
alone); the last line is
SCHEMA_COST sink=... records=... limit_rps=... limit_before_rps=... limit_gain=...`); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(env, "bench: unexpected arguments %q", fs.Args())
	}
	if *records <= 0 || *perBlob <= 0 || *latency < 0 || *concurrency < 0 || *batch < 0 || *loaders < 0 || *memRecords < 0 || *rowSample <= 0 || *connSample <= 0 || *processes <= 0 {
		return usageError(env, "bench: --records, --records-per-blob, --row-sample, --newconn-sample and --processes must be positive; --latency, --concurrency, --batch, --loaders and --memory-records not negative")
	}
	if *processes > 1 && (*queries || *inProcess) {
		return usageError(env, "bench: --processes goes with neither --queries nor --in-process")
	}
	// The benchmark makes a database of its own on the server named by --sink/--dsn, the
	// environment, or a config file's sink (sink.dsn or sink.dsn_file) that is not
	// SQLite; for SQLite it makes a new file unless --dsn names one.
	cfg, err := loadConfig(env)
	if err != nil {
		return usageError(env, "bench: %v", err)
	}
	driver, dsn := config.SinkFromEnvironment(sf.driver, sf.dsn, env.Getenv)
	if driver == "" && dsn == "" {
		driver = cfg.Sink.Driver
	}
	if driver == "" {
		driver = config.DriverSQLite
	}
	if dsn == "" && driver == cfg.Sink.Driver && driver != config.DriverSQLite {
		dsn = cfg.Sink.DSN.Reveal()
	}
	if sf.dsn != "" && sink.HasPassword(driver, sf.dsn) {
		warnDSNPassword(env)
	}
	if *existing && !*queries {
		return usageError(env, "bench: --existing goes with --queries")
	}
	if *allPhases && (!*queries || *existing) {
		return usageError(env, "bench: --all-phases goes with --queries, without --existing")
	}
	if *existing {
		return benchExisting(ctx, env, driver, dsn)
	}
	if *schemaCost && *queries {
		return usageError(env, "bench: --schema-cost and --queries are separate runs")
	}
	if *schemaCost {
		given := false
		fs.Visit(func(f *flag.Flag) { given = given || f.Name == "records" })
		if !given {
			*records = 100_000
		}
	}
	// The benchmark process gets the memory settings ingest would: the Go runtime's limit,
	// the record budget and SQLite's cache and mmap, from ingest.memory_limit.
	mem := applyMemory(env, cfg, driver)
	if *memRecords == 0 {
		*memRecords = mem.Records
	}
	o := bench.Options{
		SQLiteCache: mem.SQLiteCache, SQLiteMmap: mem.SQLiteMmap,
		Driver: driver, DSN: dsn, Records: *records, RecordsPerBlob: *perBlob, Latency: *latency,
		Concurrency: *concurrency, BatchRecords: *batch, Loaders: *loaders, MemoryRecords: *memRecords, RowSample: *rowSample, NewConnSample: *connSample,
		Seed: *seed, Keep: *keep, Queries: *queries, AllPhases: *allPhases, CostRounds: *rounds, CostVariants: costVariants(*variants), Out: env.Stdout, Logger: env.Logger, Emulator: childEmulator,
		Processes: *processes, Process: loadingProcess(config.Size(mem.Limit)),
	}
	if *inProcess {
		o.Emulator = bench.InProcess
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(env.Stderr, "o365ingest: bench:", err)
			return exitFailure
		}
		defer f.Close()
		o.CPUProfile = f
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			fmt.Fprintln(env.Stderr, "o365ingest: bench:", err)
			return exitFailure
		}
		defer f.Close()
		o.MemProfile = f
	}
	if *heapProfile != "" {
		f, err := os.Create(*heapProfile)
		if err != nil {
			fmt.Fprintln(env.Stderr, "o365ingest: bench:", err)
			return exitFailure
		}
		defer f.Close()
		o.HeapProfile = f
	}
	if *schemaCost {
		rs, err := bench.SchemaCost(ctx, o)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(env.Stderr, "o365ingest: bench: interrupted")
				return exitInterrupted
			}
			fmt.Fprintln(env.Stderr, "o365ingest: bench:", err)
			return exitFailure
		}
		fmt.Fprintln(env.Stdout, bench.CostLine(driver, rs))
		return exitOK
	}
	res, err := bench.Run(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(env.Stderr, "o365ingest: bench: interrupted")
			return exitInterrupted
		}
		fmt.Fprintln(env.Stderr, "o365ingest: bench:", err)
		return exitFailure
	}
	fmt.Fprintln(env.Stdout, res.ResultLine())
	return exitOK
}

// benchExisting runs the documented queries on an existing database and prints its
// bytes per record.
func benchExisting(ctx context.Context, env *Env, driver, dsn string) int {
	if dsn == "" {
		return usageError(env, "bench: --existing needs --dsn (or a configured sink)")
	}
	s, err := sink.Open(ctx, driver, dsn)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: bench:", err)
		return exitFailure
	}
	defer s.Close()
	if _, err := bench.RunQueries(ctx, s.Handle(), env.Stdout); err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: bench:", err)
		return exitFailure
	}
	sizes, err := bench.MeasureSizes(ctx, s.Handle())
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: bench:", err)
		return exitFailure
	}
	bench.PrintSizes(env.Stdout, sizes)
	return exitOK
}

// childEmulator runs `o365ingest emulate` (this binary) in a child process, so the
// emulator's memory (it holds every record) and CPU stay out of the pipeline's figures.
// The child dies with this process.
func childEmulator(ctx context.Context, spec bench.EmulatorSpec) (*bench.Emulator, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "emulate", "--listen", "127.0.0.1:0", "--publish-interval", "0", "--rate-limit", "-1",
		"--log-level", "error", "--seed", strconv.FormatInt(spec.Seed, 10),
		"--records-per-day", strconv.Itoa(spec.RecordsPerDay), "--blob-interval", spec.BlobInterval.String(),
		"--latency", spec.Latency.String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		return cmd.Wait()
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
			}
		}
	}()
	e := &bench.Emulator{Close: func() error { stop(); return nil }}
	for e.BaseURL == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				stop()
				return nil, fmt.Errorf("the emulator process ended before it was ready")
			}
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "tenant_id":
				e.TenantID = v
			case "client_id":
				e.ClientID = v
			case "client_secret":
				e.ClientSecret = v
			case "base_url":
				e.BaseURL = v
			}
		case <-ctx.Done():
			stop()
			return nil, ctx.Err()
		}
	}
	go func() {
		for range lines {
		}
	}()
	return e, nil
}

// loadingProcess runs one loading process of `bench --processes`: `o365ingest run`
// (this binary) with a config naming every emulated tenant, the given memory limit, no
// client-side quota (the emulators have none) and no detection rule (the load is what
// is measured), into the benchmark database. Its peak RSS is its VmHWM, read every
// 50 ms while it runs (wait4's ru_maxrss would not do: a child started by vfork and
// exec counts the parent's peak too), its CPU from wait4, its counts from its summary.
func loadingProcess(memLimit config.Size) bench.RunProcess {
	return func(ctx context.Context, spec bench.ProcessSpec) (bench.ProcessResult, error) {
		self, err := os.Executable()
		if err != nil {
			return bench.ProcessResult{}, err
		}
		dir, err := os.MkdirTemp("", "o365bench-proc")
		if err != nil {
			return bench.ProcessResult{}, err
		}
		defer os.RemoveAll(dir)
		var b strings.Builder
		b.WriteString("tenants:\n")
		env := os.Environ()
		for i, e := range spec.Tenants {
			fmt.Fprintf(&b, "  - name: %s\n    tenant_id: %q\n    client_id: %q\n    client_secret: ${O365BENCH_SECRET%d}\n    api_url: %q\n    login_url: %q\n",
				spec.Names[i], e.TenantID, e.ClientID, i, e.BaseURL, e.BaseURL)
			env = append(env, fmt.Sprintf("O365BENCH_SECRET%d=%s", i, e.ClientSecret))
		}
		fmt.Fprintf(&b, "ingest:\n  rate_limit: 100000000\n  memory_limit: %s\n", memLimit)
		if spec.Concurrency > 0 {
			fmt.Fprintf(&b, "  concurrency: %d\n", spec.Concurrency)
		}
		if spec.BatchRecords > 0 {
			fmt.Fprintf(&b, "  batch_records: %d\n", spec.BatchRecords)
		}
		b.WriteString("detect:\n  disabled:\n")
		for _, r := range detect.RuleNames() {
			fmt.Fprintf(&b, "    - %s\n", r)
		}
		cfg := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
			return bench.ProcessResult{}, err
		}
		cmd := exec.CommandContext(ctx, self, "run", "--config", cfg, "--log-level", "warn", "--progress", "none",
			"--sink", spec.Driver, "--dsn", spec.DSN)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		cmd.Env = append(env, "O365INGEST_SINK_DRIVER=", "O365INGEST_SINK_DSN=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return bench.ProcessResult{}, err
		}
		done := make(chan struct{})
		peak := make(chan int64, 1)
		go func() {
			var hwm int64
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				hwm = max(hwm, bench.ProcessPeakRSS(cmd.Process.Pid))
				select {
				case <-done:
					peak <- hwm
					return
				case <-t.C:
				}
			}
		}()
		err = cmd.Wait()
		close(done)
		res := bench.ProcessResult{Duration: time.Since(start), PeakRSS: <-peak}
		if err != nil {
			return res, fmt.Errorf("%v:\n%s", err, out.String())
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		var ok1, ok2 bool
		res.Blobs, ok1 = summaryField(out.String(), "run: blobs ", "loaded")
		res.Records, ok2 = summaryField(out.String(), "run: records ", "loaded")
		res.Duplicates, _ = summaryField(out.String(), "run: records ", "duplicates")
		if !ok1 || !ok2 {
			return res, fmt.Errorf("no summary in its output:\n%s", out.String())
		}
		return res, nil
	}
}

// summaryField reads key=N from the summary line starting with prefix.
func summaryField(out, prefix, key string) (int, bool) {
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				n, err := strconv.Atoi(v)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// costVariants splits --variants; "none" keeps no variant but the two schemas.
func costVariants(s string) []string {
	if s == "" {
		return nil
	}
	if s == "none" {
		return []string{""}
	}
	return strings.Split(s, ",")
}
