// Package config reads and validates the YAML configuration of the o365ingest
// command: the tenants to pull audit logs for, the SQL sink to load them into,
// ingest tuning and logging.
//
// Loading runs in a fixed order: start from Default, decode the file over it
// strictly (an unknown key is an error that names its line), expand ${VAR}
// references through the injected getenv, read the *_file keys, normalize
// aliases, then Validate, which reports every problem at once, each with its
// dotted path (tenants[1].client_secret). This package is the only one that
// reads the environment, and it does so only through the getenv it is given.
//
// Secrets (client secrets, certificate passwords, DSNs) are held in Secret,
// which never prints its value.
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/schema"
)

// Cloud names accepted in tenants[].cloud.
const (
	CloudCommercial = "commercial"
	CloudGCC        = "gcc"
	CloudGCCHigh    = "gcchigh"
	CloudDoD        = "dod"
)

// Sink driver names, after alias normalization.
const (
	DriverSQLite    = "sqlite"
	DriverPostgres  = "postgres"
	DriverMySQL     = "mysql"
	DriverSQLServer = "sqlserver"
)

// Defaults applied by Default and Parse.
const (
	DefaultLookback     = Duration(7 * 24 * time.Hour) // all the API keeps
	DefaultConcurrency  = 8
	DefaultBatchRecords = 5000
	DefaultRateLimit    = 2000
	DefaultSQLiteDSN    = "o365.db"

	DefaultMaxBlobBytes      = Size(256 << 20)
	DefaultMaxRecordBytes    = Size(8 << 20)
	DefaultIdleTimeout       = Duration(60 * time.Second)
	DefaultBlobTimeout       = Duration(2 * time.Minute)
	DefaultShutdownTimeout   = Duration(30 * time.Second)
	DefaultMaxListingPages   = 10000
	DefaultMaxListingEntries = 100000
	DefaultMemoryLimit       = Size(256 << 20)
)

// ContentTypes returns the five Management Activity API content types, in the
// API's spelling (case-sensitive). A fresh slice each call.
// They come from the registry in package schema.
func ContentTypes() []string { return schema.ContentTypeNames() }

// Config is the whole o365ingest configuration file.
type Config struct {
	// Tenants are the Microsoft 365 tenants to pull audit logs from. None is
	// valid for commands that only need the sink; see ValidateForIngest.
	Tenants []Tenant `yaml:"tenants" json:"tenants"`
	// Sink is the SQL database the records are loaded into.
	Sink Sink `yaml:"sink" json:"sink"`
	// Ingest tunes fetching and loading.
	Ingest Ingest `yaml:"ingest" json:"ingest"`
	// Log configures logging.
	Log Log `yaml:"log" json:"log"`
	// Detect configures the detection rules run after each load, and where alerts go.
	Detect detect.Config `yaml:"detect" json:"detect"`
	// Service configures the service mode (run --interval).
	Service Service `yaml:"service" json:"service"`

	dir, stateDir string // the config file's directory and $STATE_DIRECTORY, for AlertStatePath
}

// Service configures `run --interval`.
type Service struct {
	// Listen is the host:port that serves /metrics and /healthz in service mode;
	// "" serves nothing. --listen overrides it.
	Listen string `yaml:"listen" json:"listen"`
}

