package detect_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
)

// TestReadmeQueries runs every SQL example of README.md on each database, on the corpus
// and the rule cases, and checks the first (forwarding inbox rules) finds rows.
func TestReadmeQueries(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var queries []string
	for _, m := range regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		queries = append(queries, strings.TrimSuffix(strings.TrimSpace(m[1]), ";"))
	}
	if len(queries) < 6 {
		t.Fatalf("found %d SQL examples in README.md", len(queries))
	}
	recs := viewData(t)
	for _, d := range detecttest.Drivers(t) {
		t.Run(d, func(t *testing.T) {
			db := detecttest.Open(t, d)
			detecttest.Load(t, db, d, recs)
			for i, q := range queries {
				rows, err := db.QueryContext(context.Background(), q)
				if err != nil {
					t.Errorf("example %d fails on %s: %v\n%s", i+1, d, err, q)
					continue
				}
				n := 0
				for rows.Next() {
					n++
				}
				rows.Close()
				if i == 0 && n == 0 {
					t.Errorf("example 1 (forwarding rules) found nothing on %s", d)
				}
			}
		})
	}
}
