package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// Problem is one invalid value: Path is its dotted key path
// ("tenants[1].client_secret", "sink.dsn", "ingest.lookback"), Msg says what
// is wrong in words a user can act on.
type Problem struct {
	Path string
	Msg  string
}

// String renders "path: msg".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// ValidationError lists every problem found in a configuration. File, when
// set (by Load), prefixes each line.
type ValidationError struct {
	File     string
	Problems []Problem
}

// Error lists the problems one per line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.File != "" {
			b.WriteString(e.File)
			b.WriteString(": ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// driverAlias maps every accepted sink.driver spelling to its driver.
// They come from sink's driver table.
func driverAlias(name string) (string, bool) {
	n, err := sink.DriverName(name)
	return n, err == nil
}

// applyDefaults fills the sink defaults left out of the file: driver sqlite,
// and for sqlite without dsn or dsn_file, o365.db.
func (s *Sink) applyDefaults() {
	if s.Driver == "" {
		s.Driver = DriverSQLite
	}
	if d, _ := driverAlias(s.Driver); d == DriverSQLite && s.DSN == "" && s.DSNFile == "" {
		s.DSN = DefaultSQLiteDSN
	}
}

// normalize applies the per-tenant defaults and the case-insensitive
// spellings: cloud, driver aliases, log level and format, domains.
func (c *Config) normalize() {
	for i := range c.Tenants {
		t := &c.Tenants[i]
		t.Cloud = strings.ToLower(strings.TrimSpace(t.Cloud))
		if t.Cloud == "" {
			t.Cloud = CloudCommercial
		}
		if t.ContentTypes == nil {
			t.ContentTypes = ContentTypes()
		}
		for j, d := range t.Domains {
			t.Domains[j] = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		}
	}
	drv := strings.ToLower(strings.TrimSpace(c.Sink.Driver))
	if d, ok := driverAlias(drv); ok {
		drv = d
	}
	c.Sink.Driver = drv
	c.Log.Level = strings.ToLower(strings.TrimSpace(c.Log.Level))
	if c.Log.Level == "warning" {
		c.Log.Level = "warn"
	}
	c.Log.Format = strings.ToLower(strings.TrimSpace(c.Log.Format))
}

// Validate reports every problem of c at once as a *ValidationError, or nil.
// It is pure: no network and no file access (Load has already read the
// *_file keys). It expects normalized values (canonical driver, lower-case
// cloud), as Load and Parse produce; an empty cloud means commercial, an
// empty publisher_id means tenant_id. No tenant is valid: see
// ValidateForIngest.
func (c *Config) Validate() error {
	return asError(c.problems())
}

// ValidateForIngest is Validate plus the requirements of commands that pull
// audit logs: at least one tenant.
func (c *Config) ValidateForIngest() error {
	ps := c.problems()
	if len(c.Tenants) == 0 {
		ps = append([]Problem{{Path: "tenants", Msg: "at least one tenant is required to ingest"}}, ps...)
	}
	return asError(ps)
}

func asError(ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

var (
	guidRE       = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)
	tenantNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	domainLabel  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

const maxTenantName = 64

func (c *Config) problems() []Problem {
	ps := c.coreProblems()
	if l := c.Service.Listen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			ps = append(ps, Problem{Path: "service.listen", Msg: fmt.Sprintf("%q: want host:port, e.g. 127.0.0.1:9365 or :9365", l)})
		}
	}
	for _, p := range c.Detect.Validate() {
		path, msg, _ := strings.Cut(p, ": ")
		ps = append(ps, Problem{Path: "detect." + path, Msg: msg})
	}
	return ps
}

