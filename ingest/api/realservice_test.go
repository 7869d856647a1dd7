package api_test

// Tests of what the real service does that the emulator did not (issue 10's
// numbered points, one test each; redirects are in origin_test.go).

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
)

// Point 2: listing windows are strictly under 24 hours, consecutive, without
// gap or overlap, and the oldest start lies inside the 7 days with a margin.
func TestListRangeWindowsStrictlyUnder24h(t *testing.T) {
	var mu sync.Mutex
	type win struct{ s, e time.Time }
	var wins []win
	srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s, _ := time.Parse("2006-01-02T15:04:05", q.Get("startTime"))
		e, _ := time.Parse("2006-01-02T15:04:05", q.Get("endTime"))
		if e.Sub(s) >= 24*time.Hour {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":"AF20055","message":"Start time and end time must both be specified (or both omitted) and must be less than or equal to 24 hours apart, with the start time prior to end time and start time no more than 7 days in the past."}}`)
			return
		}
		mu.Lock()
		wins = append(wins, win{s, e})
		mu.Unlock()
		io.WriteString(w, `[]`)
	})
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	c := client(t, srv.URL, func(c *api.Config) { c.Now = func() time.Time { return now } })
	if _, err := c.ListRange(context.Background(), "Audit.General", now.Add(-7*24*time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if len(wins) < 7 {
		t.Fatalf("%d windows", len(wins))
	}
	if oldest := now.Add(-7 * 24 * time.Hour); !wins[0].s.After(oldest) {
		t.Errorf("first start %s is not inside the 7 days (%s)", wins[0].s, oldest)
	}
	for i, w := range wins {
		if d := w.e.Sub(w.s); d <= 0 || d > 24*time.Hour-time.Minute {
			t.Errorf("window %d is %s long", i, d)
		}
		if i > 0 && !w.s.Equal(wins[i-1].e) {
			t.Errorf("window %d starts at %s, the previous ended at %s", i, w.s, wins[i-1].e)
		}
	}
	if !wins[len(wins)-1].e.Equal(now) {
		t.Errorf("last window ends at %s, want %s", wins[len(wins)-1].e, now)
	}
	if _, err := c.ListContent(context.Background(), "Audit.General", now.Add(-24*time.Hour), now); err == nil {
		t.Error("a 24 h window was sent")
	}
}

// Point 3: the start limit's 429 text gives the wait; a short one is waited
// out, a long one returned at once with RetryAfter set.
func TestStartThrottleWaitIsParsed(t *testing.T) {
	for _, tc := range []struct {
		body   string
		wait   time.Duration
		waited bool
	}{
		{`{"error":{"code":"AF429","message":"Too many frequent subscription start requests. Please retry again after 14m 56s"}}`, 14*time.Minute + 56*time.Second, false},
		{`Too many frequent subscription start requests. Please retry again after 0m 1s`, time.Second, true},
	} {
		var calls atomic.Int32
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				w.WriteHeader(429)
				io.WriteString(w, tc.body)
				return
			}
			io.WriteString(w, `{"contentType":"Audit.General","status":"enabled","webhook":null}`)
		})
		start := time.Now()
		err := client(t, srv.URL, nil).StartSubscription(context.Background(), "Audit.General")
		if tc.waited {
			if err != nil || calls.Load() != 2 || time.Since(start) < tc.wait {
				t.Errorf("%q: err %v after %d calls in %s; want the wait, then success", tc.body, err, calls.Load(), time.Since(start))
			}
			continue
		}
		var e *api.APIError
		if !api.IsStartThrottled(err) || !errors.As(err, &e) || e.RetryAfter != tc.wait || calls.Load() != 1 {
			t.Errorf("%q: got %v (retry after %v) after %d calls; want start-throttled, %s, no retry", tc.body, err, e, calls.Load(), tc.wait)
		}
	}
}

