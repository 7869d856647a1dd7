package pipeline_test

import (
	"context"
	"sync"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

type recorder struct {
	mu     sync.Mutex
	events []pipeline.Event
}

func (r *recorder) Observe(e pipeline.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func TestObserverSeesWhatTheSummarySays(t *testing.T) {
	h := newHarness(t, sinktest.Open(t, "sqlite"), emulator.Options{Seed: 21, ExpireRate: 0.1, DuplicateRate: 0.05})
	rec := &recorder{}
	sum, err := pipeline.Run(context.Background(), pipeline.Options{
		Tenants:            []pipeline.Tenant{{Name: "contoso", TenantID: h.emu.TenantID(), ContentTypes: emulator.ContentTypes, Source: h.src}},
		Sink:               h.sink,
		Logger:             h.log,
		StartSubscriptions: true,
		BatchRecords:       500,
		Observer:           pipeline.Observers{rec},
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.BlobsExpired == 0 || sum.BlobsLoaded == 0 {
		t.Fatalf("the emulator expired %d and served %d blobs; the test needs both", sum.BlobsExpired, sum.BlobsLoaded)
	}
	started, finished := map[string]int{}, map[string]int{}
	var blobs, inserted, dups, expired int
	for _, e := range rec.events {
		if e.Tenant != "contoso" || e.TenantID != h.emu.TenantID() || e.ContentType == "" || e.Time.IsZero() {
			t.Errorf("event without its unit or time: %+v", e)
		}
		switch e.Kind {
		case pipeline.UnitStarted:
			started[e.ContentType]++
		case pipeline.UnitFinished:
			finished[e.ContentType]++
			if e.Err != nil || e.Duration <= 0 {
				t.Errorf("%s finished with %v after %s; want success with a duration", e.ContentType, e.Err, e.Duration)
			}
		case pipeline.BlobsLoaded:
			blobs += e.Blobs
			inserted += e.Inserted
			dups += e.Duplicates
			if e.Newest.IsZero() {
				t.Errorf("a load without the newest contentCreated: %+v", e)
			}
		case pipeline.BlobExpired:
			expired++
			if e.ContentID == "" || e.Err == nil {
				t.Errorf("an expiry without its blob or cause: %+v", e)
			}
		case pipeline.BlobFailed:
			t.Errorf("a blob failed: %v", e.Err)
		}
	}
	for _, ct := range emulator.ContentTypes {
		if started[ct] != 1 || finished[ct] != 1 {
			t.Errorf("%s: started %d and finished %d times, want once each", ct, started[ct], finished[ct])
		}
	}
	if blobs != sum.BlobsLoaded || inserted != sum.RecordsLoaded || dups != sum.RecordsDuplicate || expired != sum.BlobsExpired {
		t.Errorf("events: %d blobs, %d records, %d duplicates, %d expired; summary: %+v", blobs, inserted, dups, expired, sum)
	}
}
