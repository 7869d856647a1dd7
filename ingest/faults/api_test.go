package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// apiScenario is one kind of API misbehaviour. The first pass runs with the faults on;
// when complete is set it must load everything, else it must report missing data that
// the ledger accounts for. Then the faults stop (and, when publish is set, late and new
// records appear) and a second pass must leave nothing missing but expired blobs.
type apiScenario struct {
	name     string
	emu      emulator.Options
	faults   func() []fault
	complete bool
	// expired is set when the faults make blobs expire for good.
	expired bool
	publish bool
	check   func(t *testing.T, e *env)
}

func apiScenarios() []apiScenario {
	return []apiScenario{
		{name: "AF429 as 403 with Retry-After is retried until everything loads",
			emu: emulator.Options{ThrottleRate: 0.3, ThrottleStatus: 403, RetryAfter: true}, complete: true},
		{name: "AF429 as 403 without Retry-After is retried until everything loads",
			emu: emulator.Options{ThrottleRate: 0.3, ThrottleStatus: 403}, complete: true},
		{name: "AF429 as 429 with Retry-After is retried until everything loads",
			emu: emulator.Options{ThrottleRate: 0.3, ThrottleStatus: 429, RetryAfter: true}, complete: true},
		{name: "AF429 as 429 without Retry-After is retried until everything loads",
			emu: emulator.Options{ThrottleRate: 0.3, ThrottleStatus: 429}, complete: true},
		{name: "a throttling storm on every request for a while is ridden out",
			faults: func() []fault { return []fault{storm(20, 30, 429, "AF429")} }, complete: true},
		{name: "a throttling storm longer than the retries fails blobs, reported, and the next pass loads them",
			faults: func() []fault { return []fault{storm(40, 1000, 403, "AF429")} }},
		{name: "500 AF50000 errors and bursts of bare 503s are retried until everything loads",
			emu:    emulator.Options{ErrorRate: 0.1},
			faults: func() []fault { return []fault{burst(10, 8, 50, 503, "", "<html>Service Unavailable</html>")} }, complete: true},
		{name: "connection resets on every kind of request are retried until everything loads",
			faults: func() []fault { return []fault{resets(7, 3)} }, complete: true},
		{name: "responses cut mid-body, with and without a Content-Length, are fetched again",
			emu:    emulator.Options{TruncateRate: 0.2},
			faults: func() []fault { return []fault{cutEvery(5)} }, complete: true},
		{name: "a token endpoint that fails, resets and expires tokens every second is ridden out",
			emu:    emulator.Options{TokenLifetime: time.Second, Latency: time.Millisecond},
			faults: func() []fault { return []fault{tokenFailures()} }, complete: true},
		{name: "tokens revoked mid-run (401 on a token not yet expired) are renewed",
			faults: func() []fault { return []fault{revoke(9)} }, complete: true},
		{name: "NextPageUri pages that fail once each (500, reset, cut) are fetched again",
			faults: func() []fault { return []fault{pagesFailOnce()} }, complete: true},
		{name: "a NextPageUri page that keeps failing is reported and the next pass lists everything",
			faults: func() []fault { return []fault{pageFailsAlways(emulator.ContentTypes[1])} }},
		{name: "blobs that expire or vanish between listing and fetch are recorded as expired, nothing else is missing",
			faults: func() []fault { return []fault{expireBetween(6)} }, expired: true},
		{name: "late publication of old events is loaded by the next pass",
			emu: emulator.Options{LateRate: 0.5}, complete: true, publish: true},
		{name: "the same records in many blobs are stored once",
			emu:    emulator.Options{DuplicateRate: 0.2},
			faults: func() []fault { return []fault{sameRecordsEverywhere()} }, complete: true, publish: true,
			check: func(t *testing.T, e *env) {
				var dup int
				if err := e.sink.Handle().DB.QueryRow(`SELECT SUM(records_duplicate) FROM ingest_run`).Scan(&dup); err != nil {
					t.Fatal(err)
				}
				if dup == 0 {
					t.Fatal("no duplicate was counted: the fault did not repeat records")
				}
			}},
	}
}

func TestAPIFaults(t *testing.T) {
	for i, sc := range apiScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.emu.Seed = int64(100 + i)
			runAPIScenario(t, sinktest.Open(t, "sqlite"), sc)
		})
	}
}

func runAPIScenario(t *testing.T, s sink.Sink, sc apiScenario) {
	e := newEnv(t, s, sc.emu)
	if sc.faults != nil {
		e.proxy.set(sc.faults()...)
	}
	ctx := context.Background()
	first := e.run(ctx)
	missing := e.account(first)
	switch {
	case sc.complete && (missing > 0 || first.Missing()):
		t.Fatalf("the first pass should have ridden the faults out; %d missing: %+v", missing, first)
	case !sc.complete && !first.Missing():
		t.Fatalf("the faults should have made the first pass report missing data: %+v", first)
	case sc.expired && (first.BlobsExpired == 0 || first.BlobsFailed > 0 || len(first.Errors) > 0):
		t.Fatalf("want only expired blobs reported: %+v", first)
	}
	e.proxy.set()
	if sc.publish {
		e.emu.Publish(150, 0.6)
	}
	second := e.run(ctx)
	missing = e.account(second)
	if sc.expired {
		for id, st := range ledger(t, e.sink) {
			if st[0] == "expired" && !strings.Contains(st[1], "AF20051") && !strings.Contains(st[1], "AF20050") {
				t.Errorf("blob %s expired with reason %q, want the API's code", id, st[1])
			}
		}
		if second.BlobsExpired != 0 || second.BlobsLoaded != 0 {
			t.Fatalf("expired blobs are final: the second pass should have had nothing to do: %+v", second)
		}
		return
	}
	if missing > 0 || second.Missing() {
		t.Fatalf("the second pass, without faults, should have completed the load: %d missing: %+v", missing, second)
	}
	if sc.check != nil {
		sc.check(t, e)
	}
}

