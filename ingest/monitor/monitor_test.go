package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHealthFollowsEachUnitsLastPass(t *testing.T) {
	c := &clock{time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	m := New(15*time.Minute, c.now)
	m.Expect("contoso", "Audit.Exchange", "DLP.All")
	h := m.Handler()
	finish := func(ct string, err error) {
		m.Observe(pipeline.Event{Kind: pipeline.UnitFinished, Tenant: "contoso", ContentType: ct, Time: c.t, Err: err, Duration: 3 * time.Second})
	}

	if code, body := get(t, h, "/healthz"); code != 200 {
		t.Fatalf("while the first pass runs: %d %s", code, body)
	}
	finish("Audit.Exchange", nil)
	finish("DLP.All", errors.New("listing content: api: HTTP 403 AF10001: no permission"))
	code, body := get(t, h, "/healthz")
	var got Health
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if code != 503 || got.Status != "failing" || len(got.Failing) != 1 || got.Failing[0].ContentType != "DLP.All" || !strings.Contains(got.Failing[0].Cause, "AF10001") {
		t.Fatalf("a failed unit: %d %s", code, body)
	}
	c.t = c.t.Add(15 * time.Minute)
	finish("DLP.All", nil)
	finish("Audit.Exchange", nil)
	if code, body := get(t, h, "/healthz"); code != 200 {
		t.Fatalf("after recovery: %d %s", code, body)
	}
	// No pass for more than two intervals is unhealthy too.
	c.t = c.t.Add(31 * time.Minute)
	if code, body := get(t, h, "/healthz"); code != 503 || !strings.Contains(body, "no successful pass in two intervals") {
		t.Fatalf("two intervals without a pass: %d %s", code, body)
	}
}

func TestMetricsNamesAndLabels(t *testing.T) {
	c := &clock{time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	m := New(time.Minute, c.now)
	m.Expect("contoso", "Audit.General")
	m.Observe(pipeline.Event{Kind: pipeline.BlobsLoaded, Tenant: "contoso", ContentType: "Audit.General", Blobs: 2, Inserted: 10, Duplicates: 3, Quarantined: 1, Newest: c.t.Add(-90 * time.Minute)})
	m.Observe(pipeline.Event{Kind: pipeline.BlobExpired, Tenant: "contoso", ContentType: "Audit.General"})
	m.Observe(pipeline.Event{Kind: pipeline.UnitFinished, Tenant: "contoso", ContentType: "Audit.General", Time: c.t, Duration: 2 * time.Second})
	hook := m.OnResponse("contoso")
	hook(api.Response{Status: 200})
	hook(api.Response{Status: 403, Throttled: true})
	hook(api.Response{})
	_, body := get(t, m.Handler(), "/metrics")
	for _, want := range []string{
		`o365ingest_records_loaded_total{content_type="Audit.General",tenant="contoso"} 10`,
		`o365ingest_records_duplicates_total{content_type="Audit.General",tenant="contoso"} 3`,
		`o365ingest_records_quarantined_total{content_type="Audit.General",tenant="contoso"} 1`,
		`o365ingest_blobs_loaded_total{content_type="Audit.General",tenant="contoso"} 2`,
		`o365ingest_blobs_failed_total{content_type="Audit.General",tenant="contoso"} 0`,
		`o365ingest_blobs_expired_total{content_type="Audit.General",tenant="contoso"} 1`,
		`o365ingest_last_success_timestamp_seconds{content_type="Audit.General",tenant="contoso"} ` + strconv.FormatFloat(float64(c.t.Unix()), 'g', -1, 64),
		`o365ingest_lag_seconds{content_type="Audit.General",tenant="contoso"} 5400`,
		`o365ingest_pass_duration_seconds_count{content_type="Audit.General",tenant="contoso"} 1`,
		`o365ingest_passes_total{content_type="Audit.General",outcome="ok",tenant="contoso"} 1`,
		`o365ingest_api_requests_total{code="200",tenant="contoso"} 1`,
		`o365ingest_api_requests_total{code="403",tenant="contoso"} 1`,
		`o365ingest_api_requests_total{code="error",tenant="contoso"} 1`,
		`o365ingest_api_throttled_total{tenant="contoso"} 1`,
		`o365ingest_unit_healthy{content_type="Audit.General",tenant="contoso"} 1`,
		"go_goroutines ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

// webhook records the ingest events it receives.
type webhook struct {
	mu     sync.Mutex
	events []detect.IngestEvent
	fail   bool
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail {
		rw.WriteHeader(500)
		return
	}
	data, _ := io.ReadAll(r.Body)
	var e detect.IngestEvent
	json.Unmarshal(data, &e)
	w.events = append(w.events, e)
}

func (w *webhook) take() []detect.IngestEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.events
	w.events = nil
	return out
}

func TestIngestAlertsOncePerCauseAcrossRestarts(t *testing.T) {
	wh := &webhook{}
	srv := httptest.NewServer(wh)
	defer srv.Close()
	cfg := detect.Config{Webhooks: []detect.Webhook{{Name: "soc", URL: srv.URL}}}
	state := filepath.Join(t.TempDir(), "ingest-alerts.json")
	denied := &api.APIError{Status: 403, Code: "AF10001", Message: "The permission set (ActivityFeed.Read) sent in the request does not include the expected permission."}
	pass := func(ct string, err error, expired ...string) []detect.IngestEvent {
		t.Helper()
		a := NewAlerter(state, cfg, nil, nil) // a new process each time, as cron runs it
		for _, id := range expired {
			a.Observe(pipeline.Event{Kind: pipeline.BlobExpired, Tenant: "contoso", ContentType: ct, ContentID: id})
		}
		a.Observe(pipeline.Event{Kind: pipeline.UnitFinished, Tenant: "contoso", TenantID: "t-1", ContentType: ct, Err: err})
		if err := a.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		return wh.take()
	}
	t.Run("a missing permission is sent once, not on every pass", func(t *testing.T) {
		got := pass("DLP.All", denied)
		if len(got) != 1 || got[0].Event != "ingest" || got[0].Cause != detect.IngestPermissionMissing || got[0].Status != "open" || got[0].Tenant != "contoso" || !strings.Contains(got[0].Message, "AF10001") {
			t.Fatalf("first failing pass sent %+v", got)
		}
		if got := pass("DLP.All", denied); len(got) != 0 {
			t.Fatalf("second failing pass sent %+v", got)
		}
	})
	t.Run("when it clears a resolved event is sent, and a new failure is sent again", func(t *testing.T) {
		got := pass("DLP.All", nil)
		if len(got) != 1 || got[0].Status != "resolved" || got[0].Cause != detect.IngestPermissionMissing {
			t.Fatalf("recovered pass sent %+v", got)
		}
		if got := pass("DLP.All", nil); len(got) != 0 {
			t.Fatalf("healthy pass sent %+v", got)
		}
		got = pass("DLP.All", errors.New("listing content: database is locked"))
		if len(got) != 1 || got[0].Cause != detect.IngestUnitFailed {
			t.Fatalf("a new failure sent %+v", got)
		}
	})
	t.Run("an expired blob is sent once", func(t *testing.T) {
		got := pass("Audit.Exchange", nil, "blob-1", "blob-2")
		if len(got) != 1 || got[0].Cause != detect.IngestBlobExpired || len(got[0].Blobs) != 2 {
			t.Fatalf("expired blobs sent %+v", got)
		}
		got = pass("Audit.Exchange", nil, "blob-2", "blob-3")
		if len(got) != 1 || len(got[0].Blobs) != 1 || got[0].Blobs[0] != "blob-3" {
			t.Fatalf("one more expired blob sent %+v", got)
		}
	})
	t.Run("an event the webhook refused is sent after the next pass", func(t *testing.T) {
		wh.mu.Lock()
		wh.fail = true
		wh.mu.Unlock()
		pass("Audit.SharePoint", denied)
		wh.mu.Lock()
		wh.fail = false
		wh.mu.Unlock()
		if got := pass("Audit.SharePoint", denied); len(got) != 1 || got[0].Cause != detect.IngestPermissionMissing {
			t.Fatalf("retried event: %+v", got)
		}
	})
}

func TestLagIsSeededFromTheLedgerForExpectedUnitsOnly(t *testing.T) {
	c := &clock{time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	m := New(time.Minute, c.now)
	m.Expect("contoso", "Audit.Exchange")
	m.SeedNewest("contoso", "Audit.Exchange", c.t.Add(-3*time.Hour))
	m.SeedNewest("contoso", "Audit.Exchange", c.t.Add(-5*time.Hour)) // older: ignored
	m.SeedNewest("fabrikam", "Audit.General", c.t.Add(-time.Hour))   // not run here
	_, body := get(t, m.Handler(), "/metrics")
	if !strings.Contains(body, `o365ingest_lag_seconds{content_type="Audit.Exchange",tenant="contoso"} 10800`) || strings.Contains(body, "fabrikam") {
		t.Errorf("lag after seeding:\n%s", body)
	}
	if code, _ := get(t, m.Handler(), "/healthz"); code != 200 {
		t.Errorf("seeding made the health %d", code)
	}
}

func TestAUnitHeldByAnotherProcessIsNotUnhealthy(t *testing.T) {
	c := &clock{time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	m := New(time.Minute, c.now)
	m.Expect("contoso", "Audit.Exchange")
	c.t = c.t.Add(5 * time.Minute)
	m.Observe(pipeline.Event{Kind: pipeline.UnitHeld, Tenant: "contoso", ContentType: "Audit.Exchange", Time: c.t})
	if code, body := get(t, m.Handler(), "/healthz"); code != 200 {
		t.Errorf("held by another process: %d %s", code, body)
	}
	c.t = c.t.Add(3 * time.Minute) // and then not seen again for two intervals
	if code, body := get(t, m.Handler(), "/healthz"); code != 503 {
		t.Errorf("no pass and no lease seen for three minutes: %d %s", code, body)
	}
}
