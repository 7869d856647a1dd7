package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/config"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
	"github.com/o365ingest/o365ingest/ingest/sink"
)

// defaultConfigFile is read when neither --config nor O365INGEST_CONFIG names a file.
const defaultConfigFile = "o365ingest.yaml"

// newLogger builds the slog logger: JSON when w is not a terminal (cron, systemd), text
// on a terminal, unless format says otherwise.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "" || format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// loadConfig reads the config named by --config / O365INGEST_CONFIG, else
// ./o365ingest.yaml when present, else the defaults. It also applies the config's log
// settings unless the command line set them.
func loadConfig(env *Env) (*config.Config, error) {
	path := env.ConfigPath
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err == nil {
			path = defaultConfigFile
		}
	}
	cfg := config.Default()
	if path != "" {
		var warnings []string
		var err error
		cfg, warnings, err = config.Load(path, env.Getenv)
		if err != nil {
			return nil, err
		}
		for _, w := range warnings {
			fmt.Fprintln(env.Stderr, "warning:", w)
		}
	}
	level, format := env.LogLevel, env.LogFormat
	if level == "" {
		level = cfg.Log.Level
	}
	if format == "" {
		format = cfg.Log.Format
	}
	env.Logger = newLogger(env.Stderr, level, format)
	return cfg, nil
}

// sinkFlags are the flags of every command that touches the database.
type sinkFlags struct{ driver, dsn string }

func addSinkFlags(fs *flag.FlagSet) *sinkFlags {
	sf := &sinkFlags{}
	fs.StringVar(&sf.driver, "sink", "", "database driver: sqlite, postgres, mysql or sqlserver (default: config sink.driver, $O365INGEST_SINK_DRIVER, else sqlite)")
	fs.StringVar(&sf.dsn, "dsn", "", "database DSN in the driver's native form (default: config sink.dsn, $O365INGEST_SINK_DSN, else o365.db)")
	return sf
}

// resolve picks the sink: flags, then environment, then config, then SQLite o365.db.
func (sf *sinkFlags) resolve(env *Env, cfg *config.Config) (driver, dsn string) {
	driver, dsn = sf.driver, sf.dsn
	if driver == "" {
		driver = env.Getenv("O365INGEST_SINK_DRIVER")
	}
	if dsn == "" {
		dsn = env.Getenv("O365INGEST_SINK_DSN")
	}
	if cfg != nil {
		if driver == "" {
			driver = cfg.Sink.Driver
		}
		if dsn == "" {
			dsn = cfg.Sink.DSN.Reveal()
		}
	}
	if driver == "" {
		driver = "sqlite"
	}
	if dsn == "" && (driver == "sqlite" || driver == "sqlite3") {
		dsn = "o365.db"
	}
	return driver, dsn
}

// openSink opens the database and migrates it up: migrations run before every command
// that touches the database, and are additive.
func (sf *sinkFlags) open(ctx context.Context, env *Env, cfg *config.Config) (sink.Sink, error) {
	driver, dsn := sf.resolve(env, cfg)
	if dsn == "" {
		return nil, fmt.Errorf("no DSN for sink %s: pass --dsn, set sink.dsn or $O365INGEST_SINK_DSN", driver)
	}
	s, err := sink.Open(ctx, driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", sink.Describe(driver, dsn), err)
	}
	if err := sink.Migrate(ctx, s); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrating %s: %w", sink.Describe(driver, dsn), err)
	}
	return s, nil
}

// setup loads the config and opens the sink (migrated), printing any problem as
// "o365ingest: <what>: <error>". A non-zero code means the command must return it.
func (sf *sinkFlags) setup(ctx context.Context, env *Env, what string) (*config.Config, sink.Sink, int) {
	cfg, err := loadConfig(env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "o365ingest: %s: %v\n", what, err)
		return nil, nil, exitUsage
	}
	s, err := sf.open(ctx, env, cfg)
	if err != nil {
		fmt.Fprintf(env.Stderr, "o365ingest: %s: %v\n", what, err)
		return nil, nil, exitFailure
	}
	return cfg, s, 0
}