// Tenant is one Microsoft 365 tenant and the Entra ID app registration used
// to read its audit log. Exactly one credential is configured: a client secret
// (ClientSecret, possibly read from ClientSecretFile) or a certificate
// (CertificateFile, with PrivateKeyFile for PEM).
type Tenant struct {
	// Name is a short label, unique in the file, used in logs and archive
	// paths: ^[A-Za-z0-9][A-Za-z0-9._-]*$.
	Name string `yaml:"name" json:"name"`
	// TenantID is the Entra ID directory (tenant) GUID.
	TenantID string `yaml:"tenant_id" json:"tenant_id"`
	// ClientID is the application (client) GUID of the app registration.
	ClientID string `yaml:"client_id" json:"client_id"`
	// ClientSecret is the app's client secret; after Load it also holds the
	// contents of ClientSecretFile.
	ClientSecret Secret `yaml:"client_secret" json:"client_secret"`
	// ClientSecretFile is a file holding the client secret (trailing newline
	// trimmed). Load makes it absolute, relative to the config file.
	ClientSecretFile string `yaml:"client_secret_file" json:"client_secret_file"`
	// CertificateFile is the app's certificate: PEM, or PKCS#12 when it ends in
	// .pfx or .p12. Load makes it absolute and checks that it can be opened.
	CertificateFile string `yaml:"certificate_file" json:"certificate_file"`
	// PrivateKeyFile is the PEM private key of a PEM CertificateFile.
	PrivateKeyFile string `yaml:"private_key_file" json:"private_key_file"`
	// CertificatePassword unlocks a PKCS#12 CertificateFile; after Load it also
	// holds the contents of CertificatePasswordFile.
	CertificatePassword Secret `yaml:"certificate_password" json:"certificate_password"`
	// CertificatePasswordFile is a file holding CertificatePassword.
	CertificatePasswordFile string `yaml:"certificate_password_file" json:"certificate_password_file"`
	// Cloud is commercial (default), gcc, gcchigh or dod.
	Cloud string `yaml:"cloud" json:"cloud"`
	// APIURL overrides the Management Activity API base URL of Cloud (for the
	// emulator, say). Empty means the cloud's URL.
	APIURL string `yaml:"api_url" json:"api_url"`
	// LoginURL overrides the Entra ID login base URL of Cloud.
	LoginURL string `yaml:"login_url" json:"login_url"`
	// PublisherID is sent as PublisherIdentifier to get a quota of one's own;
	// Parse sets it to TenantID when empty.
	PublisherID string `yaml:"publisher_id" json:"publisher_id"`
	// ContentTypes to ingest; Parse sets all five (ContentTypes()) when omitted.
	ContentTypes []string `yaml:"content_types" json:"content_types"`
	// Domains are the tenant's own mail domains (lower-cased), for detections.
	Domains []string `yaml:"domains" json:"domains"`
	// GraphURL overrides the Microsoft Graph service root of Cloud (without the
	// version), used by o365ingest remediate. Empty means the cloud's:
	// graph.microsoft.com (commercial, GCC), graph.microsoft.us (GCC High),
	// dod-graph.microsoft.us (DoD).
	GraphURL string `yaml:"graph_url" json:"graph_url"`
	// AuditSearch lets backfill load the part of its range older than the feed's 7
	// days through Microsoft Graph's audit log query API (graph_url; application
	// permission AuditLogsQuery.Read.All with admin consent; global service only).
	AuditSearch bool `yaml:"audit_search" json:"audit_search"`
	// Remediation is a separate app registration for o365ingest remediate's Graph
	// calls (recommended); without it remediation uses the tenant's own credential.
	Remediation *Remediation `yaml:"remediation" json:"remediation"`

	// Whether ClientSecret / CertificatePassword were read from their _file
	// key, so Validate does not take them for "both given".
	secretFromFile, passwordFromFile bool
}

// UsesCertificate reports whether the tenant authenticates with a certificate
// rather than a client secret.
func (t *Tenant) UsesCertificate() bool { return t.CertificateFile != "" }

// IsPKCS12 reports whether CertificateFile is a PKCS#12 bundle (.pfx or .p12),
// which carries its own private key.
func (t *Tenant) IsPKCS12() bool { return isPKCS12(t.CertificateFile) }

// Sink is the SQL database records are loaded into.
type Sink struct {
	// Driver is sqlite (default), postgres, mysql or sqlserver; the aliases
	// sqlite3, postgresql, mariadb, mssql and azuresql are normalized to these.
	Driver string `yaml:"driver" json:"driver"`
	// DSN is the driver's data source name; after Load it also holds the
	// contents of DSNFile. Defaults to o365.db when the driver is sqlite and
	// neither dsn nor dsn_file is given.
	DSN Secret `yaml:"dsn" json:"dsn"`
	// DSNFile is a file holding the DSN.
	DSNFile string `yaml:"dsn_file" json:"dsn_file"`

	dsnFromFile bool
}

