package detect

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	roleOps       = []string{"Add member to role.", "Add eligible member to role.", "Add scoped member to role.", "Add-RoleGroupMember", "New-ManagementRoleAssignment"}
	consentOps    = []string{"Consent to application."}
	mfaOps        = []string{"Disable Strong Authentication.", "User deleted security info", "Admin deleted security info", "Update user."}
	permissionOps = []string{"Add-MailboxPermission", "Add-RecipientPermission", "Add-ADPermission"}
	anonLinkOps   = []string{"AnonymousLinkCreated", "AnonymousLinkUpdated"}
	downloadOps   = []string{"FileDownloaded", "FileSyncDownloadedFull"}
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

// target returns who a directory change was done to.
func (r *record) target() string {
	if r.TargetUPN != "" {
		return r.TargetUPN
	}
	return r.ObjectID
}

func (e *evaluation) adminChanges(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		switch {
		case slices.Contains(roleOps, r.Operation):
			e.roleGranted(r)
		case slices.Contains(consentOps, r.Operation):
			e.consent(r)
		case slices.Contains(mfaOps, r.Operation):
			e.mfaRemoved(r)
		case slices.Contains(permissionOps, r.Operation):
			e.permissionGranted(r)
		}
	}
}

func (e *evaluation) roleGranted(r *record) {
	if !e.on(RuleAdminRoleGranted) {
		return
	}
	ev := map[string]string{"operation": r.Operation}
	var role, member, s string
	var rem []string
	switch r.Operation {
	case "Add-RoleGroupMember":
		role, member = r.param("Identity"), r.param("Member")
		s = fmt.Sprintf("%s added %s to the Exchange role group %s.", r.UserID, member, role)
		rem = []string{fmt.Sprintf("Remove-RoleGroupMember -Identity %s -Member %s -Confirm:$false", psQuote(role), psQuote(member))}
	case "New-ManagementRoleAssignment":
		role, member = r.param("Role"), firstNonEmpty(r.param("User"), r.param("SecurityGroup"), r.param("App"))
		s = fmt.Sprintf("%s assigned the Exchange management role %s to %s.", r.UserID, role, member)
		rem = []string{fmt.Sprintf("Get-ManagementRoleAssignment -Role %s -RoleAssignee %s | Remove-ManagementRoleAssignment -Confirm:$false", psQuote(role), psQuote(member))}
	default:
		name, _, _ := r.modified("Role.DisplayName")
		role, member = name, r.target()
		roleID, _, _ := r.modified("Role.ObjectID")
		ev["role_id"] = roleID
		s = fmt.Sprintf("%s gave %s the directory role %s (%s).", r.UserID, member, firstNonEmpty(role, "(unnamed)"), strings.TrimSuffix(r.Operation, "."))
		rem = []string{
			fmt.Sprintf("Get-MgDirectoryRoleMember -DirectoryRoleId %s", psQuote(firstNonEmpty(roleID, "<role id>"))),
			fmt.Sprintf("Remove-MgDirectoryRoleMemberByRef -DirectoryRoleId %s -DirectoryObjectId (Get-MgUser -UserId %s).Id", psQuote(firstNonEmpty(roleID, "<role id>")), psQuote(member)),
		}
	}
	ev["role"], ev["member"] = role, member
	e.emit(r, RuleAdminRoleGranted, s, ev, rem)
}

func (e *evaluation) consent(r *record) {
	if !e.on(RuleAppConsent) {
		return
	}
	app := ""
	for _, p := range r.props {
		if p.List == "Target" && p.Name == "Name" && p.Value != "" {
			app = p.Value
			break
		}
	}
	appID := r.ObjectID
	for _, a := range e.cfg.Allow.Applications {
		if strings.EqualFold(a, app) || strings.EqualFold(a, appID) {
			return
		}
	}
	admin, _, _ := r.modified("ConsentContext.IsAdminConsent")
	perms, _, _ := r.modified("ConsentAction.Permissions")
	ev := map[string]string{"application": app, "object_id": appID, "admin_consent": admin, "target": r.target()}
	if perms != "" {
		ev["permissions"] = clip(perms, 500)
	}
	who := "for themselves"
	if isTrue(admin) {
		who = "for the whole organization (admin consent)"
	}
	e.emit(r, RuleAppConsent, fmt.Sprintf("%s granted the application %s access %s.", r.UserID, firstNonEmpty(app, appID, "(unnamed)"), who), ev, []string{
		fmt.Sprintf("Get-MgServicePrincipal -Filter \"displayName eq '%s'\" | Format-List Id,AppId,DisplayName,PublisherName", strings.ReplaceAll(firstNonEmpty(app, appID), "'", "''")),
		"Get-MgOauth2PermissionGrant -Filter \"clientId eq '<service principal id>'\" | Remove-MgOauth2PermissionGrant",
		fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
	})
}