// storm answers AF429 to every API request numbered [from, from+n) (token requests pass).
func storm(from, n, status int, code string) fault {
	var mu sync.Mutex
	seen := 0
	return func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, _ int) bool {
		if kind == "token" || kind == "hook" {
			return false
		}
		mu.Lock()
		seen++
		k := seen
		mu.Unlock()
		if k < from || k >= from+n {
			return false
		}
		answer(w, status, code, "Too many requests. Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000", "")
		return true
	}
}

// burst answers status to API requests k with k%every in [from, from+n).
func burst(from, n, every, status int, code, msg string) fault {
	var mu sync.Mutex
	seen := 0
	return func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, _ int) bool {
		if kind == "token" || kind == "hook" {
			return false
		}
		mu.Lock()
		seen++
		k := seen % every
		mu.Unlock()
		if k < from || k >= from+n {
			return false
		}
		answer(w, status, code, msg, "")
		return true
	}
}

// resets drops every request numbered k with k%every == at, token requests included.
func resets(every, at int) fault {
	var mu sync.Mutex
	seen := 0
	return func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, _ int) bool {
		if kind == "hook" {
			return false
		}
		mu.Lock()
		seen++
		k := seen
		mu.Unlock()
		if k%every != at {
			return false
		}
		reset(w)
		return true
	}
}

// cutEvery cuts every n-th listing or blob answer short of its Content-Length.
func cutEvery(n int) fault {
	return func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, k int) bool {
		if (kind != "blob" && kind != "list" && kind != "page") || k%n != 0 {
			return false
		}
		cut(p, w, r)
		return true
	}
}

// tokenFailures makes the token endpoint answer 503, 500 AADSTS, reset, or a 200 that is
// not a token, in turn, on three of every four requests.
func tokenFailures() fault {
	return func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, k int) bool {
		if kind != "token" {
			return false
		}
		switch k % 8 {
		case 1:
			answer(w, 503, "", "Service Unavailable", "")
		case 2:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(500)
			w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"AADSTS90033: A transient error has occurred. Please try again."}`))
		case 3:
			reset(w)
		case 5:
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`<html>login maintenance</html>`))
		case 6:
			cut(p, w, r)
		default:
			return false
		}
		return true
	}
}

// revoke answers 401 to every n-th API request, as the service does for a token it no
// longer accepts before its expiry.
func revoke(n int) fault {
	return func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, k int) bool {
		if kind != "blob" && kind != "list" && kind != "page" || k%n != 0 {
			return false
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		answer(w, http.StatusUnauthorized, "", `{"Message":"Authorization has been denied for this request."}`, "")
		return true
	}
}

// pagesFailOnce fails the first request of every distinct NextPageUri page, in turn with
// a 500, a reset and a cut body.
func pagesFailOnce() fault {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, k int) bool {
		if kind != "page" {
			return false
		}
		mu.Lock()
		first := !seen[r.URL.RawQuery]
		seen[r.URL.RawQuery] = true
		n := len(seen)
		mu.Unlock()
		if !first {
			return false
		}
		switch n % 3 {
		case 0:
			answer(w, 500, "AF50000", "An internal server error occurred. Retry the request.", "")
		case 1:
			reset(w)
		default:
			cut(p, w, r)
		}
		return true
	}
}

// pageFailsAlways makes every NextPageUri page of one content type answer 500.
func pageFailsAlways(contentType string) fault {
	return func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, k int) bool {
		if kind != "page" || !strings.Contains(r.URL.RawQuery, "contentType="+contentType) {
			return false
		}
		answer(w, 500, "AF50000", "An internal server error occurred. Retry the request.", "")
		return true
	}
}

// expireBetween answers AF20051 (expired) or AF20050 (does not exist) for every n-th
// distinct blob: it was listed as valid, and is gone when fetched.
func expireBetween(n int) fault {
	var mu sync.Mutex
	gone := map[string]int{}
	return func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, k int) bool {
		if kind != "blob" {
			return false
		}
		id := blobID(r)
		mu.Lock()
		v, ok := gone[id]
		if !ok {
			v = 0
			if len(gone)%n == 0 {
				v = 1 + len(gone)/n%2
			}
			gone[id] = v
		}
		mu.Unlock()
		switch v {
		case 1:
			answer(w, 400, "AF20051", "Content requested with the key "+id+" has already expired. Content older than 7 days cannot be retrieved.", "")
		case 2:
			answer(w, 404, "AF20050", "The specified content ("+id+") does not exist.", "")
		default:
			return false
		}
		return true
	}
}

// sameRecordsEverywhere adds to every blob its own first record again and records of up
// to three blobs served before it.
func sameRecordsEverywhere() fault {
	var mu sync.Mutex
	var served []json.RawMessage
	rng := rand.New(rand.NewPCG(1, 2))
	return func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, k int) bool {
		if kind != "blob" {
			return false
		}
		rewrite(p, w, r, func(body []byte) []byte {
			var recs []json.RawMessage
			if json.Unmarshal(body, &recs) != nil || len(recs) == 0 {
				return body
			}
			mu.Lock()
			out := append(recs, recs[0])
			for range min(3, len(served)) {
				out = append(out, served[rng.IntN(len(served))])
			}
			served = append(served, recs...)
			mu.Unlock()
			b, _ := json.Marshal(out)
			return bytes.TrimSpace(b)
		})
		return true
	}
}
