package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/bench"
	"github.com/o365ingest/o365ingest/ingest/examples"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// TestRunOnEveryDatabase runs a tiny benchmark on every local database: every phase
// measures something, the second pass downloads nothing, and the benchmark's own
// database is gone afterwards.
func TestRunOnEveryDatabase(t *testing.T) {
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			dsn := sinktest.ServerDSN(driver)
			if dsn != "" {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				s, err := sink.Open(ctx, driver, dsn)
				cancel()
				if err != nil {
					sinktest.Unavailable(t, "%s: %v", driver, err)
				}
				s.Close()
			}
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			res, err := bench.Run(ctx, bench.Options{Driver: driver, DSN: dsn, Records: 2000, RecordsPerBlob: 100,
				Latency: 10 * time.Millisecond, RowSample: 50, NewConnSample: 5, Out: &out})
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			t.Log(out.String())
			if res.Pipeline.Records < 1900 || res.Limit.Records != res.Pipeline.Records || res.LatencyPhase.Records != res.Pipeline.Records {
				t.Errorf("records: pipeline %d, limit %d, with latency %d; want the same, about 2000",
					res.Pipeline.Records, res.Limit.Records, res.LatencyPhase.Records)
			}
			if res.Row.Records != 50 || res.RowConn.Records != 5 {
				t.Errorf("row at a time: %d and %d records, want 50 and 5", res.Row.Records, res.RowConn.Records)
			}
			if res.NothingNewDL != 0 {
				t.Errorf("the second pass downloaded %d blobs", res.NothingNewDL)
			}
			if res.Blobs < 10 || res.RawBytes == 0 {
				t.Errorf("%d blobs, %d bytes: want blobs of about 100 records", res.Blobs, res.RawBytes)
			}
			if !strings.HasPrefix(res.ResultLine(), "RESULT sink="+driver+" records=") {
				t.Errorf("result line %q", res.ResultLine())
			}
			if res.CPUPerRecord() <= 0 || res.AllocPerRecord() <= 0 ||
				!strings.Contains(res.ResultLine(), fmt.Sprintf(" cpu_us_per_record=%.1f alloc_kb_per_record=%.1f", res.CPUPerRecord(), res.AllocPerRecord())) {
				t.Errorf("CPU %.1f µs and %.1f KB a record, result line %q", res.CPUPerRecord(), res.AllocPerRecord(), res.ResultLine())
			}
			if driver == sink.DialectMySQL {
				names := map[string]bool{}
				for _, s := range res.Server {
					names[s.Name] = s.Value != ""
				}
				if !names["innodb_buffer_pool_size"] || !names["innodb_flush_log_at_trx_commit"] || !strings.Contains(out.String(), "server: innodb_buffer_pool_size=") {
					t.Errorf("server settings %v, output:\n%s", res.Server, out.String())
				}
			}
		})
	}
}

// TestQueriesOnEveryDatabase runs the --queries benchmark on a small load: every
// documented query runs without error, and the sizes add up to something.
func TestQueriesOnEveryDatabase(t *testing.T) {
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			dsn := sinktest.ServerDSN(driver)
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			res, err := bench.Run(ctx, bench.Options{Driver: driver, DSN: dsn, Records: 2000, RecordsPerBlob: 100, Queries: true, Out: &out})
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			t.Log(out.String())
			if len(res.Queries) != len(examples.Queries) {
				t.Fatalf("%d queries run, %d documented", len(res.Queries), len(examples.Queries))
			}
			for _, q := range res.Queries {
				if q.Err != nil {
					t.Errorf("%s: %v", q.Name, q.Err)
				}
			}
			if res.Sizes.Records < 1900 || res.Sizes.RecordTable == 0 || res.Sizes.RecordIndexes == 0 || res.Sizes.PropertyTable == 0 || res.Sizes.Raw == 0 {
				t.Errorf("sizes %+v", res.Sizes)
			}
			if !strings.Contains(out.String(), "bytes per record") {
				t.Errorf("no sizes line:\n%s", out.String())
			}
		})
	}
}

// TestQueriesThenAllPhases: --queries --all-phases times the queries on the pipeline's
// load and then measures the other phases as a plain run does.
func TestQueriesThenAllPhases(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := bench.Run(ctx, bench.Options{Driver: sink.DialectSQLite, DSN: filepath.Join(t.TempDir(), "b.db"),
		Records: 1000, RecordsPerBlob: 100, RowSample: 20, NewConnSample: 5, Queries: true, AllPhases: true, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(res.Queries) != len(examples.Queries) || res.Sizes.Records < 900 {
		t.Fatalf("%d queries, sizes %+v\n%s", len(res.Queries), res.Sizes, out.String())
	}
	if res.Limit.Records != res.Pipeline.Records || res.Row.Records != 20 || !strings.Contains(out.String(), "bulk-load limit") {
		t.Errorf("pipeline %d records, limit %d, row %d\n%s", res.Pipeline.Records, res.Limit.Records, res.Row.Records, out.String())
	}
}
