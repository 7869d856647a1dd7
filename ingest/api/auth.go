package api

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"software.sslmate.com/src/go-pkcs12"
)

// Certificate is a client certificate with its RSA private key, used to sign
// client assertions (certificate credentials).
type Certificate struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
}

// LoadCertificate reads a certificate credential from files. With keyFile
// empty and a certFile ending in .pfx or .p12, certFile is read as PKCS#12
// protected by password; otherwise certFile and keyFile are PEM (keyFile may
// be empty when certFile holds both the certificate and the key).
func LoadCertificate(certFile, keyFile, password string) (*Certificate, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("api: reading certificate: %w", err)
	}
	lower := strings.ToLower(certFile)
	if keyFile == "" && (strings.HasSuffix(lower, ".pfx") || strings.HasSuffix(lower, ".p12")) {
		return ParsePKCS12(data, password)
	}
	keyData := data
	if keyFile != "" {
		if keyData, err = os.ReadFile(keyFile); err != nil {
			return nil, fmt.Errorf("api: reading private key: %w", err)
		}
	}
	return ParsePEM(data, keyData)
}

// ParsePEM parses a PEM certificate and a PEM RSA private key (PKCS#1 or
// PKCS#8, unencrypted). Both may come from the same bytes.
func ParsePEM(certPEM, keyPEM []byte) (*Certificate, error) {
	var c Certificate
	for rest := certPEM; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("api: parsing certificate: %w", err)
			}
			c.Cert = cert
			break
		}
	}
	if c.Cert == nil {
		return nil, errors.New("api: no PEM CERTIFICATE block found")
	}
	for rest := keyPEM; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("api: parsing RSA private key: %w", err)
			}
			c.Key = k
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("api: parsing private key: %w", err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("api: private key is %T, want RSA", k)
			}
			c.Key = rk
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("api: encrypted PEM private keys are not supported; use PKCS#12 with a password")
		}
		if c.Key != nil {
			break
		}
	}
	if c.Key == nil {
		return nil, errors.New("api: no PEM private key block found")
	}
	return &c, c.check()
}

// ParsePKCS12 parses a PKCS#12 (.pfx) bundle holding an RSA key and its certificate.
func ParsePKCS12(data []byte, password string) (*Certificate, error) {
	key, cert, _, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, fmt.Errorf("api: decoding PKCS#12: %w", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("api: PKCS#12 key is %T, want RSA", key)
	}
	c := &Certificate{Cert: cert, Key: rk}
	return c, c.check()
}

func (c *Certificate) check() error {
	pub, ok := c.Cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("api: certificate key is %T, want RSA", c.Cert.PublicKey)
	}
	if !pub.Equal(&c.Key.PublicKey) {
		return errors.New("api: private key does not match the certificate")
	}
	if pub.N.BitLen() < 2048 {
		return errors.New("api: certificate key must be at least 2048 bits")
	}
	return nil
}