// Ingest tunes fetching and loading.
type Ingest struct {
	// Lookback is how far back the first run (and any gap) is fetched:
	// 1h to 7d, default 7d.
	Lookback Duration `yaml:"lookback" json:"lookback"`
	// Concurrency is the number of content blobs downloaded at once: 1..64,
	// default 8.
	Concurrency int `yaml:"concurrency" json:"concurrency"`
	// BatchRecords is the number of records per database transaction:
	// 1..1,000,000, default 5000.
	BatchRecords int `yaml:"batch_records" json:"batch_records"`
	// ArchiveDir, when set, keeps every downloaded blob under it; "" keeps none.
	ArchiveDir string `yaml:"archive_dir" json:"archive_dir"`
	// RateLimit is the API requests per minute per publisher, default 2000.
	RateLimit int `yaml:"rate_limit" json:"rate_limit"`
	// StartSubscriptions starts missing content-type subscriptions, default true.
	StartSubscriptions bool `yaml:"start_subscriptions" json:"start_subscriptions"`
	// MaxBlobBytes bounds one blob body, counted decompressed (and so its temp
	// spool file): 1MiB to 4GiB, default 256MiB. A larger body fails with the
	// reason after one download per run.
	MaxBlobBytes Size `yaml:"max_blob_bytes" json:"max_blob_bytes"`
	// MaxRecordBytes bounds one record: 1KiB to 1GiB and at most max_blob_bytes,
	// default 8MiB. A larger record is quarantined with its first 64 KiB, size
	// and sha256; the rest of its blob loads.
	MaxRecordBytes Size `yaml:"max_record_bytes" json:"max_record_bytes"`
	// IdleTimeout cuts an answer that sends no byte for so long (it is retried):
	// 1s to 1h, default 60s.
	IdleTimeout Duration `yaml:"idle_timeout" json:"idle_timeout"`
	// BlobTimeout is the deadline of one blob download (and of any other API
	// call); a blob that times out gets two tries per run: 1s to 24h, default 2m.
	BlobTimeout Duration `yaml:"blob_timeout" json:"blob_timeout"`
	// MaxListingPages bounds the pages of one listing window: 1 to 1000000,
	// default 10000.
	MaxListingPages int `yaml:"max_listing_pages" json:"max_listing_pages"`
	// MaxListingEntries bounds the new blobs one tenant and content type may
	// hold from its listing in one run: 1 to 10000000, default 100000. A listing
	// with more stops there; those load and the run reports the rest missing.
	MaxListingEntries int `yaml:"max_listing_entries" json:"max_listing_entries"`
	// AlertStateFile is where ingest alerts (a unit failing, a blob expired, a
	// permission missing: sent to detect.webhooks) remember which causes they have
	// reported, so each is sent once until it clears, across runs. Relative to the
	// config file. Default: ingest-alerts.json in $STATE_DIRECTORY (systemd's
	// StateDirectory=) when set, else beside the config file.
	AlertStateFile string `yaml:"alert_state_file" json:"alert_state_file"`
	// GeoIPDB names the MaxMind (GeoLite2/GeoIP2 Country, City or ASN) or DB-IP
	// .mmdb files that fill each record's client_country and client_asn at load;
	// several files are separated by commas (a Country and an ASN database).
	// "" (default) leaves both columns NULL.
	GeoIPDB string `yaml:"geoip_db" json:"geoip_db"`
	// ShutdownTimeout is how long the first SIGINT/SIGTERM may take to stop softly
	// (the batch in flight commits, the ledger and run log are written) before the
	// stop turns hard: 1s to 1h, default 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout" json:"shutdown_timeout"`
	// MemoryLimit is the memory the process aims to stay within: 64MiB to 1TiB, default
	// 256MiB. It sets the Go runtime's memory limit (five eighths of it, unless
	// $GOMEMLIMIT is set, which wins), the pipeline's budget of records in memory (a
	// quarter of it at 8 KiB a record) and, on SQLite, the page cache and memory map (a
	// sixteenth of it each); see MemoryFor.
	MemoryLimit Size `yaml:"memory_limit" json:"memory_limit"`
}

