package sink_test

import (
	"database/sql"
	"fmt"
	"sync"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// TestConcurrentOverlappingLoads: loaders racing on overlapping ids store each record
// and its properties once, and their Inserted counts add up to the distinct records
// (PostgreSQL's direct COPY falls back to staging, MySQL to one by one, when they lose).
func TestConcurrentOverlappingLoads(t *testing.T) {
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			s := sinktest.Open(t, driver)
			const loaders, rounds, perBatch = 4, 10, 200
			rec := func(n int) schema.Record {
				r := sinktest.Record(fmt.Sprintf("race-%05d", n), nil)
				r.Props = []schema.Property{{List: "Parameters", Ordinal: 0, Name: "N", Value: sql.NullString{String: fmt.Sprint(n), Valid: true}},
					{List: "Parameters", Ordinal: 1, Name: "M", Value: sql.NullString{String: "x", Valid: true}}}
				return r
			}
			var mu sync.Mutex
			inserted := 0
			var wg sync.WaitGroup
			errs := make(chan error, loaders*rounds)
			for l := range loaders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for round := range rounds {
						// Each batch shares half its ids with the next loader's batch.
						first := round*perBatch + l*perBatch/2
						bl := sink.Blob{Entry: schema.Blob{TenantID: "tenant-1", ContentType: "Audit.General", ContentID: fmt.Sprintf("race-%d-%d", l, round), Status: schema.BlobLoaded}}
						for n := first; n < first+perBatch; n++ {
							bl.Records = append(bl.Records, rec(n))
						}
						res, err := s.Load(ctxT(t), sink.Batch{Blobs: []sink.Blob{bl}})
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						inserted += res.Inserted
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			distinct := count(t, s, "audit_record")
			if inserted != distinct {
				t.Errorf("Inserted adds up to %d, the table holds %d records", inserted, distinct)
			}
			if want := (rounds-1)*perBatch + (loaders-1)*perBatch/2 + perBatch; distinct != want {
				t.Errorf("%d records stored, want %d", distinct, want)
			}
			if props := count(t, s, "audit_property"); props != 2*distinct {
				t.Errorf("%d properties stored for %d records, want %d", props, distinct, 2*distinct)
			}
		})
	}
}
