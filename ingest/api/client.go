// Package api is a client for the Office 365 Management Activity API: OAuth2
// client credentials (secret or certificate), subscriptions, content listing
// and streaming blob downloads, with retries, back-off and a client-side rate
// limit shared per publisher id.
//
// Error contract: failures of the service come back as *APIError (status, AF
// code, the service's message verbatim). Throttling (AF429) and transient
// errors (5xx, AF50000) are retried inside the client with capped exponential
// back-off plus jitter, honouring Retry-After; an expired access token is
// renewed once on a 401. What is left for the caller: IsExpired / IsNotFound
// for blobs to report and skip, IsConfig for mistakes a human must fix (the
// error's Hint names the likely cause), context errors, and APIErrors after
// MaxRetries.
//
// Redirects and origins follow one policy, in origin.go: the token endpoint's
// redirects are never followed, API and content calls follow them only to the
// API origin, anything else is a *RedirectError (IsRedirectRefused) naming the
// location, with nothing sent there.
package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/o365ingest/o365ingest/schema"
)

// Content types of the Management Activity API.
// (from the registry in package schema).
const (
	AuditAzureActiveDirectory = schema.AuditAzureActiveDirectory
	AuditExchange             = schema.AuditExchange
	AuditSharePoint           = schema.AuditSharePoint
	AuditGeneral              = schema.AuditGeneral
	DLPAll                    = schema.DLPAll
)

// ContentTypes lists the five content types (the registry's order).
var ContentTypes = schema.ContentTypeNames()

// Config configures a Client. Zero values mean the documented defaults.
type Config struct {
	TenantID     string // tenant GUID whose audit log is read
	ClientID     string // application (client) id
	ClientSecret string // secret credential, or:
	// CertificatePEM and PrivateKeyPEM (may be the same bytes), or PKCS12 with
	// PKCS12Password, or a parsed Certificate: certificate credential.
	CertificatePEM, PrivateKeyPEM []byte
	PKCS12                        []byte
	PKCS12Password                string
	Certificate                   *Certificate

	Cloud Cloud // commercial (default), gcc, gcchigh, dod
	// APIURL and LoginURL override the cloud's hosts (emulator, proxy,
	// sovereign cloud), e.g. "http://127.0.0.1:8365". Plain http is accepted
	// only for loopback hosts unless AllowHTTP is set.
	APIURL, LoginURL string
	AllowHTTP        bool
	// Resource is the OAuth resource (scope prefix); default the cloud's API host.
	Resource string

	PublisherID string // PublisherIdentifier on every call; default TenantID
	RateLimit   int    // requests per minute per publisher id; default 2000, <0 disables

	HTTPClient *http.Client // default: a client with sane timeouts
	Logger     *slog.Logger // default: discard

	MaxRetries    int           // retries per request after the first attempt; default 8
	BackoffBase   time.Duration // first back-off; default 1s
	BackoffMax    time.Duration // back-off cap; default 2m
	RetryAfterMax time.Duration // cap on a server's Retry-After; default 5m
	// StartWaitMax is the longest wait of the subscription-start limit ("retry
	// again after 14m 56s") StartSubscription sits out; a longer one is returned
	// (IsStartThrottled, RetryAfter set). Default 5m.
	StartWaitMax time.Duration

	// LookBackMargin is kept between the API's 7-day look-back and the
	// oldest start time ListRange asks for; default 15m.
	LookBackMargin time.Duration
	// Concurrency bounds FetchAll; default 4.
	Concurrency int
	// SpoolMemory is how many bytes of a blob FetchBlob keeps in memory
	// before spooling to a temp file in SpoolDir; default 8 MiB.
	SpoolMemory int
	SpoolDir    string

	// MaxBlobBytes bounds a blob body (all its pages), counted decompressed as it
	// is read (a gzip body is counted as it inflates), and so the spool; default
	// 256 MiB. A larger body fails with ErrBlobTooLarge after one attempt.
	MaxBlobBytes int64
	// MaxRecordBytes bounds one element of a blob; default 8 MiB. A larger element is
	// not handed on but described in BlobStats.Oversized (its first 64 KiB, size and
	// sha256), and the rest of the blob is handed on.
	MaxRecordBytes int
	// IdleTimeout cuts an attempt whose answer sends no byte for so long (it is
	// retried); default 60s.
	IdleTimeout time.Duration
	// BlobTimeout is the deadline of one blob download attempt (and of any other
	// call's attempt); a call whose attempts time out gets two of them; default 2m.
	BlobTimeout time.Duration
	// MaxListingPages bounds the pages of one listing window; default 10000.
	MaxListingPages int

	Now func() time.Time // clock; default time.Now

	// OnResponse, when set, is called once per answer of the API (not of the token
	// endpoint), retries included, for metrics; it must be quick and safe for
	// concurrent use.
	OnResponse func(Response)
}

