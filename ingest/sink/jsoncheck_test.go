package sink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// TestJSONCheckedOnlyByItsProducer: a record built by hand with a raw that is not JSON is
// refused naming the raw column (the sink parses JSON columns itself), while a normalized
// record, whose JSON the normalizer parsed already (Record.JSONChecked), loads without a
// second parse.
func TestJSONCheckedOnlyByItsProducer(t *testing.T) {
	ctx := context.Background()
	s := sinktest.Open(t, "sqlite")

	bad := sinktest.Record("hand-built", map[string]any{"raw": `{"Id":"hand-built",`})
	_, err := s.Load(ctx, sink.RecordsOnly(bad))
	var ve *sink.ValueError
	if !errors.As(err, &ve) || ve.Column != "raw" {
		t.Fatalf("hand-built record with raw not JSON: %v, want a ValueError on raw", err)
	}

	rec, err := normalize.Record([]byte(`{"Id":"normalized","CreationTime":"2026-11-20T10:30:00","Operation":"x","ExtendedProperties":[{"Name":"a","Value":"b"}]}`),
		normalize.Source{TenantID: "tenant-1", ContentType: "Audit.General", ContentID: "c1", IngestedAt: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.JSONChecked {
		t.Fatal("normalize.Record did not set JSONChecked")
	}
	if _, err := s.Load(ctx, sink.RecordsOnly(rec)); err != nil {
		t.Fatalf("normalized record: %v", err)
	}
	if got := sinktest.StoredIDs(t, s.Handle().DB); len(got) != 1 || got[0] != "normalized" {
		t.Errorf("stored %v, want [normalized]", got)
	}
}
