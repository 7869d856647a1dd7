package bench_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/bench"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// TestSchemaCostOnEveryDatabase runs --schema-cost on a small load: every variant loads
// every record into a database of its own, the variants that drop a part are smaller,
// and the SCHEMA_COST line carries both limits.
func TestSchemaCostOnEveryDatabase(t *testing.T) {
	for _, driver := range sinktest.Drivers(t) {
		if driver == "sqlserver" {
			continue
		}
		t.Run(driver, func(t *testing.T) {
			dsn := sinktest.ServerDSN(driver)
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			rs, err := bench.SchemaCost(ctx, bench.Options{Driver: driver, DSN: dsn, Records: 1000, RecordsPerBlob: 100, Out: &out})
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			t.Log(out.String())
			if len(rs) < 8 {
				t.Fatalf("%d variants", len(rs))
			}
			n := rs[0].Limit.Records
			byName := map[string]bench.CostResult{}
			for _, r := range rs {
				byName[r.Variant.Name] = r
				if r.Limit.Records != n || r.Limit.Duration <= 0 || r.Sizes.Records != int64(n) {
					t.Errorf("%s: %d records in %s, %d stored; want %d", r.Variant.Name, r.Limit.Records, r.Limit.Duration, r.Sizes.Records, n)
				}
			}
			if n < 900 {
				t.Errorf("%d records, want about 1000", n)
			}
			full := byName["full schema (current)"]
			if r, ok := byName["without property rows"]; !ok || r.Sizes.PropertyTable >= full.Sizes.PropertyTable && driver != "mysql" {
				t.Errorf("without property rows: %+v (full %+v)", r.Sizes, full.Sizes)
			}
			noIx, ok := byName["without any secondary index"]
			if !ok || (driver == "postgres" && noIx.Sizes.RecordIndexes >= full.Sizes.RecordIndexes) {
				t.Errorf("without any secondary index: %+v (full %+v)", noIx.Sizes, full.Sizes)
			}
			drops := 0
			for name := range byName {
				if strings.HasPrefix(name, "without ix_audit_record_") {
					drops++
				}
			}
			if drops < 10 {
				t.Errorf("%d index variants, want one per secondary index of audit_record", drops)
			}
			line := bench.CostLine(driver, rs)
			if !strings.HasPrefix(line, "SCHEMA_COST sink="+driver+" records=") || !strings.Contains(line, " limit_before_rps=") {
				t.Errorf("line %q", line)
			}
		})
	}
}