// Response is one answer of the API, as OnResponse sees it.
type Response struct {
	// Status is the HTTP status, 0 when the request got no answer (a network error).
	Status int
	// Throttled is set for the API's throttling answer (AF429 or HTTP 429).
	Throttled bool
}

// Client talks to one tenant's Management Activity API. It is safe for
// concurrent use.
type Client struct {
	cfg      Config
	apiBase  *url.URL // scheme://host[/prefix] of the API
	feedRoot string   // {api}/api/v1.0/{tenant}/activity/feed
	tokenURL string
	resource string
	cert     *Certificate
	hc       *http.Client // API and content calls: redirects only to the API origin (origin.go)
	tokenHC  *http.Client // token requests: no redirect followed (origin.go)
	log      *slog.Logger
	limiter  *rate.Limiter
	tok      tokenCache

	mu     sync.Mutex
	skew   time.Duration
	skewOK bool
	rng    *rand.Rand
}

// New validates cfg and returns a Client. It does no network I/O.
func New(cfg Config) (*Client, error) {
	var problems []string
	if !isGUID(cfg.TenantID) {
		problems = append(problems, "tenant id must be a GUID")
	}
	if cfg.ClientID == "" {
		problems = append(problems, "client id is required")
	}
	cert := cfg.Certificate
	var err error
	switch {
	case cert != nil:
	case len(cfg.PKCS12) > 0:
		if cert, err = ParsePKCS12(cfg.PKCS12, cfg.PKCS12Password); err != nil {
			problems = append(problems, err.Error())
		}
	case len(cfg.CertificatePEM) > 0:
		key := cfg.PrivateKeyPEM
		if len(key) == 0 {
			key = cfg.CertificatePEM
		}
		if cert, err = ParsePEM(cfg.CertificatePEM, key); err != nil {
			problems = append(problems, err.Error())
		}
	case cfg.ClientSecret == "":
		problems = append(problems, "a client secret or a certificate is required")
	}
	apiURL, loginURL, err := CloudEndpoints(cfg.Cloud)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if cfg.Resource == "" {
		cfg.Resource = apiURL
	}
	if cfg.APIURL != "" {
		apiURL = cfg.APIURL
	}
	if cfg.LoginURL != "" {
		loginURL = cfg.LoginURL
	}
	apiBase, err := checkBaseURL("API URL", apiURL, cfg.AllowHTTP)
	if err != nil {
		problems = append(problems, err.Error())
	}
	loginBase, err := checkBaseURL("login URL", loginURL, cfg.AllowHTTP)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("api: invalid configuration: %s", strings.Join(problems, "; "))
	}
	if cfg.PublisherID == "" {
		cfg.PublisherID = cfg.TenantID
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 8
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 2 * time.Minute
	}
	if cfg.RetryAfterMax <= 0 {
		cfg.RetryAfterMax = 5 * time.Minute
	}
	if cfg.StartWaitMax <= 0 {
		cfg.StartWaitMax = 5 * time.Minute
	}
	if cfg.MaxBlobBytes <= 0 {
		cfg.MaxBlobBytes = DefaultMaxBlobBytes
	}
	if cfg.MaxRecordBytes <= 0 {
		cfg.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.BlobTimeout <= 0 {
		cfg.BlobTimeout = DefaultBlobTimeout
	}
	if cfg.MaxListingPages <= 0 {
		cfg.MaxListingPages = DefaultMaxListingPages
	}
	if cfg.LookBackMargin <= 0 {
		cfg.LookBackMargin = 15 * time.Minute
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.SpoolMemory <= 0 {
		cfg.SpoolMemory = 8 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   15 * time.Second,
			ResponseHeaderTimeout: 2 * time.Minute,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
		}}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:      cfg,
		apiBase:  apiBase,
		feedRoot: strings.TrimRight(apiBase.String(), "/") + "/api/v1.0/" + cfg.TenantID + "/activity/feed",
		tokenURL: strings.TrimRight(loginBase.String(), "/") + "/" + cfg.TenantID + "/oauth2/v2.0/token",
		resource: strings.TrimRight(cfg.Resource, "/"),
		cert:     cert,
		log:      log,
		tok:      tokenCache{sem: make(chan struct{}, 1)},
		rng:      rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15)),
	}
	c.hc = withRedirectPolicy(hc, c.checkAPIRedirect)
	c.tokenHC = withRedirectPolicy(hc, checkTokenRedirect)
	if cfg.RateLimit > 0 {
		c.limiter = limiterFor(cfg.PublisherID, cfg.RateLimit)
	}
	return c, nil
}

