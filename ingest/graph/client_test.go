package graph

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
)

type fakeTokens struct{ renewed atomic.Int32 }

func (f *fakeTokens) AccessToken(context.Context) (string, error) { return "tok-1", nil }
func (f *fakeTokens) RenewToken(context.Context, string) (string, error) {
	f.renewed.Add(1)
	return "tok-2", nil
}

func newTest(t *testing.T, h http.HandlerFunc) (*Client, *fakeTokens, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ft := &fakeTokens{}
	c, err := New(Config{BaseURL: srv.URL, Tokens: ft, BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c, ft, srv
}

func TestCloudURLs(t *testing.T) {
	for cloud, want := range map[api.Cloud]string{"": "https://graph.microsoft.com", api.CloudGCC: "https://graph.microsoft.com",
		api.CloudGCCHigh: "https://graph.microsoft.us", api.CloudDoD: "https://dod-graph.microsoft.us"} {
		if got, err := CloudURL(cloud); err != nil || got != want {
			t.Errorf("CloudURL(%q) = %q, %v; want %q", cloud, got, err, want)
		}
	}
	if _, err := CloudURL("mooncake"); err == nil {
		t.Error("an unknown cloud has a Graph URL")
	}
}

func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	if _, err := New(Config{BaseURL: "http://graph.example.com", Tokens: &fakeTokens{}}); err == nil {
		t.Error("plain http to a remote host accepted")
	}
	if _, err := New(Config{BaseURL: "http://127.0.0.1:1", Tokens: &fakeTokens{}}); err != nil {
		t.Error(err)
	}
}

func TestThrottledRequestIsRetriedAfterRetryAfter(t *testing.T) {
	var n atomic.Int32
	c, _, _ := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"code":"TooManyRequests","message":"Too many requests"}}`))
			return
		}
		w.Write([]byte(`{"value":true}`))
	})
	resp, err := c.Do(context.Background(), http.MethodPost, "/users/u@x.example/revokeSignInSessions", nil)
	if err != nil || resp.Status != 200 || n.Load() != 2 {
		t.Fatalf("resp %+v, err %v after %d requests", resp, err, n.Load())
	}
}

func TestForbiddenIsFinalWithGraphsCode(t *testing.T) {
	var n atomic.Int32
	c, _, _ := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("request-id", "rid-1")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`))
	})
	_, err := c.Do(context.Background(), http.MethodPatch, "/users/u@x.example", []byte(`{"accountEnabled":false}`))
	if !IsForbidden(err) || n.Load() != 1 {
		t.Fatalf("err %v after %d requests", err, n.Load())
	}
	for _, want := range []string{"PATCH", "HTTP 403", "Authorization_RequestDenied", "Insufficient privileges", "rid-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

func TestRefusedTokenIsRenewedOnce(t *testing.T) {
	c, ft, _ := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-2" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired."}}`))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	resp, err := c.Do(context.Background(), http.MethodDelete, "/oauth2PermissionGrants/g1", nil)
	if err != nil || resp.Status != 204 || ft.renewed.Load() != 1 {
		t.Fatalf("resp %+v err %v renewed %d", resp, err, ft.renewed.Load())
	}
}

func TestNextLinkToAnotherHostIsRefused(t *testing.T) {
	c, _, _ := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"value":[{"id":"a"}],"@odata.nextLink":"https://evil.example/v1.0/next"}`))
	})
	if _, err := c.List(context.Background(), "/oauth2PermissionGrants"); err == nil || !strings.Contains(err.Error(), "refusing to send the token") {
		t.Fatalf("err %v", err)
	}
}

func TestListFollowsNextLink(t *testing.T) {
	var srvURL string
	c, _, srv := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			w.Write([]byte(`{"value":[{"id":"b"}]}`))
			return
		}
		w.Write([]byte(`{"value":[{"id":"a"}],"@odata.nextLink":"` + srvURL + `/v1.0/x?page=2"}`))
	})
	srvURL = srv.URL
	vals, err := c.List(context.Background(), "/x")
	if err != nil || len(vals) != 2 {
		t.Fatalf("%d values, %v", len(vals), err)
	}
}
