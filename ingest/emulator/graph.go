package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// The emulator serves the few Microsoft Graph v1.0 endpoints remediation calls, for its
// synthetic tenant, under /v1.0 on the same host:
//
//	GET    /v1.0/users/{id | userPrincipalName}
//	PATCH  /v1.0/users/{id | userPrincipalName}                 {"accountEnabled": false}
//	POST   /v1.0/users/{id | userPrincipalName}/revokeSignInSessions
//	GET    /v1.0/users/{id | userPrincipalName}/mailFolders/inbox/messageRules
//	GET    /v1.0/users/{id | userPrincipalName}/mailFolders/inbox/messageRules/{id}
//	DELETE /v1.0/users/{id | userPrincipalName}/mailFolders/inbox/messageRules/{id}
//	GET    /v1.0/servicePrincipals(appId='{appId}')
//	GET    /v1.0/oauth2PermissionGrants?$filter=clientId eq '{id}'
//	DELETE /v1.0/oauth2PermissionGrants/{id}
//	GET    /v1.0/roleManagement/directory/roleAssignments?$filter=principalId eq '{id}' [and roleDefinitionId eq '{id}']
//	DELETE /v1.0/roleManagement/directory/roleAssignments/{id}
//
// Tokens for the Graph resource carry the application permissions GraphPermissions
// lists, less Options.GraphWithhold; a call whose permission is missing is answered 403
// with Graph's error shape. The mailbox of the attack's user holds the forwarding rule
// the attack created (AttackRuleName), beside a benign one. GET /_emulator/graph-calls
// lists every Graph call received, in order.

// GraphPermissions are the application permissions the emulator's app holds for Graph
// (before Options.GraphWithhold).
var GraphPermissions = []string{"User.Read.All", "User.RevokeSessions.All", "User.EnableDisableAccount.All",
	"MailboxSettings.ReadWrite", "Application.Read.All", "DelegatedPermissionGrant.ReadWrite.All", "RoleManagement.ReadWrite.Directory",
	"AuditLogsQuery.Read.All"}

// graphResources are the Graph resources (token audiences) of every cloud.
var graphResources = []string{"https://graph.microsoft.com", "https://graph.microsoft.us", "https://dod-graph.microsoft.us"}

// GraphCall is one Graph request the emulator received.
type GraphCall struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`  // as sent, unescaped, without the query
	Query  string    `json:"query"` // unescaped query string
	Status int       `json:"status"`
}

// GraphUser is a user of the emulated directory.
type GraphUser struct {
	ID                              string    `json:"id"`
	UserPrincipalName               string    `json:"userPrincipalName"`
	DisplayName                     string    `json:"displayName"`
	AccountEnabled                  bool      `json:"accountEnabled"`
	SignInSessionsValidFromDateTime time.Time `json:"signInSessionsValidFromDateTime"`
}

// MessageRule is an inbox rule in Graph's messageRule shape (the fields used here).
type MessageRule struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Sequence    int    `json:"sequence"`
	IsEnabled   bool   `json:"isEnabled"`
	Conditions  struct {
		SubjectOrBodyContains []string `json:"subjectOrBodyContains,omitempty"`
		SubjectContains       []string `json:"subjectContains,omitempty"`
	} `json:"conditions"`
	Actions struct {
		ForwardTo           []Recipient `json:"forwardTo,omitempty"`
		ForwardAsAttachment []Recipient `json:"forwardAsAttachmentTo,omitempty"`
		RedirectTo          []Recipient `json:"redirectTo,omitempty"`
		Delete              bool        `json:"delete,omitempty"`
		MarkAsRead          bool        `json:"markAsRead,omitempty"`
		MoveToFolder        string      `json:"moveToFolder,omitempty"`
		StopProcessingRules bool        `json:"stopProcessingRules,omitempty"`
	} `json:"actions"`
}

// Recipient is Graph's recipient: {"emailAddress":{"name","address"}}.
type Recipient struct {
	EmailAddress struct {
		Name    string `json:"name,omitempty"`
		Address string `json:"address"`
	} `json:"emailAddress"`
}

func recipient(addr string) Recipient {
	var r Recipient
	r.EmailAddress.Name, r.EmailAddress.Address = addr, addr
	return r
}

// ServicePrincipal is an application's service principal in the tenant.
type ServicePrincipal struct {
	ID          string `json:"id"`
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName"`
}

