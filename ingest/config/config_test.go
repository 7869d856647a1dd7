package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// env returns a getenv backed by a map, so tests never see the real environment.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

const (
	guidA = "00000000-0000-0000-0000-000000000001"
	guidB = "00000000-0000-0000-0000-000000000002"
)

// secretTenant is a valid tenant authenticating with a client secret.
func secretTenant(name string) string {
	return fmt.Sprintf(`
  - name: %s
    tenant_id: %s
    client_id: %s
    client_secret: s3cret`, name, guidA, guidB)
}

func mustParse(t *testing.T, src string, getenv func(string) string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(src), getenv)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	return cfg
}

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a *ValidationError, got %T: %v", err, err)
	}
	return ve.Problems
}

func TestExampleConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fabrikam.pfx"), []byte("not really a pfx"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := env(
		"O365_CLIENT_SECRET", "contoso-secret-value",
		"O365_CERT_DIR", dir,
		"FABRIKAM_PFX_PASSWORD", "pfx-password-value",
		"SOC_SLACK_WEBHOOK", "https://hooks.slack.com/services/T0/B0/test",
		"O365_REMEDIATION_SECRET", "remediation-secret-value",
	)
	cfg, warnings, err := Load("../../config.example.yaml", getenv)
	if err != nil {
		t.Fatalf("the example config does not load:\n%v", err)
	}
	if len(warnings) > 0 {
		t.Errorf("the example config warns: %q", warnings)
	}
	if err := cfg.ValidateForIngest(); err != nil {
		t.Errorf("the example config is not valid for ingest:\n%v", err)
	}
	if len(cfg.Tenants) != 2 {
		t.Fatalf("want two tenants, got %d", len(cfg.Tenants))
	}
	c, f := cfg.Tenants[0], cfg.Tenants[1]
	if c.UsesCertificate() || c.ClientSecret.Reveal() != "contoso-secret-value" {
		t.Errorf("contoso should use the secret from the environment: %+v", c)
	}
	if !f.UsesCertificate() || !f.IsPKCS12() || f.CertificateFile != filepath.Join(dir, "fabrikam.pfx") ||
		f.CertificatePassword.Reveal() != "pfx-password-value" {
		t.Errorf("fabrikam should use the PKCS#12 certificate: %+v", f)
	}
	if f.PublisherID != f.TenantID || f.Cloud != CloudGCC || !slices.Equal(f.ContentTypes, ContentTypes()) {
		t.Errorf("fabrikam defaults not applied: %+v", f)
	}
	if cfg.Sink.Driver != DriverSQLite || cfg.Sink.DSN.Reveal() != "o365.db" {
		t.Errorf("sink = %+v", cfg.Sink)
	}
	if cfg.Ingest != Default().Ingest || cfg.Log != Default().Log {
		t.Errorf("the example should show the defaults: %+v %+v", cfg.Ingest, cfg.Log)
	}
}

