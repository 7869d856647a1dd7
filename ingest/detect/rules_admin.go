package detect

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Operations the directory and configuration rules read, as the audit log writes them.
var (
	roleOps = []string{"Add member to role.", "Add eligible member to role.", "Add scoped member to role.",
		"Add member to role in PIM completed (permanent)", "Add member to role in PIM completed (timebound)",
		"Add eligible member to role in PIM completed (permanent)", "Add eligible member to role in PIM completed (timebound)",
		"Add member to role outside of PIM (permanent)", "Add-RoleGroupMember", "New-ManagementRoleAssignment"}
	consentOps       = []string{"Consent to application."}
	appCredentialOps = []string{"Add service principal credentials.", "Update application – Certificates and secrets management ",
		"Update application – Certificates and secrets management", "Update application - Certificates and secrets management "}
	appRoleOps          = []string{"Add app role assignment to service principal."}
	mfaOps              = []string{"Disable Strong Authentication.", "User deleted security info", "Admin deleted security info", "Update user."}
	authMethodOps       = []string{"User registered security info", "Admin registered security info"}
	caOps               = []string{"Delete conditional access policy", "Update conditional access policy", "Delete policy.", "Update policy."}
	domainOps           = []string{"Add domain to company.", "Add unverified domain.", "Add verified domain.", "Verify domain.", "New-AcceptedDomain", "Set-AcceptedDomain"}
	federationOps       = []string{"Set federation settings on domain.", "Set domain authentication.", "Add-FederatedDomain", "New-FederatedDomain"}
	auditOps            = []string{"Set-AdminAuditLogConfig", "Set-MailboxAuditBypassAssociation", "Set-Mailbox", "Set-OrganizationConfig"}
	permissionOps       = []string{"Add-MailboxPermission", "Add-RecipientPermission", "Add-ADPermission"}
	folderPermissionOps = []string{"Add-MailboxFolderPermission", "Set-MailboxFolderPermission", "AddFolderPermissions", "ModifyFolderPermissions"}
	securityPolicyOps   = []string{
		"Disable-SafeLinksRule", "Remove-SafeLinksRule", "Remove-SafeLinksPolicy", "Set-SafeLinksPolicy",
		"Disable-SafeAttachmentRule", "Remove-SafeAttachmentRule", "Remove-SafeAttachmentPolicy", "Set-SafeAttachmentPolicy",
		"Remove-MalwareFilterPolicy", "Remove-MalwareFilterRule", "Disable-MalwareFilterRule",
		"Remove-AntiPhishPolicy", "Remove-AntiPhishRule", "Disable-AntiPhishRule",
		"Remove-DlpPolicy", "Remove-DlpCompliancePolicy", "Remove-DlpComplianceRule", "Set-DlpCompliancePolicy", "Set-DlpComplianceRule",
		"Disable-ATPProtectionPolicyRule", "Set-AtpPolicyForO365", "Set-AntiPhishPolicy", "Set-MalwareFilterPolicy",
		"Set-MalwareFilterRule", "Set-SafeLinksRule", "Set-SafeAttachmentRule", "Set-AntiPhishRule",
	}
)

// modified returns a ModifiedProperties element's new and old values.
func (r *record) modified(name string) (newV, oldV string, ok bool) {
	for _, p := range r.props {
		if p.List == "ModifiedProperties" && strings.EqualFold(p.Name, name) {
			return p.Value, p.OldValue, true
		}
	}
	return "", "", false
}

// modifiedText is every ModifiedProperties name, new and old value, for word tests.
func (r *record) modifiedText() (names, newV, oldV string) {
	var n, a, b []string
	for _, p := range r.props {
		if p.List == "ModifiedProperties" {
			n, a, b = append(n, p.Name), append(a, p.Value), append(b, p.OldValue)
		}
	}
	return strings.ToLower(strings.Join(n, "\n")), strings.ToLower(strings.Join(a, "\n")), strings.ToLower(strings.Join(b, "\n"))
}

// target returns who a directory change was done to.
func (r *record) target() string {
	if r.TargetUPN != "" {
		return r.TargetUPN
	}
	return r.ObjectID
}

var guidRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// objectGUID returns the object id of a directory record's object: the GUID in its
// ObjectId (ServicePrincipal_<guid> and the like), else the first GUID among its Targets.
func (r *record) objectGUID() string {
	if g := guidRE.FindString(r.ObjectID); g != "" {
		return g
	}
	for _, p := range r.props {
		if p.List == "Target" {
			if g := guidRE.FindString(p.Value); g != "" {
				return g
			}
		}
	}
	return ""
}

