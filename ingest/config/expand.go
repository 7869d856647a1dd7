package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// expand replaces ${VAR} references in the keys that may hold them (secrets,
// DSN, URLs and file paths) and unescapes $$. Every unset or empty variable
// and every malformed reference is a problem at its key's path.
func (c *Config) expand(getenv func(string) string) []Problem {
	var ps []Problem
	str := func(path string, v *string) {
		out, p := expandString(*v, getenv)
		if p != "" {
			ps = append(ps, Problem{Path: path, Msg: p})
		}
		*v = out
	}
	sec := func(path string, v *Secret) {
		s := string(*v)
		str(path, &s)
		*v = Secret(s)
	}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		p := fmt.Sprintf("tenants[%d].", i)
		sec(p+"client_secret", &t.ClientSecret)
		str(p+"client_secret_file", &t.ClientSecretFile)
		str(p+"certificate_file", &t.CertificateFile)
		str(p+"private_key_file", &t.PrivateKeyFile)
		sec(p+"certificate_password", &t.CertificatePassword)
		str(p+"certificate_password_file", &t.CertificatePasswordFile)
		str(p+"api_url", &t.APIURL)
		str(p+"login_url", &t.LoginURL)
		str(p+"graph_url", &t.GraphURL)
		expandRemediation(t.Remediation, p, str, sec)
	}
	sec("sink.dsn", &c.Sink.DSN)
	str("sink.dsn_file", &c.Sink.DSNFile)
	// Webhook URLs of Slack and Teams carry their credential in the path.
	for i := range c.Detect.Webhooks {
		str(fmt.Sprintf("detect.webhooks[%d].url", i), &c.Detect.Webhooks[i].URL)
	}
	str("detect.geoip_file", &c.Detect.GeoIPFile)
	str("ingest.geoip_db", &c.Ingest.GeoIPDB)
	return ps
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandString expands ${VAR} through getenv and turns $$ into $. A $
// followed by anything else is kept as written, since secrets contain dollars.
// problem describes the first unset variable or malformed reference.
func expandString(s string, getenv func(string) string) (out, problem string) {
	if !strings.Contains(s, "$") {
		return s, ""
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				if problem == "" {
					problem = "unterminated ${ (write $$ for a literal dollar)"
				}
				b.WriteString(s[i:])
				return b.String(), problem
			}
			name := s[i+2 : i+2+end]
			i += 2 + end
			if !envName.MatchString(name) {
				if problem == "" {
					problem = fmt.Sprintf("invalid environment variable name %q in ${...} (write $$ for a literal dollar)", name)
				}
				continue
			}
			v := getenv(name)
			if v == "" && problem == "" {
				problem = fmt.Sprintf("environment variable %s is not set", name)
			}
			b.WriteString(v)
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), problem
}

// maxSecretFile bounds what a *_file key reads; secrets are short.
const maxSecretFile = 64 << 10

// readFiles makes every *_file path absolute relative to dir, reads the
// secret files into their Secret (trailing newlines trimmed) and checks that
// the certificate and key files can be opened. A file is not read when its
// literal counterpart is also set: Validate reports that conflict.
func (c *Config) readFiles(dir string) []Problem {
	var ps []Problem
	add := func(path string, err error) {
		ps = append(ps, Problem{Path: path, Msg: err.Error()})
	}
	read := func(path string, file *string, dst *Secret) bool {
		if *file == "" || dst.IsSet() {
			return false
		}
		*file = resolvePath(dir, *file)
		v, err := readSecretFile(*file)
		if err != nil {
			add(path, err)
			return false
		}
		*dst = Secret(v)
		return true
	}
	check := func(path string, file *string) {
		if *file == "" {
			return
		}
		*file = resolvePath(dir, *file)
		if err := checkReadable(*file); err != nil {
			add(path, err)
		}
	}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		p := fmt.Sprintf("tenants[%d].", i)
		t.secretFromFile = read(p+"client_secret_file", &t.ClientSecretFile, &t.ClientSecret)
		t.passwordFromFile = read(p+"certificate_password_file", &t.CertificatePasswordFile, &t.CertificatePassword)
		check(p+"certificate_file", &t.CertificateFile)
		check(p+"private_key_file", &t.PrivateKeyFile)
		readRemediation(t.Remediation, p, read, check)
	}
	c.Sink.dsnFromFile = read("sink.dsn_file", &c.Sink.DSNFile, &c.Sink.DSN)
	return ps
}

func resolvePath(dir, p string) string {
	if dir == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", err
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: %w", path, errNotRegular)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%s: larger than %d bytes; is it the right file?", path, maxSecretFile)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

func checkReadable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w", path, errNotRegular)
	}
	return nil
}

// holdsLiteralSecret reports whether the file, as decoded and before
// expansion, holds a secret written in it: a client secret or certificate
// password that is not a ${VAR} reference, or a DSN with such a password.
func holdsLiteralSecret(c *Config) bool {
	for _, t := range c.Tenants {
		if isLiteral(string(t.ClientSecret)) || isLiteral(string(t.CertificatePassword)) {
			return true
		}
		if r := t.Remediation; r != nil && (isLiteral(string(r.ClientSecret)) || isLiteral(string(r.CertificatePassword))) {
			return true
		}
	}
	return isLiteral(dsnPassword(string(c.Sink.DSN)))
}

func isLiteral(s string) bool { return s != "" && !strings.Contains(s, "${") }

var kvPassword = regexp.MustCompile(`(?i)(?:^|[\s;?&])(?:password|pwd)\s*=\s*('[^']*'|"[^"]*"|[^\s;&]*)`)

// dsnPassword extracts the password of a DSN in any of the drivers' forms:
// a URL's userinfo (postgres://u:p@h, sqlserver://u:p@h), a key=value
// password= or pwd= (libpq, ADO, URL query), or go-sql-driver/mysql's
// u:p@tcp(h)/db. It only needs to be right about presence.
func dsnPassword(dsn string) string {
	if m := kvPassword.FindStringSubmatch(dsn); m != nil {
		return strings.Trim(m[1], `'"`)
	}
	rest := dsn
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			rest = rest[:j] // userinfo is in the authority, before the path
		}
	} else if j := strings.LastIndex(rest, "/"); j >= 0 {
		rest = rest[:j] // mysql: user:pass@tcp(host)/db
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	_, pass, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return ""
	}
	return pass
}