// PermissionGrant is an oAuth2PermissionGrant (a delegated permission grant).
type PermissionGrant struct {
	ID          string `json:"id"`
	ClientID    string `json:"clientId"` // the client service principal's object id
	ConsentType string `json:"consentType"`
	PrincipalID string `json:"principalId,omitempty"`
	ResourceID  string `json:"resourceId"`
	Scope       string `json:"scope"`
}

// RoleAssignment is a unifiedRoleAssignment of the directory provider.
type RoleAssignment struct {
	ID               string `json:"id"`
	PrincipalID      string `json:"principalId"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	DirectoryScopeID string `json:"directoryScopeId"`
}

// directory is the emulated Graph state.
type directory struct {
	mu       sync.Mutex
	seq      int
	users    []*GraphUser
	rules    map[string][]*MessageRule // by user id
	sps      []*ServicePrincipal
	grants   []*PermissionGrant
	roles    []*RoleAssignment
	calls    []GraphCall
	withhold []string
}

func (d *directory) id(prefix string) string {
	d.seq++
	return fmt.Sprintf("%s%08d", prefix, d.seq)
}

// initDirectory fills the directory with the synthetic users and the attack's rule.
func (s *Server) initDirectory() {
	d := &s.dir
	d.rules = map[string][]*MessageRule{}
	d.withhold = s.opts.GraphWithhold
	for _, u := range s.gen.users {
		d.users = append(d.users, &GraphUser{ID: u.objectID, UserPrincipalName: u.upn, DisplayName: u.display, AccountEnabled: true})
	}
	if len(s.gen.users) == 0 || s.opts.RecordsPerDay < 0 {
		return
	}
	megan := s.gen.users[0].objectID
	benign := &MessageRule{ID: "AQAAAJ5dZqA=", DisplayName: "Move newsletters", Sequence: 1, IsEnabled: true}
	benign.Conditions.SubjectContains = []string{"newsletter"}
	benign.Actions.MoveToFolder = "AAMkAGNewsletters"
	benign.Actions.StopProcessingRules = true
	evil := &MessageRule{ID: "AQAAAJ5dZqE=", DisplayName: AttackRuleName, Sequence: 2, IsEnabled: true}
	evil.Conditions.SubjectOrBodyContains = []string{"invoice", "payment", "wire transfer"}
	evil.Actions.ForwardTo = []Recipient{recipient(AttackForwardTo)}
	evil.Actions.Delete, evil.Actions.MarkAsRead, evil.Actions.StopProcessingRules = true, true, true
	d.rules[megan] = []*MessageRule{benign, evil}
}

// MessageRules returns the inbox rules of a user (by UPN or id) as they are now.
func (s *Server) MessageRules(user string) []MessageRule {
	d := &s.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	u := d.user(user)
	if u == nil {
		return nil
	}
	var out []MessageRule
	for _, r := range d.rules[u.ID] {
		out = append(out, *r)
	}
	return out
}

// GraphUser returns a user of the directory (by UPN or id).
func (s *Server) GraphUser(user string) (GraphUser, bool) {
	d := &s.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	if u := d.user(user); u != nil {
		return *u, true
	}
	return GraphUser{}, false
}

// GraphCalls returns the Graph calls received so far, in order.
func (s *Server) GraphCalls() []GraphCall {
	d := &s.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// AddConsent adds a service principal for appID (unless present) and a delegated
// permission grant of scope to it, consented by principal (a UPN or id; "" for admin
// consent on behalf of all users), as a consent leaves it. It returns the service
// principal's id and the grant's id.
func (s *Server) AddConsent(appID, name, principal, scope string) (spID, grantID string) {
	d := &s.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	var sp *ServicePrincipal
	for _, x := range d.sps {
		if strings.EqualFold(x.AppID, appID) {
			sp = x
		}
	}
	if sp == nil {
		d.seq++
		sp = &ServicePrincipal{ID: fmt.Sprintf("5e1f0000-0000-4000-8000-%012d", d.seq), AppID: appID, DisplayName: name}
		d.sps = append(d.sps, sp)
	}
	g := &PermissionGrant{ID: d.id("grant-"), ClientID: sp.ID, ConsentType: "AllPrincipals", ResourceID: "graph-sp", Scope: scope}
	if u := d.user(principal); u != nil {
		g.ConsentType, g.PrincipalID = "Principal", u.ID
	}
	d.grants = append(d.grants, g)
	return sp.ID, g.ID
}

// Grants returns the delegated permission grants of a client service principal id.
func (s *Server) Grants(clientID string) []PermissionGrant {
	d := &s.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []PermissionGrant
	for _, g := range d.grants {
		if g.ClientID == clientID {
			out = append(out, *g)
		}
	}
	return out
}

// AddRoleAssignment assigns the directory role roleDefinitionID (a template id) to a
// user (UPN or id) at the tenant scope and returns the assignment's id.
func (s *Server) AddRoleAssignment(user, roleDefinitionID string) string {
	d := &s.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	u := d.user(user)
	if u == nil {
		return ""
	}
	a := &RoleAssignment{ID: d.id("ra-"), PrincipalID: u.ID, RoleDefinitionID: roleDefinitionID, DirectoryScopeID: "/"}
	d.roles = append(d.roles, a)
	return a.ID
}

// RoleAssignments returns the directory role assignments of a user (UPN or id).
func (s *Server) RoleAssignments(user string) []RoleAssignment {
	d := &s.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	u := d.user(user)
	var out []RoleAssignment
	for _, a := range d.roles {
		if u != nil && a.PrincipalID == u.ID {
			out = append(out, *a)
		}
	}
	return out
}

// user finds a user by id or UPN (case-insensitive); d.mu is held.
func (d *directory) user(key string) *GraphUser {
	for _, u := range d.users {
		if strings.EqualFold(u.ID, key) || strings.EqualFold(u.UserPrincipalName, key) {
			return u
		}
	}
	return nil
}

// graphError writes Graph's error shape.
func graphError(w http.ResponseWriter, status int, code, msg string, now time.Time) {
	reqID := "7f1e0c3a-5b2d-4e6f-8a9b-0c1d2e3f4a5b"
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]string{"date": now.Format("2006-01-02T15:04:05"), "request-id": reqID, "client-request-id": reqID}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", reqID)
	w.WriteHeader(status)
	w.Write(body)
}

// statusRecorder keeps the status a handler wrote, for the call log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

var (
	spByAppID    = regexp.MustCompile(`^servicePrincipals\(appId='([^']+)'\)$`)
	filterEq     = regexp.MustCompile(`(\w+) eq '([^']*)'`)
	directoryErr = "Insufficient privileges to complete the operation."
	mailErr      = "Access is denied. Check credentials and try again."
)