// directoryObject returns the object id of the record's directory object of a kind
// ("ServicePrincipal", "Application"): a Target ID "<kind>_<guid>", else the ObjectId
// when it is a bare GUID; and the application id that a Target of type 4 (an SPN list
// "appId;https://...") or an ObjectId of that form names.
func (r *record) directoryObject(kind string) (id, appID string) {
	for _, p := range r.props {
		if p.List != "Target" {
			continue
		}
		if g, ok := strings.CutPrefix(p.Value, kind+"_"); ok && guidRE.MatchString(g) && id == "" {
			id = g
		}
		if p.Name == "SPN" && appID == "" {
			appID = guidRE.FindString(strings.SplitN(p.Value, ";", 2)[0])
		}
	}
	if obj := strings.TrimSpace(r.ObjectID); guidRE.FindString(obj) == obj && obj != "" {
		if id == "" {
			id = obj
		}
	} else if appID == "" && strings.Contains(obj, ";") {
		appID = guidRE.FindString(strings.SplitN(obj, ";", 2)[0])
	}
	return id, appID
}

// targetName returns the first Target of type 1 (a display name), if any.
func (r *record) targetName() string {
	for _, p := range r.props {
		if p.List == "Target" && p.Name == "1" && p.Value != "" {
			return p.Value
		}
	}
	for _, p := range r.props {
		if p.List == "Target" && p.Name == "Name" && p.Value != "" {
			return p.Value
		}
	}
	return ""
}

// byPIM reports whether Privileged Identity Management itself made a directory change
// (its MS-PIM service writing an activation's or renewal's Add member to role.): the
// assignment it carries out was alerted when it was granted.
func (r *record) byPIM() bool {
	if strings.EqualFold(r.UserID, "MS-PIM") {
		return true
	}
	for _, p := range r.props {
		if p.List == "Actor" && strings.EqualFold(p.Value, "MS-PIM") {
			return true
		}
	}
	return false
}

func (e *evaluation) roleGranted(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		if (r.Operation == "Add member to role." || r.Operation == "Add scoped member to role.") && r.byPIM() {
			continue
		}
		ev := map[string]string{"operation": r.Operation}
		var role, member, s string
		var rem []string
		switch r.Operation {
		case "Add-RoleGroupMember":
			p := r.params()
			role, member = p["identity"], p["member"]
			s = fmt.Sprintf("%s added %s to the Exchange role group %s.", r.UserID, member, role)
			rem = []string{fmt.Sprintf("Remove-RoleGroupMember -Identity %s -Member %s -Confirm:$false", psQuote(role), psQuote(member))}
		case "New-ManagementRoleAssignment":
			p := r.params()
			role, member = p["role"], firstNonEmpty(p["user"], p["securitygroup"], p["app"], p["policy"])
			s = fmt.Sprintf("%s assigned the Exchange management role %s to %s.", r.UserID, role, member)
			rem = []string{fmt.Sprintf("Get-ManagementRoleAssignment -Role %s -RoleAssignee %s | Remove-ManagementRoleAssignment -Confirm:$false", psQuote(role), psQuote(member))}
		default:
			role, _, _ = r.modified("Role.DisplayName")
			if role == "" {
				role = r.targetName()
			}
			member = r.target()
			roleID, _, _ := r.modified("Role.ObjectID")
			tmpl, _, _ := r.modified("Role.TemplateId")
			if tmpl == "" {
				tmpl, _, _ = r.modified("Role.WellKnownObjectName")
			}
			ev["role_id"], ev["role_template_id"] = roleID, tmpl
			kind := strings.TrimSuffix(r.Operation, ".")
			s = fmt.Sprintf("%s gave %s the directory role %s (%s).", r.UserID, member, firstNonEmpty(role, "(unnamed)"), kind)
			pim := strings.Contains(r.Operation, "PIM") || strings.Contains(r.Operation, "eligible")
			eligible := strings.Contains(r.Operation, "eligible")
			ev["assignment"] = map[bool]string{true: "eligible", false: "active"}[eligible]
			if strings.Contains(r.Operation, "(permanent)") {
				ev["duration"] = "permanent"
			} else if strings.Contains(r.Operation, "(timebound)") {
				ev["duration"] = "time-bound"
			}
			defID := firstNonEmpty(tmpl, "<role definition id>")
			principal := fmt.Sprintf("(Get-MgUser -UserId %s).Id", psQuote(member))
			if pim {
				cmd, list := "New-MgRoleManagementDirectoryRoleAssignmentScheduleRequest", "Get-MgRoleManagementDirectoryRoleAssignmentSchedule"
				if eligible {
					cmd, list = "New-MgRoleManagementDirectoryRoleEligibilityScheduleRequest", "Get-MgRoleManagementDirectoryRoleEligibilitySchedule"
				}
				rem = []string{
					fmt.Sprintf("%s -Filter (%s + %s + %s) | Format-Table Id,RoleDefinitionId,PrincipalId,ScheduleInfo", list, psQuote("principalId eq '"), principal, psQuote("'")),
					fmt.Sprintf("%s -BodyParameter @{ Action = 'adminRemove'; PrincipalId = %s; RoleDefinitionId = %s; DirectoryScopeId = '/'; Justification = 'o365ingest alert' }", cmd, principal, psQuote(defID)),
				}
			} else {
				dirRole := firstNonEmpty(roleID, "<directory role id>")
				rem = []string{
					fmt.Sprintf("Get-MgDirectoryRoleMember -DirectoryRoleId %s", psQuote(dirRole)),
					fmt.Sprintf("Remove-MgDirectoryRoleMemberByRef -DirectoryRoleId %s -DirectoryObjectId %s", psQuote(dirRole), principal),
				}
			}
			if strings.Contains(member, "@") {
				rem = append(rem, fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(member)))
			}
		}
		ev["role"], ev["member"] = role, member
		e.emit(r, RuleAdminRoleGranted, s, ev, rem)
	}
}