func (c *Config) coreProblems() []Problem {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}

	names := map[string]int{}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		p := fmt.Sprintf("tenants[%d].", i)
		switch {
		case t.Name == "":
			add(p+"name", "required")
		case !tenantNameRE.MatchString(t.Name) || len(t.Name) > maxTenantName:
			add(p+"name", "%q: want letters, digits, '.', '_' or '-', starting with a letter or digit, at most %d characters (it names archive directories)", t.Name, maxTenantName)
		default:
			// Archive paths may land on a case-insensitive file system.
			key := strings.ToLower(t.Name)
			if j, dup := names[key]; dup {
				add(p+"name", "%q is already the name of tenants[%d]", t.Name, j)
			} else {
				names[key] = i
			}
		}
		guid(add, p+"tenant_id", t.TenantID, true)
		guid(add, p+"client_id", t.ClientID, true)
		guid(add, p+"publisher_id", t.PublisherID, false)
		credentialProblems(add, p, t)
		switch t.Cloud {
		case "", CloudCommercial, CloudGCC, CloudGCCHigh, CloudDoD:
		default:
			add(p+"cloud", "unknown cloud %q (want commercial, gcc, gcchigh or dod)", t.Cloud)
		}
		endpoint(add, p+"api_url", t.APIURL)
		endpoint(add, p+"login_url", t.LoginURL)
		validateRemediation(add, p, t)
		if t.ContentTypes != nil && len(t.ContentTypes) == 0 {
			add(p+"content_types", "empty (omit the key to ingest all five)")
		}
		seen := map[string]bool{}
		for j, ct := range t.ContentTypes {
			cp := fmt.Sprintf("%scontent_types[%d]", p, j)
			switch {
			case !slices.Contains(ContentTypes(), ct):
				hint := ""
				for _, known := range ContentTypes() {
					if strings.EqualFold(known, ct) {
						hint = fmt.Sprintf("; did you mean %q? content types are case-sensitive", known)
					}
				}
				names := ContentTypes()
				add(cp, "unknown content type %q (want %s or %s)%s", ct, strings.Join(names[:len(names)-1], ", "), names[len(names)-1], hint)
			case seen[ct]:
				add(cp, "%q listed twice", ct)
			}
			seen[ct] = true
		}
		doms := map[string]bool{}
		for j, d := range t.Domains {
			dp := fmt.Sprintf("%sdomains[%d]", p, j)
			switch {
			case !validDomain(d):
				add(dp, "%q is not a domain name (want e.g. contoso.com)", d)
			case doms[d]:
				add(dp, "%q listed twice", d)
			}
			doms[d] = true
		}
	}

	if _, known := driverAlias(c.Sink.Driver); !known {
		var names, aliases []string
		for _, d := range sink.DriverTable() {
			names = append(names, d.Name)
			aliases = append(aliases, d.Aliases...)
		}
		want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
		if c.Sink.Driver == "" {
			add("sink.driver", "required (%s)", want)
		} else {
			add("sink.driver", "unknown driver %q (want %s; aliases %s)", c.Sink.Driver, want, strings.Join(aliases, ", "))
		}
	}
	switch {
	case c.Sink.DSN != "" && c.Sink.DSNFile != "" && !c.Sink.dsnFromFile:
		add("sink.dsn_file", "dsn and dsn_file both given; use one")
	case c.Sink.DSN == "" && c.Sink.DSNFile == "":
		add("sink.dsn", "required (or sink.dsn_file)")
	}

	in := c.Ingest
	if l := in.Lookback.Std(); l < time.Hour || l > 7*24*time.Hour {
		add("ingest.lookback", "%s is out of range: want 1h to 7d (the API keeps 7 days)", in.Lookback)
	}
	if in.Concurrency < 1 || in.Concurrency > 64 {
		add("ingest.concurrency", "%d is out of range: want 1 to 64", in.Concurrency)
	}
	if in.BatchRecords < 1 || in.BatchRecords > 1_000_000 {
		add("ingest.batch_records", "%d is out of range: want 1 to 1000000", in.BatchRecords)
	}
	if in.RateLimit <= 0 {
		add("ingest.rate_limit", "%d: want more than 0 requests per minute", in.RateLimit)
	}
	if in.MaxBlobBytes < 1<<20 || in.MaxBlobBytes > 4<<30 {
		add("ingest.max_blob_bytes", "%s is out of range: want 1MiB to 4GiB", in.MaxBlobBytes)
	}
	if in.MaxRecordBytes < 1<<10 || in.MaxRecordBytes > 1<<30 || in.MaxRecordBytes > in.MaxBlobBytes {
		add("ingest.max_record_bytes", "%s is out of range: want 1KiB to 1GiB, at most max_blob_bytes", in.MaxRecordBytes)
	}
	if d := in.IdleTimeout.Std(); d < time.Second || d > time.Hour {
		add("ingest.idle_timeout", "%s is out of range: want 1s to 1h", in.IdleTimeout)
	}
	if d := in.ShutdownTimeout.Std(); d < time.Second || d > time.Hour {
		add("ingest.shutdown_timeout", "%s is out of range: want 1s to 1h", in.ShutdownTimeout)
	}
	if d := in.BlobTimeout.Std(); d < time.Second || d > 24*time.Hour {
		add("ingest.blob_timeout", "%s is out of range: want 1s to 24h", in.BlobTimeout)
	}
	if in.MaxListingPages < 1 || in.MaxListingPages > 1_000_000 {
		add("ingest.max_listing_pages", "%d is out of range: want 1 to 1000000", in.MaxListingPages)
	}
	if in.MemoryLimit < 64<<20 || in.MemoryLimit > 1<<40 {
		add("ingest.memory_limit", "%s is out of range: want 64MiB to 1TiB", in.MemoryLimit)
	}
	if in.MaxListingEntries < 1 || in.MaxListingEntries > 10_000_000 {
		add("ingest.max_listing_entries", "%d is out of range: want 1 to 10000000", in.MaxListingEntries)
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "unknown level %q (want debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "text":
	default:
		add("log.format", "unknown format %q (want auto, json or text)", c.Log.Format)
	}
	return ps
}

