// Package remediate turns a stored alert into containment actions through Microsoft
// Graph v1.0 and records every action taken (o365ingest remediate, o365ingest
// remediations).
//
// Guarantees:
//   - Targets come only from the stored alert and its stored audit records (the user,
//     mailbox, rule name and recipients, the consented application, the role and
//     member), never from free text: Plan reads them from the database.
//   - Planning sends nothing. A Plan lists, per action, exactly the requests Execute
//     would send (method, URL, body); a lookup's result is shown as {…} until it runs.
//   - Every action Execute runs, done, refused or failed, is one remediation_action row
//     (Store), with the requests sent, Graph's last status, the error verbatim with
//     the permission the action needs, the OS user and the time. Nothing is retried
//     after an answer the client did not understand; the operator decides (--again).
//   - Done reports whether an alert was already remediated with an action, so the
//     command does nothing twice unless asked.
//
// What Graph cannot do (mailbox forwarding, transport rules, mailbox permissions,
// Exchange role groups) is returned as Manual Exchange Online commands.
package remediate

import (
	"encoding/json"
	"slices"

	"github.com/o365ingest/o365ingest/ingest/escape"
)

// The action names (o365ingest remediate --action).
const (
	ActionRevokeSessions  = "revoke-sessions"
	ActionDisableAccount  = "disable-account"
	ActionRemoveInboxRule = "remove-inbox-rule"
	ActionRemoveConsent   = "remove-consent"
	ActionRemoveRole      = "remove-role"
)

// Results of an action (remediation_action.result).
const (
	ResultDone     = "done"      // every request succeeded
	ResultRefused  = "refused"   // Graph refused for lack of a permission (403)
	ResultFailed   = "failed"    // any other error
	ResultNotFound = "not_found" // nothing left to remove (the rule, grant or assignment is gone)
)

// Action describes one remediation action.
type Action struct {
	Name string
	// Permissions are the least Microsoft Graph application permissions the action
	// needs, all of them (from each call's documentation).
	Permissions []string
	// Calls are the documented Graph v1.0 calls it makes.
	Calls []string
	Doc   string
}

var actions = []Action{
	{ActionRevokeSessions, []string{"User.RevokeSessions.All"},
		[]string{"POST /users/{id | userPrincipalName}/revokeSignInSessions"},
		"Invalidates the user's refresh tokens and browser session cookies (user: revokeSignInSessions), so every app must sign in again."},
	{ActionDisableAccount, []string{"User.EnableDisableAccount.All", "User.Read.All"},
		[]string{"PATCH /users/{id | userPrincipalName} {\"accountEnabled\": false}"},
		"Blocks sign-in to the account (accountEnabled false). Undo with accountEnabled true."},
	{ActionRemoveInboxRule, []string{"MailboxSettings.ReadWrite"},
		[]string{"GET /users/{id}/mailFolders/inbox/messageRules", "DELETE /users/{id}/mailFolders/inbox/messageRules/{id}"},
		"Finds the inbox rule the alert names among the mailbox's rules, by its name and actions, and deletes it."},
	{ActionRemoveConsent, []string{"DelegatedPermissionGrant.ReadWrite.All", "Application.Read.All"},
		[]string{"GET /servicePrincipals(appId='{appId}')", "GET /oauth2PermissionGrants?$filter=clientId eq '{id}'", "DELETE /oauth2PermissionGrants/{id}"},
		"Deletes the delegated permission grants (oAuth2PermissionGrants) of the consented application's service principal."},
	{ActionRemoveRole, []string{"RoleManagement.ReadWrite.Directory", "User.Read.All"},
		[]string{"GET /roleManagement/directory/roleAssignments?$filter=principalId eq '{id}'", "DELETE /roleManagement/directory/roleAssignments/{id}"},
		"Deletes the directory role assignment the alert names (the member and the role)."},
}

// Actions lists every action, in a stable order.
func Actions() []Action { return slices.Clone(actions) }

// ActionNames lists every action's name.
func ActionNames() []string {
	out := make([]string, len(actions))
	for i, a := range actions {
		out[i] = a.Name
	}
	return out
}

// ActionByName returns the action called name.
func ActionByName(name string) (Action, bool) {
	for _, a := range actions {
		if a.Name == name {
			return a, true
		}
	}
	return Action{}, false
}

// Request is one Graph request, planned or sent.
type Request struct {
	Method string          `json:"method"`
	URL    string          `json:"url"`
	Body   json.RawMessage `json:"body,omitempty"`
	// Note says what a lookup is for, or which earlier answer fills a {…}.
	Note string `json:"note,omitempty"`
}

// String renders the request as a person reads it.
func (r Request) String() string {
	s := r.Method + " " + r.URL
	if len(r.Body) > 0 {
		s += " " + string(r.Body)
	}
	return s
}

// Step is one action planned for an alert.
type Step struct {
	Action string `json:"action"`
	// Target says what the action is taken on, for the prompt and the log.
	Target string `json:"target"`
	// Account is the user account the action acts on or for (the prompt names it).
	Account string `json:"account"`
	// What says in one sentence what running it does.
	What        string    `json:"what"`
	Permissions []string  `json:"permissions"`
	Requests    []Request `json:"requests"`

	t target
}

// target holds what the executor needs, read from the alert's records.
type target struct {
	user string // UPN or object id, for /users/{id}

	ruleMailbox string
	ruleName    string
	ruleTo      []string // addresses the rule forwards or redirects to (lower case)
	ruleDelete  bool

	appID, spID string // consented application: appId and/or service principal object id

	principalID, member string // role member: object id and/or UPN
	roleDefinitionID    string
	roleName            string
}

// Manual is a step Graph cannot take: an Exchange Online PowerShell command for a person.
type Manual struct {
	What    string `json:"what"`
	Command string `json:"command"`
}

// Plan is what remediation can do for one alert.
type Plan struct {
	AlertID  string `json:"alert_id"`
	Rule     string `json:"rule"`
	TenantID string `json:"tenant_id"`
	User     string `json:"user_id"`
	Summary  string `json:"summary"`
	// Steps are the Graph actions that fit the alert, in ActionNames order.
	Steps []Step `json:"steps"`
	// Manual are the Exchange Online commands for what Graph cannot do.
	Manual []Manual `json:"manual"`
	// Unavailable says, per action name, why an action that might fit cannot be
	// planned (a target the records do not give).
	Unavailable map[string]string `json:"unavailable,omitempty"`
}

// Step returns the planned step of an action.
func (p *Plan) Step(action string) (Step, bool) {
	for _, s := range p.Steps {
		if s.Action == action {
			return s, true
		}
	}
	return Step{}, false
}

// psQuote quotes a value as a PowerShell literal (escape.PowerShell). Values come
// from audit records, which an attacker can shape: every value goes through this,
// never into a command's text unquoted.
func psQuote(s string) string { return escape.PowerShell(s) }