// appRemediation removes what an application holds: its delegated grants (each by
// id, the form that binds), its app role assignments (only those of roleID when
// given), and disables its service principal. The principal is sp (its object id),
// else looked up by its application id.
func appRemediation(sp, appID, roleID string) []string {
	var out []string
	ref := psQuote(sp)
	grantFilter := odataEq("clientId", sp)
	if sp == "" {
		out = append(out, fmt.Sprintf("$sp = Get-MgServicePrincipal -Filter %s", odataEq("appId", firstNonEmpty(appID, "<application id>"))))
		ref, grantFilter = "$sp.Id", "('clientId eq ''' + $sp.Id + '''')"
	}
	match := ""
	if roleID != "" {
		match = fmt.Sprintf(" | Where-Object { $_.AppRoleId -eq %s }", psQuote(roleID))
	}
	return append(out,
		fmt.Sprintf("Get-MgServicePrincipal -ServicePrincipalId %s | Format-List Id,AppId,DisplayName,PublisherName,AppOwnerOrganizationId", ref),
		fmt.Sprintf("Get-MgOauth2PermissionGrant -Filter %s -All | ForEach-Object { Remove-MgOauth2PermissionGrant -OAuth2PermissionGrantId $_.Id }", grantFilter),
		fmt.Sprintf("Get-MgServicePrincipalAppRoleAssignment -ServicePrincipalId %s -All%s | ForEach-Object { Remove-MgServicePrincipalAppRoleAssignment -ServicePrincipalId %s -AppRoleAssignmentId $_.Id }", ref, match, ref),
		fmt.Sprintf("Update-MgServicePrincipal -ServicePrincipalId %s -AccountEnabled:$false", ref),
	)
}

func (e *evaluation) allowedApp(names ...string) bool {
	for _, a := range e.cfg.Allow.Applications {
		for _, n := range names {
			if n != "" && strings.EqualFold(strings.TrimSpace(a), n) {
				return true
			}
		}
	}
	return false
}

func (e *evaluation) consent(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		app := r.targetName()
		sp, appID := r.directoryObject("ServicePrincipal")
		if e.allowedApp(app, sp, appID, r.ObjectID) {
			continue
		}
		admin, _, _ := r.modified("ConsentContext.IsAdminConsent")
		perms, _, _ := r.modified("ConsentAction.Permissions")
		ev := map[string]string{"application": app, "object_id": r.ObjectID, "service_principal_id": sp, "app_id": appID, "admin_consent": admin, "target": r.target(), "permissions": perms}
		who := "for themselves"
		if isTrue(admin) {
			who = "for the whole organization (admin consent)"
		}
		rem := appRemediation(sp, appID, "")
		rem = append(rem, fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)))
		e.emit(r, RuleAppConsent, fmt.Sprintf("%s granted the application %s access %s.", r.UserID, firstNonEmpty(app, sp, appID, r.ObjectID, "(unnamed)"), who), ev, rem)
	}
}

var keyIDRE = regexp.MustCompile(`(?i)KeyIdentifier=([0-9a-f-]{36})`)

