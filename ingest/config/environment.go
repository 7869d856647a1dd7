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
