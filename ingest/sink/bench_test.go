package sink_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// Benchmark sizes: 50k records handed over in batches of 5,000, the order of what the
// pipeline passes per Load.
const (
	benchRecords = 50_000
	benchBatch   = 5_000
)

// BenchmarkLoad loads the corpus, repeated with fresh ids to 50k records, into every
// sink and reports records/s; "replay" loads the same records again (all duplicates).
// Figures are printed, never asserted:
//
//	go test ./ingest/sink -run '^$' -bench BenchmarkLoad -benchtime 3x
func BenchmarkLoad(b *testing.B) {
	templates := benchTemplates(b)
	for _, driver := range sinktest.Drivers(b) {
		b.Run(driver, func(b *testing.B) {
			s := sinktest.Open(b, driver)
			ctx := context.Background()
			var last []sink.Batch
			round := 0 // the framework runs "new" more than once: ids must stay fresh
			b.Run("new", func(b *testing.B) {
				var total time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					round++
					batches := benchBatches(templates, fmt.Sprintf("n%d", round))
					b.StartTimer()
					start := time.Now()
					for _, bt := range batches {
						res, err := s.Load(ctx, bt)
						if err != nil {
							b.Fatal(err)
						}
						if res.Inserted != bt.Records() {
							b.Fatalf("inserted %d of %d", res.Inserted, bt.Records())
						}
					}
					total += time.Since(start)
					last = batches
				}
				b.ReportMetric(float64(benchRecords*b.N)/total.Seconds(), "records/s")
			})
			b.Run("replay", func(b *testing.B) {
				if last == nil {
					b.Skip("no records from the new run")
				}
				var total time.Duration
				for i := 0; i < b.N; i++ {
					start := time.Now()
					for _, bt := range last {
						res, err := s.Load(ctx, bt)
						if err != nil {
							b.Fatal(err)
						}
						if res.Inserted != 0 {
							b.Fatalf("replay inserted %d", res.Inserted)
						}
					}
					total += time.Since(start)
				}
				b.ReportMetric(float64(benchRecords*b.N)/total.Seconds(), "records/s")
			})
		})
	}
}

// benchTemplates normalizes the distinct records of the corpus once.
func benchTemplates(b *testing.B) []schema.Record {
	seen := map[string]bool{}
	var out []schema.Record
	for _, c := range sinktest.Corpus(b) {
		r, err := normalize.Record(c.Raw, normalize.Source{TenantID: "tenant-1", ContentType: "Audit.General", ContentID: "bench", IngestedAt: time.Now()})
		if err != nil || seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		out = append(out, r)
	}
	return out
}

// benchBatches makes benchRecords records from the templates, each with a new id (also
// in its raw text), in batches of benchBatch with one blob each.
func benchBatches(templates []schema.Record, run string) []sink.Batch {
	idAt := schema.AuditRecord.ColumnIndex("id")
	rawAt := schema.AuditRecord.ColumnIndex("raw")
	var batches []sink.Batch
	for n := 0; n < benchRecords; n++ {
		if n%benchBatch == 0 {
			id := fmt.Sprintf("bench-%s-%d", run, n/benchBatch)
			batches = append(batches, sink.Batch{Blobs: []sink.Blob{{Entry: schema.Blob{TenantID: "tenant-1", ContentType: "Audit.General", ContentID: id, Records: benchBatch, Status: schema.BlobLoaded}}}})
		}
		t := templates[n%len(templates)]
		id := fmt.Sprintf("%s-%07d-%s", run, n, t.ID)
		if len(id) > 128 {
			id = id[:128]
		}
		r := t
		r.ID = id
		r.Values = append([]any(nil), t.Values...)
		r.Values[idAt] = id
		r.Values[rawAt] = strings.ReplaceAll(t.Values[rawAt].(string), t.ID, id)
		bt := &batches[len(batches)-1].Blobs[0]
		bt.Records = append(bt.Records, r)
	}
	return batches
}