func (e *evaluation) appCredential(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() || r.isService() {
			continue
		}
		_, newV, oldV := r.modifiedText()
		var added []string
		for _, m := range keyIDRE.FindAllStringSubmatch(newV, -1) {
			if !strings.Contains(oldV, m[1]) && !slices.Contains(added, m[1]) {
				added = append(added, m[1])
			}
		}
		hasKeys := keyIDRE.MatchString(newV) || keyIDRE.MatchString(oldV)
		if r.Operation != "Add service principal credentials." && len(added) == 0 && hasKeys {
			continue // a removal: no key the record shows is new
		}
		app := r.targetName()
		kind := "service principal"
		id, appID := r.directoryObject("ServicePrincipal")
		if !strings.HasPrefix(r.Operation, "Add service principal") {
			kind = "application"
			id, appID = r.directoryObject("Application")
		}
		if e.allowedApp(app, id, appID) {
			continue
		}
		desc, _, _ := r.modified("KeyDescription")
		ev := map[string]string{"operation": r.Operation, "object_id": r.ObjectID, "application": app, "app_id": appID, "key_ids": strings.Join(added, ", "), "key_description": desc}
		ref := psQuote(id)
		var rem []string
		if id == "" {
			// Only the application id is known: look the object up by it.
			noun := map[bool]string{true: "Get-MgApplication", false: "Get-MgServicePrincipal"}[kind == "application"]
			rem = append(rem, fmt.Sprintf("$obj = %s -Filter %s", noun, odataEq("appId", firstNonEmpty(appID, "<application id>"))))
			ref = "$obj.Id"
		}
		if kind == "application" {
			rem = append(rem, fmt.Sprintf("Get-MgApplication -ApplicationId %s | Format-List DisplayName,AppId,PasswordCredentials,KeyCredentials", ref))
			for _, k := range added {
				rem = append(rem, fmt.Sprintf("Remove-MgApplicationPassword -ApplicationId %s -KeyId %s   # a certificate: Update-MgApplication -ApplicationId %s -KeyCredentials (the others)", ref, psQuote(k), ref))
			}
		} else {
			rem = append(rem, fmt.Sprintf("Get-MgServicePrincipal -ServicePrincipalId %s | Format-List DisplayName,AppId,PasswordCredentials,KeyCredentials", ref))
			for _, k := range added {
				rem = append(rem, fmt.Sprintf("Remove-MgServicePrincipalPassword -ServicePrincipalId %s -KeyId %s   # a certificate: Update-MgServicePrincipal -ServicePrincipalId %s -KeyCredentials (the others)", ref, psQuote(k), ref))
			}
			rem = append(rem, fmt.Sprintf("Update-MgServicePrincipal -ServicePrincipalId %s -AccountEnabled:$false", ref))
		}
		if appID != "" {
			rem = append(rem, fmt.Sprintf("Get-MgAuditLogSignIn -Filter %s -Top 50   # sign-ins of the application", odataEq("appId", appID)))
		}
		e.emit(r, RuleAppCredentialAdded, fmt.Sprintf("%s added a credential to the %s %s.", r.UserID, kind, firstNonEmpty(app, id, appID, r.ObjectID)), ev, rem)
	}
}

func (e *evaluation) appRole(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() || r.isService() {
			continue
		}
		role, _, _ := r.modified("AppRole.Value")
		roleName, _, _ := r.modified("AppRole.DisplayName")
		roleID, _, _ := r.modified("AppRole.Id")
		// The record's Target is the resource (Microsoft Graph, Office 365 Exchange
		// Online); its ServicePrincipal.* properties are the principal given the role.
		resource := r.targetName()
		spID, _, _ := r.modified("ServicePrincipal.ObjectID")
		clientName, _, _ := r.modified("ServicePrincipal.DisplayName")
		clientApp, _, _ := r.modified("ServicePrincipal.AppId")
		client := guidRE.FindString(spID)
		if e.allowedApp(clientName, client, clientApp) {
			continue
		}
		ev := map[string]string{"app_role": firstNonEmpty(role, roleName), "app_role_id": roleID, "resource": resource, "service_principal_id": client,
			"app_id": clientApp, "application": clientName, "resource_object_id": r.objectGUID()}
		rem := append(appRemediation(client, clientApp, roleID), fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)))
		e.emit(r, RuleAppRoleGranted, fmt.Sprintf("%s granted the application permission %s on %s to %s.", r.UserID, firstNonEmpty(role, roleName, "(unnamed)"), firstNonEmpty(resource, "a resource"), firstNonEmpty(clientName, client, clientApp, "an application")),
			ev, rem)
	}
}

func (e *evaluation) mfaRemoved(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		ev := map[string]string{"operation": r.Operation, "target": r.target()}
		if r.Operation == "Update user." {
			var removed []string
			for _, p := range r.props {
				if p.List != "ModifiedProperties" || !strings.HasPrefix(strings.ToLower(p.Name), "strongauthentication") {
					continue
				}
				if fewer(p.Value, p.OldValue) || lowerState(p.Value, p.OldValue) {
					removed = append(removed, p.Name)
					ev[p.Name+".old"] = p.OldValue
					ev[p.Name+".new"] = p.Value
				}
			}
			if len(removed) == 0 {
				continue
			}
			ev["removed"] = strings.Join(removed, ", ")
		}
		e.emit(r, RuleMFARemoved, fmt.Sprintf("%s removed multi-factor authentication from %s (%s).", r.UserID, r.target(), strings.TrimSuffix(r.Operation, ".")), ev, []string{
			fmt.Sprintf("Get-MgUserAuthenticationMethod -UserId %s", psQuote(r.target())),
			fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.target())),
			"# Re-enable MFA: a Conditional Access policy requiring it (per-user MFA: the Entra admin center, Per-user MFA)",
		})
	}
}

