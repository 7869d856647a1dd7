package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// TestOneFailingUnitNeverStopsTheOthers (issue 10 point 1, with every quirk of the
// real service on): DLP.All's missing permission fails that unit alone, reported with
// the permission; the start limit is waited out; foreign contentUris, bare 404s and
// paged blobs load; every other content type stores exactly its truth, twice over.
func TestOneFailingUnitNeverStopsTheOthers(t *testing.T) {
	q, err := emulator.ParseQuirks("all")
	if err != nil {
		t.Fatal(err)
	}
	emu, err := emulator.New(emulator.Options{Seed: 31, RecordsPerDay: 300, BlobInterval: 2 * time.Hour, RateLimit: -1,
		Quirks: q, DuplicateRate: 0.05, ThrottleRate: 0.05, RetryAfter: true, ErrorRate: 0.03})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()
	log := testLogger(t)
	c, err := api.New(api.Config{TenantID: emu.TenantID(), ClientID: emu.ClientID(), ClientSecret: emu.ClientSecret(),
		APIURL: srv.URL, LoginURL: srv.URL, Logger: log, BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		RetryAfterMax: 20 * time.Millisecond, MaxRetries: 20, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	s := sinktest.Open(t, "sqlite")
	run := func() pipeline.Summary {
		sum, err := pipeline.Run(context.Background(), pipeline.Options{
			Tenants: []pipeline.Tenant{{Name: "contoso", TenantID: emu.TenantID(), ContentTypes: emulator.ContentTypes,
				Source: pipeline.APISource{Client: c}}},
			Sink: s, Logger: log, StartSubscriptions: true, Concurrency: 4, BatchRecords: 500,
		})
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	check := func(sum pipeline.Summary) {
		t.Helper()
		if len(sum.Errors) != 1 || sum.UnitsOK != 4 || sum.BlobsFailed != 0 || sum.BlobsExpired != 0 || sum.Outcome() != "incomplete" {
			t.Fatalf("want only DLP.All failed: %+v", sum)
		}
		var ue *pipeline.UnitError
		if !errors.As(sum.Errors[0], &ue) || ue.ContentType != "DLP.All" || ue.Permission != "ActivityFeed.ReadDlp" ||
			!strings.Contains(ue.Error(), "missing permission ActivityFeed.ReadDlp") || ue.Throttled {
			t.Fatalf("unit error %v", sum.Errors[0])
		}
		var want []string
		for _, r := range emu.Truth() {
			if r.ContentType != "DLP.All" {
				want = append(want, r.ID)
			}
		}
		sort.Strings(want)
		got := sinktest.StoredIDs(t, s.Handle().DB)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("stored %d ids, the truth without DLP.All has %d", len(got), len(want))
		}
	}
	first := run()
	check(first)
	if first.BlobsLoaded == 0 {
		t.Fatalf("nothing loaded: %+v", first)
	}
	var msg string
	if err := s.Handle().DB.QueryRow(`SELECT message FROM ingest_run ORDER BY started_at DESC LIMIT 1`).Scan(&msg); err != nil ||
		!strings.Contains(msg, "contoso/DLP.All") || !strings.Contains(msg, "ActivityFeed.ReadDlp") {
		t.Fatalf("ingest_run.message %q (%v) does not name the unit and the permission", msg, err)
	}
	second := run()
	check(second)
	if second.BlobsLoaded != 0 || second.RecordsLoaded != 0 {
		t.Fatalf("the second pass loaded something: %+v", second)
	}
}

// TestStartLimitLongerThanThePassThrottlesTheUnit (point 3): a wait longer than the
// client sits out reports the unit throttled for this pass, and the others load.
func TestStartLimitLongerThanThePassThrottlesTheUnit(t *testing.T) {
	q, _ := emulator.ParseQuirks("start-throttle")
	emu, err := emulator.New(emulator.Options{Seed: 3, RecordsPerDay: 100, BlobInterval: 4 * time.Hour, RateLimit: -1, Quirks: q})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()
	log := testLogger(t)
	c, err := api.New(api.Config{TenantID: emu.TenantID(), ClientID: emu.ClientID(), ClientSecret: emu.ClientSecret(),
		APIURL: srv.URL, LoginURL: srv.URL, Logger: log, RateLimit: -1, StartWaitMax: time.Second}) // the emulator asks for 5 s
	if err != nil {
		t.Fatal(err)
	}
	src := pipeline.APISource{Client: c}
	// Audit.General is subscribed already, so only Audit.Exchange meets the limit.
	if err := c.StartSubscription(context.Background(), "Audit.General"); err == nil {
		t.Fatal("the emulator's first start was not throttled")
	}
	if err := c.StartSubscription(context.Background(), "Audit.General"); err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(context.Background(), pipeline.Options{
		Tenants: []pipeline.Tenant{{Name: "contoso", TenantID: emu.TenantID(), ContentTypes: []string{"Audit.General", "Audit.Exchange"}, Source: src}},
		Sink:    sinktest.Open(t, "sqlite"), Logger: log, StartSubscriptions: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var ue *pipeline.UnitError
	if len(sum.Errors) != 1 || !errors.As(sum.Errors[0], &ue) || ue.ContentType != "Audit.Exchange" || !ue.Throttled ||
		!strings.Contains(ue.Cause, "retry after 5s") || sum.UnitsOK != 1 || sum.BlobsLoaded == 0 {
		t.Fatalf("want Audit.Exchange throttled and Audit.General loaded: %+v (%v)", sum, sum.Errors)
	}
}

// notFoundSource lists two blobs, one whose contentExpiration is already past, and
// answers a bare 404 (no AF code) for both.
type notFoundSource struct{ now time.Time }

func (notFoundSource) EnsureSubscriptions(context.Context, []string) ([]string, error) {
	return nil, nil
}

func (s notFoundSource) ListRange(ctx context.Context, ct string, from, to time.Time) ([]api.ContentBlob, error) {
	return []api.ContentBlob{
		{ContentType: ct, ContentID: "past$1", ContentURI: "https://manage.office.com/x/past$1", Created: s.now.Add(-8 * 24 * time.Hour), Expiration: s.now.Add(-time.Hour)},
		{ContentType: ct, ContentID: "live$1", ContentURI: "https://manage.office.com/x/live$1", Created: s.now.Add(-time.Hour), Expiration: s.now.Add(6 * 24 * time.Hour)},
	}, nil
}

func (notFoundSource) Fetch(context.Context, api.ContentBlob, io.Writer, func(json.RawMessage, int) error) (api.BlobStats, error) {
	return api.BlobStats{}, &api.APIError{Status: 404, Message: "<html>Not Found</html>"}
}

// TestABare404IsNotExpiry (point 6): a bare 404 leaves a blob failed, fetched again next
// run; only a contentExpiration already past when the pass began makes it expired.
func TestABare404IsNotExpiry(t *testing.T) {
	now := time.Now().UTC()
	s := sinktest.Open(t, "sqlite")
	sum, err := pipeline.Run(context.Background(), pipeline.Options{
		Tenants: []pipeline.Tenant{{Name: "contoso", TenantID: "41463f53-8812-40f4-890f-865bf6e35190", ContentTypes: []string{"Audit.General"}, Source: notFoundSource{now}}},
		Sink:    s, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.BlobsFailed != 1 || sum.BlobsExpired != 1 {
		t.Fatalf("want one failed, one expired: %+v", sum)
	}
	for id, want := range map[string]string{"past$1": "expired", "live$1": "failed"} {
		var status string
		if err := s.Handle().DB.QueryRow(`SELECT status FROM content_blob WHERE content_id = ?`, id).Scan(&status); err != nil || status != want {
			t.Errorf("%s: ledger status %q (%v), want %s", id, status, err, want)
		}
	}
}