// Point 4: AF429 in every form is throttling; AF10001 with 401 is a missing
// permission after at most one renewal, named for the content type.
func TestErrorBodiesInEveryForm(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"JSON with 403", 403, `{"error":{"code":"AF429","message":"Too many requests. Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000"}}`},
		{"Python repr with 403", 403, `{'error':{'code':'AF429','message':'Too many requests. Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000'}}`},
		{"Python repr with spaces and 429", 429, `{'error': {'code': 'AF429', 'message': 'Too many requests. Method=GetBlob, PublisherId=x'}}`},
		{"plain text with 403", 403, `Too many requests. Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000`},
		{"plain text with code and 403", 403, `AF429: Too many requests.`},
	} {
		t.Run("AF429 as "+tc.name+" is throttling, retried", func(t *testing.T) {
			var calls atomic.Int32
			srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					w.WriteHeader(tc.status)
					io.WriteString(w, tc.body)
					return
				}
				io.WriteString(w, `[{"Id":"a"}]`)
			})
			st, err := client(t, srv.URL, nil).FetchBlob(context.Background(), blobOf(srv, "c$1"), func(json.RawMessage, int) error { return nil })
			if err != nil || st.Records != 1 || calls.Load() != 2 {
				t.Fatalf("err %v, %d calls", err, calls.Load())
			}
		})
	}
	t.Run("a Python-repr body keeps the service's code and message", func(t *testing.T) {
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			io.WriteString(w, `{'error': {'code': 'AF20051', 'message': 'Content requested with the key x has already expired. Content older than 7 days cannot be retrieved.'}}`)
		})
		_, err := client(t, srv.URL, nil).FetchBlob(context.Background(), blobOf(srv, "x"), nil)
		var e *api.APIError
		if !api.IsExpired(err) || !errors.As(err, &e) || !strings.HasPrefix(e.Message, "Content requested with the key x") {
			t.Fatalf("got %v", err)
		}
	})
	for _, ct := range []string{"DLP.All", "Audit.General"} {
		t.Run("AF10001 with 401 on "+ct+" names the missing permission after one renewal", func(t *testing.T) {
			var tokens, calls atomic.Int32
			srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(401)
				io.WriteString(w, `{"error":{"code":"AF10001","message":"The permission set (ActivityFeed.Read ServiceHealth.Read) sent in the request does not include the expected permission"}}`)
			})
			c := client(t, srv.URL, func(c *api.Config) {
				c.HTTPClient = &http.Client{Transport: countTokens{http.DefaultTransport, &tokens}}
			})
			err := c.StartSubscription(context.Background(), ct)
			want := "ActivityFeed.Read"
			if ct == "DLP.All" {
				want = "ActivityFeed.ReadDlp"
			}
			perm, ok := api.MissingPermission(err, ct)
			var e *api.APIError
			if !ok || perm != want || !errors.As(err, &e) || !strings.Contains(e.Hint, want+",") || strings.Contains(e.Hint, "secret") {
				t.Fatalf("got %v (permission %q)", err, perm)
			}
			if calls.Load() != 2 || tokens.Load() != 2 {
				t.Errorf("%d API calls, %d tokens: want one renewal", calls.Load(), tokens.Load())
			}
		})
	}
}

type countTokens struct {
	rt http.RoundTripper
	n  *atomic.Int32
}

func (c countTokens) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/token") {
		c.n.Add(1)
	}
	return c.rt.RoundTrip(r)
}

// Point 8: a blob answer with a NextPageUri is followed; every page's records
// are handed on, in order, and the archive holds them as one array.
func TestBlobNextPageUriIsFollowed(t *testing.T) {
	var calls atomic.Int32
	var base string
	s := fake(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Query().Get("PublisherIdentifier") != tenant {
			t.Errorf("page without PublisherIdentifier: %s", r.URL)
		}
		switch r.URL.Query().Get("page") {
		case "":
			w.Header().Set("NextPageUri", base+"/api/v1.0/"+tenant+"/activity/feed/audit/c$1?page=2")
			io.WriteString(w, `[{"Id":"a"},{"Id":"b"}]`)
		case "2":
			w.Header().Set("nextpageuri", base+"/api/v1.0/"+tenant+"/activity/feed/audit/c$1?page=3")
			io.WriteString(w, `[{"Id":"c"}]`)
		default:
			io.WriteString(w, ` [ {"Id":"d"} ] `)
		}
	})
	base = s.URL
	var got []string
	var archive strings.Builder
	st, err := client(t, s.URL, nil).FetchBlobWith(context.Background(), blobOf(s, "c$1"), api.FetchOptions{Archive: &archive}, func(rec json.RawMessage, i int) error {
		got = append(got, string(rec))
		return nil
	})
	if err != nil || strings.Join(got, "") != `{"Id":"a"}{"Id":"b"}{"Id":"c"}{"Id":"d"}` || st.Records != 4 || calls.Load() != 3 {
		t.Fatalf("err %v, got %q, stats %+v, %d calls", err, got, st, calls.Load())
	}
	if archive.String() != `[{"Id":"a"},{"Id":"b"},{"Id":"c"},{"Id":"d"}]`+"\n" || !json.Valid([]byte(archive.String())) {
		t.Errorf("archive %q", archive.String())
	}
	t.Run("a page that fails fails the blob: no page is silently lost", func(t *testing.T) {
		var base string
		s := fake(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("page") == "" {
				w.Header().Set("NextPageUri", base+"/api/v1.0/"+tenant+"/activity/feed/audit/c$1?page=2")
				io.WriteString(w, `[{"Id":"a"}]`)
				return
			}
			w.WriteHeader(500)
		})
		base = s.URL
		n := 0
		_, err := client(t, s.URL, nil).FetchBlob(context.Background(), blobOf(s, "c$1"), func(json.RawMessage, int) error { n++; return nil })
		if err == nil || !strings.Contains(err.Error(), "HTTP 500") || n != 0 {
			t.Errorf("err %v, %d records handed on", err, n)
		}
	})
}
