// Package monitor turns the pipeline's events into Prometheus metrics and a health
// state, served by `run --interval D --listen ADDR` on /metrics and /healthz.
//
// Metrics (labels tenant = the config name, content_type):
//
//	o365ingest_records_loaded_total, o365ingest_records_duplicates_total,
//	o365ingest_records_quarantined_total
//	o365ingest_blobs_loaded_total, o365ingest_blobs_failed_total, o365ingest_blobs_expired_total
//	o365ingest_passes_total{outcome="ok|failed"}
//	o365ingest_last_success_timestamp_seconds   the end of the unit's last successful pass
//	o365ingest_lag_seconds                      now minus the newest contentCreated loaded
//	o365ingest_pass_duration_seconds            histogram of a unit's pass
//	o365ingest_unit_healthy                     1 while /healthz counts the unit healthy
//
// and per tenant: o365ingest_api_requests_total{code} (code "error" for no answer),
// o365ingest_api_throttled_total; plus the Go runtime and process collectors.
package monitor

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
)

const namespace = "o365ingest"

var unitLabels = []string{"tenant", "content_type"}

// Monitor is a pipeline.Observer that keeps the metrics and each unit's health. It is
// safe for concurrent use.
type Monitor struct {
	interval time.Duration
	now      func() time.Time
	started  time.Time
	reg      *prometheus.Registry

	recordsLoaded, recordsDuplicates, recordsQuarantined *prometheus.CounterVec
	blobsLoaded, blobsFailed, blobsExpired               *prometheus.CounterVec
	passes                                               *prometheus.CounterVec
	passDuration                                         *prometheus.HistogramVec
	apiRequests, apiThrottled                            *prometheus.CounterVec

	mu    sync.Mutex
	units map[unitKey]*unitState
}

type unitKey struct{ tenant, contentType string }

type unitState struct {
	finished    bool      // a pass of the unit has ended since the start
	lastPass    time.Time // the end of the last pass
	lastSuccess time.Time // the end of the last successful pass
	cause       string    // why the last pass failed, "" when it succeeded
	newest      time.Time // the newest contentCreated loaded since the start
	heldAt      time.Time // when a pass last found the unit loaded by another process
}

