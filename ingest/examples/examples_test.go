package examples_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/examples"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// TestDocumentsShowQueries: every text of every query appears verbatim in its document,
// so what analysts copy is what the tests and the benchmark run.
func TestDocumentsShowQueries(t *testing.T) {
	docs := map[string]string{}
	for _, q := range examples.Queries {
		if _, ok := docs[q.Doc]; !ok {
			b, err := os.ReadFile(filepath.Join("..", "..", q.Doc))
			if err != nil {
				t.Fatal(err)
			}
			docs[q.Doc] = string(b)
		}
		for _, text := range q.Texts() {
			if !strings.Contains(docs[q.Doc], "```sql\n"+text.SQL+"\n```") && !strings.Contains(docs[q.Doc], "\n"+text.SQL+"\n```") {
				t.Errorf("%s (%s, for %v) is not shown verbatim in %s:\n%s", q.Name, q.Question, text.Dialects, q.Doc, text.SQL)
			}
		}
	}
}

// questionRecords are records each analyst question finds, among noise that makes the
// question's index the planner's best choice.
func questionRecords() []schema.Record {
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	var out []schema.Record
	n := 0
	add := func(set map[string]any) {
		n++
		if _, ok := set["creation_time"]; !ok {
			set["creation_time"] = at.Add(time.Duration(n) * time.Second)
		}
		out = append(out, sinktest.Record(fmt.Sprintf("q-%05d", n), set))
	}
	site := "https://contoso.sharepoint.com/sites/Finance/"
	for i := range 12 {
		// Stored in lower case: the documented mixed-case lookups still find them.
		add(map[string]any{"user_id": "megan.bowen@contoso.com", "operation": "FileDownloaded", "record_type": int64(6), "workload": "SharePoint", "site_url": site, "object_id": site + fmt.Sprintf("f%d.xlsx", i), "client_ip": "203.0.113.66"})
		add(map[string]any{"user_id": fmt.Sprintf("guest%d@fabrikam.com", i), "operation": "SharingSet", "record_type": int64(14), "workload": "SharePoint", "site_url": site, "client_ip": fmt.Sprintf("203.0.113.%d", 10+i)})
		add(map[string]any{"user_id": fmt.Sprintf("user%d@contoso.com", i), "operation": "UserLoggedIn", "record_type": int64(15), "workload": "AzureActiveDirectory", "client_ip": fmt.Sprintf("198.51.100.%d", i), "client_country": "NG", "client_asn": int64(64496)})
		add(map[string]any{"user_id": "bob@contoso.com", "operation": "MailItemsAccessed", "record_type": int64(50), "workload": "Exchange", "mailbox_owner_upn": "alex.wilber@contoso.com", "logon_type": int64(2)})
		add(map[string]any{"user_id": "admin@contoso.com", "operation": "Add member to role.", "record_type": int64(8), "workload": "AzureActiveDirectory", "target_upn": fmt.Sprintf("user%d@contoso.com", i)})
	}
	// Failed sign-ins of the last hours (the other records are weeks old).
	for i := range 12 {
		add(map[string]any{"user_id": fmt.Sprintf("user%d@contoso.com", i%4), "operation": "UserLoginFailed", "record_type": int64(15), "workload": "AzureActiveDirectory",
			"client_ip": "203.0.113.99", "creation_time": time.Now().UTC().Add(-time.Duration(i+1) * time.Minute)})
	}
	ops := []struct {
		op string
		rt int64
	}{{"FileDownloaded", 6}, {"UserLoggedIn", 15}, {"MailItemsAccessed", 50}, {"Add member to role.", 8}, {"SharingSet", 14}}
	countries := []string{"US", "DE", "FR", "GB", "NL", "SE", "JP", "BR"}
	for i := range 4000 {
		o := ops[i%len(ops)]
		u := fmt.Sprintf("user%04d@contoso.com", i)
		add(map[string]any{
			"user_id": u, "operation": o.op, "record_type": o.rt, "workload": "Noise",
			"site_url": fmt.Sprintf("https://contoso.sharepoint.com/sites/Team%03d/", i%200), "mailbox_owner_upn": u,
			"client_ip": fmt.Sprintf("10.%d.%d.%d", i%7, i%250, i%111), "client_country": countries[i%len(countries)],
			"client_asn": int64(65000 + i%300), "logon_type": int64(0),
		})
	}
	return out
}

// TestQueriesAnswer runs every documented query on each database: each runs, each
// analyst question finds its rows, and EXPLAIN shows the index that should serve it.
func TestQueriesAnswer(t *testing.T) {
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			s := sinktest.Open(t, driver)
			h := s.Handle()
			d := h.Dialect.Name()
			if _, err := s.Load(ctx, sink.RecordsOnly(questionRecords()...)); err != nil {
				t.Fatal(err)
			}
			analyze(t, ctx, h.DB, d)
			for _, q := range examples.Queries {
				text := q.For(d)
				rows, err := h.DB.QueryContext(ctx, strings.TrimSuffix(text, ";"))
				if err != nil {
					t.Errorf("%s fails: %v\n%s", q.Name, err, text)
					continue
				}
				n := 0
				for rows.Next() {
					n++
				}
				rows.Close()
				if q.Doc == examples.Readme && n == 0 && q.Name != "readme_inbox_rule_forward" {
					t.Errorf("%s (%s) found nothing", q.Name, q.Question)
				}
				if len(q.Indexed(d)) == 0 || d == "sqlserver" {
					continue // SQL Server's plans are XML (SET SHOWPLAN_XML): not read here
				}
				plan, used, err := examples.Explain(ctx, h.DB, d, text)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: %d rows, indexes %v", q.Name, n, used)
				if !examples.Serves(used, q.Indexed(d)) {
					t.Errorf("%s: EXPLAIN shows none of %v (used %v):\n%s", q.Name, q.Indexed(d), used, plan)
				}
			}
		})
	}
}

func analyze(t *testing.T, ctx context.Context, db *sql.DB, d string) {
	t.Helper()
	stmts := map[string][]string{
		"postgres": {"ANALYZE audit_record", "ANALYZE audit_property"},
		"mysql":    {"ANALYZE TABLE audit_record", "ANALYZE TABLE audit_property"},
		"sqlite":   {"ANALYZE"},
	}[d]
	for _, q := range stmts {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		rows.Close()
	}
}

var update = flag.Bool("update", false, "rewrite testdata/sqlserver.sql")

// TestSQLServerGolden pins every query's SQL Server (SSMS) text, the one dialect no
// server here runs: a change shows up as a diff to review (go test -update).
func TestSQLServerGolden(t *testing.T) {
	var b strings.Builder
	for _, q := range examples.Queries {
		fmt.Fprintf(&b, "-- %s: %s\n%s\n\n", q.Name, q.Question, q.For("sqlserver"))
	}
	path := filepath.Join("testdata", "sqlserver.sql")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != b.String() {
		t.Errorf("%s differs from the queries' SQL Server texts (review, then go test -update):\n%s", path, b.String())
	}
}