func checkBaseURL(what, s string, allowHTTP bool) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%s %q is not an absolute http(s) URL", what, s)
	}
	if u.Scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%s %q uses plain http on a non-loopback host (set AllowHTTP to permit it)", what, s)
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}

// TenantID returns the configured tenant id.
func (c *Client) TenantID() string { return c.cfg.TenantID }

// ClockSkew returns the server clock minus the local clock, measured from the
// Date header of the last API response, and whether any was seen yet. Its
// resolution is one second.
func (c *Client) ClockSkew() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.skew, c.skewOK
}

// ServerTime is the local clock corrected by ClockSkew.
func (c *Client) ServerTime() time.Time {
	skew, _ := c.ClockSkew()
	return c.now().Add(skew)
}

func (c *Client) now() time.Time { return c.cfg.Now() }

// backoff is the wait before retry attempt n (1-based): capped exponential
// with "equal jitter" (between half and all of the step).
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.BackoffBase
	for i := 1; i < n && d < c.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.BackoffMax)
	c.mu.Lock()
	j := time.Duration(c.rng.Int64N(int64(d)/2 + 1))
	c.mu.Unlock()
	return d/2 + j
}

// request describes one logical API call for do.
type request struct {
	method string
	url    string // full URL, PublisherIdentifier included
	body   []byte
	what   string // "listing content", "fetching blob"… for logs
	// contentType, when the call is about one, names the permission a refusal lacks.
	contentType string
	// retryNotFound retries a 404 without an AF code (a blob GET: a bare or HTML
	// 404 is not the service saying the blob is gone, AF20050/AF20051 are).
	retryNotFound bool
	attrs         []slog.Attr // content_type, blob…
	// timeout is the deadline of each attempt (0: Config.BlobTimeout); a request
	// whose attempts time out is tried blobTimeoutTries times in all.
	timeout time.Duration
}

// retryBody marks a 2xx response whose body was incomplete or malformed: the
// whole request is retried.
type retryBody struct{ err error }

func (r *retryBody) Error() string { return r.err.Error() }
func (r *retryBody) Unwrap() error { return r.err }