// graph serves /v1.0/... (parts after "v1.0").
func (s *Server) graph(w http.ResponseWriter, r *http.Request, now time.Time) {
	rec := &statusRecorder{ResponseWriter: w}
	path := strings.TrimPrefix(r.URL.Path, "/v1.0")
	q, _ := url.QueryUnescape(r.URL.RawQuery)
	defer func() {
		d := &s.dir
		d.mu.Lock()
		d.calls = append(d.calls, GraphCall{Time: now, Method: r.Method, Path: r.URL.Path, Query: q, Status: rec.status})
		d.mu.Unlock()
	}()
	claims, ok := s.checkBearer(r, now)
	if !ok || !slices.Contains(graphResources, claims.Aud) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"`)
		graphError(rec, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.", now)
		return
	}
	if !strings.EqualFold(claims.Tid, s.opts.TenantID) {
		graphError(rec, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure.", now)
		return
	}
	has := func(perms ...string) bool {
		for _, p := range perms {
			if slices.Contains(claims.Roles, p) {
				return true
			}
		}
		return false
	}
	deny := func(mail bool) {
		if mail {
			graphError(rec, http.StatusForbidden, "ErrorAccessDenied", mailErr, now)
			return
		}
		graphError(rec, http.StatusForbidden, "Authorization_RequestDenied", directoryErr, now)
	}
	if p := strings.Split(strings.Trim(path, "/"), "/"); p[0] == "security" {
		s.auditQueries(rec, r, p, claims.Roles, now)
		return
	}
	d := &s.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	parts := strings.Split(strings.Trim(path, "/"), "/")
	notFound := func(what string) {
		graphError(rec, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", what), now)
	}
	badMethod := func() {
		graphError(rec, http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.", now)
	}
	switch {
	case len(parts) >= 2 && parts[0] == "users":
		u := d.user(parts[1])
		switch {
		case len(parts) == 2:
			switch r.Method {
			case http.MethodGet:
				if !has("User.Read.All", "User.ReadWrite.All", "User.ReadBasic.All", "Directory.Read.All", "Directory.ReadWrite.All") {
					deny(false)
					return
				}
				if u == nil {
					notFound(parts[1])
					return
				}
				writeJSON(rec, u)
			case http.MethodPatch:
				if !has("User.EnableDisableAccount.All", "User.ReadWrite.All", "Directory.ReadWrite.All") {
					deny(false)
					return
				}
				if u == nil {
					notFound(parts[1])
					return
				}
				var body map[string]any
				if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
					graphError(rec, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload.", now)
					return
				}
				for k, v := range body {
					if k != "accountEnabled" {
						// The emulator's app may only enable or disable accounts.
						deny(false)
						return
					}
					b, ok := v.(bool)
					if !ok {
						graphError(rec, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'accountEnabled' of resource 'User'.", now)
						return
					}
					u.AccountEnabled = b
				}
				rec.WriteHeader(http.StatusNoContent)
			default:
				badMethod()
			}
		case len(parts) == 3 && parts[2] == "revokeSignInSessions":
			if r.Method != http.MethodPost {
				badMethod()
				return
			}
			if !has("User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All") {
				deny(false)
				return
			}
			if u == nil {
				notFound(parts[1])
				return
			}
			u.SignInSessionsValidFromDateTime = now
			writeJSON(rec, map[string]any{"@odata.context": baseURL(r) + "/v1.0/$metadata#Edm.Boolean", "value": true})
		case len(parts) >= 5 && parts[2] == "mailFolders" && strings.EqualFold(parts[3], "inbox") && parts[4] == "messageRules":
			write := r.Method != http.MethodGet
			if (write && !has("MailboxSettings.ReadWrite")) || (!write && !has("MailboxSettings.Read", "MailboxSettings.ReadWrite")) {
				deny(true)
				return
			}
			if u == nil {
				graphError(rec, http.StatusNotFound, "ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", parts[1]), now)
				return
			}
			rules := d.rules[u.ID]
			if len(parts) == 5 {
				if r.Method != http.MethodGet {
					badMethod()
					return
				}
				out := make([]*MessageRule, 0, len(rules))
				out = append(out, rules...)
				writeJSON(rec, map[string]any{"@odata.context": baseURL(r) + "/v1.0/$metadata#users('" + u.ID + "')/mailFolders('inbox')/messageRules", "value": out})
				return
			}
			if len(parts) != 6 {
				notFound(path)
				return
			}
			i := slices.IndexFunc(rules, func(m *MessageRule) bool { return m.ID == parts[5] })
			if i < 0 {
				graphError(rec, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.", now)
				return
			}
			switch r.Method {
			case http.MethodGet:
				writeJSON(rec, rules[i])
			case http.MethodDelete:
				d.rules[u.ID] = slices.Delete(rules, i, i+1)
				rec.WriteHeader(http.StatusNoContent)
			default:
				badMethod()
			}
		default:
			notFound(path)
		}
	case len(parts) == 1 && spByAppID.MatchString(parts[0]):
		if r.Method != http.MethodGet {
			badMethod()
			return
		}
		if !has("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All") {
			deny(false)
			return
		}
		appID := spByAppID.FindStringSubmatch(parts[0])[1]
		for _, sp := range d.sps {
			if strings.EqualFold(sp.AppID, appID) {
				writeJSON(rec, sp)
				return
			}
		}
		notFound(appID)
	case parts[0] == "oauth2PermissionGrants" && len(parts) <= 2:
		readOK := has("Directory.Read.All", "DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All")
		if len(parts) == 1 {
			if r.Method != http.MethodGet {
				badMethod()
				return
			}
			if !readOK {
				deny(false)
				return
			}
			f := filters(r)
			var out []*PermissionGrant
			for _, g := range d.grants {
				if (f["clientId"] == "" || g.ClientID == f["clientId"]) && (f["principalId"] == "" || g.PrincipalID == f["principalId"]) {
					out = append(out, g)
				}
			}
			writeJSON(rec, map[string]any{"value": orEmpty(out)})
			return
		}
		if r.Method != http.MethodDelete {
			badMethod()
			return
		}
		if !has("DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All") {
			deny(false)
			return
		}
		i := slices.IndexFunc(d.grants, func(g *PermissionGrant) bool { return g.ID == parts[1] })
		if i < 0 {
			notFound(parts[1])
			return
		}
		d.grants = slices.Delete(d.grants, i, i+1)
		rec.WriteHeader(http.StatusNoContent)
	case len(parts) >= 3 && len(parts) <= 4 && parts[0] == "roleManagement" && parts[1] == "directory" && parts[2] == "roleAssignments":
		if len(parts) == 3 {
			if r.Method != http.MethodGet {
				badMethod()
				return
			}
			if !has("RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory", "Directory.Read.All", "Directory.ReadWrite.All") {
				deny(false)
				return
			}
			f := filters(r)
			var out []*RoleAssignment
			for _, a := range d.roles {
				if (f["principalId"] == "" || a.PrincipalID == f["principalId"]) && (f["roleDefinitionId"] == "" || a.RoleDefinitionID == f["roleDefinitionId"]) {
					out = append(out, a)
				}
			}
			writeJSON(rec, map[string]any{"value": orEmpty(out)})
			return
		}
		if r.Method != http.MethodDelete {
			badMethod()
			return
		}
		if !has("RoleManagement.ReadWrite.Directory") {
			deny(false)
			return
		}
		i := slices.IndexFunc(d.roles, func(a *RoleAssignment) bool { return a.ID == parts[3] })
		if i < 0 {
			notFound(parts[3])
			return
		}
		d.roles = slices.Delete(d.roles, i, i+1)
		rec.WriteHeader(http.StatusNoContent)
	default:
		graphError(rec, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", parts[0]), now)
	}
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// filters reads "a eq 'x' and b eq 'y'" from $filter.
func filters(r *http.Request) map[string]string {
	out := map[string]string{}
	f, _ := query(r, "$filter")
	for _, m := range filterEq.FindAllStringSubmatch(f, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// graphRoles are the Graph permissions of the emulator's tokens.
func (s *Server) graphRoles() []string {
	var out []string
	for _, p := range GraphPermissions {
		if !slices.ContainsFunc(s.dir.withhold, func(w string) bool { return strings.EqualFold(w, p) }) {
			out = append(out, p)
		}
	}
	return out
}
