package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/o365ingest/o365ingest/ingest/graph"
)

// Outcome is what running one step did: the remediation_action row's content.
type Outcome struct {
	Action string
	Target string
	// Sent are the requests sent, in order, with the ids lookups found filled in.
	Sent []Request
	// Result is done, refused, failed or not_found.
	Result string
	// HTTPStatus is the status of Graph's last answer (0 when none came).
	HTTPStatus int
	// Err is why the action was refused or failed, or what was not found; nil when done.
	Err error
}

// Execute runs one planned step through Graph and reports what it did. It never
// returns early without an Outcome: every error becomes the Outcome's Err, with the
// permission the action needs when Graph refused it.
func Execute(ctx context.Context, g *graph.Client, s Step) Outcome {
	x := &run{g: g, out: Outcome{Action: s.Action, Target: s.Target}}
	var err error
	switch s.Action {
	case ActionRevokeSessions:
		_, err = x.send(ctx, http.MethodPost, userPath(s.t.user)+"/revokeSignInSessions", nil)
	case ActionDisableAccount:
		_, err = x.send(ctx, http.MethodPatch, userPath(s.t.user), []byte(`{"accountEnabled":false}`))
	case ActionRemoveInboxRule:
		err = x.removeInboxRule(ctx, s.t)
	case ActionRemoveConsent:
		err = x.removeConsent(ctx, s.t)
	case ActionRemoveRole:
		err = x.removeRole(ctx, s.t)
	default:
		err = fmt.Errorf("unknown action %q", s.Action)
	}
	switch {
	case err == nil:
		x.out.Result = ResultDone
	case errors.Is(err, errNothing):
		x.out.Result, x.out.Err = ResultNotFound, err
	case graph.IsForbidden(err):
		x.out.Result = ResultRefused
		x.out.Err = fmt.Errorf("%w (the app needs the Microsoft Graph application permission %s, with admin consent)", err, strings.Join(s.Permissions, " and "))
	default:
		x.out.Result, x.out.Err = ResultFailed, err
	}
	return x.out
}

// errNothing marks "nothing (left) to remove".
var errNothing = errors.New("nothing to remove")

type run struct {
	g   *graph.Client
	out Outcome
}

func (x *run) send(ctx context.Context, method, path string, body []byte) (*graph.Response, error) {
	x.out.Sent = append(x.out.Sent, Request{Method: method, URL: x.g.URL(path), Body: body})
	resp, err := x.g.Do(ctx, method, path, body)
	if resp != nil {
		x.out.HTTPStatus = resp.Status
	} else if st := graph.StatusOf(err); st != 0 {
		x.out.HTTPStatus = st
	}
	return resp, err
}

// delete deletes an object a lookup just found. A 404 means it is gone already (a
// retried DELETE whose first attempt went through, or someone else removed it): the
// goal is met, and the 404 stays in the recorded status.
func (x *run) delete(ctx context.Context, path string) error {
	_, err := x.send(ctx, http.MethodDelete, path, nil)
	if graph.IsNotFound(err) {
		return nil
	}
	return err
}

func (x *run) list(ctx context.Context, path string) ([]json.RawMessage, error) {
	x.out.Sent = append(x.out.Sent, Request{Method: http.MethodGet, URL: x.g.URL(path)})
	vals, err := x.g.List(ctx, path)
	if err != nil {
		x.out.HTTPStatus = graph.StatusOf(err)
	} else {
		x.out.HTTPStatus = http.StatusOK
	}
	return vals, err
}

type recipient struct {
	EmailAddress struct {
		Address string `json:"address"`
	} `json:"emailAddress"`
}

type messageRule struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Actions     struct {
		ForwardTo             []recipient `json:"forwardTo"`
		ForwardAsAttachmentTo []recipient `json:"forwardAsAttachmentTo"`
		RedirectTo            []recipient `json:"redirectTo"`
		Delete                bool        `json:"delete"`
		PermanentDelete       bool        `json:"permanentDelete"`
	} `json:"actions"`
}

