package sink

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// HasPassword reports whether dsn spells out a password in any of the forms the drivers
// take: a URL's user:password@ (postgres://, sqlserver://), a password, pwd or passwd
// parameter (a URL's query, PostgreSQL key=value, SQL Server's ADO and ODBC strings),
// or MySQL's user:password@tcp(...). It reads only the string: a password the driver
// would take from PGPASSWORD or ~/.pgpass is not in the DSN and not reported. Commands
// use it to warn about a --dsn that puts a password in the process list; it never says
// what the password is.
func HasPassword(driverName, dsn string) bool {
	if dsn == "" {
		return false
	}
	if n, err := DriverName(driverName); err == nil && n == DialectMySQL {
		if cfg, err := mysql.ParseDSN(dsn); err == nil {
			return cfg.Passwd != ""
		}
	}
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Host != "" {
		if p, ok := u.User.Password(); ok && p != "" {
			return true
		}
		for k, vs := range u.Query() {
			if isPasswordKey(k) && len(vs) > 0 && vs[0] != "" {
				return true
			}
		}
		return false
	}
	// key=value pairs separated by spaces (PostgreSQL, which allows spaces around =) or
	// semicolons (SQL Server ADO and ODBC strings).
	return passwordPair.MatchString(dsn)
}

// passwordPair matches a non-empty password key=value pair in a DSN that is not a URL.
var passwordPair = regexp.MustCompile(`(?i)(^|[\s;:])(password|pwd|passwd|pass)\s*=\s*('[^']+'|"[^"]+"|\{[^}]+\}|[^\s;'"{])`)

func isPasswordKey(k string) bool {
	switch strings.ToLower(k) {
	case "password", "pwd", "passwd", "pass":
		return true
	}
	return false
}
