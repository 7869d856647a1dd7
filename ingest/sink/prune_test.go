package sink_test

import (
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// TestPrune: records (and their properties) created before the cutoff go, the rest and
// the ledger stay; on PostgreSQL the months wholly before the cutoff are dropped as
// partitions; a second prune finds nothing.
func TestPrune(t *testing.T) {
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			s := sinktest.Open(t, driver)
			times := []time.Time{
				time.Date(2024, 1, 15, 8, 0, 0, 0, time.UTC),
				time.Date(2024, 2, 10, 8, 0, 0, 0, time.UTC),
				time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), // at the cutoff: kept
				time.Date(2024, 3, 5, 8, 0, 0, 0, time.UTC),
				time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC),
			}
			var b sink.Blob
			b.Entry = schema.Blob{TenantID: "tenant-1", ContentType: "Audit.General", ContentID: "prune-blob", Status: schema.BlobLoaded}
			for i, ct := range times {
				for j := range 3 {
					r := sinktest.Record(fmt.Sprintf("prune-%d-%d", i, j), map[string]any{"creation_time": ct})
					r.Props = []schema.Property{{List: "Parameters", Name: "N", Value: sql.NullString{String: "v", Valid: true}}}
					b.Records = append(b.Records, r)
				}
			}
			if _, err := s.Load(ctxT(t), sink.Batch{Blobs: []sink.Blob{b}}); err != nil {
				t.Fatal(err)
			}
			p, ok := s.(sink.Pruner)
			if !ok {
				t.Fatalf("%T is not a Pruner", s)
			}
			cutoff := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
			plan, err := p.PrunePreview(ctxT(t), cutoff)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Records != 6 || count(t, s, "audit_record") != 15 {
				t.Errorf("preview counts %d records (and left %d), want 6 (and all 15 kept)", plan.Records, count(t, s, "audit_record"))
			}
			if driver == "postgres" && !slices.Equal(plan.Partitions, []string{"audit_record_p202401", "audit_record_p202402"}) {
				t.Errorf("preview names partitions %v, want January and February 2024", plan.Partitions)
			}
			res, err := p.Prune(ctxT(t), cutoff)
			if err != nil {
				t.Fatal(err)
			}
			if res.Records != 6 || res.Properties != 6 {
				t.Errorf("pruned %d records and %d properties, want 6 and 6", res.Records, res.Properties)
			}
			if got := count(t, s, "audit_record"); got != 9 {
				t.Errorf("%d records left, want 9", got)
			}
			if got := count(t, s, "audit_property"); got != 9 {
				t.Errorf("%d properties left, want 9", got)
			}
			if got := count(t, s, "content_blob"); got != 1 {
				t.Errorf("%d ledger rows, want the blob kept", got)
			}
			if driver == "postgres" && !slices.Equal(res.Partitions, []string{"audit_record_p202401", "audit_record_p202402"}) {
				t.Errorf("dropped partitions %v, want January and February 2024", res.Partitions)
			}
			again, err := p.Prune(ctxT(t), cutoff)
			if err != nil || again.Records != 0 || again.Properties != 0 || len(again.Partitions) != 0 {
				t.Errorf("a second prune: %+v, %v; want nothing", again, err)
			}
			// Loading a pruned month again works (PostgreSQL makes its partition anew).
			if _, err := s.Load(ctxT(t), sink.RecordsOnly(b.Records[:1]...)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSameIDOtherTime: an id already stored is a duplicate even with another creation
// time, also where the key is (id, creation_time) (partitioned PostgreSQL) and the two
// times fall in different month partitions.
func TestSameIDOtherTime(t *testing.T) {
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			s := sinktest.Open(t, driver)
			first := sinktest.Record("same-id", map[string]any{"creation_time": time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC)})
			again := sinktest.Record("same-id", map[string]any{"creation_time": time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC)})
			if _, err := s.Load(ctxT(t), sink.RecordsOnly(first)); err != nil {
				t.Fatal(err)
			}
			res, err := s.Load(ctxT(t), sink.RecordsOnly(again))
			if err != nil {
				t.Fatal(err)
			}
			if res.Inserted != 0 || res.Duplicates != 1 || count(t, s, "audit_record") != 1 {
				t.Errorf("second load %+v, %d rows; want it counted a duplicate and one row", res, count(t, s, "audit_record"))
			}
		})
	}
}
