package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrMalformedBlob is returned (wrapped) by FetchBlob when a blob body is still
// not a complete JSON array after every retry.
var ErrMalformedBlob = errors.New("blob body is not a complete JSON array")

// APIError is an error answer of the Management Activity API or of the token
// endpoint. Code and Message are the service's own text, unchanged; Error()
// shows them verbatim so a user can search for them.
type APIError struct {
	Status  int    // HTTP status
	Code    string // "AF20022", "AF429", "AADSTS700016"…, or "" when the body had no such code
	Message string // the service's message, verbatim
	Method  string // HTTP method of the failed request
	URL     string // request URL without query string (never carries secrets)
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration
	// Hint names the likely cause of a configuration error, "" otherwise.
	Hint string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("api: ")
	if e.Method != "" || e.URL != "" {
		b.WriteString(e.Method + " " + e.URL + ": ")
	}
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Hint != "" {
		b.WriteString(" (hint: " + e.Hint + ")")
	}
	return b.String()
}

// ErrAuthentication is matched (errors.Is) by every failure to authenticate: the
// token endpoint refused the credentials, or the API kept refusing fresh tokens. The
// error is otherwise the underlying one (an *APIError with its Hint, usually).
var ErrAuthentication = errors.New("authentication failed")

type authError struct{ err error }

func (e *authError) Error() string   { return e.err.Error() }
func (e *authError) Unwrap() []error { return []error{e.err, ErrAuthentication} }

// asAuth marks err as an authentication failure, unless it is the context's.
func asAuth(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || errors.Is(err, ErrAuthentication) {
		return err
	}
	return &authError{err}
}

func asAPIError(err error) (*APIError, bool) {
	var e *APIError
	ok := errors.As(err, &e)
	return e, ok
}

// IsExpired reports whether err says a content blob has expired (AF20051).
func IsExpired(err error) bool {
	e, ok := asAPIError(err)
	return ok && e.Code == "AF20051"
}

// IsNotFound reports whether err says a content blob does not exist (AF20050).
// A bare or HTML 404 without that code is not: it is retried within the pass and
// then reported as a failed fetch, fetched again by the next run.
func IsNotFound(err error) bool {
	e, ok := asAPIError(err)
	return ok && e.Code == "AF20050"
}

// throttleText matches the service's throttling messages when they come without
// an AF429 code (plain text, start-subscription limit).
var throttleText = regexp.MustCompile(`(?i)too many (frequent subscription start )?requests`)

// IsThrottled reports whether err is the API's throttling answer: AF429 (sent
// with HTTP 403 per the docs, or 429), any HTTP 429, or a body that says "Too
// many requests" in whatever form (JSON, Python repr, plain text).
func IsThrottled(err error) bool {
	e, ok := asAPIError(err)
	return ok && (e.Code == "AF429" || e.Status == http.StatusTooManyRequests ||
		(e.Status == http.StatusForbidden && throttleText.MatchString(e.Message)))
}

// IsStartThrottled reports whether err is the subscription-start limit ("Too
// many frequent subscription start requests. Please retry again after 14m
// 56s"); its RetryAfter holds the wait the service asked for.
func IsStartThrottled(err error) bool {
	e, ok := asAPIError(err)
	return ok && IsThrottled(err) && strings.Contains(strings.ToLower(e.Message), "subscription start")
}

// expectedPermission finds the permission named by AF10001's message ("... does
// not include the expected permission ActivityFeed.ReadDlp").
var expectedPermission = regexp.MustCompile(`(?i)expected permission\s+([A-Za-z][A-Za-z0-9.]*[A-Za-z0-9])`)

// MissingPermission returns the API permission err says the app lacks (AF10001,
// or the service's "permission set ... does not include the expected
// permission" text with any status), and whether err says so at all. When the
// message names no permission, contentType decides: ActivityFeed.ReadDlp for
// DLP.All, else ActivityFeed.Read.
func MissingPermission(err error, contentType string) (string, bool) {
	e, ok := asAPIError(err)
	if !ok || (e.Code != "AF10001" && !strings.Contains(strings.ToLower(e.Message), "permission set")) {
		return "", false
	}
	if m := expectedPermission.FindStringSubmatch(e.Message); m != nil {
		return m[1], true
	}
	if contentType == DLPAll {
		return "ActivityFeed.ReadDlp", true
	}
	return "ActivityFeed.Read", true
}

// retryAgainAfter parses the wait of the start-subscription limit: "retry again
// after 14m 56s" (also "1h 2m 3s", "56s").
var retryAgainAfter = regexp.MustCompile(`(?i)retry (?:again )?after\s+(?:(\d+)\s*h\s*)?(?:(\d+)\s*m\s*)?(?:(\d+)\s*s)?`)

func parseRetryAgainAfter(msg string) time.Duration {
	m := retryAgainAfter.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	return d
}

// IsTransient reports whether err is a server-side failure worth retrying
// (HTTP 5xx, 408, AF50000 and its siblings).
func IsTransient(err error) bool {
	e, ok := asAPIError(err)
	if !ok {
		return false
	}
	switch e.Code {
	case "AF50000", "AF50005", "AF50006":
		return true
	}
	return e.Status >= 500 || e.Status == http.StatusRequestTimeout
}

// IsConfig reports whether err is a configuration problem (bad tenant, app,
// secret, permission, audit logging off…): retrying will not help, and the
// error's Hint names the likely cause.
func IsConfig(err error) bool {
	e, ok := asAPIError(err)
	return ok && e.Hint != ""
}

// IsNoSubscription reports whether err says the content type has no
// subscription (AF20022) or a disabled one (AF20023).
func IsNoSubscription(err error) bool {
	e, ok := asAPIError(err)
	return ok && (e.Code == "AF20022" || e.Code == "AF20023")
}

