package detect_test

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/internal/corpus"
	"github.com/o365ingest/o365ingest/migrations"
	"github.com/o365ingest/o365ingest/schema"
)

// corpusRecords returns the real records of ../shared/corpus/records (skipping the test
// when the corpus is absent, unless CI is set).
func corpusRecords(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(corpus.Dir(t), "records", "*.jsonl"))
	if len(files) == 0 {
		t.Fatal("no corpus record files")
	}
	var out []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "{") {
				out = append(out, l)
			}
		}
		fh.Close()
	}
	return out
}

// viewData is the corpus plus the rule cases (each its own tenant and id prefix), so
// every view has rows of every shape.
func viewData(t *testing.T) []schema.Record {
	var recs []schema.Record
	seen := map[string]bool{}
	addRaw := func(raw string) {
		r, err := normalizeForTenant(raw)
		if err != nil || seen[r.ID] {
			return // quarantined or a duplicate id: the corpus has both on purpose
		}
		seen[r.ID] = true
		recs = append(recs, r)
	}
	for _, raw := range corpusRecords(t) {
		addRaw(raw)
	}
	for i, c := range ruleCases() {
		for _, r := range c.records {
			addRaw(strings.Replace(r, `"Id":"`, fmt.Sprintf(`"OrganizationId":"tenant-%02d","Id":"v%02d-`, i, i), 1))
		}
	}
	return recs
}

// cell renders a value the same way whatever the driver returned.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return cell(string(x))
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.000000")
	case string:
		if t, err := time.Parse("2006-01-02 15:04:05.999999", x); err == nil && len(x) >= 19 && x[4] == '-' && x[10] == ' ' {
			return t.Format("2006-01-02 15:04:05.000000")
		}
		return x
	}
	return fmt.Sprint(v)
}

// TestViewsSameOnEveryDatabase checks that every view exists with the columns of
// schema.Views on each database and returns the same rows for the same data.
func TestViewsSameOnEveryDatabase(t *testing.T) {
	recs := viewData(t)
	results := map[string]map[string][]string{} // dialect → view → rows
	drivers := detecttest.Drivers(t)
	for _, d := range drivers {
		t.Run(d, func(t *testing.T) {
			db := detecttest.Open(t, d)
			detecttest.Load(t, db, d, recs)
			results[d] = map[string][]string{}
			for _, v := range schema.Views {
				rows, err := db.QueryContext(context.Background(), "SELECT * FROM "+v.Name+" ORDER BY record_id")
				if err != nil {
					t.Fatalf("%s: %v", v.Name, err)
				}
				cols, _ := rows.Columns()
				if !slices.Equal(cols, v.Columns) {
					t.Errorf("%s columns %v, want %v", v.Name, cols, v.Columns)
				}
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				for rows.Next() {
					if err := rows.Scan(ptrs...); err != nil {
						t.Fatal(err)
					}
					cells := make([]string, len(vals))
					for i, x := range vals {
						cells[i] = cell(x)
					}
					results[d][v.Name] = append(results[d][v.Name], strings.Join(cells, " | "))
				}
				rows.Close()
				if len(results[d][v.Name]) == 0 {
					t.Errorf("%s returned no rows", v.Name)
				}
			}
		})
	}
	for _, d := range drivers[1:] {
		for _, v := range schema.Views {
			want, got := results["sqlite"][v.Name], results[d][v.Name]
			if len(want) != len(got) {
				t.Errorf("%s: %s has %d rows, sqlite %d", v.Name, d, len(got), len(want))
				continue
			}
			for i := range want {
				if want[i] != got[i] {
					t.Errorf("%s row %d differs:\n%s: %s\nsqlite: %s", v.Name, i, d, got[i], want[i])
					break
				}
			}
		}
	}
	t.Logf("rows per view on sqlite: %v", func() map[string]int {
		m := map[string]int{}
		for v, rows := range results["sqlite"] {
			m[v] = len(rows)
		}
		return m
	}())
}

// TestViewsSQLIsOneDefinition checks that the four 00002_views.sql files are the same
// SQL apart from identifier quoting and each dialect's CREATE form, so the SQL Server
// file (which cannot run here) is the SQL the other databases ran.
func TestViewsSQLIsOneDefinition(t *testing.T) {
	canon := func(d string) string {
		fsys, err := migrations.FS(d)
		if err != nil {
			t.Fatal(err)
		}
		b, err := fs.ReadFile(fsys, "00002_views.sql")
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		s = s[strings.Index(s, "-- +goose Up"):]
		s = regexp.MustCompile("\\[([a-z_]+)\\]").ReplaceAllString(s, `"$1"`)
		s = regexp.MustCompile("`([a-z_]+)`").ReplaceAllString(s, `"$1"`)
		for _, f := range []string{"CREATE OR ALTER VIEW", "CREATE OR REPLACE VIEW", "CREATE VIEW IF NOT EXISTS"} {
			s = strings.ReplaceAll(s, f, "CREATE VIEW")
		}
		s = strings.ReplaceAll(s, "-- +goose StatementBegin\n", "")
		s = strings.ReplaceAll(s, "-- +goose StatementEnd\n", "")
		return strings.TrimSpace(s)
	}
	want := canon("sqlite")
	for _, v := range schema.Views {
		if !strings.Contains(want, "CREATE VIEW "+v.Name+" AS") {
			t.Errorf("sqlite 00002_views.sql does not create %s", v.Name)
		}
	}
	for _, d := range []string{"postgres", "mysql", "sqlserver"} {
		if got := canon(d); got != want {
			t.Errorf("%s/00002_views.sql is not the same SQL as sqlite's", d)
		}
	}
}
