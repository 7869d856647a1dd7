// Package graph is a small client for the Microsoft Graph v1.0 REST API, for the
// few documented calls remediation makes (ingest/remediate): JSON requests with a
// bearer token, Graph's error shape, and throttling.
//
// Error contract: an answer outside 2xx comes back as *Error with Graph's own code
// and message verbatim ({"error":{"code":"Authorization_RequestDenied","message":…}}).
// Throttling (429) and unavailability (503, 504) are retried inside the client,
// honouring Retry-After (capped), up to MaxRetries; a 401 renews the token once.
// Every other status is final and returned at once: a remediation is never sent
// twice because of an answer the client did not understand.
//
// The client authenticates with a TokenSource: in o365ingest, an api.Client of the
// tenant's (or the remediation) app registration with Graph as its resource, so
// there is one OAuth2 client-credentials implementation. The token is only ever
// sent to the configured Graph host: links Graph returns (@odata.nextLink) that
// point elsewhere are refused.
package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
)

// Version is the Graph API version every call uses.
const Version = "v1.0"

var cloudGraph = map[api.Cloud]string{
	api.CloudCommercial: "https://graph.microsoft.com",
	// GCC (moderate) tenants use the worldwide Graph endpoint; GCC High and DoD
	// have their own (learn.microsoft.com/graph/deployments).
	api.CloudGCC:     "https://graph.microsoft.com",
	api.CloudGCCHigh: "https://graph.microsoft.us",
	api.CloudDoD:     "https://dod-graph.microsoft.us",
}

// CloudURL returns the Microsoft Graph service root of a cloud (without the
// version), which is also the OAuth resource of its tokens. The empty cloud is
// commercial.
func CloudURL(c api.Cloud) (string, error) {
	if c == "" {
		c = api.CloudCommercial
	}
	u, ok := cloudGraph[c]
	if !ok {
		return "", fmt.Errorf("graph: unknown cloud %q (want one of commercial, gcc, gcchigh, dod)", string(c))
	}
	return u, nil
}

// TokenSource gives bearer tokens for Graph. *api.Client implements it.
type TokenSource interface {
	// AccessToken returns a valid token.
	AccessToken(ctx context.Context) (string, error)
	// RenewToken drops tok (refused with 401) and returns a fresh token.
	RenewToken(ctx context.Context, tok string) (string, error)
}

// Config configures a Client. Zero values mean the defaults.
type Config struct {
	// BaseURL is the Graph service root without the version, e.g.
	// https://graph.microsoft.com (config tenants[].graph_url). Plain http is
	// accepted only for loopback hosts unless AllowHTTP is set.
	BaseURL   string
	AllowHTTP bool
	Tokens    TokenSource
	// HTTPClient sends the requests; default one with timeouts. o365ingest passes
	// the API client's, so its redirect policy and timeouts apply.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// MaxRetries of a throttled or unavailable request; default 4.
	MaxRetries int
	// BackoffBase is the first wait when no Retry-After came; default 2s.
	BackoffBase time.Duration
	// RetryAfterMax caps a server's Retry-After; default 2m.
	RetryAfterMax time.Duration
}

// Client calls Microsoft Graph. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	root string // {base}/v1.0
	hc   *http.Client
	log  *slog.Logger
}

// New validates cfg and returns a Client. It does no network I/O.
func New(cfg Config) (*Client, error) {
	if cfg.Tokens == nil {
		return nil, errors.New("graph: no token source")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL, _ = CloudURL(api.CloudCommercial)
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("graph: graph URL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	if u.Scheme == "http" && !cfg.AllowHTTP && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("graph: graph URL %q uses plain http on a non-loopback host", cfg.BaseURL)
	}
	u.RawQuery, u.Fragment = "", ""
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 4
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 2 * time.Second
	}
	if cfg.RetryAfterMax <= 0 {
		cfg.RetryAfterMax = 2 * time.Minute
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, base: u, root: u.String() + "/" + Version, hc: hc, log: log}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL returns the full URL of a path relative to the version root
// ("/users/x/revokeSignInSessions" -> https://graph.microsoft.com/v1.0/users/x/revokeSignInSessions).
func (c *Client) URL(path string) string { return c.root + path }

// Error is an answer of Graph outside 2xx. Code and Message are Graph's own.
type Error struct {
	Status     int
	Code       string // "Authorization_RequestDenied", "ErrorAccessDenied", "Request_ResourceNotFound"…
	Message    string
	Method     string
	URL        string // without the query string
	RequestID  string // Graph's request-id, for Microsoft support
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph: %s %s: HTTP %d", e.Method, e.URL, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request-id " + e.RequestID + ")")
	}
	return b.String()
}

// IsForbidden reports whether err is Graph refusing the call for lack of a
// permission (HTTP 403: Authorization_RequestDenied, ErrorAccessDenied…).
func IsForbidden(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusForbidden
}

