package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
)

// elsewhere is a server on another origin that counts what reaches it and
// whether any credential came with it.
type elsewhere struct {
	*httptest.Server
	hits, creds atomic.Int32
}

func newElsewhere(t *testing.T) *elsewhere {
	e := &elsewhere{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "" || strings.Contains(string(body), "client_secret") {
			e.creds.Add(1)
		}
		if strings.HasSuffix(r.URL.Path, "/token") {
			io.WriteString(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"stolen"}`)
			return
		}
		io.WriteString(w, `[]`)
	}))
	t.Cleanup(e.Close)
	return e
}

func blobOf(srv *httptest.Server, id string) api.ContentBlob {
	return api.ContentBlob{ContentType: "Audit.General", ContentID: id, ContentURI: srv.URL + "/api/v1.0/" + tenant + "/activity/feed/audit/" + id}
}

func TestRedirectPolicy(t *testing.T) {
	ctx := context.Background()
	noop := func(json.RawMessage, int) error { return nil }

	t.Run("the token endpoint follows no redirect and never re-posts the secret", func(t *testing.T) {
		other := newElsewhere(t)
		var tokenCalls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
				tokenCalls.Add(1)
				http.Redirect(w, r, other.URL+"/steal/token?x=1", http.StatusTemporaryRedirect)
				return
			}
			t.Errorf("API called without a token: %s", r.URL)
		}))
		defer srv.Close()
		c := client(t, srv.URL, func(c *api.Config) { c.MaxRetries = 1 })
		err := c.Token(ctx)
		if !api.IsRedirectRefused(err) || !strings.Contains(err.Error(), other.URL+"/steal/token") || strings.Contains(err.Error(), "x=1") {
			t.Fatalf("token error %v: want a refused redirect naming the location without its query", err)
		}
		if other.hits.Load() != 0 || tokenCalls.Load() != 2 {
			t.Errorf("other origin hit %d times, token endpoint %d times (want 0 and 2: retried only at the configured URL)", other.hits.Load(), tokenCalls.Load())
		}
	})

	t.Run("a token redirect that goes away is survived", func(t *testing.T) {
		other := newElsewhere(t)
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
				if n.Add(1) == 1 {
					http.Redirect(w, r, other.URL+"/token", http.StatusTemporaryRedirect)
					return
				}
				io.WriteString(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"tok"}`)
				return
			}
			if r.Header.Get("Authorization") != "Bearer tok" {
				t.Errorf("API got %q", r.Header.Get("Authorization"))
			}
			io.WriteString(w, `[{"Id":"a"}]`)
		}))
		defer srv.Close()
		st, err := client(t, srv.URL, nil).FetchBlob(ctx, blobOf(srv, "c$1"), noop)
		if err != nil || st.Records != 1 || other.hits.Load() != 0 {
			t.Fatalf("stats %+v, err %v, other origin hit %d times", st, err, other.hits.Load())
		}
	})

	for _, tc := range []struct {
		name   string
		target func(other *elsewhere, self *httptest.Server) string
	}{
		{"a blob redirected to the same host on another port is refused", func(o *elsewhere, _ *httptest.Server) string {
			return o.URL + "/api/v1.0/" + tenant + "/activity/feed/audit/c$1" // both on 127.0.0.1
		}},
		{"a blob redirected to another host serving [] is refused", func(o *elsewhere, _ *httptest.Server) string {
			return strings.Replace(o.URL, "127.0.0.1", "localhost", 1) + "/blob"
		}},
		{"a blob redirected from https to http on the same host is refused", func(o *elsewhere, self *httptest.Server) string {
			return "https://" + strings.TrimPrefix(self.URL, "http://") + "/blob"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := newElsewhere(t)
			var srv *httptest.Server
			srv = fake(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, tc.target(other, srv), http.StatusFound)
			})
			st, err := client(t, srv.URL, nil).FetchBlob(ctx, blobOf(srv, "c$1"), noop)
			loc := tc.target(other, srv)
			if !api.IsRedirectRefused(err) || !strings.Contains(err.Error(), loc) {
				t.Fatalf("err %v, stats %+v: want a refused redirect naming %s", err, st, loc)
			}
			if api.IsExpired(err) || api.IsNotFound(err) || st.Records != 0 {
				t.Errorf("a refused redirect must leave the blob failed, not expired/missing/loaded: %v %+v", err, st)
			}
			if other.hits.Load() != 0 || other.creds.Load() != 0 {
				t.Errorf("the other origin was called %d times (%d with a credential)", other.hits.Load(), other.creds.Load())
			}
		})
	}

	t.Run("a redirect on the API origin is followed with the token", func(t *testing.T) {
		var auth atomic.Value
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasSuffix(r.URL.Path, "/moved") {
				http.Redirect(w, r, "/api/v1.0/"+tenant+"/activity/feed/audit/moved?PublisherIdentifier="+tenant, http.StatusTemporaryRedirect)
				return
			}
			auth.Store(r.Header.Get("Authorization"))
			io.WriteString(w, `[{"Id":"a"},{"Id":"b"}]`)
		})
		st, err := client(t, srv.URL, nil).FetchBlob(ctx, blobOf(srv, "c$1"), noop)
		if err != nil || st.Records != 2 || auth.Load() != "Bearer tok" {
			t.Fatalf("stats %+v, err %v, auth %v", st, err, auth.Load())
		}
	})

	t.Run("a same-origin redirect loop ends", func(t *testing.T) {
		var n atomic.Int32
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
		})
		_, err := client(t, srv.URL, nil).FetchBlob(ctx, blobOf(srv, "c$1"), noop)
		if !api.IsRedirectRefused(err) || n.Load() > 10 {
			t.Fatalf("%d requests, err %v", n.Load(), err)
		}
	})

	t.Run("a listing page redirected elsewhere is refused", func(t *testing.T) {
		other := newElsewhere(t)
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/page", http.StatusMovedPermanently)
		})
		start := time.Now().Add(-time.Hour)
		_, err := client(t, srv.URL, nil).ListContent(ctx, "Audit.General", start, start.Add(time.Hour))
		if !api.IsRedirectRefused(err) || other.hits.Load() != 0 {
			t.Fatalf("err %v, other hit %d", err, other.hits.Load())
		}
	})
}
