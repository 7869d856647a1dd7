package emulator

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

var fullRoles = []string{"ActivityFeed.Read", "ActivityFeed.ReadDlp", "ServiceHealth.Read"}

// knownResources are the Management API resources of every cloud.
var knownResources = []string{"https://manage.office.com", "https://manage-gcc.office.com", "https://manage.office365.us", "https://manage.protection.apps.mil"}

type accessClaims struct {
	Aud   string   `json:"aud"`
	Iss   string   `json:"iss"`
	Tid   string   `json:"tid"`
	AppID string   `json:"appid"`
	Roles []string `json:"roles"`
	Ver   string   `json:"ver"`
	Iat   int64    `json:"iat"`
	Nbf   int64    `json:"nbf"`
	Exp   int64    `json:"exp"`
}

var b64 = base64.RawURLEncoding

// aadError writes an Entra ID token endpoint error.
func aadError(w http.ResponseWriter, status int, errCode string, aadsts int, desc string, now time.Time) {
	trace, corr := "5b0e2f3a-0d7c-4c8e-9a51-2f6b1c7d8e90", "c2a3b4d5-e6f7-4819-a2b3-c4d5e6f7a8b9"
	full := fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, desc, trace, corr, now.Format("2006-01-02 15:04:05Z"))
	body, _ := json.Marshal(map[string]any{"error": errCode, "error_description": full, "error_codes": []int{aadsts},
		"timestamp": now.Format("2006-01-02 15:04:05Z"), "trace_id": trace, "correlation_id": corr,
		"error_uri": fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts)})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request, tenant string, v2 bool, now time.Time) {
	if r.Method != http.MethodPost {
		aadError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests.", now)
		return
	}
	if s.has(QuirkRedirectLogin) {
		s.mu.Lock()
		first := !s.loginRedirected
		s.loginRedirected = true
		s.mu.Unlock()
		if first {
			// 307 keeps the method and body: a client that followed it would post
			// its secret to the other port.
			w.Header().Set("Location", otherPort(r)+r.URL.Path)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
	}
	if err := r.ParseForm(); err != nil {
		aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.", now)
		return
	}
	if !strings.EqualFold(tenant, s.opts.TenantID) && !strings.EqualFold(tenant, Domain) {
		aadError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant), now)
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		aadError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt), now)
		return
	}
	clientID := r.PostForm.Get("client_id")
	var secret string
	var roles []string
	found := false
	if clientID == s.opts.ClientID {
		secret, roles, found = s.opts.ClientSecret, fullRoles, true
	}
	for _, c := range s.opts.Clients {
		if !found && c.ClientID == clientID {
			secret, roles, found = c.ClientSecret, c.Roles, true
		}
	}
	if !found {
		aadError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant), now)
		return
	}
	resource := r.PostForm.Get("resource")
	if v2 {
		scope := r.PostForm.Get("scope")
		if !strings.HasSuffix(scope, "/.default") || strings.Contains(scope, " ") {
			aadError(w, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope), now)
			return
		}
		resource = strings.TrimSuffix(scope, "/.default")
	}
	resource = strings.TrimRight(resource, "/")
	if slices.Contains(graphResources, resource) {
		roles = nil
		if clientID == s.opts.ClientID {
			roles = s.graphRoles()
		}
	} else if !slices.Contains(knownResources, resource) && resource != baseURL(r) {
		aadError(w, http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, tenant), now)
		return
	}
	switch {
	case r.PostForm.Has("client_secret"):
		if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("client_secret")), []byte(secret)) != 1 {
			aadError(w, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID), now)
			return
		}
	case r.PostForm.Has("client_assertion"):
		if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			aadError(w, http.StatusBadRequest, "invalid_request", 70002, "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.", now)
			return
		}
		if err := s.checkAssertion(r.PostForm.Get("client_assertion"), clientID, tenant, now); err != "" {
			aadError(w, http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation or is invalid: "+err+".", now)
			return
		}
	default:
		aadError(w, http.StatusBadRequest, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", now)
		return
	}
	life := s.opts.TokenLifetime
	c := accessClaims{Aud: resource, Iss: "https://sts.windows.net/" + s.opts.TenantID + "/", Tid: s.opts.TenantID,
		AppID: clientID, Roles: roles, Ver: "1.0", Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(life).Unix()}
	tok := s.sign(c)
	secs := int64(life / time.Second)
	if secs < 1 {
		secs = 1
	}
	if v2 {
		writeJSON(w, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
		return
	}
	// v1 sends its numbers as strings.
	writeJSON(w, map[string]string{"token_type": "Bearer", "expires_in": fmt.Sprint(secs), "ext_expires_in": fmt.Sprint(secs),
		"expires_on": fmt.Sprint(c.Exp), "not_before": fmt.Sprint(c.Nbf), "resource": resource, "access_token": tok})
}

func (s *Server) sign(c accessClaims) string {
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "HS256"})
	body, _ := json.Marshal(c)
	in := b64.EncodeToString(hdr) + "." + b64.EncodeToString(body)
	m := hmac.New(sha256.New, s.signKey)
	m.Write([]byte(in))
	return in + "." + b64.EncodeToString(m.Sum(nil))
}

