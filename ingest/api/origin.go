package api

// The origin and redirect policy of the whole client, in one place.
//
//   - Credentials go to two places only: the client secret or assertion to the
//     token URL, the bearer token to the API origin (scheme, host and port of
//     the configured API base; https://h:443 is https://h, http://h:80 is
//     http://h; host names compare case-insensitively).
//   - The token endpoint follows no redirect at all: a 307/308 would re-post
//     the form, client secret included, to wherever it points.
//   - API and content calls follow a redirect only to the API origin (at most
//     maxRedirects hops). Any other location is a *RedirectError naming it;
//     nothing is sent there, so no credential leaves and no answer from
//     another origin is ever read as a blob or a listing.
//   - URLs the service hands us (NextPageUri, contentUri) are checked by the
//     same originOf comparison before the token is attached.
//
// A Config.HTTPClient's own CheckRedirect is replaced by this policy: the
// client copies the http.Client and never mutates the caller's.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// maxRedirects bounds same-origin redirect chains.
const maxRedirects = 5

// RedirectError is a redirect the client refused to follow. Nothing was sent
// to Location.
type RedirectError struct {
	Status   int    // the redirecting answer's HTTP status (301, 302, 307…)
	From     string // the URL that answered the redirect, without query string
	Location string // where it pointed, resolved, without query string
	Reason   string // why it was refused
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("api: %s answered HTTP %d redirecting to %s: refused (%s); no credential was sent there",
		e.From, e.Status, e.Location, e.Reason)
}

// IsRedirectRefused reports whether err is a refused redirect (*RedirectError).
func IsRedirectRefused(err error) bool {
	var e *RedirectError
	return errors.As(err, &e)
}

// origin is scheme://host:port with the default port made explicit.
type origin struct{ scheme, host, port string }

func (o origin) String() string { return o.scheme + "://" + o.host + ":" + o.port }

// originOf returns u's origin: scheme and host lower-cased, the default port
// of http (80) and https (443) filled in.
func originOf(u *url.URL) origin {
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if o.port == "" {
		switch o.scheme {
		case "https":
			o.port = "443"
		case "http":
			o.port = "80"
		}
	}
	return o
}

// isAPIOrigin reports whether u is on the API origin.
func (c *Client) isAPIOrigin(u *url.URL) bool {
	return u.Host != "" && originOf(u) == originOf(c.apiBase)
}

// sameOrigin checks a URL the service handed us (NextPageUri, contentUri)
// before the bearer token is attached to it: it must be on the API origin.
func (c *Client) sameOrigin(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("api: invalid URL from the service: %w", err)
	}
	if !c.isAPIOrigin(pu) {
		return fmt.Errorf("api: refusing to send the token to %s (the API is %s)", displayOrigin(pu), displayOrigin(c.apiBase))
	}
	return nil
}

// displayOrigin is scheme://host[:port] as the URL wrote it.
func displayOrigin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// redirectLocation names a redirect's target without its query string (a
// query may carry someone's signature; the path is enough to act on).
func redirectLocation(u *url.URL) string {
	v := *u
	v.RawQuery, v.Fragment, v.User = "", "", nil
	return v.String()
}

func refuse(req *http.Request, via []*http.Request, reason string) error {
	e := &RedirectError{Location: redirectLocation(req.URL), Reason: reason}
	if len(via) > 0 {
		e.From = redirectLocation(via[len(via)-1].URL)
	}
	if req.Response != nil {
		e.Status = req.Response.StatusCode
	}
	return e
}

// checkAPIRedirect is the CheckRedirect of API and content calls.
func (c *Client) checkAPIRedirect(req *http.Request, via []*http.Request) error {
	if !c.isAPIOrigin(req.URL) {
		return refuse(req, via, "API calls follow redirects only to "+displayOrigin(c.apiBase))
	}
	if len(via) > maxRedirects {
		return refuse(req, via, fmt.Sprintf("more than %d redirects", maxRedirects))
	}
	return nil
}

// checkTokenRedirect is the CheckRedirect of token requests: none followed.
func checkTokenRedirect(req *http.Request, via []*http.Request) error {
	return refuse(req, via, "the token endpoint's redirects are never followed, so the client credential is not posted again")
}

// withRedirectPolicy returns a copy of hc using check as its CheckRedirect.
func withRedirectPolicy(hc *http.Client, check func(*http.Request, []*http.Request) error) *http.Client {
	cp := *hc
	cp.CheckRedirect = check
	return &cp
}

// redirectErr returns the *RedirectError inside an http.Client.Do error, if any.
func redirectErr(err error) (*RedirectError, bool) {
	var e *RedirectError
	ok := errors.As(err, &e)
	return e, ok
}