// TestExampleDocumentsEveryKey keeps config.example.yaml complete: every key
// of every struct appears in it, commented out or not.
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []any{Config{}, Tenant{}, Sink{}, Ingest{}, Log{}} {
		for key := range yamlFields(reflectType(typ)) {
			if !bytes.Contains(data, []byte(key+":")) {
				t.Errorf("config.example.yaml does not document %q", key)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Run("Default validates, with no tenants", func(t *testing.T) {
		if err := Default().Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ValidateForIngest wants a tenant", func(t *testing.T) {
		ps := problemsOf(t, Default().ValidateForIngest())
		if len(ps) != 1 || ps[0].Path != "tenants" {
			t.Fatalf("problems = %v", ps)
		}
	})
	t.Run("an empty file gives the defaults", func(t *testing.T) {
		for _, src := range []string{"", "# just a comment\n"} {
			cfg := mustParse(t, src, nil)
			if fmt.Sprintf("%#v", cfg) != fmt.Sprintf("%#v", Default()) {
				t.Errorf("Parse(%q) = %#v, want %#v", src, cfg, Default())
			}
		}
	})
	t.Run("a tenant gets cloud, content types and publisher defaults", func(t *testing.T) {
		cfg := mustParse(t, "tenants:"+secretTenant("contoso"), nil)
		tn := cfg.Tenants[0]
		if tn.Cloud != CloudCommercial || tn.PublisherID != guidA || !slices.Equal(tn.ContentTypes, ContentTypes()) {
			t.Fatalf("tenant = %+v", tn)
		}
	})
	t.Run("keys decode over the defaults, leaving the rest", func(t *testing.T) {
		cfg := mustParse(t, "ingest:\n  concurrency: 3\n  start_subscriptions: false\nlog:\n  format: json\n", nil)
		want := Default()
		want.Ingest.Concurrency = 3
		want.Ingest.StartSubscriptions = false
		want.Log.Format = "json"
		if fmt.Sprintf("%#v", cfg) != fmt.Sprintf("%#v", want) {
			t.Fatalf("got %#v\nwant %#v", cfg, want)
		}
	})
	t.Run("a postgres sink does not inherit the sqlite file name", func(t *testing.T) {
		_, err := Parse([]byte("sink:\n  driver: postgres\n"), nil)
		ps := problemsOf(t, err)
		if len(ps) != 1 || ps[0].Path != "sink.dsn" {
			t.Fatalf("problems = %v", ps)
		}
	})
	t.Run("a sqlite sink without a dsn gets o365.db", func(t *testing.T) {
		cfg := mustParse(t, "sink:\n  driver: sqlite3\n", nil)
		if cfg.Sink.DSN != DefaultSQLiteDSN {
			t.Fatalf("dsn = %q", cfg.Sink.DSN.Reveal())
		}
	})
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "7d", want: 168 * time.Hour},
		{in: "36h", want: 36 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "7", bad: true},
		{in: "7days", bad: true},
		{in: "d", bad: true},
		{in: "-1h", bad: true},
		{in: "", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("ParseDuration(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
	t.Run("whole days print as days and round-trip", func(t *testing.T) {
		if s := Duration(48 * time.Hour).String(); s != "2d" {
			t.Fatalf("String = %q", s)
		}
		out, err := yaml.Marshal(struct{ D Duration }{Duration(36 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var back struct{ D Duration }
		if err := yaml.Unmarshal(out, &back); err != nil || back.D != Duration(36*time.Hour) {
			t.Fatalf("round trip via %q: %v, %v", out, back.D, err)
		}
	})
	t.Run("lookback accepts the day suffix", func(t *testing.T) {
		cfg := mustParse(t, "ingest:\n  lookback: 2d\n", nil)
		if cfg.Ingest.Lookback.Std() != 48*time.Hour {
			t.Fatalf("lookback = %v", cfg.Ingest.Lookback)
		}
	})
}

func TestStrictDecoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string // substrings of the error
	}{
		{
			name: "a misspelt tenant key is rejected with its line and path",
			src: `tenants:
  - name: contoso
    tenant_id: 00000000-0000-0000-0000-000000000001
    client_id: 00000000-0000-0000-0000-000000000002
    client_secert: x
`,
			want: []string{`config.yaml: line 5: unknown key "client_secert" in tenants[0] (did you mean "client_secret"?)`},
		},
		{
			name: "an unknown top-level key is rejected",
			src:  "sink:\n  driver: sqlite\ntenant: []\n",
			want: []string{`config.yaml: line 3: unknown key "tenant" (did you mean "tenants"?)`},
		},
		{
			name: "every unknown key is reported at once",
			src:  "ingest:\n  lookbak: 1h\nlog:\n  levle: debug\n  colour: true\n",
			want: []string{`line 2: unknown key "lookbak" in ingest`, `line 4: unknown key "levle" in log`, `line 5: unknown key "colour" in log`},
		},
		{
			name: "a key in the second tenant names that tenant",
			src:  "tenants:" + secretTenant("a") + secretTenant("b") + "\n    tls_insecure: true\n",
			want: []string{`unknown key "tls_insecure" in tenants[1]`},
		},
		{
			name: "a wrong type names its line and path",
			src:  "ingest:\n  concurrency: eight\n",
			want: []string{"config.yaml: line 2: ingest.concurrency: cannot unmarshal"},
		},
		{
			name: "a bad duration names its line and path",
			src:  "ingest:\n  lookback: 7days\n",
			want: []string{`config.yaml: line 2: ingest.lookback: invalid duration "7days"`},
		},
		{
			name: "a YAML syntax error names its line",
			src:  "sink:\n  driver: [sqlite\n",
			want: []string{"config.yaml: line"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg = Default()
			err := decodeStrict([]byte(tc.src), "config.yaml", cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
	t.Run("Load names the file in a strict-decoding error", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte("sink:\n  drvier: sqlite\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(path, nil)
		if err == nil || !strings.HasPrefix(err.Error(), path+": line 2: unknown key \"drvier\" in sink") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestInvalidConfigs(t *testing.T) {
	tenant := func(extra string) string {
		return fmt.Sprintf("tenants:\n  - name: contoso\n    tenant_id: %s\n    client_id: %s\n%s", guidA, guidB, extra)
	}
	secret := "    client_secret: s3cret\n"
	dir := t.TempDir()
	for _, f := range []string{"c.pem", "k.pem", "c.pfx"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		src  string
		want []Problem // each must be reported (Msg may be a substring)
	}{
		{"a tenant without a name", "tenants:\n  - tenant_id: " + guidA + "\n    client_id: " + guidB + "\n    client_secret: x\n",
			[]Problem{{"tenants[0].name", "required"}}},
		{"a tenant name with a slash", strings.Replace(tenant(secret), "contoso", "con/toso", 1),
			[]Problem{{"tenants[0].name", `"con/toso": want letters`}}},
		{"a tenant name starting with a dot", strings.Replace(tenant(secret), "contoso", ".contoso", 1),
			[]Problem{{"tenants[0].name", "want letters"}}},
		{"two tenants with one name", "tenants:" + secretTenant("contoso") + secretTenant("Contoso"),
			[]Problem{{"tenants[1].name", `"Contoso" is already the name of tenants[0]`}}},
		{"a tenant_id that is not a GUID", strings.Replace(tenant(secret), guidA, "contoso.onmicrosoft.com", 1),
			[]Problem{{"tenants[0].tenant_id", "is not a GUID"}}},
		{"a missing client_id", strings.Replace(tenant(secret), "    client_id: "+guidB+"\n", "", 1),
			[]Problem{{"tenants[0].client_id", "required"}}},
		{"no credential", tenant(""),
			[]Problem{{"tenants[0].client_secret", "required (or client_secret_file, or certificate_file)"}}},
		{"a secret and a certificate", tenant(secret + "    certificate_file: ${D}/c.pfx\n"),
			[]Problem{{"tenants[0].certificate_file", "secret and certificate both given"}}},
		{"a client_secret and a client_secret_file", tenant(secret + "    client_secret_file: x\n"),
			[]Problem{{"tenants[0].client_secret_file", "client_secret and client_secret_file both given"}}},
		{"a PEM certificate without a key", tenant("    certificate_file: ${D}/c.pem\n"),
			[]Problem{{"tenants[0].private_key_file", "required with a PEM certificate_file"}}},
		{"a password for a PEM certificate", tenant("    certificate_file: ${D}/c.pem\n    private_key_file: ${D}/k.pem\n    certificate_password: x\n"),
			[]Problem{{"tenants[0].certificate_password", "only used with a PKCS#12"}}},
		{"a key file beside a PKCS#12 certificate", tenant("    certificate_file: ${D}/c.pfx\n    private_key_file: ${D}/k.pem\n"),
			[]Problem{{"tenants[0].private_key_file", "not used with a PKCS#12"}}},
		{"a certificate file that does not exist", tenant("    certificate_file: /nonexistent/cert.pfx\n"),
			[]Problem{{"tenants[0].certificate_file", "no such file"}}},
		{"an unknown cloud", tenant(secret + "    cloud: x\n"),
			[]Problem{{"tenants[0].cloud", `unknown cloud "x" (want commercial, gcc, gcchigh or dod)`}}},
		{"a relative api_url", tenant(secret + "    api_url: manage.office.com\n"),
			[]Problem{{"tenants[0].api_url", "not an absolute URL"}}},
		{"an http api_url to a remote host", tenant(secret + "    api_url: http://manage.office.com\n"),
			[]Problem{{"tenants[0].api_url", "http is allowed only for a loopback host"}}},
		{"an http login_url to a look-alike of localhost", tenant(secret + "    login_url: http://localhost.evil.com\n"),
			[]Problem{{"tenants[0].login_url", "http is allowed only for a loopback host"}}},
		{"an ftp login_url", tenant(secret + "    login_url: ftp://127.0.0.1/\n"),
			[]Problem{{"tenants[0].login_url", "unsupported scheme"}}},
		{"a publisher_id that is not a GUID", tenant(secret + "    publisher_id: contoso\n"),
			[]Problem{{"tenants[0].publisher_id", "is not a GUID"}}},
		{"a content type in the wrong case", tenant(secret + "    content_types: [audit.exchange]\n"),
			[]Problem{{"tenants[0].content_types[0]", `did you mean "Audit.Exchange"?`}}},
		{"an unknown content type", tenant(secret + "    content_types: [Audit.Exchange, Audit.Teams]\n"),
			[]Problem{{"tenants[0].content_types[1]", `unknown content type "Audit.Teams"`}}},
		{"a content type listed twice", tenant(secret + "    content_types: [DLP.All, DLP.All]\n"),
			[]Problem{{"tenants[0].content_types[1]", "listed twice"}}},
		{"an empty content type list", tenant(secret + "    content_types: []\n"),
			[]Problem{{"tenants[0].content_types", "empty"}}},
		{"a domain that is not a domain", tenant(secret + "    domains: [user@contoso.com]\n"),
			[]Problem{{"tenants[0].domains[0]", "is not a domain name"}}},
		{"an unknown sink driver", "sink:\n  driver: oracle\n  dsn: x\n",
			[]Problem{{"sink.driver", `unknown driver "oracle"`}}},
		{"a sink with dsn and dsn_file", "sink:\n  driver: postgres\n  dsn: x\n  dsn_file: y\n",
			[]Problem{{"sink.dsn_file", "dsn and dsn_file both given"}}},
		{"an empty dsn", "sink:\n  driver: mysql\n  dsn: \"\"\n",
			[]Problem{{"sink.dsn", "required (or sink.dsn_file)"}}},
		{"a lookback under an hour", "ingest:\n  lookback: 30m\n",
			[]Problem{{"ingest.lookback", "want 1h to 7d"}}},
		{"a lookback over seven days", "ingest:\n  lookback: 8d\n",
			[]Problem{{"ingest.lookback", "8d is out of range: want 1h to 7d (the API keeps 7 days)"}}},
		{"a concurrency of zero", "ingest:\n  concurrency: 0\n",
			[]Problem{{"ingest.concurrency", "want 1 to 64"}}},
		{"a concurrency of 65", "ingest:\n  concurrency: 65\n",
			[]Problem{{"ingest.concurrency", "want 1 to 64"}}},
		{"a batch of zero records", "ingest:\n  batch_records: 0\n",
			[]Problem{{"ingest.batch_records", "want 1 to 1000000"}}},
		{"a batch of too many records", "ingest:\n  batch_records: 1000001\n",
			[]Problem{{"ingest.batch_records", "want 1 to 1000000"}}},
		{"a negative rate limit", "ingest:\n  rate_limit: -1\n",
			[]Problem{{"ingest.rate_limit", "want more than 0"}}},
		{"an unknown log level", "log:\n  level: trace\n",
			[]Problem{{"log.level", `unknown level "trace"`}}},
		{"an unknown log format", "log:\n  format: xml\n",
			[]Problem{{"log.format", `unknown format "xml"`}}},
		{"several problems at once",
			"tenants:" + secretTenant("ok") + "\n  - name: bad\n    tenant_id: nope\n    client_id: " + guidB + "\nsink:\n  driver: postgres\ningest:\n  concurrency: 100\nlog:\n  level: loud\n",
			[]Problem{
				{"tenants[1].tenant_id", "is not a GUID"},
				{"tenants[1].client_secret", "required"},
				{"sink.dsn", "required"},
				{"ingest.concurrency", "out of range"},
				{"log.level", "unknown level"},
			}},
	} {
		t.Run(tc.name+" is rejected", func(t *testing.T) {
			_, err := Parse([]byte(tc.src), env("D", dir))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.src)
			}
			ps := problemsOf(t, err)
			for _, w := range tc.want {
				if !slices.ContainsFunc(ps, func(p Problem) bool { return p.Path == w.Path && strings.Contains(p.Msg, w.Msg) }) {
					t.Errorf("want %s: %s\ngot:\n%v", w.Path, w.Msg, err)
				}
			}
			if len(ps) != len(tc.want) {
				t.Errorf("want %d problems, got %d:\n%v", len(tc.want), len(ps), err)
			}
		})
	}
}

func TestValidConfigs(t *testing.T) {
	tenant := func(extra string) string {
		return fmt.Sprintf("tenants:\n  - name: c.o-n_1\n    tenant_id: %s\n    client_id: %s\n%s", guidA, strings.ToUpper("abcdef01-2345-6789-abcd-ef0123456789"), extra)
	}
	secret := "    client_secret: s3cret\n"
	for _, tc := range []struct{ name, src string }{
		{"an http api_url to 127.0.0.1", tenant(secret + "    api_url: http://127.0.0.1:8080\n")},
		{"an http api_url to 127.1.2.3", tenant(secret + "    api_url: http://127.1.2.3/\n")},
		{"an http login_url to ::1", tenant(secret + "    login_url: http://[::1]:9000/\n")},
		{"an http login_url to localhost", tenant(secret + "    login_url: http://LOCALHOST:9000\n")},
		{"an https api_url anywhere", tenant(secret + "    api_url: https://manage.office365.us\n")},
		{"a cloud in capitals", tenant(secret + "    cloud: GCCHigh\n")},
		{"a secret-less PKCS#12 certificate", tenant("    certificate_file: " + emptyFile(t, "c.p12") + "\n")},
		{"a lookback of exactly one hour", "ingest:\n  lookback: 1h\n"},
		{"a lookback of exactly seven days", "ingest:\n  lookback: 168h\n"},
	} {
		t.Run(tc.name+" is accepted", func(t *testing.T) {
			mustParse(t, tc.src, nil)
		})
	}
}

// emptyFile returns the path of a new empty file in a temp dir.
func emptyFile(t *testing.T, name string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDriverAliases(t *testing.T) {
	for alias, want := range map[string]string{
		"sqlite": "sqlite", "sqlite3": "sqlite", "SQLite": "sqlite",
		"postgres": "postgres", "postgresql": "postgres",
		"mysql": "mysql", "mariadb": "mysql",
		"sqlserver": "sqlserver", "mssql": "sqlserver", "azuresql": "sqlserver",
	} {
		t.Run(alias+" means "+want, func(t *testing.T) {
			cfg := mustParse(t, "sink:\n  driver: "+alias+"\n  dsn: x\n", nil)
			if cfg.Sink.Driver != want {
				t.Fatalf("driver = %q", cfg.Sink.Driver)
			}
		})
	}
	t.Run("warning means warn", func(t *testing.T) {
		if cfg := mustParse(t, "log:\n  level: WARNING\n", nil); cfg.Log.Level != "warn" || cfg.Log.SlogLevel() != slog.LevelWarn {
			t.Fatalf("level = %q", cfg.Log.Level)
		}
	})
}

func TestEnvironment(t *testing.T) {
	t.Run("references are expanded in secrets, URLs, paths and the DSN", func(t *testing.T) {
		src := fmt.Sprintf(`tenants:
  - name: c
    tenant_id: %s
    client_id: %s
    client_secret: pre-${SECRET}-post
    api_url: http://127.0.0.1:${PORT}/api
sink:
  driver: postgres
  dsn: postgres://u:${PGPASS}@db/o365
`, guidA, guidB)
		cfg := mustParse(t, src, env("SECRET", "abc", "PORT", "8080", "PGPASS", "pw"))
		if got := cfg.Tenants[0].ClientSecret.Reveal(); got != "pre-abc-post" {
			t.Errorf("client_secret = %q", got)
		}
		if got := cfg.Tenants[0].APIURL; got != "http://127.0.0.1:8080/api" {
			t.Errorf("api_url = %q", got)
		}
		if got := cfg.Sink.DSN.Reveal(); got != "postgres://u:pw@db/o365" {
			t.Errorf("dsn = %q", got)
		}
	})
	t.Run("$$ is a literal dollar and a lone $ is kept", func(t *testing.T) {
		src := "tenants:" + strings.Replace(secretTenant("c"), "s3cret", `"a$$b$c${X}"`, 1)
		cfg := mustParse(t, src, env("X", "x"))
		if got := cfg.Tenants[0].ClientSecret.Reveal(); got != "a$b$cx" {
			t.Errorf("client_secret = %q", got)
		}
	})
	t.Run("keys outside the list are not expanded", func(t *testing.T) {
		cfg := mustParse(t, "ingest:\n  archive_dir: ${HOME}/x\n", env("HOME", "/home/u"))
		if cfg.Ingest.ArchiveDir != "${HOME}/x" {
			t.Errorf("archive_dir = %q", cfg.Ingest.ArchiveDir)
		}
	})
	for _, tc := range []struct{ name, value, want string }{
		{"an unset variable", "${O365_CLIENT_SECRET}", "environment variable O365_CLIENT_SECRET is not set"},
		{"an empty variable", "${EMPTY}", "environment variable EMPTY is not set"},
		{"an unterminated reference", "${O365", "unterminated ${"},
		{"a malformed name", "${1X}", `invalid environment variable name "1X"`},
	} {
		t.Run(tc.name+" is a problem at the key's path, and only that", func(t *testing.T) {
			src := "tenants:" + strings.Replace(secretTenant("c"), "s3cret", `"`+tc.value+`"`, 1)
			_, err := Parse([]byte(src), env("EMPTY", ""))
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Path != "tenants[0].client_secret" || !strings.Contains(ps[0].Msg, tc.want) {
				t.Fatalf("problems = %v, want one: tenants[0].client_secret: %s", ps, tc.want)
			}
		})
	}
	t.Run("an unset DSN variable is reported, not replaced by the sqlite default", func(t *testing.T) {
		_, err := Parse([]byte("sink:\n  dsn: ${O365_DSN}\n"), nil)
		if err == nil || err.Error() != "sink.dsn: environment variable O365_DSN is not set" {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("secret.txt", "from-file\n")
	write("password.txt", "pfx-pw\r\n")
	write("dsn.txt", "sqlserver://sa:pw@db?database=o365\n")
	write("empty.txt", "\n")
	write("c.pfx", "x")
	write("c.pem", "x")
	write("k.pem", "x")
	load := func(t *testing.T, src string, getenv func(string) string) (*Config, error) {
		t.Helper()
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := Load(path, getenv)
		return cfg, err
	}
	head := fmt.Sprintf("tenants:\n  - name: c\n    tenant_id: %s\n    client_id: %s\n", guidA, guidB)

	t.Run("_file keys are read relative to the config file, newline trimmed", func(t *testing.T) {
		cfg, err := load(t, head+"    client_secret_file: secret.txt\nsink:\n  driver: mssql\n  dsn_file: ${D}/dsn.txt\n", env("D", dir))
		if err != nil {
			t.Fatal(err)
		}
		tn := cfg.Tenants[0]
		if tn.ClientSecret.Reveal() != "from-file" || tn.ClientSecretFile != filepath.Join(dir, "secret.txt") {
			t.Errorf("tenant = %#v / %q", tn, tn.ClientSecret.Reveal())
		}
		if cfg.Sink.DSN.Reveal() != "sqlserver://sa:pw@db?database=o365" || cfg.Sink.Driver != DriverSQLServer {
			t.Errorf("sink = %q %q", cfg.Sink.Driver, cfg.Sink.DSN.Reveal())
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("a loaded config does not validate again: %v", err)
		}
	})
	t.Run("a PKCS#12 certificate with a password file", func(t *testing.T) {
		cfg, err := load(t, head+"    certificate_file: c.pfx\n    certificate_password_file: password.txt\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		tn := cfg.Tenants[0]
		if tn.CertificateFile != filepath.Join(dir, "c.pfx") || tn.CertificatePassword.Reveal() != "pfx-pw" {
			t.Errorf("tenant = %+v / %q", tn, tn.CertificatePassword.Reveal())
		}
	})
	t.Run("a PEM certificate and key", func(t *testing.T) {
		cfg, err := load(t, head+"    certificate_file: c.pem\n    private_key_file: k.pem\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Tenants[0].PrivateKeyFile != filepath.Join(dir, "k.pem") {
			t.Errorf("private_key_file = %q", cfg.Tenants[0].PrivateKeyFile)
		}
	})
	for _, tc := range []struct{ name, src, path, msg string }{
		{"a missing secret file", head + "    client_secret_file: nope.txt\n", "tenants[0].client_secret_file", "no such file"},
		{"an empty secret file", head + "    client_secret_file: empty.txt\n", "tenants[0].client_secret_file", "is empty"},
		{"a directory as secret file", head + "    client_secret_file: .\n", "tenants[0].client_secret_file", "not a regular file"},
		{"a missing private key", head + "    certificate_file: c.pem\n    private_key_file: nope.pem\n", "tenants[0].private_key_file", "no such file"},
		{"a missing dsn file", "sink:\n  driver: postgres\n  dsn_file: nope\n", "sink.dsn_file", "no such file"},
	} {
		t.Run(tc.name+" is one problem at its path", func(t *testing.T) {
			_, err := load(t, tc.src, nil)
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Path != tc.path || !strings.Contains(ps[0].Msg, tc.msg) {
				t.Fatalf("problems = %v, want %s: %s", ps, tc.path, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), filepath.Join(dir, "config.yaml")+": "+tc.path) {
				t.Errorf("the error does not name the file: %v", err)
			}
		})
	}
}

func TestSecretsAreNeverPrinted(t *testing.T) {
	const (
		clientSecret = "TOPSECRET-client-7f3a"
		pfxPassword  = "TOPSECRET-pfx-91b2"
		dbPassword   = "TOPSECRET-db-c4d8"
	)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "c.p12"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`tenants:
  - name: a
    tenant_id: %[1]s
    client_id: %[2]s
    client_secret: ${CS}
  - name: b
    tenant_id: %[1]s
    client_id: %[2]s
    certificate_file: c.p12
    certificate_password: ${PW}
sink:
  driver: postgresql
  dsn: postgres://o365:${DBPW}@db.example.com/o365 password=${DBPW}
`, guidA, guidB)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Load(path, env("CS", clientSecret, "PW", pfxPassword, "DBPW", dbPassword))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tenants[0].ClientSecret.Reveal() != clientSecret || cfg.Tenants[1].CertificatePassword.Reveal() != pfxPassword ||
		!strings.Contains(cfg.Sink.DSN.Reveal(), dbPassword) {
		t.Fatal("Reveal does not return the secrets")
	}

	var renderings []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		renderings = append(renderings,
			fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, *cfg), fmt.Sprintf(verb, cfg.Tenants),
			fmt.Sprintf(verb, cfg.Sink), fmt.Sprintf(verb, cfg.Sink.DSN), fmt.Sprintf(verb, cfg.Tenants[0].ClientSecret))
	}
	renderings = append(renderings, fmt.Sprint(cfg), fmt.Sprintln(cfg.Tenants[1].CertificatePassword), cfg.Sink.DSN.String(), cfg.Sink.DSN.GoString())
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	renderings = append(renderings, string(j), string(y))
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		l := slog.New(h)
		l.Info("config", "cfg", cfg, "sink", cfg.Sink, "dsn", cfg.Sink.DSN, "secret", cfg.Tenants[0].ClientSecret)
		l.Info("group", slog.Any("tenant", cfg.Tenants[1]), slog.Any("password", cfg.Tenants[1].CertificatePassword))
	}
	renderings = append(renderings, logs.String())

	all := strings.Join(renderings, "\n")
	for _, s := range []string{clientSecret, pfxPassword, dbPassword, "TOPSECRET"} {
		if strings.Contains(all, s) {
			t.Errorf("a rendering of the config holds the secret %q:\n%s", s, all)
		}
	}
	for _, s := range []string{"[redacted]", `"client_secret":"[redacted]"`, "client_secret: '[redacted]'", `"client_secret_file":""`} {
		if !strings.Contains(all, s) {
			t.Errorf("no %q in the renderings", s)
		}
	}

	t.Run("an empty secret renders empty", func(t *testing.T) {
		var s Secret
		j, _ := json.Marshal(s)
		txt, _ := s.MarshalText()
		if got := fmt.Sprintf("%v|%s|%s|%s|%s", s, s.String(), j, txt, s.LogValue()); got != `||""||` {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("a validation error does not echo a secret", func(t *testing.T) {
		_, err := Parse([]byte(strings.Replace(src, "name: a", "name: a/b", 1)+"    client_secret: "+clientSecret+"\n"), env("PW", pfxPassword, "DBPW", dbPassword))
		if err == nil || strings.Contains(err.Error(), "TOPSECRET") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestPermissionWarning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits on Windows")
	}
	base := fmt.Sprintf("tenants:\n  - name: c\n    tenant_id: %s\n    client_id: %s\n", guidA, guidB)
	for _, tc := range []struct {
		name string
		src  string
		mode os.FileMode
		warn bool
	}{
		{"a literal client secret in a 0644 file warns", base + "    client_secret: s3cret\n", 0o644, true},
		{"a literal client secret in a 0640 file warns", base + "    client_secret: s3cret\n", 0o640, true},
		{"a literal client secret in a 0600 file does not warn", base + "    client_secret: s3cret\n", 0o600, false},
		{"a secret from the environment does not warn", base + "    client_secret: ${S}\n", 0o644, false},
		{"a postgres URL with a password warns", "sink:\n  driver: postgres\n  dsn: postgres://u:pw@db/o365\n", 0o644, true},
		{"a postgres key=value password warns", "sink:\n  driver: postgres\n  dsn: host=db user=u password=pw dbname=o365\n", 0o644, true},
		{"a mysql DSN with a password warns", "sink:\n  driver: mariadb\n  dsn: u:pw@tcp(db:3306)/o365\n", 0o644, true},
		{"a sqlserver URL with a password warns", "sink:\n  driver: mssql\n  dsn: sqlserver://sa:pw@db?database=o365\n", 0o644, true},
		{"an ADO string with a password warns", "sink:\n  driver: sqlserver\n  dsn: server=db;user id=sa;Password=pw;database=o365\n", 0o644, true},
		{"a DSN password from the environment does not warn", "sink:\n  driver: postgres\n  dsn: postgres://u:${PGPW}@db/o365\n", 0o644, false},
		{"a DSN without a password does not warn", "sink:\n  driver: postgres\n  dsn: postgres://u@db/o365?sslmode=verify-full\n", 0o644, false},
		{"a sqlite file does not warn", "sink:\n  dsn: o365.db\n", 0o644, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, warnings, err := Load(path, env("S", "x", "PGPW", "x"))
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("%s is readable by other users (mode %04o) and holds a secret; chmod 600 it", path, tc.mode)
			if tc.warn && (len(warnings) != 1 || warnings[0] != want) {
				t.Fatalf("warnings = %q, want %q", warnings, want)
			}
			if !tc.warn && len(warnings) != 0 {
				t.Fatalf("warnings = %q, want none", warnings)
			}
		})
	}
}

func TestValidationErrorListsOneProblemPerLine(t *testing.T) {
	err := &ValidationError{File: "config.yaml", Problems: []Problem{
		{"tenants[1].client_secret", "required (or client_secret_file, or certificate_file)"},
		{"sink.dsn", "required (or sink.dsn_file)"},
	}}
	want := "config.yaml: tenants[1].client_secret: required (or client_secret_file, or certificate_file)\n" +
		"config.yaml: sink.dsn: required (or sink.dsn_file)"
	if err.Error() != want {
		t.Fatalf("got\n%s\nwant\n%s", err, want)
	}
}

func reflectType(v any) reflect.Type { return reflect.TypeOf(v) }