// checkBearer validates the access token of an API request.
func (s *Server) checkBearer(r *http.Request, now time.Time) (accessClaims, bool) {
	var c accessClaims
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return c, false
	}
	parts := strings.Split(strings.TrimSpace(h[7:]), ".")
	if len(parts) != 3 {
		return c, false
	}
	m := hmac.New(sha256.New, s.signKey)
	m.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
		return c, false
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil || json.Unmarshal(body, &c) != nil {
		return c, false
	}
	if now.Unix() >= c.Exp {
		return c, false
	}
	return c, true
}

// checkAssertion verifies a client assertion against Options.Certificate;
// it returns "" when valid, else why not.
func (s *Server) checkAssertion(a, clientID, tenant string, now time.Time) string {
	cert := s.opts.Certificate
	if cert == nil || clientID != s.opts.ClientID {
		return "no certificate is registered for this application"
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return "registered certificate has no RSA key"
	}
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		return "not a JWT"
	}
	var hdr struct {
		Alg     string `json:"alg"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	raw, err := b64.DecodeString(parts[0])
	if err != nil || json.Unmarshal(raw, &hdr) != nil {
		return "bad header"
	}
	s256 := sha256.Sum256(cert.Raw)
	s1 := sha1.Sum(cert.Raw)
	switch {
	case hdr.X5tS256 != "":
		if hdr.X5tS256 != b64.EncodeToString(s256[:]) {
			return "x5t#S256 does not match a registered certificate"
		}
	case hdr.X5t != "":
		if hdr.X5t != b64.EncodeToString(s1[:]) {
			return "x5t does not match a registered certificate"
		}
	default:
		return "no certificate thumbprint in header"
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return "bad signature encoding"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch hdr.Alg {
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	default:
		return "unsupported alg " + hdr.Alg
	}
	if err != nil {
		return "signature does not verify"
	}
	var cl struct {
		Aud string `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Nbf int64  `json:"nbf"`
		Exp int64  `json:"exp"`
	}
	raw, err = b64.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw, &cl) != nil {
		return "bad claims"
	}
	if cl.Iss != clientID || cl.Sub != clientID {
		return "iss and sub must be the client id"
	}
	if !strings.HasSuffix(cl.Aud, "/"+tenant+"/oauth2/v2.0/token") && !strings.HasSuffix(cl.Aud, "/"+tenant+"/oauth2/token") {
		return "aud must be the token endpoint"
	}
	if now.Unix() >= cl.Exp || cl.Nbf > now.Add(5*time.Minute).Unix() {
		return "assertion expired or not yet valid"
	}
	return ""
}

// otherPort is this request's scheme and host on the next port number.
func otherPort(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "80"
		if r.TLS != nil {
			port = "443"
		}
	}
	n, _ := strconv.Atoi(port)
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(n+1))
}
