package detect_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/schema"
)

// More builders.

// signinErr is a failed sign-in with a given AADSTS code and LogonError.
func signinErr(id string, at time.Time, user, ip, errNo, logonErr string) string {
	s := signin(id, at, user, ip, false)
	s = strings.Replace(s, `"ErrorNumber":"50126"`, `"ErrorNumber":"`+errNo+`"`, 1)
	return strings.Replace(s, `"ExtendedProperties"`, `"LogonError":"`+logonErr+`","ExtendedProperties"`, 1)
}

// mbx is a mailbox audit record (RecordType 2) with extra top-level fields.
func mbx(id string, at time.Time, user, op string, extra map[string]any) string {
	m := map[string]any{"Id": id, "CreationTime": ts(at), "Operation": op, "RecordType": 2, "ResultStatus": "Succeeded",
		"UserType": 0, "Workload": "Exchange", "UserId": user, "ClientIP": "192.0.2.10", "MailboxOwnerUPN": user, "LogonType": 0}
	for k, v := range extra {
		m[k] = v
	}
	return marshal(m)
}

// fakeCity maps /24 networks to a country and coordinates (a City database).
type fakeCity map[string]struct {
	country  string
	lat, lon float64
}

func (g fakeCity) at(ip string) (struct {
	country  string
	lat, lon float64
}, bool) {
	i := strings.LastIndexByte(ip, '.')
	if i < 0 {
		return struct {
			country  string
			lat, lon float64
		}{}, false
	}
	p, ok := g[ip[:i]]
	return p, ok
}

func (g fakeCity) Country(ip string) string { p, _ := g.at(ip); return p.country }

func (g fakeCity) Locate(ip string) (float64, float64, bool) {
	p, ok := g.at(ip)
	return p.lat, p.lon, ok
}

// idOf returns a built record's Id.
func idOf(raw string) string { return strings.Split(strings.Split(raw, `"Id":"`)[1], `"`)[0] }

func summaryHas(words ...string) func(t *testing.T, alerts []detect.Alert) {
	return func(t *testing.T, alerts []detect.Alert) {
		for _, a := range alerts {
			for _, w := range words {
				if strings.HasPrefix(w, "!") {
					if strings.Contains(a.Summary, w[1:]) {
						t.Errorf("summary %q says %q", a.Summary, w[1:])
					}
				} else if !strings.Contains(a.Summary, w) {
					t.Errorf("summary %q lacks %q", a.Summary, w)
				}
			}
		}
	}
}

func evidenceIs(key, want string) func(t *testing.T, alerts []detect.Alert) {
	return func(t *testing.T, alerts []detect.Alert) {
		for _, a := range alerts {
			if a.Evidence[key] != want {
				t.Errorf("evidence %s = %q, want %q (%v)", key, a.Evidence[key], want, a.Evidence)
			}
		}
	}
}

func remediationHas(words ...string) func(t *testing.T, alerts []detect.Alert) {
	return func(t *testing.T, alerts []detect.Alert) {
		for _, a := range alerts {
			all := strings.Join(a.Remediation, "\n")
			for _, w := range words {
				if strings.HasPrefix(w, "!") {
					if strings.Contains(all, w[1:]) {
						t.Errorf("remediation has %q:\n%s", w[1:], all)
					}
				} else if !strings.Contains(all, w) {
					t.Errorf("remediation lacks %q:\n%s", w, all)
				}
			}
		}
	}
}

func both(fs ...func(t *testing.T, alerts []detect.Alert)) func(t *testing.T, alerts []detect.Alert) {
	return func(t *testing.T, alerts []detect.Alert) {
		for _, f := range fs {
			f(t, alerts)
		}
	}
}

