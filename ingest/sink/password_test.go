package sink_test

import (
	"testing"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

func TestHasPassword(t *testing.T) {
	for _, tc := range []struct {
		driver, dsn string
		want        bool
	}{
		{"postgres", "postgres://o365:s3cret@db.example:5432/o365?sslmode=verify-full", true},
		{"postgres", "postgresql://o365@db.example/o365?password=s3cret", true},
		{"postgres", "host=db.example user=o365 password=s3cret dbname=o365", true},
		{"postgres", "host=db.example user=o365 password = 's3 cret' dbname=o365", true},
		{"postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", false},
		{"postgres", "host=db.example user=o365 dbname=o365 passfile=/etc/o365/pgpass", false},
		{"mysql", "o365:s3cret@tcp(db.example:3306)/o365?parseTime=true&tls=true", true},
		{"mariadb", "root@tcp(127.0.0.1:3306)/test?parseTime=true", false},
		{"mysql", "root:@tcp(127.0.0.1:3306)/test", false},
		{"sqlserver", "sqlserver://sa:Passw0rd!@db.example:1433?database=o365&encrypt=true", true},
		{"sqlserver", "sqlserver://db.example:1433?database=o365&password=Passw0rd", true},
		{"sqlserver", "server=db.example;user id=sa;Password=Passw0rd;database=o365", true},
		{"sqlserver", "odbc:server=db.example;uid=sa;pwd={Pass;w0rd};database=o365", true},
		{"sqlserver", "sqlserver://db.example:1433?database=o365&fedauth=ActiveDirectoryManagedIdentity", false},
		{"sqlite", "o365.db", false},
		{"sqlite", "file:/var/lib/o365/o365.db?_pragma=busy_timeout(5000)", false},
	} {
		if got := sink.HasPassword(tc.driver, tc.dsn); got != tc.want {
			t.Errorf("HasPassword(%s, %q) = %v, want %v", tc.driver, tc.dsn, got, tc.want)
		}
	}
}