var afCode = regexp.MustCompile(`^AF\d+$`)
var afCodeInText = regexp.MustCompile(`\bAF\d{3,5}\b`)
var aadstsCode = regexp.MustCompile(`AADSTS\d+`)

// Python-repr error bodies ({'error': {'code': 'AF429', 'message': '...'}}), as
// the troubleshooting page quotes them.
var (
	reprCode    = regexp.MustCompile(`'code'\s*:\s*'((?:[^'\\]|\\.)*)'`)
	reprMessage = regexp.MustCompile(`'message'\s*:\s*'((?:[^'\\]|\\.)*)'`)
)

// parseAPIError builds an APIError from an error response body: JSON (the
// documented {"error":{"code","message"}}, the token endpoint's form, ASP.NET's
// {"Message"}), the Python-repr form, or plain text (an AF code in it is taken
// as the code). A "retry again after 14m 56s" in the message sets RetryAfter
// when no Retry-After header came.
func parseAPIError(status int, hdr http.Header, body []byte) *APIError {
	e := parseAPIErrorBody(status, hdr, body)
	if e.RetryAfter == 0 {
		e.RetryAfter = parseRetryAgainAfter(e.Message)
	}
	return e
}

func parseAPIErrorBody(status int, hdr http.Header, body []byte) *APIError {
	e := &APIError{Status: status, RetryAfter: parseRetryAfter(hdr.Get("Retry-After"))}
	var env struct {
		Error json.RawMessage `json:"error"`
		// Token endpoint form.
		Description string `json:"error_description"`
		// ASP.NET form seen on 401s.
		Message string `json:"Message"`
	}
	if json.Unmarshal(body, &env) == nil {
		var inner struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		var s string
		switch {
		case len(env.Error) > 0 && json.Unmarshal(env.Error, &inner) == nil && (inner.Code != "" || inner.Message != ""):
			if afCode.MatchString(inner.Code) {
				e.Code, e.Message = inner.Code, inner.Message
			} else {
				// Real bodies exist whose "code" is a diagnostic string cut
				// mid-token and continued in "message"; joining restores it.
				e.Message = inner.Code + inner.Message
			}
			return e
		case len(env.Error) > 0 && json.Unmarshal(env.Error, &s) == nil:
			// OAuth token endpoint: {"error":"invalid_client","error_description":"AADSTS7000215: …"}
			e.Message = env.Description
			if e.Message == "" {
				e.Message = s
			}
			e.Code = aadstsCode.FindString(env.Description)
			return e
		case env.Message != "":
			e.Message = env.Message
			return e
		}
	}
	msg := strings.TrimSpace(string(body))
	if m := reprMessage.FindStringSubmatch(msg); m != nil && strings.Contains(msg, "'error'") {
		if c := reprCode.FindStringSubmatch(msg); c != nil && afCode.MatchString(c[1]) {
			e.Code = c[1]
		}
		e.Message = strings.ReplaceAll(m[1], `\'`, "'")
		return e
	}
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	e.Message = msg
	e.Code = afCodeInText.FindString(msg)
	return e
}

func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// addHint fills e.Hint for errors that are almost always configuration mistakes.
func addHint(e *APIError, tenant, contentType string) {
	msg := e.Message
	switch {
	case strings.Contains(msg, "DataServiceException") && strings.Contains(msg, "does not exist"),
		strings.Contains(msg, "Tenant") && strings.Contains(msg, "does not exist") && e.Code == "":
		e.Hint = "unified audit logging is probably not turned on for tenant " + tenant +
			" (Microsoft Purview portal → Audit → Start recording; it can take up to 60 minutes), or the tenant id is wrong"
	case e.Code == "AF10001" || strings.Contains(strings.ToLower(msg), "permission set"):
		perm, _ := MissingPermission(e, contentType)
		e.Hint = "the app lacks the Office 365 Management APIs application permission " + perm +
			", or a tenant admin has not granted admin consent for it (Entra admin center → App registrations → API permissions → Office 365 Management APIs → Application permissions → " + perm + ", then Grant admin consent)"
	case e.Code == "AF20010":
		e.Hint = "the token was issued for another tenant: check tenant_id and that login and API URLs belong to the same cloud"
	case e.Code == "AF20011", e.Code == "AF20012":
		e.Hint = "the tenant is unknown to the Management Activity API or not licensed/configured for it: check tenant_id and the cloud"
	case e.Code == "AF20013":
		e.Hint = "tenant_id must be the tenant's GUID, not a domain name"
	case e.Code == "AF20023":
		e.Hint = "the subscription was disabled by an admin; start it again"
	case e.Code == "AADSTS700016":
		e.Hint = "the application (client) id is not registered in this tenant: wrong client_id, wrong tenant_id, or the app lives in another cloud"
	case e.Code == "AADSTS90002", e.Code == "AADSTS900023":
		e.Hint = "the tenant was not found by this login host: wrong tenant_id, or wrong cloud (commercial vs gcchigh/dod)"
	case e.Code == "AADSTS7000215", e.Code == "AADSTS7000222":
		e.Hint = "the client secret is wrong or expired: use the secret's Value (not its ID) and check its expiry"
	case e.Code == "AADSTS700027", e.Code == "AADSTS700023":
		e.Hint = "the certificate used to sign the client assertion is not registered on the app (or the private key does not match it)"
	case e.Code == "AADSTS500011":
		e.Hint = "the Office 365 Management APIs resource is not known in this tenant/cloud: check the cloud and that the API permission was added and consented"
	case e.Code == "AADSTS7000218", e.Code == "AADSTS70011":
		e.Hint = "the token request is malformed: check client credentials configuration"
	}
}
