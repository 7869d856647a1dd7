package config

import "github.com/o365ingest/o365ingest/ingest/sink"

// The environment variables o365ingest reads (besides those a config file names with
// ${VAR}); this package is the only one that reads the environment.
const (
	EnvConfig     = "O365INGEST_CONFIG"
	EnvSinkDriver = "O365INGEST_SINK_DRIVER"
	EnvSinkDSN    = "O365INGEST_SINK_DSN"
)

// ConfigPath returns the config file to read: path (the --config flag) when set, else
// $O365INGEST_CONFIG ("" when neither is).
func ConfigPath(path string, getenv func(string) string) string {
	if path == "" && getenv != nil {
		path = getenv(EnvConfig)
	}
	return path
}

// SinkFromEnvironment returns driver and dsn, each taken from $O365INGEST_SINK_DRIVER and
// $O365INGEST_SINK_DSN when empty (still "" when those are unset too).
func SinkFromEnvironment(driver, dsn string, getenv func(string) string) (string, string) {
	if driver == "" && getenv != nil {
		driver = getenv(EnvSinkDriver)
	}
	if dsn == "" && getenv != nil {
		dsn = getenv(EnvSinkDSN)
	}
	return driver, dsn
}

// ResolveSink picks the sink a command uses: driver and dsn (its --sink and --dsn) when
// set, then $O365INGEST_SINK_DRIVER and $O365INGEST_SINK_DSN, then the config's sink
// section (cfg may be nil), then SQLite in o365.db.
func ResolveSink(driver, dsn string, cfg *Config, getenv func(string) string) (string, string) {
	driver, dsn = SinkFromEnvironment(driver, dsn, getenv)
	if cfg != nil {
		if driver == "" {
			driver = cfg.Sink.Driver
		}
		if dsn == "" {
			dsn = cfg.Sink.DSN.Reveal()
		}
	}
	if driver == "" {
		driver = DriverSQLite
	}
	if n, _ := sink.DriverName(driver); dsn == "" && n == DriverSQLite {
		dsn = DefaultSQLiteDSN
	}
	return driver, dsn
}

// EnvGoMemLimit is the Go runtime's own memory limit variable: when it is set, the runtime
// has applied it already and it wins over ingest.memory_limit for the runtime's limit.
const EnvGoMemLimit = "GOMEMLIMIT"

// Memory is what ingest.memory_limit sets for a process loading into driver.
type Memory struct {
	// Limit is ingest.memory_limit in bytes.
	Limit int64
	// RuntimeLimit is the Go runtime's memory limit to set (runtime/debug.SetMemoryLimit):
	// five eighths of Limit (goShare), whatever the driver. 0 when $GOMEMLIMIT is set
	// (GoMemLimit holds it): the runtime applied that one and it wins.
	RuntimeLimit int64
	GoMemLimit   string
	// Records is the pipeline's budget of records in memory (pipeline.Options.MemoryRecords):
	// a quarter of Limit at recordBytes a record, at least minBudgetRecords.
	Records int
	// SQLiteCache and SQLiteMmap bound SQLite's page cache (PRAGMA cache_size) and memory
	// map (PRAGMA mmap_size), in bytes: a sixteenth of Limit each. The cache is resident
	// about twice over (modernc.org/sqlite's allocator gives each 4 KiB page with its
	// header a slot of 8 KiB), so SQLite takes some three sixteenths of Limit. 0 for the
	// other drivers, whose caches live in the database server.
	SQLiteCache, SQLiteMmap int64
}

// goShare is the Go runtime's part of Limit, in eighths. It is the same on every
// driver so that the runtime's limit, not the collector's pace (GOGC), sets the size of
// a backfill's heap, which is then the same at any backfill size. The other three
// eighths are for what the runtime does not count: the executable's pages (some
// 15 MB resident), SQLite's page cache, memory map and other allocations, and what the
// heap overshoots its limit by while a collection runs (the limit is a soft one).
const goShare = 5

// recordBytes is what a record in the pipeline's budget costs in memory, garbage
// collector headroom included (see pipeline.Options.MemoryRecords); minBudgetRecords
// keeps fetching and loading overlapping at the smallest limits.
const (
	recordBytes      = 8 << 10
	minBudgetRecords = 1000
)

// MemoryFor derives the memory settings of a process loading into driver (a name or
// alias) from ingest.memory_limit; getenv reads $GOMEMLIMIT.
func (in Ingest) MemoryFor(driver string, getenv func(string) string) Memory {
	m := Memory{Limit: in.MemoryLimit.Bytes()}
	if m.Limit <= 0 {
		m.Limit = DefaultMemoryLimit.Bytes()
	}
	m.Records = max(minBudgetRecords, int(m.Limit/4/recordBytes))
	if n, _ := sink.DriverName(driver); n == DriverSQLite {
		m.SQLiteCache, m.SQLiteMmap = m.Limit/16, m.Limit/16
	}
	if getenv != nil {
		m.GoMemLimit = getenv(EnvGoMemLimit)
	}
	if m.GoMemLimit == "" {
		m.RuntimeLimit = m.Limit / 8 * goShare
	}
	return m
}