// GeoIPFiles returns the files GeoIPDB names (none when it is empty).
func (in Ingest) GeoIPFiles() []string {
	var out []string
	for _, f := range strings.Split(in.GeoIPDB, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Log configures logging.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level" json:"level"`
	// Format is auto (default: text on a terminal, JSON otherwise), json or text.
	Format string `yaml:"format" json:"format"`
}

// SlogLevel returns Level as a slog.Level (info for anything unknown).
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Default returns the configuration used when a key is absent: no tenants,
// the sqlite sink o365.db, and the ingest and log defaults. It validates.
func Default() *Config {
	return &Config{
		Sink: Sink{Driver: DriverSQLite, DSN: DefaultSQLiteDSN},
		Ingest: Ingest{
			Lookback:           DefaultLookback,
			Concurrency:        DefaultConcurrency,
			BatchRecords:       DefaultBatchRecords,
			RateLimit:          DefaultRateLimit,
			StartSubscriptions: true,
			MaxBlobBytes:       DefaultMaxBlobBytes,
			MaxRecordBytes:     DefaultMaxRecordBytes,
			IdleTimeout:        DefaultIdleTimeout,
			BlobTimeout:        DefaultBlobTimeout,
			ShutdownTimeout:    DefaultShutdownTimeout,
			MaxListingPages:    DefaultMaxListingPages,
			MaxListingEntries:  DefaultMaxListingEntries,
			MemoryLimit:        DefaultMemoryLimit,
		},
		Log: Log{Level: "info", Format: "auto"},
	}
}

// maxConfigSize bounds what Load reads; a config file is a few kilobytes.
const maxConfigSize = 4 << 20

// Load reads the config file at path and parses it as Parse does, reading
// relative *_file paths from the file's directory. getenv resolves ${VAR}
// references (nil means an empty environment).
//
// The error is a plain error naming the line for a YAML or unknown-key
// problem, or a *ValidationError (with File set to path) listing every
// invalid value. Warnings are returned even with an error: today the one
// warning is a file that holds a secret written literally and is readable by
// group or others.
func Load(path string, getenv func(string) string) (*Config, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	if len(data) > maxConfigSize {
		return nil, nil, fmt.Errorf("reading config %s: larger than %d bytes", path, maxConfigSize)
	}
	cfg, literal, err := parse(data, path, filepath.Dir(path), getenv)
	var warnings []string
	if literal && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		warnings = append(warnings, fmt.Sprintf("%s is readable by other users (mode %04o) and holds a secret; chmod 600 it", path, fi.Mode().Perm()))
	}
	if err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
}

// Parse parses config data as Load does, without a file: relative *_file
// paths are read from the working directory and errors name no file.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	cfg, _, err := parse(data, "", "", getenv)
	return cfg, err
}

// parse is Load and Parse. literal reports whether the data holds a secret
// written in it rather than referenced (${VAR} or a _file key), whatever the
// outcome, so Load can warn about permissions even for an invalid file.
func parse(data []byte, name, dir string, getenv func(string) string) (cfg *Config, literal bool, err error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	cfg = Default()
	// The sink defaults are a pair (sqlite + o365.db): decoding driver:
	// postgres over them must not keep o365.db, so they apply after decoding.
	cfg.Sink = Sink{}
	if err := decodeStrict(data, name, cfg); err != nil {
		return nil, false, err
	}
	literal = holdsLiteralSecret(cfg)
	// Before expansion, so that an unset ${VAR} in dsn is reported rather
	// than replaced by the sqlite default.
	cfg.Sink.applyDefaults()

	var pre []Problem
	pre = append(pre, cfg.expand(getenv)...)
	pre = append(pre, cfg.readFiles(dir)...)
	cfg.normalize()

	problems := mergeProblems(pre, cfg.problems())
	if len(problems) > 0 {
		return nil, literal, &ValidationError{File: name, Problems: problems}
	}
	cfg.fillDerived()
	// STATE_DIRECTORY may list several directories, colon-separated; the first is
	// the unit's own.
	if sd, _, _ := strings.Cut(getenv("STATE_DIRECTORY"), ":"); sd != "" {
		cfg.stateDir = sd
	}
	cfg.dir = dir
	return cfg, literal, nil
}

// fillDerived sets the defaults that depend on other, validated values.
func (c *Config) fillDerived() {
	for i := range c.Tenants {
		if c.Tenants[i].PublisherID == "" {
			c.Tenants[i].PublisherID = c.Tenants[i].TenantID
		}
	}
}

// AlertStatePath is the file ingest alerts keep their state in: ingest.alert_state_file
// relative to the config file's directory, by default ingest-alerts.json in systemd's
// state directory ($STATE_DIRECTORY) or beside the config file.
func (c *Config) AlertStatePath() string {
	p := c.Ingest.AlertStateFile
	if p == "" {
		if c.stateDir != "" {
			return filepath.Join(c.stateDir, "ingest-alerts.json")
		}
		p = "ingest-alerts.json"
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// mergeProblems appends to pre the problems of validation whose path has no
// problem yet: an unset ${VAR} already explains an empty value.
func mergeProblems(pre, validation []Problem) []Problem {
	seen := make(map[string]bool, len(pre))
	for _, p := range pre {
		seen[p.Path] = true
	}
	out := pre
	for _, p := range validation {
		if !seen[p.Path] {
			out = append(out, p)
		}
	}
	return out
}

// errNotRegular is returned for a *_file path that is a directory or device.
var errNotRegular = errors.New("not a regular file")
