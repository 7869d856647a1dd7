package sink

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/go-mssqldb/azuread"
	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/o365ingest/o365ingest/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestSQLServerGolden pins the T-SQL of the SQL Server sink. No SQL Server runs here, so a
// change to these statements shows up as a diff of testdata/sqlserver/*.sql to review
// (and to run against a real server: set O365INGEST_TEST_MSSQL_DSN). Regenerate with
// go test ./ingest/sink -run TestSQLServerGolden -update.
func TestSQLServerGolden(t *testing.T) {
	d := sqlserverDialect
	ledger, _ := d.upsertSQL(&schema.ContentBlob, ledgerUpdate)
	lookup, _ := d.upsertSQL(&schema.RecordTypeTable, []string{"name"})
	leaseUpdate, updateArgs := d.leaseUpdateSQL("contoso/Audit.Exchange", "host-1", 90*time.Second+250*time.Millisecond)
	leaseInsert, insertArgs := d.leaseInsertSQL("contoso/Audit.Exchange", "host-1", 90*time.Second+250*time.Millisecond)
	withArgs := func(q string, args []any) string { return fmt.Sprintf("%s\n-- arguments: %#v", q, args) }
	golden := map[string]string{
		"stage_record":              mssqlStageSQL(mssqlStageRecord, &schema.AuditRecord),
		"stage_property":            mssqlStageSQL(mssqlStageProperty, &schema.AuditProperty),
		"stage_quarantine":          mssqlStageSQL(mssqlStageQuarantine, &schema.Quarantine),
		"insert_records":            mssqlInsertRecordsSQL(true),
		"insert_records_no_props":   mssqlInsertRecordsSQL(false),
		"insert_quarantine":         mssqlInsertQuarantineSQL(),
		"drop_stages":               mssqlDropStagesSQL(),
		"ledger_upsert":             ledger,
		"lookup_upsert":             lookup,
		"known":                     d.knownSQL(3),
		"mark_select":               d.markSelectSQL(),
		"mark_insert":               d.insertSQL(&schema.ContentBlob),
		"mark_update":               d.markUpdateSQL([]string{"content_type", "status", "reason", "attempts", "updated_at", "content_uri"}),
		"lease_update":              withArgs(leaseUpdate, updateArgs),
		"lease_insert":              withArgs(leaseInsert, insertArgs),
		"release":                   d.releaseSQL(),
		"stage_record_bulk_columns": strings.Join(mssqlStageColumns(&schema.AuditRecord), "\n"),
	}
	for name, got := range golden {
		path := filepath.Join("testdata", "sqlserver", name+".sql")
		got += "\n"
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run with -update to create it)", path, err)
			continue
		}
		if got != string(want) {
			t.Errorf("%s differs from the generated T-SQL (run with -update and review the diff):\n%s", path, got)
		}
	}
}

// TestSQLServerStatementsAreParameterized: no value is ever spliced into the T-SQL, and
// the placeholders are numbered without gaps, as go-mssqldb binds them.
func TestSQLServerStatementsAreParameterized(t *testing.T) {
	d := sqlserverDialect
	q, args := d.leaseInsertSQL("it's", "o'brien", time.Minute)
	if strings.Contains(q, "brien") || strings.Contains(q, "it's") {
		t.Errorf("a value was spliced into %s", q)
	}
	for i := 1; i <= len(args); i++ {
		if !strings.Contains(q, fmt.Sprintf("@p%d", i)) {
			t.Errorf("%s lacks @p%d for its %d arguments", q, i, len(args))
		}
	}
	if strings.Contains(q, fmt.Sprintf("@p%d", len(args)+1)) {
		t.Errorf("%s has more placeholders than its %d arguments", q, len(args))
	}
	ledger, argsOf := d.upsertSQL(&schema.ContentBlob, ledgerUpdate)
	n := len(argsOf(make([]any, len(schema.ContentBlob.Columns))))
	if !strings.Contains(ledger, fmt.Sprintf("@p%d", n)) || strings.Contains(ledger, fmt.Sprintf("@p%d", n+1)) {
		t.Errorf("ledger upsert takes %d arguments but its placeholders do not match:\n%s", n, ledger)
	}
}

func TestSQLServerDSN(t *testing.T) {
	for _, c := range []struct {
		dsn      string
		entra    bool
		describe string
	}{
		{"sqlserver://sa:S3cret!@db.example.com:1433?database=audit&encrypt=true", false, "db.example.com:1433/audit"},
		{"server=db.example.com;user id=sa;password=S3cret!;database=audit", false, "db.example.com/audit"},
		{"sqlserver://contoso.database.windows.net?database=audit&encrypt=true&fedauth=ActiveDirectoryDefault", true, "contoso.database.windows.net/audit"},
		{"sqlserver://app%40tenant:S3cret!@contoso.database.windows.net?database=audit&encrypt=true&fedauth=ActiveDirectoryServicePrincipal", true, "contoso.database.windows.net/audit"},
		{"server=contoso.database.windows.net;database=audit;encrypt=true;fedauth=ActiveDirectoryManagedIdentity", true, "contoso.database.windows.net/audit"},
	} {
		if got := usesEntraID(c.dsn); got != c.entra {
			t.Errorf("usesEntraID(%q) = %v", c.dsn, got)
		}
		got := Describe("azuresql", c.dsn)
		if got != "sqlserver "+c.describe || strings.Contains(got, "S3cret") || strings.Contains(got, "sa") && !strings.Contains(c.describe, "sa") {
			t.Errorf("Describe(%q) = %q, want %q without credentials", c.dsn, got, "sqlserver "+c.describe)
		}
		if c.entra {
			// azuread parses the DSN and builds its credential lazily: no token is
			// fetched until a connection is made.
			if _, err := azuread.NewConnector(c.dsn); err != nil {
				t.Errorf("azuread.NewConnector(%q): %v", c.dsn, err)
			}
		}
		if strings.Contains(c.dsn, "encrypt=true") {
			cfg, err := msdsn.Parse(c.dsn)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TLSConfig == nil || cfg.TLSConfig.InsecureSkipVerify {
				t.Errorf("%q: encrypt=true must verify the server certificate", c.dsn)
			}
		}
	}
}

func TestUTF16Len(t *testing.T) {
	for s, want := range map[string]int{"": 0, "abc": 3, "監査": 2, "😀": 2, "e\u0301": 2} {
		if got := utf16Len(s); got != want {
			t.Errorf("utf16Len(%q) = %d, want %d", s, got, want)
		}
	}
}