// fewer reports whether newV holds fewer entries than oldV: JSON arrays by length,
// other text by emptiness.
func fewer(newV, oldV string) bool {
	count := func(s string) int {
		s = strings.TrimSpace(s)
		if s == "" || s == "[]" || s == "null" {
			return 0
		}
		var arr []any
		if json.Unmarshal([]byte(s), &arr) == nil {
			n := 0
			for _, x := range arr {
				// Entra writes [[]] or [{}] for an emptied list.
				if b, _ := json.Marshal(x); string(b) != "[]" && string(b) != "{}" && string(b) != "null" {
					n++
				}
			}
			return n
		}
		return 1
	}
	return count(newV) < count(oldV)
}

// lowerState reports whether the highest State of a StrongAuthenticationRequirement
// list (0 disabled, 1 enabled, 2 enforced) went down, whatever the entries' count.
func lowerState(newV, oldV string) bool {
	state := func(s string) int {
		var arr []map[string]any
		if json.Unmarshal([]byte(strings.TrimSpace(s)), &arr) != nil {
			return -1
		}
		best := 0
		for _, m := range arr {
			for k, v := range m {
				if strings.EqualFold(k, "State") {
					switch x := v.(type) {
					case float64:
						best = max(best, int(x))
					case string:
						switch strings.ToLower(x) {
						case "1", "enabled":
							best = max(best, 1)
						case "2", "enforced":
							best = max(best, 2)
						}
					}
				}
			}
		}
		return best
	}
	o, n := state(oldV), state(newV)
	return o > 0 && n >= 0 && n < o
}