// matches reports whether a mailbox rule is the one the alert names: the same name
// and, when the record says so, forwarding to one of its addresses (or deleting).
func (m *messageRule) matches(t target) bool {
	if !strings.EqualFold(strings.TrimSpace(m.DisplayName), strings.TrimSpace(t.ruleName)) {
		return false
	}
	if len(t.ruleTo) > 0 {
		for _, list := range [][]recipient{m.Actions.ForwardTo, m.Actions.ForwardAsAttachmentTo, m.Actions.RedirectTo} {
			for _, r := range list {
				if slices.Contains(t.ruleTo, strings.ToLower(r.EmailAddress.Address)) {
					return true
				}
			}
		}
		return false
	}
	if t.ruleDelete {
		return m.Actions.Delete || m.Actions.PermanentDelete
	}
	return true
}

func (x *run) removeInboxRule(ctx context.Context, t target) error {
	path := userPath(t.ruleMailbox) + "/mailFolders/inbox/messageRules"
	vals, err := x.list(ctx, path)
	if err != nil {
		return err
	}
	var ids []string
	for _, v := range vals {
		var m messageRule
		if json.Unmarshal(v, &m) == nil && m.ID != "" && m.matches(t) {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 {
		return fmt.Errorf("%w: the mailbox %s has no inbox rule named %q with the alert's actions (%d rules listed)", errNothing, t.ruleMailbox, t.ruleName, len(vals))
	}
	for _, id := range ids {
		if err := x.delete(ctx, path+"/"+url.PathEscape(id)); err != nil {
			return err
		}
	}
	return nil
}

func (x *run) removeConsent(ctx context.Context, t target) error {
	sp := t.spID
	if sp == "" {
		resp, err := x.send(ctx, http.MethodGet, "/servicePrincipals(appId="+url.PathEscape(odataQuote(t.appID))+")", nil)
		if graph.IsNotFound(err) {
			return fmt.Errorf("%w: no service principal of the application %s in the tenant: %v", errNothing, t.appID, err)
		}
		if err != nil {
			return err
		}
		var doc struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(resp.Body, &doc); err != nil || doc.ID == "" {
			return fmt.Errorf("graph answered the service principal lookup without an id")
		}
		sp = doc.ID
	}
	vals, err := x.list(ctx, "/oauth2PermissionGrants?$filter="+qesc("clientId eq "+odataQuote(sp)))
	if err != nil {
		return err
	}
	var ids []string
	for _, v := range vals {
		var g struct {
			ID       string `json:"id"`
			ClientID string `json:"clientId"`
		}
		if json.Unmarshal(v, &g) == nil && g.ID != "" && strings.EqualFold(g.ClientID, sp) {
			ids = append(ids, g.ID)
		}
	}
	if len(ids) == 0 {
		return fmt.Errorf("%w: the service principal %s holds no delegated permission grant", errNothing, sp)
	}
	for _, id := range ids {
		if err := x.delete(ctx, "/oauth2PermissionGrants/"+url.PathEscape(id)); err != nil {
			return err
		}
	}
	return nil
}

func (x *run) removeRole(ctx context.Context, t target) error {
	pid := t.principalID
	if pid == "" {
		resp, err := x.send(ctx, http.MethodGet, userPath(t.member)+"?$select=id", nil)
		if err != nil {
			return err
		}
		var doc struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(resp.Body, &doc); err != nil || doc.ID == "" {
			return fmt.Errorf("graph answered the user lookup of %s without an id", t.member)
		}
		pid = doc.ID
	}
	// The filter is on principalId alone (documented as filterable); the role is
	// matched here, so no combination of filters the service may not support is sent.
	filter := "principalId eq " + odataQuote(pid)
	vals, err := x.list(ctx, "/roleManagement/directory/roleAssignments?$filter="+qesc(filter))
	if err != nil {
		return err
	}
	var ids []string
	for _, v := range vals {
		var a struct {
			ID               string `json:"id"`
			PrincipalID      string `json:"principalId"`
			RoleDefinitionID string `json:"roleDefinitionId"`
		}
		if json.Unmarshal(v, &a) == nil && a.ID != "" && strings.EqualFold(a.PrincipalID, pid) && strings.EqualFold(a.RoleDefinitionID, t.roleDefinitionID) {
			ids = append(ids, a.ID)
		}
	}
	if len(ids) == 0 {
		return fmt.Errorf("%w: %s holds no assignment of the role %s", errNothing, firstNonEmpty(t.member, pid), firstNonEmpty(t.roleName, t.roleDefinitionID))
	}
	for _, id := range ids {
		if err := x.delete(ctx, "/roleManagement/directory/roleAssignments/"+url.PathEscape(id)); err != nil {
			return err
		}
	}
	return nil
}