// IsNotFound reports whether err is Graph's 404 (the user, rule or grant does not exist).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// StatusOf returns the HTTP status of a Graph error, 0 for other errors.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func parseError(status int, h http.Header, body []byte) *Error {
	e := &Error{Status: status, RequestID: h.Get("request-id")}
	var doc struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				RequestID string `json:"request-id"`
			} `json:"innerError"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) == nil && (doc.Error.Code != "" || doc.Error.Message != "") {
		e.Code, e.Message = doc.Error.Code, doc.Error.Message
		if e.RequestID == "" {
			e.RequestID = doc.Error.InnerError.RequestID
		}
	} else if len(body) > 0 {
		e.Message = strings.TrimSpace(string(body[:min(len(body), 300)]))
	}
	if ra := h.Get("Retry-After"); ra != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	return e
}

// Response is a 2xx answer.
type Response struct {
	Status int
	Body   []byte
}

// maxBody bounds what is read of an answer; the calls made here answer small objects.
const maxBody = 4 << 20

// Do sends one request (path relative to the version root, query included) with
// body as JSON when not nil, and returns the 2xx answer or an *Error.
func (c *Client) Do(ctx context.Context, method, path string, body []byte) (*Response, error) {
	return c.do(ctx, method, c.URL(path), body)
}

func (c *Client) do(ctx context.Context, method, full string, body []byte) (*Response, error) {
	clean := full
	if i := strings.IndexByte(clean, '?'); i >= 0 {
		clean = clean[:i]
	}
	tok, err := c.cfg.Tokens.AccessToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("graph: getting a token: %w", err)
	}
	renewed := false
	for attempt := 1; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, full, rd)
		if err != nil {
			return nil, fmt.Errorf("graph: %s %s: %w", method, clean, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// A request that may have reached Graph is not sent again: the caller
			// records the failure and the operator decides (--again).
			return nil, fmt.Errorf("graph: %s %s: %w", method, clean, scrub(err))
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			if rerr != nil {
				return nil, fmt.Errorf("graph: %s %s: reading the answer: %w", method, clean, rerr)
			}
			return &Response{Status: resp.StatusCode, Body: data}, nil
		}
		e := parseError(resp.StatusCode, resp.Header, data)
		e.Method, e.URL = method, clean
		switch {
		case resp.StatusCode == http.StatusUnauthorized && !renewed:
			renewed = true
			if tok, err = c.cfg.Tokens.RenewToken(ctx, tok); err != nil {
				return nil, fmt.Errorf("graph: renewing the token: %w", err)
			}
			attempt--
			continue
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout:
			if attempt > c.cfg.MaxRetries {
				return nil, fmt.Errorf("graph: giving up after %d attempts: %w", attempt, e)
			}
			wait := e.RetryAfter
			if wait <= 0 {
				d := c.cfg.BackoffBase << (attempt - 1)
				wait = d/2 + time.Duration(rand.Int64N(int64(d)/2+1))
			}
			wait = min(wait, c.cfg.RetryAfterMax)
			c.log.Warn("graph throttled, retrying", "method", method, "url", clean, "status", e.Status, "code", e.Code, "attempt", attempt, "wait", wait)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			continue
		}
		return nil, e
	}
}

func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		u := ue.URL
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return &url.Error{Op: ue.Op, URL: u, Err: ue.Err}
	}
	return err
}

// maxPages bounds a listing; remediation lists a few rules or grants.
const maxPages = 50

// List GETs a collection and follows @odata.nextLink, returning every element
// of "value" as raw JSON. A nextLink to another host is refused (the token stays
// on the Graph host).
func (c *Client) List(ctx context.Context, path string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := c.pages(ctx, path, maxPages, func(v []json.RawMessage) error {
		out = append(out, v...)
		return nil
	})
	return out, err
}

// MaxLargePages bounds a listing through Pages (audit log query records: 150 a page).
const MaxLargePages = 100000

// Pages GETs a collection and hands each page's "value" to fn as it arrives,
// following @odata.nextLink (on the Graph host only) for at most MaxLargePages
// pages; an error of fn stops the listing and is returned.
func (c *Client) Pages(ctx context.Context, path string, fn func([]json.RawMessage) error) error {
	return c.pages(ctx, path, MaxLargePages, fn)
}

func (c *Client) pages(ctx context.Context, path string, limit int, fn func([]json.RawMessage) error) error {
	next := c.URL(path)
	for page := 0; next != ""; page++ {
		if page == limit {
			return fmt.Errorf("graph: GET %s: more than %d pages", c.URL(path), limit)
		}
		if err := c.sameOrigin(next); err != nil {
			return err
		}
		resp, err := c.do(ctx, http.MethodGet, next, nil)
		if err != nil {
			return err
		}
		var doc struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(resp.Body, &doc); err != nil {
			return fmt.Errorf("graph: GET %s: the answer is not a collection: %w", c.URL(path), err)
		}
		if err := fn(doc.Value); err != nil {
			return err
		}
		next = doc.NextLink
	}
	return nil
}

func (c *Client) sameOrigin(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("graph: invalid link from Graph: %w", err)
	}
	if !strings.EqualFold(pu.Scheme, c.base.Scheme) || !strings.EqualFold(pu.Host, c.base.Host) {
		return fmt.Errorf("graph: refusing to send the token to %s://%s (Graph is %s://%s)", pu.Scheme, pu.Host, c.base.Scheme, c.base.Host)
	}
	return nil
}
