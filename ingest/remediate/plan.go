package remediate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/sink"
)

// ErrNoAlert is returned (wrapped) by Load when no stored alert has the id.
var ErrNoAlert = errors.New("no such alert")

// record is what planning reads of one stored audit record (from its raw JSON,
// which every dialect keeps verbatim or as equivalent JSON).
type record struct {
	ID              string
	Operation       string `json:"Operation"`
	UserID          string `json:"UserId"`
	ObjectID        string `json:"ObjectId"`
	MailboxOwnerUPN string `json:"MailboxOwnerUPN"`
	Parameters      []struct {
		Name  string `json:"Name"`
		Value string `json:"Value"`
	} `json:"Parameters"`
	OperationProperties []struct {
		Name  string `json:"Name"`
		Value string `json:"Value"`
	} `json:"OperationProperties"`
	ModifiedProperties []struct {
		Name     string `json:"Name"`
		NewValue string `json:"NewValue"`
	} `json:"ModifiedProperties"`
	Target []struct {
		ID   any `json:"ID"`
		Type int `json:"Type"`
	} `json:"Target"`
}

func (r *record) param(name string) string {
	for _, p := range r.Parameters {
		if strings.EqualFold(p.Name, name) {
			return p.Value
		}
	}
	return ""
}

func (r *record) opProp(name string) string {
	for _, p := range r.OperationProperties {
		if strings.EqualFold(p.Name, name) {
			return p.Value
		}
	}
	return ""
}

func (r *record) modified(name string) string {
	for _, p := range r.ModifiedProperties {
		if strings.EqualFold(p.Name, name) {
			return strings.Trim(strings.TrimSpace(p.NewValue), `"`)
		}
	}
	return ""
}