// do runs r with rate limiting, authentication, retries and back-off. handle
// reads a 2xx response; returning a *retryBody asks for the request again.
//
// Each attempt has its own context, cut when r.timeout passes or the answer sends no
// byte for Config.IdleTimeout: whatever then fails is retried as a stallError
// (ErrTimeout), blobTimeoutTries tries in all.
func (c *Client) do(ctx context.Context, r request, handle func(*http.Response) error) error {
	cleanURL := stripQuery(r.url)
	authRetries, stalls := 0, 0
	timeout := r.timeout
	if timeout <= 0 {
		// Listings and subscriptions: bounded by the same deadline as a blob.
		timeout = c.cfg.BlobTimeout
	}
	var last error
	for attempt := 1; ; attempt++ {
		if c.limiter != nil {
			if err := wait(ctx, c.limiter); err != nil {
				return err
			}
		}
		tok, err := c.bearer(ctx, false)
		if err != nil {
			return err
		}
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		a := newAttempt(ctx, timeout, r.what)
		defer a.release() // at most MaxRetries+3 attempts are held until do returns
		stalled := func() error {
			if se := a.stalled(); se != nil && ctx.Err() == nil {
				return fmt.Errorf("api: %s %s: %w", r.method, cleanURL, se)
			}
			return nil
		}
		req, err := http.NewRequestWithContext(a.ctx, r.method, r.url, body)
		if err != nil {
			return fmt.Errorf("api: %s: %w", r.what, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if r.method == http.MethodPost {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.hc.Do(req)
		if err == nil {
			resp.Body = a.watch(resp.Body, c.cfg.IdleTimeout)
		}
		var retryAfter time.Duration
		exactWait := false
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.observe(0, false)
			if se := stalled(); se != nil {
				last = se
				break
			}
			if re, ok := redirectErr(err); ok {
				// Final for this call: retrying would meet the same redirect.
				return fmt.Errorf("api: %s: %w", r.what, re)
			}
			last = fmt.Errorf("api: %s %s: %w", r.method, cleanURL, scrubURLError(err))
		case resp.StatusCode == http.StatusUnauthorized:
			c.observe(resp.StatusCode, false)
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			e := parseAPIError(resp.StatusCode, resp.Header, data)
			e.Method, e.URL = r.method, cleanURL
			if _, lacks := MissingPermission(e, r.contentType); lacks && authRetries >= 1 {
				// AF10001 comes with 401 too: a renewed token that still lacks the
				// permission is a missing permission or consent, not a bad secret.
				addHint(e, c.cfg.TenantID, r.contentType)
				return e
			}
			if authRetries >= 2 {
				e.Hint = "the API keeps refusing freshly issued tokens: check the client secret or certificate, the tenant id and the cloud"
				return asAuth(ctx, e)
			}
			authRetries++
			c.log.Info("access token refused, renewing it", append(attrsAny(r.attrs), "attempt", authRetries, "status", resp.StatusCode)...)
			c.invalidate(ctx, tok)
			attempt-- // a renewal is not a failed attempt
			continue
		case resp.StatusCode >= 300:
			c.noteDate(resp.Header)
			data, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if rerr != nil {
				c.observe(resp.StatusCode, false)
				// The error answer was cut off, so its code is unknown (a 403 may be
				// AF429): retry it like any broken transfer, never take it as final.
				last = fmt.Errorf("api: %s %s: HTTP %d, error body cut off: %w", r.method, cleanURL, resp.StatusCode, rerr)
				break
			}
			e := parseAPIError(resp.StatusCode, resp.Header, data)
			e.Method, e.URL = r.method, cleanURL
			c.observe(resp.StatusCode, IsThrottled(e))
			bare404 := r.retryNotFound && e.Status == http.StatusNotFound && e.Code == ""
			if !IsThrottled(e) && !IsTransient(e) && !bare404 {
				addHint(e, c.cfg.TenantID, r.contentType)
				return e
			}
			if IsStartThrottled(e) {
				if e.RetryAfter > c.cfg.StartWaitMax {
					// The start limit's "retry again after 14m 56s" is longer than
					// this client sits out: the caller decides, with RetryAfter set.
					return e
				}
				// Waited exactly, not capped by RetryAfterMax: an earlier retry
				// would only meet the limit again.
				exactWait = true
			}
			last, retryAfter = e, e.RetryAfter
		case resp.Request != nil && !c.isAPIOrigin(resp.Request.URL):
			// Unreachable with checkAPIRedirect in place; kept so that no answer
			// from another origin is ever read as ours, whatever the transport does.
			resp.Body.Close()
			return fmt.Errorf("api: %s: answer came from %s, not the API origin %s", r.what, displayOrigin(resp.Request.URL), displayOrigin(c.apiBase))
		default:
			c.observe(resp.StatusCode, false)
			c.noteDate(resp.Header)
			err := handle(resp)
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			var rb *retryBody
			se := stalled()
			if err == nil || (!errors.As(err, &rb) && se == nil) {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			last = err
			if se != nil {
				last = se
			}
		}
		if IsTimeout(last) {
			if stalls++; stalls >= blobTimeoutTries {
				return fmt.Errorf("api: %s: giving up after %d tries that timed out: %w", r.what, stalls, last)
			}
		}
		if attempt > c.cfg.MaxRetries {
			return fmt.Errorf("api: %s: giving up after %d attempts: %w", r.what, attempt, last)
		}
		wait := c.backoff(attempt)
		if retryAfter > 0 {
			wait = min(retryAfter, c.cfg.RetryAfterMax)
			if exactWait {
				wait = retryAfter
			}
		}
		args := attrsAny(r.attrs)
		args = append(args, "attempt", attempt, "wait", wait)
		var e *APIError
		if errors.As(last, &e) {
			args = append(args, "status", e.Status, "code", e.Code, "retry_after", e.RetryAfter)
		}
		args = append(args, "err", last.Error())
		c.log.Warn("retrying "+r.what, args...)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (c *Client) observe(status int, throttled bool) {
	if c.cfg.OnResponse != nil {
		c.cfg.OnResponse(Response{Status: status, Throttled: throttled})
	}
}

func attrsAny(a []slog.Attr) []any {
	out := make([]any, 0, len(a)+8)
	for _, x := range a {
		out = append(out, x)
	}
	return out
}

func (c *Client) noteDate(h http.Header) {
	d := h.Get("Date")
	if d == "" {
		return
	}
	t, err := http.ParseTime(d)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.skew, c.skewOK = t.Sub(c.now()).Round(time.Second), true
	c.mu.Unlock()
}

func stripQuery(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
}

// scrubURLError removes the query string from a *url.Error's URL.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: stripQuery(ue.URL), Err: ue.Err}
	}
	return err
}

// withPublisher adds PublisherIdentifier to u unless some casing of it is there.
func (c *Client) withPublisher(u string) (string, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	q := pu.Query()
	for k := range q {
		if strings.EqualFold(k, "PublisherIdentifier") {
			return u, nil
		}
	}
	sep := "?"
	if pu.RawQuery != "" {
		sep = "&"
	}
	return u + sep + "PublisherIdentifier=" + url.QueryEscape(c.cfg.PublisherID), nil
}