// isService reports whether a record was made by Microsoft's own service accounts.
func (r *record) isService() bool {
	u := strings.ToUpper(r.UserID)
	return r.UserType == 3 || r.UserType == 4 || strings.HasPrefix(u, `NT AUTHORITY\`) || strings.HasPrefix(u, `SHAREPOINT\SYSTEM`) || strings.EqualFold(r.UserID, "app@sharepoint")
}

func (e *evaluation) authMethod(recs []*record) {
	var history []*record
	for _, r := range recs {
		if !r.succeeded() || !e.inRange(r.Time) {
			continue
		}
		if history == nil {
			history = e.signinHistory()
		}
		tap := strings.Contains(strings.ToLower(r.raw), "temporary access pass") || strings.Contains(strings.ToLower(r.raw), "temporaryaccesspass")
		target := firstNonEmpty(r.TargetUPN, r.UserID, r.ObjectID)
		ev := map[string]string{"operation": r.Operation, "target": target, "temporary_access_pass": fmt.Sprint(tap)}
		var s string
		if r.Operation == "Admin registered security info" {
			what := "an authentication method"
			if tap {
				what = "a temporary access pass"
			}
			s = fmt.Sprintf("%s registered %s for %s.", r.UserID, what, target)
		} else {
			known, why := e.knownAddress(history, r)
			if known {
				continue
			}
			ev["address"] = why
			s = fmt.Sprintf("%s registered a new authentication method from %s (%s).", target, firstNonEmpty(r.ClientIP, "an unknown address"), why)
		}
		e.emit(r, RuleAuthMethodRegistered, s, ev, []string{
			fmt.Sprintf("Get-MgUserAuthenticationMethod -UserId %s | Format-List Id,AdditionalProperties", psQuote(target)),
			fmt.Sprintf("# Remove the method the attacker added, e.g. Remove-MgUserAuthenticationMicrosoftAuthenticatorMethod -UserId %s -MicrosoftAuthenticatorAuthenticationMethodId '<id>' (or ...PhoneMethod, ...TemporaryAccessPassMethod)", psQuote(target)),
			fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(target)),
		})
	}
}

// knownAddress reports whether the address of r is one its user signed in from
// successfully before it, or one several other users of the tenant did (an office).
func (e *evaluation) knownAddress(history []*record, r *record) (bool, string) {
	a, err := r.addr()
	if err != nil {
		return false, "no client address in the record"
	}
	n := network(a)
	others := map[string]bool{}
	for _, h := range history {
		if !h.Time.Before(r.Time) || !h.signedIn() || h.TenantID != r.TenantID {
			continue
		}
		ha, err := h.addr()
		if err != nil || network(ha) != n {
			continue
		}
		if strings.EqualFold(h.UserID, r.UserID) {
			return true, ""
		}
		others[strings.ToLower(h.UserID)] = true
	}
	if len(others) >= e.th.SharedNetworkUsers {
		return true, ""
	}
	return false, fmt.Sprintf("network %s: no earlier sign-in of this user from it", n)
}

func (e *evaluation) conditionalAccess(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		names, newV, oldV := r.modifiedText()
		generic := r.Operation == "Delete policy." || r.Operation == "Update policy."
		if generic && !strings.Contains(names+newV+oldV+strings.ToLower(r.targetName())+strings.ToLower(r.raw), "conditionalaccess") && !strings.Contains(strings.ToLower(r.raw), "conditional access") {
			continue
		}
		policy := firstNonEmpty(r.targetName(), r.ObjectID)
		ev := map[string]string{"operation": r.Operation, "policy": policy, "policy_id": r.objectGUID()}
		var s string
		if strings.HasPrefix(r.Operation, "Delete") {
			s = fmt.Sprintf("%s deleted the Conditional Access policy %s.", r.UserID, policy)
		} else {
			st := func(v string) string {
				for _, k := range []string{"enabledforreportingbutnotenforced", "disabled", "enabled"} {
					if strings.Contains(v, `"state":"`+k+`"`) || strings.Contains(v, `"state": "`+k+`"`) {
						return k
					}
				}
				return ""
			}
			ns, os := st(newV), st(oldV)
			if ns == "" || ns == "enabled" || ns == os {
				continue
			}
			ev["state_old"], ev["state_new"] = os, ns
			what := "disabled"
			if ns == "enabledforreportingbutnotenforced" {
				what = "set to report-only (not enforced)"
			}
			s = fmt.Sprintf("%s %s the Conditional Access policy %s.", r.UserID, what, policy)
		}
		e.emit(r, RuleConditionalAccessChanged, s, ev, []string{
			fmt.Sprintf("Get-MgIdentityConditionalAccessPolicy -All | Format-Table Id,DisplayName,State"),
			fmt.Sprintf("# Restore it: Update-MgIdentityConditionalAccessPolicy -ConditionalAccessPolicyId %s -State 'enabled' (a deleted policy: Entra admin center, Conditional Access, Deleted policies, Restore)", psQuote(firstNonEmpty(r.objectGUID(), "<policy id>"))),
			fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
		})
	}
}

func (e *evaluation) domainAdded(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() || r.isService() {
			continue
		}
		p := r.params()
		domain := firstNonEmpty(p["domainname"], r.targetName(), p["identity"], p["name"], r.ObjectID)
		ev := map[string]string{"operation": r.Operation, "domain": domain, "domain_type": p["domaintype"]}
		if r.Operation == "Set-AcceptedDomain" {
			changed := false
			for k := range p {
				if k != "identity" && k != "makedefault" && k != "name" {
					changed = true
				}
			}
			if !changed {
				continue
			}
		}
		rem := []string{"Get-MgDomain | Format-Table Id,AuthenticationType,IsVerified", "Get-AcceptedDomain | Format-Table DomainName,DomainType,Default"}
		if strings.HasSuffix(r.Operation, "AcceptedDomain") {
			rem = append(rem, fmt.Sprintf("Remove-AcceptedDomain -Identity %s -Confirm:$false", psQuote(domain)))
		} else {
			rem = append(rem, fmt.Sprintf("Remove-MgDomain -DomainId %s", psQuote(domain)))
		}
		e.emit(r, RuleDomainAdded, fmt.Sprintf("%s added or changed the domain %s (%s); mail to it is not treated as internal unless it is in detect.domains.", r.UserID, domain, strings.TrimSuffix(r.Operation, ".")), ev, rem)
	}
}

func (e *evaluation) federation(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		_, newV, oldV := r.modifiedText()
		if r.Operation == "Set domain authentication." && strings.Contains(newV, "managed") && !strings.Contains(newV, "federated") {
			continue // back to cloud authentication
		}
		names, _, _ := r.modifiedText()
		if strings.HasPrefix(strings.ToLower(r.UserID), "sync_") && strings.Contains(names, "signingcertificate") && !strings.Contains(names, "issueruri") && !strings.Contains(names, "passivesigninuri") {
			continue // AD FS rolling its own signing certificate through Entra Connect
		}
		domain := firstNonEmpty(r.params()["domainname"], r.targetName(), r.ObjectID)
		ev := map[string]string{"operation": r.Operation, "domain": domain, "new": newV, "old": oldV}
		e.emit(r, RuleDomainFederationChanged, fmt.Sprintf("%s changed how the domain %s authenticates (%s): a federation trust lets its issuer sign in as any user of the domain.", r.UserID, domain, strings.TrimSuffix(r.Operation, ".")), ev, []string{
			fmt.Sprintf("Get-MgDomainFederationConfiguration -DomainId %s | Format-List IssuerUri,PassiveSignInUri,SigningCertificate,FederatedIdpMfaBehavior", psQuote(domain)),
			fmt.Sprintf("# If not yours: Update-MgDomain -DomainId %s -AuthenticationType 'Managed' (after removing the federation configuration)", psQuote(domain)),
			fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
		})
	}
}

func (e *evaluation) auditDisabled(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		p := r.params()
		var what string
		var rem []string
		switch r.Operation {
		case "Set-AdminAuditLogConfig":
			switch {
			case isFalse(p["unifiedauditlogingestionenabled"]):
				what = "turned off unified audit log ingestion"
			case isFalse(p["adminauditlogenabled"]):
				what = "turned off admin audit logging"
			default:
				continue
			}
			rem = []string{"Set-AdminAuditLogConfig -UnifiedAuditLogIngestionEnabled $true", "Get-AdminAuditLogConfig | Format-List UnifiedAuditLogIngestionEnabled,AdminAuditLogEnabled"}
		case "Set-MailboxAuditBypassAssociation":
			if !isTrue(p["auditbypassenabled"]) {
				continue
			}
			id := firstNonEmpty(p["identity"], r.ObjectID)
			what = "exempted " + id + " from mailbox auditing (audit bypass)"
			rem = []string{fmt.Sprintf("Set-MailboxAuditBypassAssociation -Identity %s -AuditBypassEnabled $false", psQuote(id)), "Get-MailboxAuditBypassAssociation -ResultSize Unlimited | Where-Object { $_.AuditBypassEnabled }"}
		case "Set-Mailbox":
			if !isFalse(p["auditenabled"]) {
				continue
			}
			id := firstNonEmpty(p["identity"], r.ObjectID)
			what = "turned off mailbox auditing on " + id
			rem = []string{fmt.Sprintf("Set-Mailbox -Identity %s -AuditEnabled $true", psQuote(id))}
		case "Set-OrganizationConfig":
			if !isTrue(p["auditdisabled"]) {
				continue
			}
			what = "turned off mailbox auditing for the whole organization"
			rem = []string{"Set-OrganizationConfig -AuditDisabled $false"}
		default:
			continue
		}
		rem = append(rem, fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)))
		e.emit(r, RuleAuditDisabled, fmt.Sprintf("%s %s.", r.UserID, what), map[string]string{"operation": r.Operation, "parameters": paramText(r)}, rem)
	}
}

// weakens reports whether a Set- cmdlet's parameters turn a protection off: an
// Enable*/Enabled/IsEnabled parameter false, Disabled true, Mode or State Disable(d).
func weakens(p map[string]string) bool {
	for k, v := range p {
		switch {
		case strings.Contains(k, "notification") || strings.Contains(k, "notify"):
			// who is told, not what is protected
		case strings.HasPrefix(k, "enable") || k == "isenabled" || k == "enabled":
			if isFalse(v) {
				return true
			}
		case k == "disabled":
			if isTrue(v) {
				return true
			}
		case k == "mode" || k == "state":
			if l := strings.ToLower(v); l == "disable" || l == "disabled" {
				return true
			}
		}
	}
	return false
}

// paramText lists a cmdlet's parameters as -Name Value.
func paramText(r *record) string {
	var out []string
	for _, p := range r.props {
		if p.List == "Parameters" {
			out = append(out, "-"+p.Name+" "+p.Value)
		}
	}
	return strings.Join(out, " ")
}

func (e *evaluation) securityPolicy(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() || r.isService() {
			continue
		}
		p := r.params()
		id := firstNonEmpty(p["identity"], p["name"], r.ObjectID)
		op := r.Operation
		if strings.HasPrefix(op, "Set-") && !weakens(p) {
			continue
		}
		verb := "disabled"
		if strings.HasPrefix(op, "Remove-") {
			verb = "removed"
		}
		noun := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(op, "Remove-"), "Disable-"), "Set-")
		undo := "# Re-create or re-enable it, e.g. Enable-" + noun
		if strings.HasPrefix(op, "Set-") || strings.HasPrefix(op, "Disable-") {
			undo = fmt.Sprintf("# Re-enable it: Enable-%s -Identity %s, or Set-%s -Identity %s with the setting back on", noun, psQuote(id), noun, psQuote(id))
		}
		e.emit(r, RuleSecurityPolicyDisabled, fmt.Sprintf("%s %s the %s %s (%s).", r.UserID, verb, noun, id, op), map[string]string{"operation": op, "policy": id, "parameters": paramText(r)}, []string{
			undo,
			fmt.Sprintf("Get-%s | Format-Table Name,State,Enabled,Mode", noun),
			fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
		})
	}
}

func (e *evaluation) permissionGranted(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() || r.isService() {
			continue
		}
		p := r.params()
		mailbox := firstNonEmpty(p["identity"], r.ObjectID)
		var rights, grantee string
		var rem []string
		switch r.Operation {
		case "Add-MailboxPermission":
			rights, grantee = p["accessrights"], p["user"]
			if !strings.Contains(strings.ToLower(rights), "fullaccess") {
				continue
			}
			rem = []string{fmt.Sprintf("Remove-MailboxPermission -Identity %s -User %s -AccessRights FullAccess -InheritanceType All -Confirm:$false", psQuote(mailbox), psQuote(grantee))}
		case "Add-RecipientPermission", "Add-ADPermission":
			rights, grantee = firstNonEmpty(p["accessrights"], p["extendedrights"]), firstNonEmpty(p["trustee"], p["user"])
			if l := strings.ToLower(rights); !strings.Contains(l, "sendas") && !strings.Contains(l, "send-as") && !strings.Contains(l, "send as") {
				continue
			}
			rem = []string{fmt.Sprintf("Remove-RecipientPermission -Identity %s -Trustee %s -AccessRights SendAs -Confirm:$false", psQuote(mailbox), psQuote(grantee))}
		case "Set-Mailbox", "New-Mailbox":
			v := p["grantsendonbehalfto"]
			if isNull(v) {
				continue
			}
			rights, grantee = "SendOnBehalf", strings.Trim(strings.TrimPrefix(strings.TrimPrefix(v, "@{Add="), "@{add="), "}\"'")
			rem = []string{fmt.Sprintf("Set-Mailbox -Identity %s -GrantSendOnBehalfTo @{Remove=%s}", psQuote(mailbox), psQuote(grantee))}
		default:
			continue
		}
		rem = append(rem,
			fmt.Sprintf("Get-MailboxPermission -Identity %s | Where-Object { -not $_.IsInherited }", psQuote(mailbox)),
			fmt.Sprintf("Get-RecipientPermission -Identity %s", psQuote(mailbox)))
		rem = append(rem, sessionRevocation(r.UserID, "")...)
		e.emit(r, RuleMailboxPermissionGrant, fmt.Sprintf("%s granted %s %s on the mailbox %s.", r.UserID, grantee, rights, mailbox),
			map[string]string{"operation": r.Operation, "mailbox": mailbox, "grantee": grantee, "access_rights": rights}, rem)
	}
}

// readRights are the folder permission roles and rights that let someone read mail.
var readRights = []string{"owner", "publishingeditor", "editor", "publishingauthor", "author", "nonediting", "reviewer", "readitems", "readany", "folderowner"}

// sharedFolders are folders people share on purpose.
var sharedFolders = []string{"calendar", "contacts", "tasks", "notes", "kalender", "calendrier"}

func (e *evaluation) folderPermission(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() || r.isService() {
			continue
		}
		var identity, user, rights string
		if strings.HasSuffix(r.Operation, "MailboxFolderPermission") {
			p := r.params()
			identity, user, rights = firstNonEmpty(p["identity"], r.ObjectID), p["user"], p["accessrights"]
		} else {
			var doc struct {
				Item struct {
					ParentFolder struct {
						Path, MemberUpn, MemberRights string
					}
				}
			}
			json.Unmarshal([]byte(r.raw), &doc)
			f := doc.Item.ParentFolder
			identity, user, rights = firstNonEmpty(r.MailboxOwner, r.UserID)+":"+f.Path, f.MemberUpn, f.MemberRights
		}
		folder := strings.ToLower(identity)
		if i := strings.IndexByte(folder, ':'); i >= 0 {
			folder = folder[i+1:]
		} else {
			folder = `\`
		}
		folder = strings.Trim(folder, `\/ `)
		if slices.ContainsFunc(sharedFolders, func(s string) bool { return strings.HasPrefix(folder, s) }) {
			continue
		}
		l := strings.ToLower(rights)
		if !slices.ContainsFunc(readRights, func(s string) bool { return strings.Contains(l, s) }) {
			continue
		}
		who := user
		if strings.EqualFold(user, "Default") || strings.EqualFold(user, "Anonymous") {
			who = user + " (every user)"
		}
		e.emit(r, RuleMailboxFolderPermission, fmt.Sprintf("%s gave %s %s on the mail folder %s.", r.UserID, who, rights, identity),
			map[string]string{"operation": r.Operation, "folder": identity, "grantee": user, "access_rights": rights}, []string{
				fmt.Sprintf("Get-MailboxFolderPermission -Identity %s", psQuote(identity)),
				fmt.Sprintf("Remove-MailboxFolderPermission -Identity %s -User %s -Confirm:$false", psQuote(identity), psQuote(user)),
				fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
			})
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

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