// targets returns the IDs of the Target list with the given Type.
func (r *record) targets(typ int) []string {
	var out []string
	for _, t := range r.Target {
		if s, ok := t.ID.(string); ok && t.Type == typ && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Load reads the alert and its records and plans what remediation can do, with the
// requests shown against graphRoot (the Graph version root, e.g.
// https://graph.microsoft.com/v1.0). It sends nothing.
func Load(ctx context.Context, h sink.Handle, alertID, graphRoot string) (*Plan, detect.Alert, error) {
	a, err := loadAlert(ctx, h, alertID)
	if err != nil {
		return nil, a, err
	}
	ids := a.RecordIDs
	if len(ids) == 0 && a.RecordID != "" {
		ids = []string{a.RecordID}
	}
	var recs []*record
	for _, id := range ids {
		var raw sql.NullString
		err := h.DB.QueryRowContext(ctx, h.Dialect.Rebind(`SELECT raw FROM audit_record WHERE id = ?`), id).Scan(&raw)
		if errors.Is(err, sql.ErrNoRows) {
			continue // pruned since the alert: plan from what is left
		}
		if err != nil {
			return nil, a, fmt.Errorf("remediate: reading record %s of alert %s: %w", id, short(a.ID), err)
		}
		r := &record{ID: id}
		if raw.Valid {
			if err := json.Unmarshal([]byte(raw.String), r); err != nil {
				return nil, a, fmt.Errorf("remediate: record %s of alert %s: raw is not JSON: %w", id, short(a.ID), err)
			}
		}
		recs = append(recs, r)
	}
	return plan(a, recs, strings.TrimRight(graphRoot, "/")), a, nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// loadAlert reads one stored alert by its id, or by a unique prefix of at least 8
// hex digits (alerts lists them shortened).
func loadAlert(ctx context.Context, h sink.Handle, id string) (detect.Alert, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if len(id) < 8 || strings.Trim(id, "0123456789abcdef") != "" {
		return detect.Alert{}, fmt.Errorf("remediate: alert id %q: want the hex id (at least 8 digits) that o365ingest alerts shows", id)
	}
	q := `SELECT alert_id, rule, tenant_id, user_id, record_id, record_ids, summary FROM alert WHERE alert_id = ?`
	arg := id
	if len(id) < 64 {
		q = `SELECT alert_id, rule, tenant_id, user_id, record_id, record_ids, summary FROM alert WHERE alert_id LIKE ?`
		arg = id + "%"
	}
	rows, err := h.DB.QueryContext(ctx, h.Dialect.Rebind(q), arg)
	if err != nil {
		return detect.Alert{}, fmt.Errorf("remediate: reading alert %s: %w", id, err)
	}
	defer rows.Close()
	var found []detect.Alert
	for rows.Next() {
		var a detect.Alert
		var tenant, user, rec, ids sql.NullString
		if err := rows.Scan(&a.ID, &a.Rule, &tenant, &user, &rec, &ids, &a.Summary); err != nil {
			return detect.Alert{}, fmt.Errorf("remediate: reading alert %s: %w", id, err)
		}
		a.TenantID, a.UserID, a.RecordID = tenant.String, user.String, rec.String
		if ids.Valid {
			if err := json.Unmarshal([]byte(ids.String), &a.RecordIDs); err != nil {
				return detect.Alert{}, fmt.Errorf("remediate: alert %s: record_ids: %w", short(a.ID), err)
			}
		}
		found = append(found, a)
	}
	if err := rows.Err(); err != nil {
		return detect.Alert{}, fmt.Errorf("remediate: reading alert %s: %w", id, err)
	}
	switch len(found) {
	case 0:
		return detect.Alert{}, fmt.Errorf("remediate: alert %s: %w", id, ErrNoAlert)
	case 1:
		return found[0], nil
	}
	return detect.Alert{}, fmt.Errorf("remediate: alert id %s is ambiguous (%d alerts start with it): give more digits", id, len(found))
}

var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-']+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
	guidRE  = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
)

func isEmail(s string) bool { return emailRE.FindString(s) == s && s != "" }

func isGUID(s string) bool { return len(s) == 36 && guidRE.MatchString(s) }

// userOf returns the first value that is a UPN (user@domain), else "".
func userOf(vals ...string) string {
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if isEmail(v) && !strings.Contains(v, "#EXT#") {
			return v
		}
	}
	return ""
}

// userPath is /users/{upn} with the UPN escaped for a path segment.
func userPath(u string) string { return "/users/" + url.PathEscape(u) }

// qesc escapes a query value with %20 for spaces, as Graph's documentation writes them.
func qesc(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// odataQuote quotes a value for an OData string literal in a $filter.
func odataQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// builtinRoles maps the display names of built-in Entra roles to their template ids
// (the roleDefinitionId of their assignments), documented in "Microsoft Entra
// built-in roles"; used when a record names the role but not its template.
var builtinRoles = map[string]string{
	"global administrator":                    "62e90394-69f5-4237-9190-012177145e10",
	"company administrator":                   "62e90394-69f5-4237-9190-012177145e10",
	"privileged role administrator":           "e8611ab8-c189-46e8-94e1-60213ab1f814",
	"privileged authentication administrator": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
	"exchange administrator":                  "29232cdf-9323-42fd-ade2-1d097af3e4de",
	"sharepoint administrator":                "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
	"user administrator":                      "fe930be7-5e62-47db-91af-98c3a49a38b1",
	"application administrator":               "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
	"cloud application administrator":         "158c047a-c907-4556-b7ef-446551a6b5f7",
	"security administrator":                  "194ae4cb-b126-40b2-bd5b-6091b380977d",
	"authentication administrator":            "c4e39bd9-1100-46d3-8c65-fb160da0071f",
	"helpdesk administrator":                  "729827e3-9c14-49f7-bb1b-9608f156bbb8",
	"compliance administrator":                "17315797-102d-40b4-93e0-432062caca18",
	"global reader":                           "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
}

// plan decides the steps for an alert from its records. The first record is the one
// that fired the rule.
func plan(a detect.Alert, recs []*record, root string) *Plan {
	p := &Plan{AlertID: a.ID, Rule: a.Rule, TenantID: a.TenantID, User: a.UserID, Summary: a.Summary, Unavailable: map[string]string{}}
	var r *record
	for _, x := range recs {
		if x.ID == a.RecordID {
			r = x
		}
	}
	if r == nil && len(recs) > 0 {
		r = recs[0]
	}
	if r == nil {
		for _, n := range ActionNames() {
			p.Unavailable[n] = "the alert's records are no longer stored (pruned?), so no target can be taken from them"
		}
		return p
	}
	account := userOf(r.UserID)
	switch a.Rule {
	case detect.RuleInboxForwardExternal, detect.RuleInboxHide:
		mailbox := userOf(r.param("Mailbox"), r.MailboxOwnerUPN, r.UserID)
		name := r.param("Name")
		if r.Operation == "UpdateInboxRules" {
			name = r.opProp("RuleName")
		}
		if name == "" {
			name = r.param("Identity")
		}
		if name == "" {
			name = r.ObjectID
		}
		if i := strings.LastIndexByte(name, '\\'); i >= 0 && r.param("Name") == "" {
			name = name[i+1:]
		}
		var to []string
		for _, k := range []string{"ForwardTo", "RedirectTo", "ForwardAsAttachmentTo"} {
			for _, m := range emailRE.FindAllString(r.param(k), -1) {
				to = append(to, strings.ToLower(m))
			}
		}
		if r.Operation == "UpdateInboxRules" {
			for _, k := range []string{"RuleActions", "ServerRule"} {
				for _, m := range emailRE.FindAllString(r.opProp(k), -1) {
					to = append(to, strings.ToLower(m))
				}
			}
		}
		del := strings.EqualFold(r.param("DeleteMessage"), "true") || strings.EqualFold(r.param("SoftDeleteMessage"), "true")
		switch {
		case mailbox == "":
			p.Unavailable[ActionRemoveInboxRule] = "the record names no mailbox by its UPN"
		case name == "":
			p.Unavailable[ActionRemoveInboxRule] = "the record names no rule"
		default:
			rules := userPath(mailbox) + "/mailFolders/inbox/messageRules"
			match := "named " + fmt.Sprintf("%q", name)
			if len(to) > 0 {
				match += " that forwards or redirects to " + strings.Join(to, ", ")
			} else if del {
				match += " that deletes mail"
			}
			p.Steps = append(p.Steps, Step{Action: ActionRemoveInboxRule, Account: mailbox,
				Target:      fmt.Sprintf("inbox rule %q of the mailbox %s", name, mailbox),
				What:        fmt.Sprintf("Lists the inbox rules of %s and deletes the rule %s.", mailbox, match),
				Permissions: perms(ActionRemoveInboxRule),
				Requests: []Request{
					{Method: "GET", URL: root + rules, Note: "find the rule " + match},
					{Method: "DELETE", URL: root + rules + "/{id of that rule}"},
				},
				t: target{user: mailbox, ruleMailbox: mailbox, ruleName: name, ruleTo: to, ruleDelete: del}})
		}
		if account == "" {
			account = mailbox
		}
	case detect.RuleMailboxForwardExternal:
		mailbox := firstNonEmpty(r.param("Identity"), r.ObjectID)
		p.Manual = append(p.Manual, Manual{What: "Graph cannot change a mailbox's forwarding: remove it in Exchange Online PowerShell",
			Command: fmt.Sprintf("Set-Mailbox -Identity %s -ForwardingSmtpAddress $null -ForwardingAddress $null -DeliverToMailboxAndForward $false", psQuote(mailbox))})
		if account == "" {
			account = userOf(mailbox)
		}
	case detect.RuleTransportCopyExternal:
		name := firstNonEmpty(r.param("Identity"), r.param("Name"), r.ObjectID)
		p.Manual = append(p.Manual, Manual{What: "Graph cannot change transport rules: disable (then review and remove) it in Exchange Online PowerShell",
			Command: fmt.Sprintf("Disable-TransportRule -Identity %s -Confirm:$false", psQuote(name))})
	case detect.RuleMailboxPermissionGrant:
		mailbox := firstNonEmpty(r.param("Identity"), r.ObjectID)
		switch r.Operation {
		case "Add-MailboxPermission":
			p.Manual = append(p.Manual, Manual{What: "Graph cannot change mailbox permissions: remove the grant in Exchange Online PowerShell",
				Command: fmt.Sprintf("Remove-MailboxPermission -Identity %s -User %s -AccessRights FullAccess -InheritanceType All -Confirm:$false", psQuote(mailbox), psQuote(r.param("User")))})
		case "Add-RecipientPermission", "Add-ADPermission":
			// Exchange Online logs Send As granted through the older Add-ADPermission
			// too; Remove-ADPermission exists only on premises, so both are undone
			// with Remove-RecipientPermission.
			trustee := r.param("Trustee")
			if trustee == "" {
				trustee = r.param("User")
			}
			p.Manual = append(p.Manual, Manual{What: "Graph cannot change mailbox permissions: remove the grant in Exchange Online PowerShell",
				Command: fmt.Sprintf("Remove-RecipientPermission -Identity %s -Trustee %s -AccessRights SendAs -Confirm:$false", psQuote(mailbox), psQuote(trustee))})
		}
	case detect.RuleAppConsent:
		spID := ""
		if isGUID(r.ObjectID) {
			spID = r.ObjectID
		}
		for _, id := range r.targets(2) {
			if s, ok := strings.CutPrefix(id, "ServicePrincipal_"); ok && isGUID(s) {
				spID = s
			}
		}
		appID := ""
		for _, id := range r.targets(4) {
			if isGUID(id) {
				appID = id
			}
		}
		if appID == "" {
			if m := guidRE.FindString(r.modified("TargetId.ServicePrincipalNames")); m != "" {
				appID = m
			}
		}
		name := firstNonEmpty(firstOf(r.targets(1)), appID, spID)
		grants := "/oauth2PermissionGrants"
		switch {
		case spID != "":
			p.Steps = append(p.Steps, consentStep(root, name, spID, appID, []Request{
				{Method: "GET", URL: root + grants + "?$filter=" + qesc("clientId eq "+odataQuote(spID)), Note: "the delegated grants of the service principal " + spID},
				{Method: "DELETE", URL: root + grants + "/{id of each grant}"},
			}, account))
		case appID != "":
			p.Steps = append(p.Steps, consentStep(root, name, "", appID, []Request{
				{Method: "GET", URL: root + "/servicePrincipals(appId=" + url.PathEscape(odataQuote(appID)) + ")", Note: "the service principal of the application " + appID},
				{Method: "GET", URL: root + grants + "?$filter=" + qesc("clientId eq '{id of that service principal}'"), Note: "its delegated grants"},
				{Method: "DELETE", URL: root + grants + "/{id of each grant}"},
			}, account))
		default:
			p.Unavailable[ActionRemoveConsent] = "the record names neither the service principal's object id nor the application id"
		}
	case detect.RuleAdminRoleGranted:
		switch r.Operation {
		case "Add-RoleGroupMember":
			p.Manual = append(p.Manual, Manual{What: "Exchange role groups are not directory roles: remove the member in Exchange Online PowerShell",
				Command: fmt.Sprintf("Remove-RoleGroupMember -Identity %s -Member %s -Confirm:$false", psQuote(r.param("Identity")), psQuote(r.param("Member")))})
		case "New-ManagementRoleAssignment":
			p.Manual = append(p.Manual, Manual{What: "Exchange management role assignments are not directory roles: remove it in Exchange Online PowerShell",
				Command: fmt.Sprintf("Get-ManagementRoleAssignment -Role %s -RoleAssignee %s | Remove-ManagementRoleAssignment -Confirm:$false",
					psQuote(r.param("Role")), psQuote(firstNonEmpty(r.param("User"), r.param("SecurityGroup"), r.param("App"))))})
		default:
			roleName := r.modified("Role.DisplayName")
			roleDef := r.modified("Role.TemplateId")
			if !isGUID(roleDef) {
				roleDef = builtinRoles[strings.ToLower(roleName)]
			}
			member := userOf(append(r.targets(5), r.ObjectID)...)
			principal := ""
			for _, id := range r.targets(2) {
				if s, ok := strings.CutPrefix(id, "User_"); ok && isGUID(s) {
					principal = s
				} else if isGUID(id) && principal == "" {
					principal = id
				}
			}
			if principal == "" && isGUID(r.ObjectID) {
				principal = r.ObjectID
			}
			switch {
			case roleDef == "":
				p.Unavailable[ActionRemoveRole] = fmt.Sprintf("the record gives no Role.TemplateId and %q is not a built-in role this version knows", roleName)
			case principal == "" && member == "":
				p.Unavailable[ActionRemoveRole] = "the record names no member"
			default:
				p.Steps = append(p.Steps, roleStep(root, roleName, roleDef, principal, member))
			}
		}
	case detect.RuleMFARemoved:
		account = userOf(firstOf(r.targets(5)), r.ObjectID)
	case detect.RuleSigninSpray:
		account = "" // many users from one address: nothing one account's remediation fits
		p.Unavailable[ActionRevokeSessions] = "a spray alert concerns many accounts; remediate the ones that signed in (their signin_new_address alerts)"
	}
	if account != "" {
		p.Steps = append(p.Steps, Step{Action: ActionRevokeSessions, Account: account, Target: "user " + account,
			What:        fmt.Sprintf("Invalidates every refresh token and session cookie of %s: each app must sign in again.", account),
			Permissions: perms(ActionRevokeSessions),
			Requests:    []Request{{Method: "POST", URL: root + userPath(account) + "/revokeSignInSessions"}},
			t:           target{user: account}})
		p.Steps = append(p.Steps, Step{Action: ActionDisableAccount, Account: account, Target: "user " + account,
			What:        fmt.Sprintf("Blocks sign-in to %s (accountEnabled false) until an administrator enables it.", account),
			Permissions: perms(ActionDisableAccount),
			Requests:    []Request{{Method: "PATCH", URL: root + userPath(account), Body: json.RawMessage(`{"accountEnabled":false}`)}},
			t:           target{user: account}})
	} else if _, said := p.Unavailable[ActionRevokeSessions]; !said && a.Rule != detect.RuleSigninSpray {
		p.Unavailable[ActionRevokeSessions] = "the record names no user by UPN"
	}
	order := ActionNames()
	sortSteps(p.Steps, order)
	return p
}

func consentStep(root, name, spID, appID string, reqs []Request, account string) Step {
	return Step{Action: ActionRemoveConsent, Account: firstNonEmpty(account, name),
		Target:      fmt.Sprintf("delegated permission grants of the application %s", name),
		What:        fmt.Sprintf("Deletes every delegated permission grant (oAuth2PermissionGrant) of the application %s: its consented access ends; tokens already issued live out their hour.", name),
		Permissions: perms(ActionRemoveConsent),
		Requests:    reqs,
		t:           target{appID: appID, spID: spID}}
}

func roleStep(root, roleName, roleDef, principal, member string) Step {
	who := firstNonEmpty(member, principal)
	var reqs []Request
	pid := principal
	if pid == "" {
		reqs = append(reqs, Request{Method: "GET", URL: root + userPath(member) + "?$select=id", Note: "the object id of " + member})
		pid = "{id of that user}"
	}
	filter := "principalId eq " + odataQuote(pid)
	reqs = append(reqs,
		Request{Method: "GET", URL: root + "/roleManagement/directory/roleAssignments?$filter=" + qesc(filter), Note: "the role assignments of " + who + ", among them those of role " + roleDef},
		Request{Method: "DELETE", URL: root + "/roleManagement/directory/roleAssignments/{id of each assignment}"})
	return Step{Action: ActionRemoveRole, Account: who,
		Target:      fmt.Sprintf("directory role %s (%s) of %s", firstNonEmpty(roleName, "(unnamed)"), roleDef, who),
		What:        fmt.Sprintf("Deletes the assignment of the directory role %s to %s.", firstNonEmpty(roleName, roleDef), who),
		Permissions: perms(ActionRemoveRole),
		Requests:    reqs,
		t:           target{principalID: principal, member: member, roleDefinitionID: roleDef, roleName: roleName}}
}

func perms(action string) []string {
	a, _ := ActionByName(action)
	return a.Permissions
}

func sortSteps(steps []Step, order []string) {
	idx := func(n string) int {
		for i, o := range order {
			if o == n {
				return i
			}
		}
		return len(order)
	}
	for i := 1; i < len(steps); i++ {
		for j := i; j > 0 && idx(steps[j].Action) < idx(steps[j-1].Action); j-- {
			steps[j], steps[j-1] = steps[j-1], steps[j]
		}
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstOf(ss []string) string {
	if len(ss) > 0 {
		return ss[0]
	}
	return ""
}