// clientFor builds the API client of one configured tenant.
func clientFor(t config.Tenant, cfg *config.Config, log *slog.Logger) (*api.Client, error) {
	c := api.Config{
		TenantID:     t.TenantID,
		ClientID:     t.ClientID,
		ClientSecret: t.ClientSecret.Reveal(),
		Cloud:        api.Cloud(t.Cloud),
		APIURL:       t.APIURL,
		LoginURL:     t.LoginURL,
		PublisherID:  t.PublisherID,
		RateLimit:    cfg.Ingest.RateLimit,

		MaxBlobBytes:    cfg.Ingest.MaxBlobBytes.Bytes(),
		MaxRecordBytes:  int(cfg.Ingest.MaxRecordBytes.Bytes()),
		IdleTimeout:     cfg.Ingest.IdleTimeout.Std(),
		BlobTimeout:     cfg.Ingest.BlobTimeout.Std(),
		MaxListingPages: cfg.Ingest.MaxListingPages,
		Logger:          log.With("tenant", t.Name),
	}
	if t.CertificateFile != "" {
		cert, err := api.LoadCertificate(t.CertificateFile, t.PrivateKeyFile, t.CertificatePassword.Reveal())
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %w", t.Name, err)
		}
		c.Certificate = cert
	}
	return api.New(c)
}

// pipelineTenants builds the pipeline's tenants, optionally only those named.
func pipelineTenants(cfg *config.Config, only []string, log *slog.Logger) ([]pipeline.Tenant, error) {
	var out []pipeline.Tenant
	for _, t := range cfg.Tenants {
		if len(only) > 0 && !contains(only, t.Name) {
			continue
		}
		c, err := clientFor(t, cfg, log)
		if err != nil {
			return nil, err
		}
		out = append(out, pipeline.Tenant{Name: t.Name, TenantID: t.TenantID, ContentTypes: t.ContentTypes, Source: pipeline.APISource{Client: c}})
	}
	if len(only) > 0 && len(out) != len(only) {
		return nil, fmt.Errorf("--tenant %s: not every name is a configured tenant", strings.Join(only, ","))
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// listFlag is a repeatable or comma-separated string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// parseFlags parses a command's flags; --help prints usage and exits 0, a bad flag 2.
// It returns ok=false with the exit code when the command must stop.
func parseFlags(fs *flag.FlagSet, env *Env, args []string, synopsis string) (int, bool) {
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: o365ingest %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprint(out, "\nGlobal flags: --config FILE, --log-level L, --log-format F (see o365ingest --help).\n")
	}
	// --help goes to stdout with exit 0; the flag package would print it to stderr.
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(env.Stdout)
			fs.Usage()
			return exitOK, false
		}
	}
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

// parseInterspersed parses flags wherever they stand among the arguments
// (import FILE --sink postgres, subscriptions stop --content-type DLP.All); "--" ends
// the flags, and everything after it is an argument even when it starts with "-".
// Afterwards fs.Args() holds the arguments in order.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// fs.Parse stopped at a non-flag, or after a "--" it consumed: tell them apart by
		// what it consumed (a flag value "--" is not a terminator).
		if consumed := args[:len(args)-len(rest)]; endsWithTerminator(fs, consumed) {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Leave the arguments where fs.Args() finds them; flags already set stay set.
	return fs.Parse(append([]string{"--"}, positional...))
}

// endsWithTerminator reports whether the last of the arguments fs.Parse consumed is the
// "--" that ends the flags, rather than the value of a flag.
func endsWithTerminator(fs *flag.FlagSet, consumed []string) bool {
	for i := 0; i < len(consumed); i++ {
		a := consumed[i]
		if a == "--" {
			return i == len(consumed)-1
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if hasValue {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
			i++ // its value is the next argument
		}
	}
	return false
}

// usageError prints a usage problem and returns the usage exit code.
func usageError(env *Env, format string, args ...any) int {
	fmt.Fprintf(env.Stderr, "o365ingest: "+format+"\n", args...)
	return exitUsage
}

// parseSince parses "7d", "36h" or "90m".
func parseSince(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(d, "%d", &n); err != nil || n <= 0 {
			return 0, fmt.Errorf("bad duration %q (want e.g. 7d, 36h, 90m)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q (want e.g. 7d, 36h, 90m)", s)
	}
	return d, nil
}

// parseTime parses a --from/--to value: RFC 3339, or a date, or a zone-less date-time (UTC).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q (want RFC 3339 like 2026-11-20T00:00:00Z, or 2026-11-20)", s)
}