// ThumbprintS256 is base64url(SHA-256(DER)), the x5t#S256 JWT header value.
func (c *Certificate) ThumbprintS256() string {
	sum := sha256.Sum256(c.Cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// clientAssertion returns a PS256 JWT for the token endpoint aud.
func (c *Certificate) clientAssertion(aud, clientID string, now time.Time) (string, error) {
	hdr, _ := json.Marshal(map[string]string{"alg": "PS256", "typ": "JWT", "x5t#S256": c.ThumbprintS256()})
	claims, _ := json.Marshal(map[string]any{
		"aud": aud, "iss": clientID, "sub": clientID, "jti": uuid.NewString(),
		"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
	signing := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPSS(rand.Reader, c.Key, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		return "", fmt.Errorf("api: signing client assertion: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// tokenCache holds the bearer token. sem (capacity 1) serialises renewal and
// keeps the wait for it cancellable.
type tokenCache struct {
	sem      chan struct{}
	token    string
	expires  time.Time
	lifetime time.Duration
}

// Token acquires (or renews) a bearer token now: it checks the credentials
// without calling the API. Errors carry a Hint naming the likely cause.
func (c *Client) Token(ctx context.Context) error {
	_, err := c.bearer(ctx, true)
	return err
}

// bearer returns a valid token, renewing it when force is set or when it
// expires soon (within a fifth of its lifetime, at most five minutes).
func (c *Client) bearer(ctx context.Context, force bool) (string, error) {
	select {
	case c.tok.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.tok.sem }()
	now := c.now()
	margin := min(c.tok.lifetime/5, 5*time.Minute)
	if !force && c.tok.token != "" && now.Add(margin).Before(c.tok.expires) {
		return c.tok.token, nil
	}
	tok, life, err := c.fetchToken(ctx)
	if err != nil {
		return "", asAuth(ctx, err)
	}
	c.tok.token, c.tok.lifetime, c.tok.expires = tok, life, now.Add(life)
	c.log.Debug("acquired access token", "tenant_id", c.cfg.TenantID, "expires_in", life)
	return tok, nil
}

// invalidate drops the cached token if it is still tok.
func (c *Client) invalidate(ctx context.Context, tok string) {
	select {
	case c.tok.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	if c.tok.token == tok {
		c.tok.token = ""
	}
	<-c.tok.sem
}

// flexInt accepts 3599 and "3599" (v1 token responses send numbers as strings).
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	*f = flexInt(n)
	return err
}

func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{}
	form.Set("grant_type", "client_credentials")
	form.Set("client_id", c.cfg.ClientID)
	form.Set("scope", c.resource+"/.default")
	if c.cert != nil {
		a, err := c.cert.clientAssertion(c.tokenURL, c.cfg.ClientID, time.Now())
		if err != nil {
			return "", 0, err
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
	} else {
		form.Set("client_secret", c.cfg.ClientSecret)
	}
	body := []byte(form.Encode())
	var last error
	for attempt := 1; attempt <= c.cfg.MaxRetries+1; attempt++ {
		// Cut like any answer (limits.go): an idle or endless token answer is retried.
		at := newAttempt(ctx, c.cfg.BlobTimeout, "requesting a token")
		defer at.release()
		req, err := http.NewRequestWithContext(at.ctx, http.MethodPost, c.tokenURL, bytes.NewReader(body))
		if err != nil {
			return "", 0, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := c.tokenHC.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return "", 0, ctx.Err()
			}
			if re, ok := redirectErr(err); ok {
				// Never followed (origin.go). Asking the configured token URL
				// again is safe, and a proxy's or front door's stray redirect
				// may pass; after MaxRetries the error names the location.
				last = fmt.Errorf("api: requesting token: %w", re)
			} else {
				last = fmt.Errorf("api: requesting token from %s: %w", c.tokenURL, err)
			}
		} else {
			data, rerr := io.ReadAll(io.LimitReader(at.watch(resp.Body, c.cfg.IdleTimeout), 1<<20))
			resp.Body.Close()
			if se := at.stalled(); se != nil && rerr != nil && ctx.Err() == nil {
				rerr = se
			}
			switch {
			case rerr != nil:
				last = fmt.Errorf("api: reading token response: %w", rerr)
			case resp.StatusCode == http.StatusOK:
				var tr struct {
					AccessToken string  `json:"access_token"`
					TokenType   string  `json:"token_type"`
					ExpiresIn   flexInt `json:"expires_in"`
				}
				if err := json.Unmarshal(data, &tr); err != nil || tr.AccessToken == "" {
					last = fmt.Errorf("api: token response from %s is not a token (%d bytes)", c.tokenURL, len(data))
					break
				}
				life := time.Duration(tr.ExpiresIn) * time.Second
				if life <= 0 {
					life = time.Hour
				}
				return tr.AccessToken, life, nil
			default:
				e := parseAPIError(resp.StatusCode, resp.Header, data)
				e.Method, e.URL = http.MethodPost, c.tokenURL
				if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
					addHint(e, c.cfg.TenantID, "")
					if e.Hint == "" && (resp.StatusCode == 400 || resp.StatusCode == 401) {
						e.Hint = "the token request was refused: check tenant_id, client_id, the secret or certificate, and the cloud"
					}
					return "", 0, e
				}
				last = e
			}
		}
		wait := c.backoff(attempt)
		c.log.Warn("token request failed, retrying", "tenant_id", c.cfg.TenantID, "attempt", attempt, "wait", wait, "err", last.Error())
		if err := sleep(ctx, wait); err != nil {
			return "", 0, err
		}
	}
	return "", 0, last
}
