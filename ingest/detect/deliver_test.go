package detect_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/schema"
)

// receiver is a local webhook endpoint that records what it is sent and can be told
// to fail.
type receiver struct {
	mu     sync.Mutex
	bodies map[string][]string // by path
	fail   bool
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if rv.fail {
		http.Error(w, "receiver down", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want JSON", http.StatusUnsupportedMediaType)
		return
	}
	rv.bodies[r.URL.Path] = append(rv.bodies[r.URL.Path], string(b))
}

func (rv *receiver) count(path string) int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return len(rv.bodies[path])
}

func attackRecords() []string {
	return []string{
		exo("atk-rule", day, megan, "203.0.113.66:50412", "New-InboxRule", "Name", "..", "ForwardTo", "collect@exfil-mail.example", "DeleteMessage", "True"),
		exo("atk-mbx", day.Add(3*60e9), megan, "203.0.113.66:50433", "Set-Mailbox", "Identity", "megan.bowen", "ForwardingSmtpAddress", "smtp:collect@exfil-mail.example", "DeliverToMailboxAndForward", "False"),
	}
}

// TestStoreAndDeliverOnce stores alerts twice and delivers them over two runs to a JSON,
// a Teams and a Slack webhook: each alert reaches each webhook exactly once, and an
// alert whose delivery failed is sent on the next run.
func TestStoreAndDeliverOnce(t *testing.T) {
	for _, d := range detecttest.Drivers(t) {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			db := detecttest.Open(t, d)
			var recs []schema.Record
			for _, raw := range attackRecords() {
				recs = append(recs, detecttest.Record(t, raw))
			}
			detecttest.Load(t, db, d, recs)
			rv := &receiver{bodies: map[string][]string{}}
			srv := httptest.NewServer(rv)
			defer srv.Close()
			cfg := detect.Config{Webhooks: []detect.Webhook{
				{URL: srv.URL + "/json"},
				{Name: "teams", URL: srv.URL + "/teams", Format: "teams"},
				{Name: "slack", URL: srv.URL + "/slack", Format: "slack"},
				{Name: "high-only", URL: srv.URL + "/high", MinSeverity: "high"},
			}}

			alerts, err := detect.Evaluate(ctx, detecttest.Handle(db, d), from, to, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(alerts) != 2 {
				t.Fatalf("%d alerts, want 2: %v", len(alerts), alertKeys(alerts))
			}
			stored, err := detect.Store(ctx, detecttest.Handle(db, d), alerts)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != 2 {
				t.Fatalf("first Store stored %d, want 2", len(stored))
			}
			again, _ := detect.Evaluate(ctx, detecttest.Handle(db, d), from, to, cfg)
			if stored, err = detect.Store(ctx, detecttest.Handle(db, d), again); err != nil || len(stored) != 0 {
				t.Fatalf("re-evaluating and storing again stored %d (err %v), want 0", len(stored), err)
			}

			sent, failed, err := detect.Deliver(ctx, detecttest.Handle(db, d), cfg, srv.Client())
			if err != nil || sent != 8 || failed != 0 {
				t.Fatalf("first Deliver: sent %d failed %d err %v, want 8 0 nil", sent, failed, err)
			}
			sent, failed, err = detect.Deliver(ctx, detecttest.Handle(db, d), cfg, srv.Client())
			if err != nil || sent != 0 || failed != 0 {
				t.Fatalf("second Deliver: sent %d failed %d err %v, want nothing", sent, failed, err)
			}
			for _, p := range []string{"/json", "/teams", "/slack", "/high"} {
				if n := rv.count(p); n != 2 {
					t.Errorf("%s received %d alerts over two runs, want 2", p, n)
				}
			}

			// A new alert while the receiver is down: failed, then sent once on the next run.
			extra := detecttest.Record(t, exo("atk-tr", day.Add(5*60e9), megan, "203.0.113.66", "New-TransportRule", "Name", "j", "BlindCopyTo", "x@evil.example"))
			detecttest.Load(t, db, d, []schema.Record{extra})
			alerts, _ = detect.Evaluate(ctx, detecttest.Handle(db, d), from, to, cfg)
			if stored, err = detect.Store(ctx, detecttest.Handle(db, d), alerts); err != nil || len(stored) != 1 {
				t.Fatalf("storing the third alert: %d stored, err %v", len(stored), err)
			}
			rv.mu.Lock()
			rv.fail = true
			rv.mu.Unlock()
			sent, failed, err = detect.Deliver(ctx, detecttest.Handle(db, d), cfg, srv.Client())
			if err != nil || sent != 0 || failed != 4 {
				t.Fatalf("Deliver to a failing receiver: sent %d failed %d err %v, want 0 4 nil", sent, failed, err)
			}
			var status, lastErr string
			if err := db.QueryRow(detecttest.Handle(db, d).Dialect.Rebind(`SELECT status, last_error FROM alert_delivery WHERE webhook = ? AND alert_id = ?`), "teams", stored[0].ID).Scan(&status, &lastErr); err != nil {
				t.Fatal(err)
			}
			if status != "failed" || !strings.Contains(lastErr, "503") {
				t.Errorf("delivery row %q %q, want failed with the 503", status, lastErr)
			}
			rv.mu.Lock()
			rv.fail = false
			rv.mu.Unlock()
			sent, failed, err = detect.Deliver(ctx, detecttest.Handle(db, d), cfg, srv.Client())
			if err != nil || sent != 4 || failed != 0 {
				t.Fatalf("Deliver after recovery: sent %d failed %d err %v, want 4 0 nil", sent, failed, err)
			}
			for _, p := range []string{"/json", "/teams", "/slack", "/high"} {
				if n := rv.count(p); n != 3 {
					t.Errorf("%s received %d alerts in all, want 3", p, n)
				}
			}

			// The JSON form carries the fields integrations rely on.
			var got map[string]any
			if err := json.Unmarshal([]byte(rv.bodies["/json"][0]), &got); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"rule", "user_id", "record_id", "creation_time", "client_ip", "summary", "evidence", "remediation"} {
				if _, ok := got[k]; !ok {
					t.Errorf("JSON payload lacks %q: %v", k, got)
				}
			}
			if !strings.Contains(rv.bodies["/teams"][0], "application/vnd.microsoft.card.adaptive") || !strings.Contains(rv.bodies["/slack"][0], `"blocks"`) {
				t.Errorf("Teams or Slack payload is not in its format:\n%s\n%s", rv.bodies["/teams"][0], rv.bodies["/slack"][0])
			}
			listed, err := detect.List(ctx, detecttest.Handle(db, d), from, to)
			if err != nil || len(listed) != 3 || listed[0].DetectedAt.IsZero() || listed[0].Evidence["mailbox"] == "" {
				t.Errorf("List: %d alerts, err %v, first %+v", len(listed), err, listed)
			}
		})
	}
}