func (e *evaluation) mfaRemoved(r *record) {
	if !e.on(RuleMFARemoved) {
		return
	}
	ev := map[string]string{"operation": r.Operation, "target": r.target()}
	if r.Operation == "Update user." {
		var removed []string
		for _, p := range r.props {
			if p.List != "ModifiedProperties" || !strings.HasPrefix(strings.ToLower(p.Name), "strongauthentication") {
				continue
			}
			if fewer(p.Value, p.OldValue) {
				removed = append(removed, p.Name)
				ev[p.Name+".old"] = clip(p.OldValue, 300)
				ev[p.Name+".new"] = clip(p.Value, 300)
			}
		}
		if len(removed) == 0 {
			return
		}
		ev["removed"] = strings.Join(removed, ", ")
	}
	e.emit(r, RuleMFARemoved, fmt.Sprintf("%s removed multi-factor authentication from %s (%s).", r.UserID, r.target(), strings.TrimSuffix(r.Operation, ".")), ev, []string{
		fmt.Sprintf("Get-MgUserAuthenticationMethod -UserId %s", psQuote(r.target())),
		fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.target())),
	})
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

// isService reports whether a record was made by Microsoft's own service accounts.
func (r *record) isService() bool {
	return r.UserType == 3 || r.UserType == 4 || strings.HasPrefix(strings.ToUpper(r.UserID), `NT AUTHORITY\`)
}

func (e *evaluation) permissionGranted(r *record) {
	if !e.on(RuleMailboxPermissionGrant) || r.isService() {
		return
	}
	mailbox := firstNonEmpty(r.param("Identity"), r.ObjectID)
	var rights, grantee string
	var rem []string
	switch r.Operation {
	case "Add-MailboxPermission":
		rights, grantee = r.param("AccessRights"), r.param("User")
		if !strings.Contains(strings.ToLower(rights), "fullaccess") {
			return
		}
		rem = []string{fmt.Sprintf("Remove-MailboxPermission -Identity %s -User %s -AccessRights FullAccess -InheritanceType All -Confirm:$false", psQuote(mailbox), psQuote(grantee))}
	case "Add-RecipientPermission":
		rights, grantee = r.param("AccessRights"), r.param("Trustee")
		if !strings.Contains(strings.ToLower(rights), "sendas") {
			return
		}
		rem = []string{fmt.Sprintf("Remove-RecipientPermission -Identity %s -Trustee %s -AccessRights SendAs -Confirm:$false", psQuote(mailbox), psQuote(grantee))}
	case "Add-ADPermission":
		rights, grantee = r.param("ExtendedRights"), r.param("User")
		if l := strings.ToLower(rights); !strings.Contains(l, "send-as") && !strings.Contains(l, "send as") {
			return
		}
		rem = []string{fmt.Sprintf("Remove-ADPermission -Identity %s -User %s -ExtendedRights 'Send As' -Confirm:$false", psQuote(mailbox), psQuote(grantee))}
	}
	rem = append(rem, fmt.Sprintf("Get-MailboxPermission -Identity %s | Where-Object { -not $_.IsInherited }", psQuote(mailbox)))
	e.emit(r, RuleMailboxPermissionGrant, fmt.Sprintf("%s granted %s %s on the mailbox %s.", r.UserID, grantee, rights, mailbox),
		map[string]string{"operation": r.Operation, "mailbox": mailbox, "grantee": grantee, "access_rights": rights}, rem)
}

// bursts fires when one user does ops at least n times within window; after an alert
// the user is quiet for one window.
func (e *evaluation) bursts(recs []*record, rule string, ops []string, n int, window time.Duration, describe func(r *record, hits []*record) (string, map[string]string, []string)) {
	if !e.on(rule) {
		return
	}
	type state struct {
		hits  []*record
		quiet time.Time
	}
	byUser := map[string]*state{}
	for _, r := range recs {
		if !slices.Contains(ops, r.Operation) || r.UserID == "" {
			continue
		}
		key := r.TenantID + "\x00" + strings.ToLower(r.UserID)
		s := byUser[key]
		if s == nil {
			s = &state{}
			byUser[key] = s
		}
		if r.Time.Before(s.quiet) {
			continue
		}
		s.hits = append(s.hits, r)
		for len(s.hits) > 0 && r.Time.Sub(s.hits[0].Time) >= window {
			s.hits = s.hits[1:]
		}
		if len(s.hits) < n {
			continue
		}
		if e.inRange(r.Time) {
			ids := make([]string, len(s.hits))
			for i, h := range s.hits {
				ids[i] = h.ID
			}
			summary, ev, rem := describe(r, s.hits)
			ev["count"] = strconv.Itoa(len(s.hits))
			ev["first"] = s.hits[0].Time.Format(time.RFC3339)
			ev["last"] = r.Time.Format(time.RFC3339)
			e.emitMany(r, ids, rule, summary, ev, rem)
		}
		s.hits = nil
		s.quiet = r.Time.Add(window)
	}
}

func (e *evaluation) files(recs []*record) {
	th := e.th
	e.bursts(recs, RuleAnonymousLink, anonLinkOps, th.AnonymousLinks, time.Duration(th.AnonymousLinkWindowMinutes)*time.Minute,
		func(r *record, hits []*record) (string, map[string]string, []string) {
			files := objects(hits)
			s := fmt.Sprintf("%s created an anonymous sharing link (anyone with the link) to %s.", r.UserID, r.ObjectID)
			if len(hits) > 1 {
				s = fmt.Sprintf("%s created %d anonymous sharing links (anyone with the link) within %d minutes.", r.UserID, len(hits), th.AnonymousLinkWindowMinutes)
			}
			return s, map[string]string{"files": files}, []string{
				"# Remove the link: the file's Manage access pane, or Remove-PnPFileSharingLink -FileUrl '<server-relative url>' -Identity '<link id>'",
				fmt.Sprintf("Get-SPOSite -Identity %s | Format-List Url,SharingCapability", psQuote(siteOf(r.ObjectID))),
				fmt.Sprintf("Set-SPOSite -Identity %s -SharingCapability ExistingExternalUserSharingOnly", psQuote(siteOf(r.ObjectID))),
			}
		})
	e.bursts(recs, RuleDownloadBurst, downloadOps, th.DownloadBurst, time.Duration(th.DownloadWindowMinutes)*time.Minute,
		func(r *record, hits []*record) (string, map[string]string, []string) {
			return fmt.Sprintf("%s downloaded %d files within %d minutes.", r.UserID, len(hits), th.DownloadWindowMinutes),
				map[string]string{"files": objects(hits)},
				[]string{
					fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
					fmt.Sprintf("Get-MgAuditLogSignIn -Filter \"userPrincipalName eq '%s'\" -Top 20", strings.ReplaceAll(r.UserID, "'", "''")),
				}
		})
}

// objects lists the first object ids of hits.
func objects(hits []*record) string {
	var out []string
	for i, h := range hits {
		if i == 10 {
			out = append(out, fmt.Sprintf("and %d more", len(hits)-10))
			break
		}
		out = append(out, h.ObjectID)
	}
	return strings.Join(out, "; ")
}

// siteOf returns the site URL part of a SharePoint/OneDrive object URL.
func siteOf(u string) string {
	for _, marker := range []string{"/sites/", "/teams/", "/personal/"} {
		if i := strings.Index(u, marker); i >= 0 {
			rest := u[i+len(marker):]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				return u[:i+len(marker)+j]
			}
			return u
		}
	}
	return u
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