// moreCases are the cases of the hiding, forwarding, domain, PIM, MFA and spraying
// classes of misses and of the rules added with them.
func moreCases() []ruleCase {
	var cs []ruleCase
	add := func(c ruleCase) { cs = append(cs, c) }
	rec := func(prefix string, build func(id string) string) (string, string) {
		id := nextID(prefix)
		return id, build(id)
	}
	later := day.Add(2 * time.Hour)

	// inbox_rule_hide: folders nobody reads, whatever the condition.
	id, r := rec("hide", func(id string) string {
		return exo(id, day, megan, "203.0.113.66", "New-InboxRule", "Name", ".", "From", "ceo@fabrikam.example", "MoveToFolder", `:\RSS Subscriptions`)
	})
	add(ruleCase{name: "a rule moving the impersonated correspondent's mail to RSS Subscriptions fires", records: []string{r}, want: []string{"inbox_rule_hide:" + id}})
	id, r = rec("hide", func(id string) string {
		return exo(id, day, megan, "203.0.113.66", "New-InboxRule", "Name", "x", "SubjectContainsWords", "newsletter", "MoveToFolder", "Conversation History")
	})
	add(ruleCase{name: "a rule moving any mail to Conversation History fires", records: []string{r}, want: []string{"inbox_rule_hide:" + id}})
	id, r = rec("hide", func(id string) string {
		return exo(id, day, megan, "203.0.113.66", "New-InboxRule", "Name", "x", "SubjectOrBodyContainsWords", "Unusual sign-in activity;verify your account", "DeleteMessage", "True")
	})
	add(ruleCase{name: "a rule deleting security notifications fires", records: []string{r}, want: []string{"inbox_rule_hide:" + id}})
	id, r = rec("hide", func(id string) string {
		return exo(id, day, megan, "203.0.113.66", "New-InboxRule", "Name", "x", "From", "account-security-noreply@accountprotection.microsoft.com", "MoveToFolder", "Archive Alerts")
	})
	add(ruleCase{name: "a rule filing Microsoft's security mail into a custom folder fires", records: []string{r}, want: []string{"inbox_rule_hide:" + id}})
	_, r = rec("hide", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "Falcon", "SubjectContainsWords", "Project Falcon", "MoveToFolder", "Projects")
	})
	add(ruleCase{name: "a rule filing a project's mail into its folder does not fire", records: []string{r}, rule: "inbox_rule_hide"})
	_, r = rec("hide", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "Monitoring", "SubjectContainsWords", "[ALERT] disk space", "MoveToFolder", "Monitoring")
	})
	add(ruleCase{name: "an admin filing monitoring alerts into a folder does not fire", records: []string{r}, rule: "inbox_rule_hide"})
	id, r = rec("hide", func(id string) string {
		return exo(id, day, megan, "203.0.113.66", "Set-InboxRule", "Identity", `megan.bowen\Old rule`, "DeleteMessage", "True")
	})
	add(ruleCase{name: "a Set-InboxRule adding deletion to a rule of unknown conditions fires without claiming all mail", records: []string{r}, want: []string{"inbox_rule_hide:" + id},
		check: summaryHas("!all incoming mail", "earlier conditions")})
	first := exo(nextID("hide"), day.Add(-3*24*time.Hour), megan, "192.0.2.10", "New-InboxRule", "Name", "shop", "From", "offers@shop.example", "MoveToFolder", "Newsletters")
	_, r = rec("hide", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "Set-InboxRule", "Identity", `megan.bowen\shop`, "DeleteMessage", "True")
	})
	add(ruleCase{name: "a Set-InboxRule making a shop's offers rule delete does not fire (its New-InboxRule is in the records)", records: []string{first, r}, rule: "inbox_rule_hide"})

	// inbox_rule_forward_external: redirects are called redirects; contacts resolve.
	id, r = rec("fwd", func(id string) string {
		return exo(id, day, megan, "203.0.113.66", "New-InboxRule", "Name", "r", "RedirectTo", "x@evil.example")
	})
	add(ruleCase{name: "a redirecting rule is called a redirect", records: []string{r}, want: []string{"inbox_rule_forward_external:" + id},
		check: both(summaryHas("redirects", "!forwards"), remediationHas("-IncludeHidden", "ForwardAsAttachmentTo"))})
	contact := exo(nextID("contact"), day.Add(-40*24*time.Hour), alex, "192.0.2.10", "New-MailContact", "Name", "Backup Archive", "ExternalEmailAddress", "SMTP:stash@exfil-mail.example")
	id, r = rec("fwd", func(id string) string {
		return exo(id, day, megan, "203.0.113.66", "New-InboxRule", "Name", "b", "ForwardTo", "Backup Archive")
	})
	add(ruleCase{name: "an inbox rule forwarding to a mail contact with an outside address fires", records: []string{contact, r}, want: []string{"inbox_rule_forward_external:" + id}})

	// mailbox_forward_external through a mail contact; both accounts covered.
	id, r = rec("mbx", func(id string) string {
		return exo(id, day, alex, "203.0.113.66", "Set-Mailbox", "Identity", "megan.bowen", "ForwardingAddress", "Backup Archive", "DeliverToMailboxAndForward", "True")
	})
	add(ruleCase{name: "Set-Mailbox forwarding to a mail contact with an outside address fires, covering both accounts", records: []string{contact, r}, want: []string{"mailbox_forward_external:" + id},
		check: both(evidenceIs("external_recipients", "stash@exfil-mail.example"), remediationHas("Revoke-MgUserSignInSession -UserId '"+alex+"'", "(Get-Mailbox -Identity 'megan.bowen').ExternalDirectoryObjectId"))})
	_, r = rec("mbx", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Set-Mailbox", "Identity", "megan.bowen", "ForwardingAddress", "Alex Wilber")
	})
	add(ruleCase{name: "forwarding to a name that is no contact does not fire, though a contact exists", records: []string{contact, r}, rule: "mailbox_forward_external"})

	// Own-domain learning.
	guest := spo(nextID("guest"), day.Add(-24*time.Hour), "urn:spo:guest#drop@gmail.com", "FileAccessed", "x.docx")
	id, r = rec("fwd", func(id string) string {
		return exo(id, day, megan, "203.0.113.66", "New-InboxRule", "Name", "g", "ForwardTo", "drop@gmail.com")
	})
	add(ruleCase{name: "a guest record does not make gmail.com the tenant's own", records: []string{guest, r}, want: []string{"inbox_rule_forward_external:" + id}})
	var gm []string
	for i := range 3 {
		gm = append(gm, signin(nextID("gm"), day.Add(-time.Duration(i+1)*time.Hour), fmt.Sprintf("u%d@gmail.com", i), "192.0.2.10", true))
	}
	id, r = rec("fwd", func(id string) string {
		return exo(id, day, megan, "203.0.113.66", "New-InboxRule", "Name", "g", "ForwardTo", "drop@gmail.com")
	})
	add(ruleCase{name: "consumer domains are never learned, however many users", records: append(gm, r), want: []string{"inbox_rule_forward_external:" + id}})
	dom := exo(nextID("dom"), day.Add(-time.Hour), alex, "203.0.113.66", "New-AcceptedDomain", "Name", "evil", "DomainName", "evil-corp.example", "DomainType", "InternalRelay")
	id, r = rec("fwd", func(id string) string {
		return exo(id, day, megan, "203.0.113.66", "Set-Mailbox", "Identity", "megan.bowen", "ForwardingSmtpAddress", "smtp:x@evil-corp.example")
	})
	add(ruleCase{name: "an accepted domain added in the records alerts and does not whitelist forwarding to it", records: []string{dom, r}, want: []string{"domain_added:" + idOf(dom), "mailbox_forward_external:" + id}})
	_, r = rec("dom", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Set-AcceptedDomain", "Identity", "contoso.example", "MakeDefault", "True")
	})
	add(ruleCase{name: "making an accepted domain the default does not fire", records: []string{r}, rule: "domain_added"})

	// admin_role_granted: PIM.
	for _, op := range []string{"Add member to role in PIM completed (permanent)", "Add eligible member to role in PIM completed (timebound)", "Add member to role in PIM completed (timebound)"} {
		id, r = rec("pim", func(id string) string {
			return aad(id, day, alex, op, "Success", megan, map[string]any{"ModifiedProperties": mod("Role.DisplayName", "Global Administrator", "", "Role.TemplateId", "62e90394-69f5-4237-9190-012177145e10", "")})
		})
		add(ruleCase{name: "PIM: " + op + " fires", records: []string{r}, want: []string{"admin_role_granted:" + id},
			check: remediationHas("Action = 'adminRemove'", "62e90394-69f5-4237-9190-012177145e10", "!Remove-MgDirectoryRoleMemberByRef")})
	}
	_, r = rec("pim", func(id string) string {
		return aad(id, day, megan, "Add member to role completed (PIM activation)", "Success", megan, nil)
	})
	add(ruleCase{name: "an eligible admin activating their role does not fire", records: []string{r}, rule: "admin_role_granted"})

	// mfa_removed: the requirement's state.
	id, r = rec("mfa", func(id string) string {
		return aad(id, day, alex, "Update user.", "Success", megan, map[string]any{"ModifiedProperties": mod(
			"StrongAuthenticationRequirement", `[{"RelyingParty":"*","State":0,"RememberDevicesNotIssuedBefore":"2026-03-02T09:00:00Z"}]`, `[{"RelyingParty":"*","State":1,"RememberDevicesNotIssuedBefore":"2026-01-02T09:00:00Z"}]`)})
	})
	add(ruleCase{name: "the MFA requirement going from enabled to disabled fires though the entries stay one", records: []string{r}, want: []string{"mfa_removed:" + id}})
	_, r = rec("mfa", func(id string) string {
		return aad(id, day, alex, "Update user.", "Success", megan, map[string]any{"ModifiedProperties": mod(
			"StrongAuthenticationRequirement", `[{"RelyingParty":"*","State":2}]`, `[{"RelyingParty":"*","State":1}]`)})
	})
	add(ruleCase{name: "enforcing MFA does not fire", records: []string{r}, rule: "mfa_removed"})

	// signin_spray: IPv6 /64, interrupts, uncapped counts, windows in words.
	var v6 []string
	for i := range 7 {
		v6 = append(v6, signin(nextID("v6"), day.Add(time.Duration(i)*3*time.Minute), fmt.Sprintf("user%d@contoso.example", i), fmt.Sprintf("2001:db8:7:1::%x", i+1), false))
	}
	add(ruleCase{name: "seven users failing from one IPv6 /64 is one spray of seven", records: v6, want: []string{"signin_spray:" + idOf(v6[4])},
		check: both(evidenceIs("user_count", "7"), evidenceIs("failures", "7"), summaryHas("7 different users", "!1h0m0s"))})
	var nat []string
	for i := range 6 {
		nat = append(nat, signinErr(nextID("nat"), day.Add(time.Duration(i)*time.Minute), fmt.Sprintf("user%d@contoso.example", i), "198.51.100.99", "50074", "UserStrongAuthClientAuthNRequiredInterrupt"))
	}
	add(ruleCase{name: "six users behind one NAT answering an MFA prompt are no spray", records: nat, rule: "signin_spray"})
	var kmsi []string
	for i := range 6 {
		kmsi = append(kmsi, signinErr(nextID("kmsi"), day.Add(time.Duration(i)*time.Minute), fmt.Sprintf("user%d@contoso.example", i), "198.51.100.98", "50140", "KmsiInterrupt"))
	}
	add(ruleCase{name: "keep-me-signed-in interrupts are no spray", records: kmsi, rule: "signin_spray"})

	// signin_brute_force
	var bf []string
	for i := range 12 {
		bf = append(bf, signin(nextID("bf"), day.Add(time.Duration(i)*time.Minute), alex, fmt.Sprintf("203.0.113.%d", 10+i%3), false))
	}
	add(ruleCase{name: "twelve failures of one user from three addresses are a brute force of twelve", records: bf, want: []string{"signin_brute_force:" + idOf(bf[9])},
		check: evidenceIs("failures", "12")})
	typo := []string{signin(nextID("bf"), day, alex, "192.0.2.10", false), signin(nextID("bf"), day.Add(time.Minute), alex, "192.0.2.10", false), signin(nextID("bf"), day.Add(2*time.Minute), alex, "192.0.2.10", true)}
	add(ruleCase{name: "two typos then a success are no brute force", records: typo, rule: "signin_brute_force"})
	lock := []string{signin(nextID("bf"), day, alex, "203.0.113.9", false), signin(nextID("bf"), day.Add(time.Minute), alex, "203.0.113.9", false), signinErr(nextID("bf"), day.Add(2*time.Minute), alex, "203.0.113.9", "50053", "IdsLocked")}
	add(ruleCase{name: "failures ending in a lockout fire", records: lock, want: []string{"signin_brute_force:" + idOf(lock[2])}})

	// impossible_travel
	geo := fakeGeo{"192.0.2": "DE", "203.0.113": "US", "198.51.100": "DE"}
	tr := []string{signin(nextID("tr"), day, "traveller@contoso.example", "192.0.2.50", true), signin(nextID("tr"), day.Add(30*time.Minute), "traveller@contoso.example", "203.0.113.50", true)}
	add(ruleCase{name: "sign-ins from Germany and the US half an hour apart fire", records: tr, want: []string{"impossible_travel:" + idOf(tr[1])}, cfg: func(c *detect.Config) { c.Geo = geo }})
	tr2 := []string{signin(nextID("tr"), day, "traveller@contoso.example", "192.0.2.50", true), signin(nextID("tr"), day.Add(11*time.Hour), "traveller@contoso.example", "203.0.113.50", true)}
	add(ruleCase{name: "sign-ins from Germany and the US eleven hours apart do not fire", records: tr2, rule: "impossible_travel", cfg: func(c *detect.Config) { c.Geo = geo }})
	tr3 := []string{signin(nextID("tr"), day, "traveller@contoso.example", "192.0.2.50", true), signin(nextID("tr"), day.Add(10*time.Minute), "traveller@contoso.example", "198.51.100.50", true)}
	add(ruleCase{name: "two networks in one country do not fire", records: tr3, rule: "impossible_travel", cfg: func(c *detect.Config) { c.Geo = geo }})

	// auth_method_registered
	base := history(megan, "192.0.2.10", 3)
	regAt := func(ip string) func(id string) string {
		return func(id string) string {
			s := aad(id, day, megan, "User registered security info", "Success", megan, nil)
			return strings.Replace(s, `"ClientIP":"192.0.2.10"`, `"ClientIP":"`+ip+`"`, 1)
		}
	}
	id, r = rec("reg", regAt("203.0.113.66"))
	add(ruleCase{name: "a user registering security info from a new address fires", records: append(slices.Clone(base), r), want: []string{"auth_method_registered:" + id}})
	_, r = rec("reg", regAt("192.0.2.77"))
	add(ruleCase{name: "a user registering security info from their usual network does not fire", records: append(slices.Clone(base), r), rule: "auth_method_registered"})
	id, r = rec("reg", func(id string) string {
		return aad(id, day, alex, "Admin registered security info", "Success", megan, map[string]any{"ExtendedProperties": nv("ResultReason", "Admin registered temporary access pass method for user")})
	})
	add(ruleCase{name: "an admin issuing a temporary access pass fires", records: []string{r}, want: []string{"auth_method_registered:" + id}, check: summaryHas("temporary access pass")})
	_, r = rec("reg", func(id string) string {
		return aad(id, day, alex, "Admin registered security info", "Failure", megan, nil)
	})
	add(ruleCase{name: "a failed registration does not fire", records: []string{r}, rule: "auth_method_registered"})

	// app_consent remediation
	id, r = rec("consent", func(id string) string {
		return aad(id, day, megan, "Consent to application.", "Success", "ServicePrincipal_5b3e8a7c-1111-2222-3333-444455556666", map[string]any{
			"Target":             []map[string]any{{"ID": "ServicePrincipal_5b3e8a7c-1111-2222-3333-444455556666", "Type": 2}, {"ID": "Mail Sync Plus", "Type": 1}},
			"ModifiedProperties": mod("ConsentContext.IsAdminConsent", "True", "")})
	})
	add(ruleCase{name: "consent remediation names the service principal and removes grants in a binding form", records: []string{r}, want: []string{"app_consent:" + id},
		check: remediationHas("5b3e8a7c-1111-2222-3333-444455556666", "ForEach-Object { Remove-MgOauth2PermissionGrant -OAuth2PermissionGrantId $_.Id }", "Remove-MgServicePrincipalAppRoleAssignment", "-AccountEnabled:$false", "!<service principal id>")})
	_, r = rec("consent", func(id string) string { return aad(id, day, megan, "Consent to application.", "Failure", "sp-9", nil) })
	add(ruleCase{name: "a failed consent does not fire", records: []string{r}, rule: "app_consent"})

	// app_credential_added
	id, r = rec("cred", func(id string) string {
		return aad(id, day, alex, "Add service principal credentials.", "Success", "ServicePrincipal_aaaaaaaa-1111-2222-3333-444455556666", map[string]any{
			"ModifiedProperties": mod("KeyDescription", "[KeyIdentifier=bbbbbbbb-1111-2222-3333-444455556666,KeyType=Password,KeyUsage=Verify,DisplayName=x]", "")})
	})
	add(ruleCase{name: "a secret added to a service principal fires", records: []string{r}, want: []string{"app_credential_added:" + id}, check: remediationHas("Remove-MgServicePrincipalPassword", "bbbbbbbb-1111-2222-3333-444455556666")})
	op := "Update application – Certificates and secrets management "
	id, r = rec("cred", func(id string) string {
		return aad(id, day, alex, op, "Success", "Application_cccccccc-1111-2222-3333-444455556666", map[string]any{
			"ModifiedProperties": mod("KeyDescription", "[KeyIdentifier=dddddddd-1111-2222-3333-444455556666,KeyType=Password][KeyIdentifier=eeeeeeee-1111-2222-3333-444455556666,KeyType=Password]", "[KeyIdentifier=eeeeeeee-1111-2222-3333-444455556666,KeyType=Password]")})
	})
	add(ruleCase{name: "a secret added to an application fires", records: []string{r}, want: []string{"app_credential_added:" + id}})
	_, r = rec("cred", func(id string) string {
		return aad(id, day, alex, op, "Success", "Application_cccccccc-1111-2222-3333-444455556666", map[string]any{
			"ModifiedProperties": mod("KeyDescription", "[]", "[KeyIdentifier=eeeeeeee-1111-2222-3333-444455556666,KeyType=Password]")})
	})
	add(ruleCase{name: "an expired secret removed from an application does not fire", records: []string{r}, rule: "app_credential_added"})

	// app_role_granted, in the record's shape: the Target is the resource, the
	// ServicePrincipal.* properties the application given the role.
	id, r = rec("approle", func(id string) string {
		return aad(id, day, alex, "Add app role assignment to service principal.", "Success", "c5393580-f805-4401-95e8-94b7a6ef2fc2", map[string]any{
			"Target": []map[string]any{{"ID": "ServicePrincipal_efe101d0-818a-4f19-b2f8-53186f8218ad", "Type": 2}, {"ID": "Microsoft Graph", "Type": 1}},
			"ModifiedProperties": mod("AppRole.Value", "Mail.Read", "", "AppRole.Id", "810c84a8-4a9e-49e6-bf7d-12d183f40d01", "",
				"ServicePrincipal.ObjectID", "5c242833-909c-4c6b-bca3-50feaaa98d23", "", "ServicePrincipal.DisplayName", "Mail Sync Plus", "",
				"ServicePrincipal.AppId", "71a0194b-b70c-44a6-82f2-d4670aee4585", "")})
	})
	add(ruleCase{name: "an application permission granted fires", records: []string{r}, want: []string{"app_role_granted:" + id},
		check: both(remediationHas("$_.AppRoleId -eq '810c84a8-4a9e-49e6-bf7d-12d183f40d01'", "-ServicePrincipalId '5c242833-909c-4c6b-bca3-50feaaa98d23'", "!efe101d0"),
			summaryHas("Mail.Read on Microsoft Graph to Mail Sync Plus"))})
	_, r = rec("approle", func(id string) string {
		return aad(id, day, alex, "Add app role assignment grant to user.", "Success", megan, nil)
	})
	add(ruleCase{name: "a user assigned to an enterprise app does not fire", records: []string{r}, rule: "app_role_granted"})

	// conditional_access_changed
	id, r = rec("ca", func(id string) string {
		return aad(id, day, alex, "Delete conditional access policy", "Success", "12345678-1111-2222-3333-444455556666", nil)
	})
	add(ruleCase{name: "a Conditional Access policy deleted fires", records: []string{r}, want: []string{"conditional_access_changed:" + id}})
	id, r = rec("ca", func(id string) string {
		return aad(id, day, alex, "Update conditional access policy", "Success", "12345678-1111-2222-3333-444455556666", map[string]any{
			"ModifiedProperties": mod("ConditionalAccessPolicy", `{"displayName":"Require MFA","state":"disabled"}`, `{"displayName":"Require MFA","state":"enabled"}`)})
	})
	add(ruleCase{name: "a Conditional Access policy disabled fires", records: []string{r}, want: []string{"conditional_access_changed:" + id}})
	_, r = rec("ca", func(id string) string {
		return aad(id, day, alex, "Update conditional access policy", "Success", "12345678-1111-2222-3333-444455556666", map[string]any{
			"ModifiedProperties": mod("ConditionalAccessPolicy", `{"displayName":"Require MFA","state":"enabled","excludeGroups":["g2"]}`, `{"displayName":"Require MFA","state":"enabled"}`)})
	})
	add(ruleCase{name: "a Conditional Access policy edited and left on does not fire", records: []string{r}, rule: "conditional_access_changed"})

	// domain_federation_changed
	id, r = rec("fed", func(id string) string {
		return aad(id, day, alex, "Set domain authentication.", "Success", "contoso.example", map[string]any{"ModifiedProperties": mod("LiveType", "Federated", "Managed")})
	})
	add(ruleCase{name: "a domain switched to federated fires", records: []string{r}, want: []string{"domain_federation_changed:" + id}})
	_, r = rec("fed", func(id string) string {
		return aad(id, day, alex, "Set domain authentication.", "Success", "contoso.example", map[string]any{"ModifiedProperties": mod("LiveType", "Managed", "Federated")})
	})
	add(ruleCase{name: "a domain moved back to cloud authentication does not fire", records: []string{r}, rule: "domain_federation_changed"})

	// audit_disabled
	for _, c := range [][]string{
		{"Set-AdminAuditLogConfig", "UnifiedAuditLogIngestionEnabled", "False"},
		{"Set-MailboxAuditBypassAssociation", "AuditBypassEnabled", "True"},
		{"Set-Mailbox", "AuditEnabled", "False"},
		{"Set-OrganizationConfig", "AuditDisabled", "True"},
	} {
		id, r = rec("audit", func(id string) string {
			return exo(id, day, alex, "203.0.113.66", c[0], "Identity", "megan.bowen", c[1], c[2])
		})
		add(ruleCase{name: c[0] + " -" + c[1] + " " + c[2] + " fires", records: []string{r}, want: []string{"audit_disabled:" + id}})
	}
	_, r = rec("audit", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Set-AdminAuditLogConfig", "UnifiedAuditLogIngestionEnabled", "True")
	})
	add(ruleCase{name: "turning the unified audit log on does not fire", records: []string{r}, rule: "audit_disabled"})
	_, r = rec("audit", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Set-Mailbox", "Identity", "megan.bowen", "AuditEnabled", "True", "AuditOwner", "MailItemsAccessed,Send")
	})
	add(ruleCase{name: "widening mailbox auditing does not fire", records: []string{r}, rule: "audit_disabled"})

	// security_policy_disabled
	for _, c := range [][]string{
		{"Disable-SafeLinksRule", "Identity", "Built-in protection"},
		{"Remove-MalwareFilterPolicy", "Identity", "Default"},
		{"Set-DlpCompliancePolicy", "Mode", "Disable"},
		{"Remove-AntiPhishPolicy", "Identity", "Office365 AntiPhish"},
		{"Disable-SafeAttachmentRule", "Identity", "Attachments"},
	} {
		id, r = rec("sec", func(id string) string { return exo(id, day, alex, "203.0.113.66", c[0], c[1], c[2]) })
		add(ruleCase{name: c[0] + " fires", records: []string{r}, want: []string{"security_policy_disabled:" + id}})
	}
	_, r = rec("sec", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Set-DlpCompliancePolicy", "Identity", "PII", "Mode", "Enable")
	})
	add(ruleCase{name: "turning a DLP policy on does not fire", records: []string{r}, rule: "security_policy_disabled"})
	_, r = rec("sec", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Set-SafeLinksPolicy", "Identity", "Default", "TrackClicks", "True")
	})
	add(ruleCase{name: "tuning a Safe Links policy does not fire", records: []string{r}, rule: "security_policy_disabled"})

	// mailbox_permission_granted: SendOnBehalf, and no on-premises cmdlets.
	id, r = rec("perm", func(id string) string {
		return exo(id, day, alex, "203.0.113.66", "Set-Mailbox", "Identity", "ceo", "GrantSendOnBehalfTo", megan)
	})
	add(ruleCase{name: "SendOnBehalf granted fires", records: []string{r}, want: []string{"mailbox_permission_granted:" + id}})
	id, r = rec("perm", func(id string) string {
		return exo(id, day, alex, "203.0.113.66", "Add-ADPermission", "Identity", "ceo", "User", megan, "ExtendedRights", "Send As")
	})
	add(ruleCase{name: "Send As through Add-ADPermission fires with Exchange Online remediation", records: []string{r}, want: []string{"mailbox_permission_granted:" + id},
		check: remediationHas("Remove-RecipientPermission", "!Remove-ADPermission")})
	_, r = rec("perm", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Set-Mailbox", "Identity", "ceo", "GrantSendOnBehalfTo", "$null")
	})
	add(ruleCase{name: "clearing SendOnBehalf does not fire", records: []string{r}, rule: "mailbox_permission_granted"})

	// mailbox_folder_permission_granted
	id, r = rec("fold", func(id string) string {
		return exo(id, day, megan, "203.0.113.66", "Add-MailboxFolderPermission", "Identity", `ceo:\Inbox`, "User", megan, "AccessRights", "Reviewer")
	})
	add(ruleCase{name: "reading rights on another's Inbox fire", records: []string{r}, want: []string{"mailbox_folder_permission_granted:" + id}})
	id, r = rec("fold", func(id string) string {
		return exo(id, day, megan, "203.0.113.66", "Set-MailboxFolderPermission", "Identity", `megan.bowen:\`, "User", "Default", "AccessRights", "Reviewer")
	})
	add(ruleCase{name: "the mailbox root opened to Default fires", records: []string{r}, want: []string{"mailbox_folder_permission_granted:" + id}})
	_, r = rec("fold", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "Add-MailboxFolderPermission", "Identity", `megan.bowen:\Calendar`, "User", alex, "AccessRights", "Reviewer")
	})
	add(ruleCase{name: "sharing a calendar does not fire", records: []string{r}, rule: "mailbox_folder_permission_granted"})

	// mail_sync_by_app
	sync := func(id string, at time.Time, app string) string {
		return mbx(id, at, megan, "MailItemsAccessed", map[string]any{"AppId": app, "ClientAppId": app, "OperationCount": 40,
			"OperationProperties": nv("MailAccessType", "Sync", "IsThrottled", "False")})
	}
	var ss []string
	for i := range 3 {
		ss = append(ss, sync(nextID("sync"), day.Add(time.Duration(i)*time.Minute), "7c1e2b4a-9999-4c3e-8f00-123456789abc"))
	}
	add(ruleCase{name: "an unknown application syncing three folders is one alert of three records", records: ss, want: []string{"mail_sync_by_app:" + idOf(ss[0])}, check: evidenceIs("records", "3")})
	_, r = rec("sync", func(id string) string { return sync(id, day, "d3590ed6-52b3-4102-aeff-aad2292ab01c") })
	add(ruleCase{name: "Outlook syncing a new profile does not fire", records: []string{r}, rule: "mail_sync_by_app"})
	_, r = rec("sync", func(id string) string {
		return mbx(id, day, megan, "MailItemsAccessed", map[string]any{"AppId": "7c1e2b4a-9999-4c3e-8f00-123456789abc", "OperationProperties": nv("MailAccessType", "Bind")})
	})
	add(ruleCase{name: "an application reading single messages (Bind) does not fire", records: []string{r}, rule: "mail_sync_by_app"})

	// ediscovery_export
	search := exo(nextID("ed"), day.Add(-time.Hour), alex, "203.0.113.66", "New-ComplianceSearch", "Name", "q1", "ExchangeLocation", "All", "ContentMatchQuery", "password OR invoice")
	id, r = rec("ed", func(id string) string {
		return exo(id, day, alex, "203.0.113.66", "New-ComplianceSearchAction", "SearchName", "q1", "Export", "", "Format", "FxStream")
	})
	add(ruleCase{name: "a compliance search exported fires with its query", records: []string{search, r}, want: []string{"ediscovery_export:" + id}, check: evidenceIs("query", "password OR invoice ExchangeLocation=All")})
	_, r = rec("ed", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "New-ComplianceSearchAction", "SearchName", "q1", "Preview", "")
	})
	add(ruleCase{name: "a compliance search previewed does not fire", records: []string{search, r}, rule: "ediscovery_export"})

	// site_admin_added
	siteAdmin := func(id, user string) string {
		return marshal(map[string]any{"Id": id, "CreationTime": ts(day), "Operation": "SiteCollectionAdminAdded", "RecordType": 6, "UserType": 0,
			"Workload": "SharePoint", "UserId": user, "ClientIP": "203.0.113.66", "ObjectId": "https://contoso.sharepoint.com/sites/Finance",
			"SiteUrl": "https://contoso.sharepoint.com/sites/Finance/", "TargetUserOrGroupName": megan, "EventSource": "SharePoint"})
	}
	id, r = rec("site", func(id string) string { return siteAdmin(id, alex) })
	add(ruleCase{name: "a site collection admin added fires", records: []string{r}, want: []string{"site_admin_added:" + id}})
	_, r = rec("site", func(id string) string { return siteAdmin(id, "app@sharepoint") })
	add(ruleCase{name: "SharePoint adding a site's admin itself does not fire", records: []string{r}, rule: "site_admin_added"})

	// team_external_member
	member := func(id string, at time.Time, upn string) string {
		return marshal(map[string]any{"Id": id, "CreationTime": ts(at), "Operation": "MemberAdded", "RecordType": 25, "UserType": 0,
			"Workload": "MicrosoftTeams", "UserId": alex, "ClientIP": "192.0.2.10", "TeamName": "Finance", "ObjectId": "Finance",
			"Members": []map[string]any{{"UPN": upn, "Role": 1, "DisplayName": "X"}}})
	}
	g1, g2 := member(nextID("team"), day, "jo_fabrikam.example#EXT#@contoso.example"), member(nextID("team"), later, "al_fabrikam.example#EXT#@contoso.example")
	add(ruleCase{name: "the first guest from an organization added to a team fires once", records: []string{g1, g2}, want: []string{"team_external_member:" + idOf(g1)}})
	_, r = rec("team", func(id string) string { return member(id, day, "pat@contoso.example") })
	add(ruleCase{name: "a colleague added to a team does not fire", records: []string{r}, rule: "team_external_member"})

	// mass_delete
	var del []string
	for i := range 120 {
		del = append(del, spo(nextID("del"), day.Add(time.Duration(i)*2*time.Second), megan, "FileDeleted", fmt.Sprintf("d%d.xlsx", i)))
	}
	add(ruleCase{name: "120 files deleted within minutes are one alert of 120", records: del, want: []string{"mass_delete:" + idOf(del[99])}, check: evidenceIs("files_deleted", "120")})
	add(ruleCase{name: "99 files deleted do not fire", records: del[:99], rule: "mass_delete"})
	items := func(n int, folder string) []map[string]any {
		var out []map[string]any
		for range n {
			out = append(out, map[string]any{"Subject": "s", "ParentFolder": map[string]any{"Path": folder}})
		}
		return out
	}
	id, r = rec("del", func(id string) string {
		return mbx(id, day, megan, "HardDelete", map[string]any{"Folder": map[string]any{"Path": `\Inbox`}, "AffectedItems": items(150, `\Inbox`)})
	})
	add(ruleCase{name: "150 mail items hard-deleted from the Inbox fire", records: []string{r}, want: []string{"mass_delete:" + id}, check: evidenceIs("mail_items_deleted", "150")})
	_, r = rec("del", func(id string) string {
		return mbx(id, day, megan, "SoftDelete", map[string]any{"Folder": map[string]any{"Path": `\Deleted Items`}, "AffectedItems": items(500, `\Deleted Items`)})
	})
	add(ruleCase{name: "emptying Deleted Items does not fire", records: []string{r}, rule: "mass_delete"})

	// download_burst: sixty downloads say 60.
	var dl []string
	for i := range 60 {
		dl = append(dl, spo(nextID("dl"), day.Add(time.Duration(i)*5*time.Second), alex, "FileDownloaded", fmt.Sprintf("g%d.xlsx", i)))
	}
	add(ruleCase{name: "sixty downloads say sixty", records: dl, want: []string{"download_burst:" + idOf(dl[49])}, check: both(evidenceIs("count", "60"), summaryHas("60 files"))})

	// Look-alikes and variants added with the second round.
	var typoNat []string
	for i := range 6 {
		u := fmt.Sprintf("user%d@contoso.example", i)
		at := day.Add(time.Duration(i) * 5 * time.Minute)
		typoNat = append(typoNat, signin(nextID("typo"), at, u, "198.51.100.97", false), signin(nextID("typo"), at.Add(time.Minute), u, "198.51.100.97", true))
	}
	add(ruleCase{name: "six users behind one NAT mistyping and then signing in are no spray", records: typoNat, rule: "signin_spray"})
	var cracked []string
	for i := range 6 {
		cracked = append(cracked, signin(nextID("crack"), day.Add(time.Duration(i)*time.Minute), fmt.Sprintf("user%d@contoso.example", i), "203.0.113.77", false))
	}
	cracked = append(cracked, signin(nextID("crack"), day.Add(90*time.Minute), "user3@contoso.example", "203.0.113.77", true))
	add(ruleCase{name: "a spray whose guess worked for one account names it", records: cracked, want: []string{"signin_spray:" + idOf(cracked[4])},
		check: evidenceIs("signed_in_after_failing", "user3@contoso.example")})
	id, r = rec("cred", func(id string) string {
		return aad(id, day, alex, "Update application – Certificates and secrets management ", "Success", "Application_cccccccc-1111-2222-3333-444455556666", nil)
	})
	add(ruleCase{name: "a credential update with no key details fires", records: []string{r}, want: []string{"app_credential_added:" + id}})
	_, r = rec("fed", func(id string) string {
		return aad(id, day, "Sync_ADC01_1a2b3c@contoso.onmicrosoft.com", "Set federation settings on domain.", "Success", "contoso.example", map[string]any{
			"ModifiedProperties": mod("SigningCertificate", "MIIC2...new", "MIIC2...old", "NextSigningCertificate", "", "MIIC2...new")})
	})
	add(ruleCase{name: "AD FS rolling its signing certificate through Entra Connect does not fire", records: []string{r}, rule: "domain_federation_changed"})
	id, r = rec("fed", func(id string) string {
		return aad(id, day, alex, "Set federation settings on domain.", "Success", "contoso.example", map[string]any{
			"ModifiedProperties": mod("IssuerUri", "http://any.sts.example/adfs/services/trust", "http://adfs.contoso.example/adfs/services/trust")})
	})
	add(ruleCase{name: "a domain's federation issuer changed fires", records: []string{r}, want: []string{"domain_federation_changed:" + id}})
	_, r = rec("sec", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Set-MalwareFilterPolicy", "Identity", "Default", "EnableInternalSenderAdminNotifications", "False")
	})
	add(ruleCase{name: "turning off an anti-malware notification does not fire", records: []string{r}, rule: "security_policy_disabled"})
	id, r = rec("sec", func(id string) string {
		return exo(id, day, alex, "203.0.113.66", "Set-AntiPhishPolicy", "Identity", "Office365 AntiPhish Default", "Enabled", "False")
	})
	add(ruleCase{name: "an anti-phishing policy switched off fires", records: []string{r}, want: []string{"security_policy_disabled:" + id}})
	siteRec := func(id string, at time.Time, user, op, site string) string {
		return marshal(map[string]any{"Id": id, "CreationTime": ts(at), "Operation": op, "RecordType": 6, "UserType": 0,
			"Workload": "SharePoint", "UserId": user, "ClientIP": "192.0.2.10", "ObjectId": site, "SiteUrl": site + "/", "TargetUserOrGroupName": alex, "EventSource": "SharePoint"})
	}
	made := siteRec(nextID("site"), day, megan, "SiteCollectionCreated", "https://contoso.sharepoint.com/sites/Project")
	_, r = rec("site", func(id string) string {
		return siteRec(id, day.Add(10*time.Minute), megan, "SiteCollectionAdminAdded", "https://contoso.sharepoint.com/sites/Project")
	})
	add(ruleCase{name: "a site's creator adding a co-admin does not fire", records: []string{made, r}, rule: "site_admin_added"})
	_, r = rec("site", func(id string) string {
		return siteRec(id, day, megan, "SiteCollectionAdminAdded", "https://contoso-my.sharepoint.com/personal/megan_bowen_contoso_example")
	})
	add(ruleCase{name: "a user adding an admin to their own OneDrive does not fire", records: []string{r}, rule: "site_admin_added"})
	id, r = rec("site", func(id string) string {
		return siteRec(id, day, alex, "SiteCollectionAdminAdded", "https://contoso-my.sharepoint.com/personal/megan_bowen_contoso_example")
	})
	add(ruleCase{name: "an admin adding an account to another user's OneDrive fires", records: []string{r}, want: []string{"site_admin_added:" + id}})
	id, r = rec("ca", func(id string) string {
		return aad(id, day, alex, "Delete policy.", "Success", "12345678-1111-2222-3333-444455556666", map[string]any{
			"Target":             []map[string]any{{"ID": "12345678-1111-2222-3333-444455556666", "Type": 2}, {"ID": "Block legacy authentication", "Type": 1}},
			"ExtendedProperties": nv("additionalDetails", `{"PolicyType":"Conditional Access"}`)})
	})
	add(ruleCase{name: "a Conditional Access policy deleted as Delete policy. fires", records: []string{r}, want: []string{"conditional_access_changed:" + id}})
	_, r = rec("ca", func(id string) string {
		return aad(id, day, alex, "Delete policy.", "Success", "12345678-1111-2222-3333-444455556699", map[string]any{
			"Target": []map[string]any{{"ID": "Token lifetime 8h", "Type": 1}}, "ExtendedProperties": nv("additionalDetails", `{"PolicyType":"TokenLifetimePolicy"}`)})
	})
	add(ruleCase{name: "a token lifetime policy deleted does not fire", records: []string{r}, rule: "conditional_access_changed"})
	id, r = rec("mbx", func(id string) string {
		return exo(id, day, alex, "203.0.113.66", "Set-Mailbox", "Identity", "megan.bowen", "ForwardingAddress", "BackupArchive")
	})
	add(ruleCase{name: "forwarding to a contact by the alias Exchange derived from its name fires", records: []string{contact, r}, want: []string{"mailbox_forward_external:" + id}})

	// impossible_travel with a City database: distance and speed.
	city := fakeCity{"192.0.2": {"DE", 52.52, 13.40}, "198.51.100": {"DE", 48.14, 11.58}, "203.0.113": {"DE", 52.39, 13.06}}
	ct := []string{signin(nextID("tr"), day, "traveller@contoso.example", "192.0.2.50", true), signin(nextID("tr"), day.Add(20*time.Minute), "traveller@contoso.example", "198.51.100.50", true)}
	add(ruleCase{name: "Berlin then Munich twenty minutes later fires with a City database, in one country", records: ct, want: []string{"impossible_travel:" + idOf(ct[1])},
		cfg: func(c *detect.Config) { c.Geo = city }, check: evidenceIs("distance_km", "503")})
	ct2 := []string{signin(nextID("tr"), day, "traveller@contoso.example", "192.0.2.50", true), signin(nextID("tr"), day.Add(10*time.Minute), "traveller@contoso.example", "203.0.113.50", true)}
	add(ruleCase{name: "Berlin then Potsdam ten minutes later does not fire", records: ct2, rule: "impossible_travel", cfg: func(c *detect.Config) { c.Geo = city }})

	// An Outlook rule moving a correspondent's mail to RSS Subscriptions.
	id, r = rec("outlook", func(id string) string {
		return outlook(id, day, megan, "203.0.113.66", "RuleName", ".", "RuleOperation", "AddMailboxRule", "RuleCondition", "From ceo@fabrikam.example",
			"RuleActions", `MoveToFolder \RSS Subscriptions`)
	})
	add(ruleCase{name: "an Outlook rule moving a correspondent's mail to RSS Subscriptions fires", records: []string{r}, want: []string{"inbox_rule_hide:" + id}})

	// transport_rule_external: redirects are redirects.
	id, r = rec("tr", func(id string) string {
		return exo(id, day, alex, "203.0.113.66", "New-TransportRule", "Name", "r", "SentTo", "ceo@contoso.example", "RedirectMessageTo", "x@evil.example")
	})
	add(ruleCase{name: "a transport rule redirecting outside is called a redirect", records: []string{r}, want: []string{"transport_rule_external:" + id}, check: summaryHas("redirects")})

	// More look-alikes for the rules with few.
	var prompts []string
	for i := range 12 {
		prompts = append(prompts, signinErr(nextID("bf"), day.Add(time.Duration(i)*time.Minute), alex, "192.0.2.10", "50074", "UserStrongAuthClientAuthNRequiredInterrupt"))
	}
	add(ruleCase{name: "twelve MFA prompts of one user are no brute force", records: prompts, rule: "signin_brute_force"})
	_, r = rec("approle", func(id string) string {
		return aad(id, day, alex, "Add app role assignment to service principal.", "Failure", "c5393580-f805-4401-95e8-94b7a6ef2fc2", nil)
	})
	add(ruleCase{name: "a failed app role assignment does not fire", records: []string{r}, rule: "app_role_granted"})
	_, r = rec("dom", func(id string) string {
		return aad(id, day, alex, "Verify domain.", "Failure", "fabrikam.example", nil)
	})
	add(ruleCase{name: "a failed domain verification does not fire", records: []string{r}, rule: "domain_added"})
	id, r = rec("dom", func(id string) string {
		return aad(id, day, alex, "Add unverified domain.", "Success", "evil-corp.example", map[string]any{"Target": []map[string]any{{"ID": "evil-corp.example", "Type": 1}}})
	})
	add(ruleCase{name: "a domain added to the directory fires", records: []string{r}, want: []string{"domain_added:" + id}})
	_, r = rec("ed", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "New-ComplianceSearch", "Name", "legal-hold-42", "ExchangeLocation", "ceo@contoso.example", "ContentMatchQuery", "subject:merger")
	})
	add(ruleCase{name: "a compliance search created and not exported does not fire", records: []string{r}, rule: "ediscovery_export"})
	id, r = rec("ed", func(id string) string {
		return marshal(map[string]any{"Id": id, "CreationTime": ts(day), "Operation": "SearchExportDownloaded", "RecordType": 18, "UserType": 0,
			"Workload": "SecurityComplianceCenter", "UserId": alex, "ClientIP": "203.0.113.66", "ObjectId": "q1_Export"})
	})
	add(ruleCase{name: "a compliance search export downloaded fires", records: []string{r}, want: []string{"ediscovery_export:" + id}})
	earlier := member(nextID("team"), day.Add(-10*24*time.Hour), "kim_fabrikam.example#EXT#@contoso.example")
	_, r = rec("team", func(id string) string { return member(id, day, "lee_fabrikam.example#EXT#@contoso.example") })
	add(ruleCase{name: "another guest of an organization already in the teams does not fire", records: []string{earlier, r}, rule: "team_external_member"})
	_, r = rec("fold", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "Set-MailboxFolderPermission", "Identity", `megan.bowen:\Inbox`, "User", "Default", "AccessRights", "None")
	})
	add(ruleCase{name: "taking Default's rights on the Inbox away does not fire", records: []string{r}, rule: "mailbox_folder_permission_granted"})
	_, r = rec("perm", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Add-RecipientPermission", "Identity", "ceo", "Trustee", megan, "AccessRights", "ReadPermission")
	})
	add(ruleCase{name: "a recipient permission other than SendAs does not fire", records: []string{r}, rule: "mailbox_permission_granted"})

	// Entra's activities as the Entra audit log spells them (no trailing period).
	id, r = rec("fed", func(id string) string {
		return aad(id, day, alex, "Set domain authentication", "Success", "contoso.example", map[string]any{"ModifiedProperties": mod("LiveType", "Federated", "Managed")})
	})
	add(ruleCase{name: "Set domain authentication without its period fires", records: []string{r}, want: []string{"domain_federation_changed:" + id}})
	id, r = rec("cred", func(id string) string {
		return aad(id, day, alex, "Add service principal credentials", "Success", "ServicePrincipal_aaaaaaaa-1111-2222-3333-444455556666", nil)
	})
	add(ruleCase{name: "Add service principal credentials without its period fires", records: []string{r}, want: []string{"app_credential_added:" + id}})

	// Housekeeping that looks like mass deletion or downloading.
	var purge []string
	for i := range 150 {
		purge = append(purge, spo(nextID("purge"), day.Add(time.Duration(i)*time.Second), megan, "FileDeletedFirstStageRecycleBin", fmt.Sprintf("p%d.xlsx", i)))
	}
	add(ruleCase{name: "emptying the recycle bin of 150 files does not fire", records: purge, rule: "mass_delete"})
	var syncDl []string
	for i := range 80 {
		s := spo(nextID("sync"), day.Add(time.Duration(i)*time.Second), megan, "FileSyncDownloadedFull", fmt.Sprintf("o%d.docx", i))
		syncDl = append(syncDl, strings.ReplaceAll(s, "https://contoso.sharepoint.com/sites/Finance", "https://contoso-my.sharepoint.com/personal/megan_bowen_contoso_example"))
	}
	add(ruleCase{name: "a new laptop syncing 80 files of the user's own OneDrive does not fire", records: syncDl, rule: "download_burst"})

	_, r = rec("pim", func(id string) string {
		return aad(id, day, "MS-PIM", "Add member to role.", "Success", megan, map[string]any{
			"Actor":              []map[string]any{{"ID": "MS-PIM", "Type": 1}, {"ID": "01fc33a7-78ba-4d2f-a4b7-768e336e890e", "Type": 2}},
			"ModifiedProperties": mod("Role.DisplayName", "Exchange Administrator", "", "Role.TemplateId", "29232cdf-9323-42fd-ade2-1d097af3e4de", "")})
	})
	add(ruleCase{name: "PIM's own Add member to role. for an activation does not fire", records: []string{r}, rule: "admin_role_granted"})

	// Consent as the unified audit log writes it: ObjectId the application id and its
	// SPNs, the service principal among the Targets.
	id, r = rec("consent", func(id string) string {
		return aad(id, day, megan, "Consent to application.", "Success", "71a0194b-b70c-44a6-82f2-d4670aee4585;https://mailsync.example", map[string]any{
			"Target": []map[string]any{{"ID": "ServicePrincipal_9d8e7f6a-1111-2222-3333-444455556666", "Type": 2}, {"ID": "Mail Sync Plus", "Type": 1},
				{"ID": "71a0194b-b70c-44a6-82f2-d4670aee4585;https://mailsync.example", "Type": 4}},
			"ModifiedProperties": mod("ConsentContext.IsAdminConsent", "False", "", "ConsentAction.Permissions", "Scope: Mail.ReadWrite offline_access", "")})
	})
	add(ruleCase{name: "consent names the service principal from its Target, not the application id in ObjectId", records: []string{r}, want: []string{"app_consent:" + id},
		check: both(remediationHas("-ServicePrincipalId '9d8e7f6a-1111-2222-3333-444455556666'", "!-ServicePrincipalId '71a0194b"), evidenceIs("app_id", "71a0194b-b70c-44a6-82f2-d4670aee4585"))})
	id, r = rec("consent", func(id string) string {
		return aad(id, day, megan, "Consent to application.", "Success", "71a0194b-b70c-44a6-82f2-d4670aee4585;https://mailsync.example", map[string]any{
			"Target": []map[string]any{{"ID": "Mail Sync Plus", "Type": 1}}})
	})
	add(ruleCase{name: "consent with only the application id looks the service principal up by it", records: []string{r}, want: []string{"app_consent:" + id},
		check: remediationHas("$sp = Get-MgServicePrincipal -Filter 'appId eq ''71a0194b-b70c-44a6-82f2-d4670aee4585'''", "-ServicePrincipalId $sp.Id")})

	// A phone retrying an old password from the user's own network.
	var phone []string
	phone = append(phone, history("pat@contoso.example", "192.0.2.30", 3)...)
	for i := range 15 {
		phone = append(phone, signin(nextID("bf"), day.Add(time.Duration(i)*time.Minute), "pat@contoso.example", "192.0.2.30", false))
	}
	add(ruleCase{name: "a phone retrying an old password from the user's own network is no brute force", records: phone, rule: "signin_brute_force"})

	// Look-alikes of the older rules.
	_, r = rec("sign", func(id string) string { return signin(id, day, "newhire@contoso.example", "203.0.113.66", true) })
	add(ruleCase{name: "a new hire's first sign-in does not fire", records: []string{r}, rule: "signin_new_address"})
	_, r = rec("geo", func(id string) string { return signin(id, day, megan, "192.0.2.99", true) })
	add(ruleCase{name: "a sign-in from the usual country does not fire", records: append(history(megan, "192.0.2.10", 6), r), rule: "signin_new_country", cfg: func(c *detect.Config) { c.Geo = geo }})
	_, r = rec("tr", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Set-TransportRule", "Identity", "Journal", "BlindCopyTo", "journal@contoso.example")
	})
	add(ruleCase{name: "a transport rule journaling inside does not fire", records: []string{r}, rule: "transport_rule_external"})
	_, r = rec("fwd", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "to Alex", "ForwardTo", alex)
	})
	add(ruleCase{name: "forwarding to a colleague does not fire", records: []string{r}, rule: "inbox_rule_forward_external"})
	var links []string
	for i := range 2 {
		links = append(links, spo(nextID("anon"), day.Add(time.Duration(i)*time.Minute), megan, "AnonymousLinkCreated", fmt.Sprintf("l%d.docx", i)))
	}
	add(ruleCase{name: "two anonymous links are below the threshold", records: links, rule: "anonymous_link"})
	return cs
}

// TestEveryRuleHasCases: every registered rule has a case that fires it and a
// look-alike that must not (so a rule listed but never evaluated fails here).
func TestEveryRuleHasCases(t *testing.T) {
	fire, quiet := map[string]int{}, map[string]int{}
	for _, c := range ruleCases() {
		for _, w := range c.want {
			fire[strings.SplitN(w, ":", 2)[0]]++
		}
		if len(c.want) == 0 && c.rule != "" {
			quiet[c.rule]++
		}
	}
	for _, r := range detect.Rules() {
		if fire[r.Name] == 0 || quiet[r.Name] == 0 {
			t.Errorf("rule %s: %d fire cases, %d no-fire cases; want at least one of each", r.Name, fire[r.Name], quiet[r.Name])
		}
		t.Logf("%-36s fire %2d  no-fire %2d", r.Name, fire[r.Name], quiet[r.Name])
	}
	for name := range quiet {
		if _, ok := detectRule(name); !ok {
			t.Errorf("no-fire case names unknown rule %s", name)
		}
	}
}

func detectRule(name string) (detect.Rule, bool) {
	for _, r := range detect.Rules() {
		if r.Name == name {
			return r, true
		}
	}
	return detect.Rule{}, false
}

// TestCorpusRaisesOnlyItsRealFindings evaluates the public corpus (Elastic's and
// Microsoft's sample records, benign test tenants) on every database: the two role
// grants and two sign-ins from new networks it holds are alerts, nothing else is (a
// team member of the tenant's own onmicrosoft.com domain, a calendar shared, audit
// settings the service itself sets).
func TestCorpusRaisesOnlyItsRealFindings(t *testing.T) {
	var recs []schema.Record
	seen := map[string]bool{}
	for _, raw := range corpusRecords(t) {
		r, err := normalizeForTenant(raw)
		if err != nil || seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		recs = append(recs, r)
	}
	for _, d := range detecttest.Drivers(t) {
		t.Run(d, func(t *testing.T) {
			db := detecttest.Open(t, d)
			detecttest.Load(t, db, d, recs)
			alerts, err := detect.Evaluate(context.Background(), detecttest.Handle(db, d), time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), detect.Config{})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				"admin_role_granted:82693d84-baef-46a1-8b47-6a203ce7c75f", "admin_role_granted:a969d068-cac3-4ba2-a894-0ec9de403d28",
				"signin_new_address:19d57a4a-d32e-4dc6-971f-3491bc440023", "signin_new_address:4b0f0d57-0766-4621-8aa0-04b8d8b63a78",
			}
			if got := alertKeys(alerts); !slices.Equal(got, want) {
				t.Errorf("alerts %v, want %v", got, want)
				for _, a := range alerts {
					t.Logf("%s: %s", a.Rule, a.Summary)
				}
			}
		})
	}
}
