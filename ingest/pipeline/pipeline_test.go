package pipeline_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// testLogger sends logs to t.Log, so failures show what the pipeline did.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// harness is an emulator on an httptest server plus a pipeline pointed at it.
type harness struct {
	t    *testing.T
	emu  *emulator.Server
	src  pipeline.Source
	sink sink.Sink
	log  *slog.Logger
}

func newHarness(t *testing.T, s sink.Sink, opts emulator.Options) *harness {
	t.Helper()
	if opts.RecordsPerDay == 0 {
		opts.RecordsPerDay = 300
	}
	// Fewer, larger blobs and no quota keep the test about correctness, not waiting.
	opts.BlobInterval = 2 * time.Hour
	opts.RateLimit = -1
	emu, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	log := testLogger(t)
	c, err := api.New(api.Config{TenantID: emu.TenantID(), ClientID: emu.ClientID(), ClientSecret: emu.ClientSecret(),
		APIURL: srv.URL, LoginURL: srv.URL, Logger: log, BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		RetryAfterMax: 20 * time.Millisecond, MaxRetries: 20, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, emu: emu, src: pipeline.APISource{Client: c}, sink: s, log: log}
}

func (h *harness) run(ctx context.Context) pipeline.Summary {
	h.t.Helper()
	sum, err := pipeline.Run(ctx, pipeline.Options{
		Tenants:            []pipeline.Tenant{{Name: "contoso", TenantID: h.emu.TenantID(), ContentTypes: emulator.ContentTypes, Source: h.src}},
		Sink:               h.sink,
		Logger:             h.log,
		StartSubscriptions: true,
		Concurrency:        4,
		BatchRecords:       500,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return sum
}

// assertTruth checks that the stored ids are exactly the emulator's truth, each once.
func (h *harness) assertTruth() {
	h.t.Helper()
	var want []string
	for _, r := range h.emu.Truth() {
		want = append(want, r.ID)
	}
	sort.Strings(want)
	got := sinktest.StoredIDs(h.t, h.sink.Handle().DB)
	if len(got) != len(want) {
		h.t.Fatalf("stored %d records, the API published %d distinct ids", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			h.t.Fatalf("stored ids differ from the truth at %d: %s vs %s", i, got[i], want[i])
		}
	}
}

func TestPipeline(t *testing.T) {
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			t.Run("a backfill loads exactly the published records, and a second pass after late publication loads only the new ones", func(t *testing.T) {
				h := newHarness(t, sinktest.Open(t, driver), emulator.Options{Seed: 7, DuplicateRate: 0.05})
				ctx := context.Background()
				first := h.run(ctx)
				if first.Missing() || first.BlobsLoaded == 0 {
					t.Fatalf("first pass: %+v", first)
				}
				h.assertTruth()

				again := h.run(ctx)
				if again.BlobsLoaded != 0 || again.RecordsLoaded != 0 || again.BlobsSkipped != again.BlobsListed {
					t.Fatalf("a pass with nothing new loaded something: %+v", again)
				}

				before := len(h.emu.Truth())
				h.emu.Publish(400, 0.3)
				third := h.run(ctx)
				if third.RecordsLoaded != len(h.emu.Truth())-before {
					t.Fatalf("after publishing, loaded %d records; %d were new", third.RecordsLoaded, len(h.emu.Truth())-before)
				}
				h.assertTruth()
			})
			t.Run("throttling, server errors, truncated bodies and duplicates lose and double nothing", func(t *testing.T) {
				h := newHarness(t, sinktest.Open(t, driver), emulator.Options{Seed: 11, ThrottleRate: 0.1, RetryAfter: true,
					ErrorRate: 0.05, TruncateRate: 0.05, DuplicateRate: 0.1, LateRate: 0.1, TokenLifetime: 2 * time.Second})
				sum := h.run(context.Background())
				if sum.Missing() {
					t.Fatalf("pass reports missing data: %+v", sum)
				}
				h.emu.Publish(300, 0.5)
				if sum := h.run(context.Background()); sum.Missing() {
					t.Fatalf("second pass reports missing data: %+v", sum)
				}
				h.assertTruth()
			})
			t.Run("a pass cancelled half-way commits nothing half-done and the next pass completes the load", func(t *testing.T) {
				h := newHarness(t, sinktest.Open(t, driver), emulator.Options{Seed: 13, Latency: 2 * time.Millisecond})
				ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
				sum := h.run(ctx)
				cancel()
				if !sum.Interrupted {
					t.Logf("the pass finished before the deadline: %+v", sum)
				}
				h.run(context.Background())
				h.assertTruth()
			})
			t.Run("expired blobs are recorded in the ledger and reported as missing", func(t *testing.T) {
				h := newHarness(t, sinktest.Open(t, driver), emulator.Options{Seed: 17, ExpireRate: 0.1})
				sum := h.run(context.Background())
				if sum.BlobsExpired == 0 || !sum.Missing() || sum.Outcome() != "incomplete" {
					t.Fatalf("expired blobs not reported: %+v", sum)
				}
				var n int
				if err := h.sink.Handle().DB.QueryRow(`SELECT COUNT(*) FROM content_blob WHERE status = 'expired'`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != sum.BlobsExpired || n != len(h.emu.Expired()) {
					t.Fatalf("ledger has %d expired blobs, the pass counted %d, the emulator expired %d", n, sum.BlobsExpired, len(h.emu.Expired()))
				}
			})
		})
	}
}

// refusingSink refuses, like a database whose column cannot hold a value, every batch
// that holds the record with id refuse.
type refusingSink struct {
	sink.Sink
	refuse string
}

func (s refusingSink) Load(ctx context.Context, b sink.Batch) (sink.LoadResult, error) {
	for _, bl := range b.Blobs {
		for _, r := range bl.Records {
			if r.ID == s.refuse {
				return sink.LoadResult{}, &sink.ValueError{RecordID: r.ID, Table: "audit_record", Column: "user_id", Reason: "too long for this database"}
			}
		}
	}
	return s.Sink.Load(ctx, b)
}

func TestARecordTheDatabaseRefusesIsQuarantinedAndTheRestLoads(t *testing.T) {
	base := sinktest.Open(t, "sqlite")
	h := newHarness(t, base, emulator.Options{Seed: 23})
	refused := h.emu.Truth()[5].ID
	h.sink = refusingSink{Sink: base, refuse: refused}
	sum := h.run(context.Background())
	if sum.Missing() || sum.RecordsQuarantined != 1 {
		t.Fatalf("want the pass complete with one record quarantined: %+v", sum)
	}
	var reason string
	if err := base.Handle().DB.QueryRow(`SELECT reason FROM quarantine WHERE record_id = ?`, refused).Scan(&reason); err != nil {
		t.Fatalf("the refused record is not in quarantine: %v", err)
	}
	if !strings.Contains(reason, "user_id") {
		t.Fatalf("quarantine reason %q does not name the column", reason)
	}
	h.sink = base
	h.assertTruth()
}
