package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// distinctIDs counts the distinct Id values of a JSON Lines file.
func distinctIDs(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r struct{ Id string }
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Id != "" {
			ids[r.Id] = true
		}
	}
	return len(ids)
}

func countRows(t *testing.T, driver, dsn, table string) int {
	t.Helper()
	s, err := sink.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.Handle().DB.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }, LogLevel: "warn"}
	code := run(context.Background(), args, env)
	return code, out.String()
}

func TestImportEveryCorpusFileIntoEveryDatabase(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sinktest.CorpusDir(t), "records", "*.jsonl"))
	if len(files) == 0 {
		t.Fatal("no corpus record files")
	}
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			for _, f := range files {
				t.Run(filepath.Base(f), func(t *testing.T) {
					dsn := sinktest.DSN(t, driver)
					want := distinctIDs(t, f)
					code, out := runCLI(t, "import", "--sink", driver, "--dsn", dsn, f)
					if code != exitOK {
						t.Fatalf("import exited %d:\n%s", code, out)
					}
					if got := countRows(t, driver, dsn, "audit_record"); got != want {
						t.Fatalf("audit_record holds %d rows, the file has %d distinct ids:\n%s", got, want, out)
					}
					// A second import of the same file adds nothing and says so.
					code, out = runCLI(t, "import", "--sink", driver, "--dsn", dsn, f)
					if code != exitOK || !strings.Contains(out, "loaded=0 ") {
						t.Fatalf("second import exited %d or loaded something:\n%s", code, out)
					}
					if got := countRows(t, driver, dsn, "audit_record"); got != want {
						t.Fatalf("after a second import audit_record holds %d rows, want %d", got, want)
					}
				})
			}
		})
	}
}

func TestImportReadsTheCSVExportAndTheArchive(t *testing.T) {
	dir := t.TempDir()
	rec := func(id, op string) string {
		return `{"CreationTime":"2026-11-20T10:00:00","Id":"` + id + `","Operation":"` + op + `","OrganizationId":"7b1f4c2e-3a9d-4e61-b0c8-2f5d9a6e1c47","RecordType":15,"UserId":"a@contoso.example","UserType":0,"Workload":"AzureActiveDirectory"}`
	}
	csvQuote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	csv := "\ufeffCreationDate,UserIds,Operations,AuditData\n" +
		"2026-11-20T10:00:00,a@contoso.example,UserLoggedIn," + csvQuote(rec("11111111-0000-0000-0000-000000000001", "UserLoggedIn")) + "\n" +
		"2026-11-20T10:00:00,a@contoso.example,UserLoginFailed," + csvQuote(rec("11111111-0000-0000-0000-000000000002", "UserLoginFailed")) + "\n" +
		"2026-11-20T10:00:00,a@contoso.example,Broken," + csvQuote(`{"Id":"no-creation-time","OrganizationId":"7b1f4c2e-3a9d-4e61-b0c8-2f5d9a6e1c47"}`) + "\n"
	csvPath := filepath.Join(dir, "AuditLog.csv")
	if err := os.WriteFile(csvPath, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	arch := filepath.Join(dir, "archive", "contoso", "Audit.AzureActiveDirectory", "2026-11-20")
	if err := os.MkdirAll(arch, 0o700); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("[" + rec("11111111-0000-0000-0000-000000000002", "UserLoginFailed") + "," + rec("11111111-0000-0000-0000-000000000003", "UserLoggedIn") + "]"))
	zw.Close()
	if err := os.WriteFile(filepath.Join(arch, "20261120$abc$audit_azureactivedirectory.json.gz"), gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	dsn := filepath.Join(dir, "o365.db")
	code, out := runCLI(t, "import", "--dsn", dsn, csvPath, filepath.Join(dir, "archive"))
	if code != exitOK {
		t.Fatalf("import exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "total files=2 read=5 loaded=3 already_present=1 quarantined=1") {
		t.Fatalf("unexpected counts:\n%s", out)
	}
	var reason, contentType string
	s, err := sink.Open(context.Background(), "sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Handle().DB.QueryRow(`SELECT reason FROM quarantine`).Scan(&reason); err != nil || !strings.Contains(reason, "CreationTime") {
		t.Fatalf("quarantine reason %q, %v: want one naming CreationTime", reason, err)
	}
	if err := s.Handle().DB.QueryRow(`SELECT content_type FROM content_blob WHERE content_id = '20261120$abc$audit_azureactivedirectory'`).Scan(&contentType); err != nil || contentType != "Audit.AzureActiveDirectory" {
		t.Fatalf("the archive file's ledger row: %q, %v; want its content type and id back", contentType, err)
	}
}