// New returns a Monitor for a service that runs a pass every interval. now is the
// clock (nil: time.Now).
func New(interval time.Duration, now func() time.Time) *Monitor {
	if now == nil {
		now = time.Now
	}
	m := &Monitor{interval: interval, now: now, started: now(), reg: prometheus.NewRegistry(), units: map[unitKey]*unitState{}}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	m.recordsLoaded = counter("records_loaded_total", "Records newly stored.", unitLabels)
	m.recordsDuplicates = counter("records_duplicates_total", "Records received again and skipped (already stored).", unitLabels)
	m.recordsQuarantined = counter("records_quarantined_total", "Records kept in the quarantine table with their reason.", unitLabels)
	m.blobsLoaded = counter("blobs_loaded_total", "Content blobs loaded.", unitLabels)
	m.blobsFailed = counter("blobs_failed_total", "Content blobs that could not be fetched or loaded (retried next pass).", unitLabels)
	m.blobsExpired = counter("blobs_expired_total", "Content blobs the API no longer served before they were loaded (data missing).", unitLabels)
	m.passes = counter("passes_total", "Passes of a tenant and content type, by outcome (ok or failed).", append(unitLabels[:2:2], "outcome"))
	m.apiRequests = counter("api_requests_total", "Answers of the Management Activity API by HTTP status code (\"error\": no answer).", []string{"tenant", "code"})
	m.apiThrottled = counter("api_throttled_total", "Requests the API throttled (AF429 or HTTP 429).", []string{"tenant"})
	m.passDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "pass_duration_seconds",
		Help:    "Duration of one pass of a tenant and content type.",
		Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200}}, unitLabels)
	m.reg.MustRegister(m.passDuration, (*stateCollector)(m),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Expect declares a unit the service runs, so its series exist (at zero) from the
// start and /healthz waits for its first pass.
func (m *Monitor) Expect(tenant string, contentTypes ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ct := range contentTypes {
		k := unitKey{tenant, ct}
		if _, ok := m.units[k]; !ok {
			m.units[k] = &unitState{}
		}
		for _, c := range []*prometheus.CounterVec{m.recordsLoaded, m.recordsDuplicates, m.recordsQuarantined, m.blobsLoaded, m.blobsFailed, m.blobsExpired} {
			c.WithLabelValues(tenant, ct)
		}
		m.passes.WithLabelValues(tenant, ct, "ok")
		m.passes.WithLabelValues(tenant, ct, "failed")
	}
	m.apiThrottled.WithLabelValues(tenant)
}

// SeedNewest sets the newest contentCreated loaded for a unit, from the ledger at
// the start, so the lag is known (and keeps growing while nothing new arrives) from
// the first scrape after a restart, not only after the next load.
// Units not declared with Expect are ignored (the ledger holds tenants and content
// types this service does not run).
func (m *Monitor) SeedNewest(tenant, contentType string, newest time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.units[unitKey{tenant, contentType}]; ok && newest.After(s.newest) {
		s.newest = newest
	}
}

// Observe implements pipeline.Observer.
func (m *Monitor) Observe(e pipeline.Event) {
	l := prometheus.Labels{"tenant": e.Tenant, "content_type": e.ContentType}
	switch e.Kind {
	case pipeline.BlobsLoaded:
		m.blobsLoaded.With(l).Add(float64(e.Blobs))
		m.recordsLoaded.With(l).Add(float64(e.Inserted))
		m.recordsDuplicates.With(l).Add(float64(e.Duplicates))
		m.recordsQuarantined.With(l).Add(float64(e.Quarantined))
		m.mu.Lock()
		if s := m.unit(e.Tenant, e.ContentType); e.Newest.After(s.newest) {
			s.newest = e.Newest
		}
		m.mu.Unlock()
	case pipeline.BlobFailed:
		m.blobsFailed.With(l).Inc()
	case pipeline.BlobExpired:
		m.blobsExpired.With(l).Inc()
	case pipeline.UnitHeld:
		m.mu.Lock()
		m.unit(e.Tenant, e.ContentType).heldAt = e.Time
		m.mu.Unlock()
	case pipeline.UnitFinished:
		outcome := "ok"
		if e.Err != nil {
			outcome = "failed"
		}
		m.passes.WithLabelValues(e.Tenant, e.ContentType, outcome).Inc()
		if e.Duration > 0 {
			m.passDuration.With(l).Observe(e.Duration.Seconds())
		}
		m.mu.Lock()
		s := m.unit(e.Tenant, e.ContentType)
		s.finished, s.lastPass, s.cause = true, e.Time, ""
		if e.Err != nil {
			s.cause = e.Err.Error()
		} else {
			s.lastSuccess = e.Time
		}
		m.mu.Unlock()
	}
}

// unit returns the state of a unit; m.mu is held.
func (m *Monitor) unit(tenant, contentType string) *unitState {
	k := unitKey{tenant, contentType}
	s, ok := m.units[k]
	if !ok {
		s = &unitState{}
		m.units[k] = s
	}
	return s
}

// OnResponse returns the api.Config.OnResponse hook of one tenant's client.
func (m *Monitor) OnResponse(tenant string) func(api.Response) {
	return func(r api.Response) {
		code := "error"
		if r.Status > 0 {
			code = strconv.Itoa(r.Status)
		}
		m.apiRequests.WithLabelValues(tenant, code).Inc()
		if r.Throttled {
			m.apiThrottled.WithLabelValues(tenant).Inc()
		}
	}
}

// UnitHealth is one unit in /healthz's answer.
type UnitHealth struct {
	Tenant      string     `json:"tenant"`
	ContentType string     `json:"content_type"`
	Healthy     bool       `json:"healthy"`
	Cause       string     `json:"cause,omitempty"`
	LastPass    *time.Time `json:"last_pass,omitempty"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
}

// Health is /healthz's answer: healthy while every unit's last pass succeeded and
// ended within two intervals (a unit whose first pass is still running counts as
// healthy for two intervals after the start, and so does a unit another process was
// found loading, within two intervals of that).
type Health struct {
	Status  string       `json:"status"` // ok or failing
	Failing []UnitHealth `json:"failing,omitempty"`
	Units   []UnitHealth `json:"units"`
}

// Health reports the health of every unit now.
func (m *Monitor) Health() Health {
	now := m.now()
	limit := 2 * m.interval
	m.mu.Lock()
	defer m.mu.Unlock()
	h := Health{Status: "ok", Units: []UnitHealth{}}
	for k, s := range m.units {
		u := UnitHealth{Tenant: k.tenant, ContentType: k.contentType, Healthy: true}
		if s.finished {
			lp := s.lastPass
			u.LastPass = &lp
		}
		if !s.lastSuccess.IsZero() {
			ls := s.lastSuccess
			u.LastSuccess = &ls
		}
		switch {
		case !s.heldAt.IsZero() && s.heldAt.After(s.lastPass) && now.Sub(s.heldAt) <= limit:
			// Another o365ingest process is loading it (its lease): that process
			// answers for it.
		case s.cause != "":
			u.Healthy, u.Cause = false, s.cause
		case !s.finished && now.Sub(m.started) > limit:
			u.Healthy, u.Cause = false, "no pass has finished since the start, "+now.Sub(m.started).Round(time.Second).String()+" ago (two intervals: "+limit.String()+")"
		case s.finished && now.Sub(s.lastSuccess) > limit:
			u.Healthy, u.Cause = false, "no successful pass in two intervals ("+limit.String()+"); the last ended "+now.Sub(s.lastSuccess).Round(time.Second).String()+" ago"
		}
		h.Units = append(h.Units, u)
		if !u.Healthy {
			h.Status = "failing"
			h.Failing = append(h.Failing, u)
		}
	}
	byUnit := func(us []UnitHealth) {
		sort.Slice(us, func(i, j int) bool {
			if us[i].Tenant != us[j].Tenant {
				return us[i].Tenant < us[j].Tenant
			}
			return us[i].ContentType < us[j].ContentType
		})
	}
	byUnit(h.Units)
	byUnit(h.Failing)
	return h
}

// Handler serves /metrics (the Prometheus text format) and /healthz (200 when
// healthy, else 503; the body is Health as JSON either way).
func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := m.Health()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(h)
	})
	return mux
}

// stateCollector reports the gauges computed at scrape time from the units' state.
type stateCollector Monitor

var (
	lastSuccessDesc = prometheus.NewDesc(namespace+"_last_success_timestamp_seconds",
		"Unix time of the end of the unit's last successful pass (absent before the first).", unitLabels, nil)
	lagDesc = prometheus.NewDesc(namespace+"_lag_seconds",
		"Now minus the newest contentCreated loaded (from the ledger at the start, then from each load; absent while none is known).", unitLabels, nil)
	healthyDesc = prometheus.NewDesc(namespace+"_unit_healthy",
		"1 while /healthz counts the unit healthy, else 0.", unitLabels, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lastSuccessDesc
	ch <- lagDesc
	ch <- healthyDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	m := (*Monitor)(c)
	h := m.Health()
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range h.Units {
		s := m.units[unitKey{u.Tenant, u.ContentType}]
		if !s.lastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, float64(s.lastSuccess.UnixMilli())/1000, u.Tenant, u.ContentType)
		}
		if !s.newest.IsZero() {
			ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, now.Sub(s.newest).Seconds(), u.Tenant, u.ContentType)
		}
		v := 0.0
		if u.Healthy {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(healthyDesc, prometheus.GaugeValue, v, u.Tenant, u.ContentType)
	}
}
