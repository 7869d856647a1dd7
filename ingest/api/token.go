package api

import (
	"context"
	"net/http"
)

// AccessToken returns a valid bearer token for the client's Resource, from the
// cache or freshly acquired. Another client of the same app registration (the
// Microsoft Graph client of ingest/graph) uses it so that there is one OAuth2
// client-credentials implementation; errors are those of Token.
func (c *Client) AccessToken(ctx context.Context) (string, error) {
	return c.bearer(ctx, false)
}

// RenewToken drops tok from the cache if it is still the cached token (a
// service refused it with 401) and returns a fresh one.
func (c *Client) RenewToken(ctx context.Context, tok string) (string, error) {
	c.invalidate(ctx, tok)
	return c.bearer(ctx, false)
}

// HTTPClient returns the HTTP client the Client sends API requests with: its
// timeouts, proxy and redirect policy (redirects followed only to the API
// origin, origin.go), for a caller that talks to another Microsoft endpoint
// configured as this client's APIURL with the same rules.
func (c *Client) HTTPClient() *http.Client { return c.hc }