type addFunc func(path, format string, args ...any)

func guid(add addFunc, path, v string, required bool) {
	switch {
	case v == "" && required:
		add(path, "required (a GUID such as 00000000-0000-0000-0000-000000000000)")
	case v != "" && !guidRE.MatchString(v):
		add(path, "%q is not a GUID (want 8-4-4-4-12 hex digits)", v)
	}
}

// credentialProblems checks that exactly one credential is configured and
// that its parts fit together.
func credentialProblems(add addFunc, p string, t *Tenant) {
	secretLiteral := t.ClientSecret != "" && !t.secretFromFile
	hasSecret := t.ClientSecret != "" || t.ClientSecretFile != ""
	hasCert := t.CertificateFile != ""
	switch {
	case hasSecret && hasCert:
		add(p+"certificate_file", "secret and certificate both given; use one (client_secret or client_secret_file, or certificate_file)")
	case !hasSecret && !hasCert:
		if t.PrivateKeyFile != "" {
			add(p+"certificate_file", "required with private_key_file")
		} else {
			add(p+"client_secret", "required (or client_secret_file, or certificate_file)")
		}
	}
	if secretLiteral && t.ClientSecretFile != "" {
		add(p+"client_secret_file", "client_secret and client_secret_file both given; use one")
	}

	pwLiteral := t.CertificatePassword != "" && !t.passwordFromFile
	hasPassword := t.CertificatePassword != "" || t.CertificatePasswordFile != ""
	if pwLiteral && t.CertificatePasswordFile != "" {
		add(p+"certificate_password_file", "certificate_password and certificate_password_file both given; use one")
	}
	if !hasCert {
		if hasPassword {
			add(p+"certificate_password", "given without certificate_file")
		}
		return
	}
	if isPKCS12(t.CertificateFile) {
		if t.PrivateKeyFile != "" {
			add(p+"private_key_file", "not used with a PKCS#12 (.pfx/.p12) certificate_file, which holds its key")
		}
		return
	}
	if t.PrivateKeyFile == "" {
		add(p+"private_key_file", "required with a PEM certificate_file (only a .pfx/.p12 certificate_file holds its own key)")
	}
	if hasPassword {
		add(p+"certificate_password", "only used with a PKCS#12 (.pfx/.p12) certificate_file")
	}
}

func isPKCS12(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".pfx", ".p12":
		return true
	}
	return false
}

// endpoint checks an API or login URL override: absolute, https, or http to
// a loopback host (the emulator). There is deliberately no way to turn TLS
// verification off.
func endpoint(add addFunc, path, v string) {
	if v == "" {
		return
	}
	u, err := url.Parse(v)
	if err != nil {
		add(path, "%q is not a URL", v)
		return
	}
	if !u.IsAbs() || u.Host == "" {
		add(path, "%q is not an absolute URL (want https://host[/path])", v)
		return
	}
	switch {
	case u.User != nil:
		add(path, "%q: credentials do not belong in the URL", v)
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		add(path, "%q: http is allowed only for a loopback host (127.0.0.1, ::1, localhost); use https", v)
	default:
		add(path, "%q: unsupported scheme %q (want https)", v, u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		add(path, "%q: want a base URL without query or fragment", v)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validDomain(d string) bool {
	if len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !domainLabel.MatchString(l) {
			return false
		}
	}
	return true
}
