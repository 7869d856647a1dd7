package detect_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/schema"
)

var (
	from = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	to   = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	day  = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
)

const (
	megan = "megan.bowen@contoso.example"
	alex  = "alex.wilber@contoso.example"
)

// fakeGeo maps /24 networks to countries.
type fakeGeo map[string]string

func (g fakeGeo) Country(ip string) string {
	if i := strings.LastIndexByte(ip, '.'); i > 0 {
		return g[ip[:i]]
	}
	return ""
}

// ruleCase is a set of records and the alerts they must raise: want lists
// "rule:record id" for every alert expected; an empty want means no alert at all.
type ruleCase struct {
	name    string
	records []string
	want    []string
	cfg     func(c *detect.Config)
	// rule names the rule a no-fire case (a look-alike) is about.
	rule string
	// check, when set, looks at the alerts further (counts, wording).
	check func(t *testing.T, alerts []detect.Alert)
}

// history gives user n successful sign-ins from ip in the days before from.
func history(user, ip string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, signin(nextID("hist"), from.Add(-time.Duration(n-i)*24*time.Hour), user, ip, true))
	}
	return out
}

func ruleCases() []ruleCase {
	var cs []ruleCase
	add := func(c ruleCase) { cs = append(cs, c) }
	one := func(prefix string, build func(id string) string) (string, string) {
		id := nextID(prefix)
		return id, build(id)
	}

	// inbox_rule_forward_external
	id, r := one("fwd", func(id string) string {
		return exo(id, day, megan, "203.0.113.66:50412", "New-InboxRule", "Name", "..", "SubjectOrBodyContainsWords", "invoice;payment",
			"ForwardTo", "collect@exfil-mail.example", "MarkAsRead", "True", "DeleteMessage", "True", "StopProcessingRules", "True")
	})
	add(ruleCase{name: "an inbox rule forwarding outside (and deleting) fires the forward rule only", records: []string{r}, want: []string{"inbox_rule_forward_external:" + id}})
	id, r = one("fwd", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "Set-InboxRule", "Identity", "megan.bowen\\Boss", "RedirectTo", `"Evil" [SMTP:x@evil.example]`)
	})
	add(ruleCase{name: "a redirect to a display-name form of an outside address fires", records: []string{r}, want: []string{"inbox_rule_forward_external:" + id}})
	id, r = one("fwd", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "copy", "ForwardAsAttachmentTo", "alex.wilber@contoso.example;smtp:b@evil.example")
	})
	add(ruleCase{name: "one outside address among internal ones fires", records: []string{r}, want: []string{"inbox_rule_forward_external:" + id}})
	id, r = one("fwd", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "guest", "ForwardTo", "partner_fabrikam.example#EXT#@contoso.example")
	})
	add(ruleCase{name: "forwarding to a guest's #EXT# address fires", records: []string{r}, want: []string{"inbox_rule_forward_external:" + id}})
	_, r = one("fwd", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "to Alex", "ForwardTo", alex)
	})
	add(ruleCase{name: "internal forwarding does not fire", records: []string{r}, rule: "inbox_rule_forward_external"})
	_, r = one("fwd", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "to Alex", "ForwardTo", "Alex Wilber")
	})
	add(ruleCase{name: "forwarding to a directory name does not fire", records: []string{r}, rule: "inbox_rule_forward_external"})
	_, r = one("fwd", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "eu", "ForwardTo", "team@eu.contoso.example")
	})
	add(ruleCase{name: "forwarding to a subdomain of the tenant does not fire", records: []string{r}, rule: "inbox_rule_forward_external"})
	_, r = one("fwd", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "accountant", "ForwardTo", "books@partner.example")
	})
	add(ruleCase{name: "an allow-listed recipient domain does not fire", records: []string{r}, cfg: func(c *detect.Config) { c.Allow.Recipients = []string{"@partner.example"} }, rule: "inbox_rule_forward_external"})
	add(ruleCase{name: "a configured tenant domain does not fire", records: []string{r}, cfg: func(c *detect.Config) { c.Domains = []string{"partner.example"} }, rule: "inbox_rule_forward_external"})
	add(ruleCase{name: "an allow-listed rule name does not fire", records: []string{r}, cfg: func(c *detect.Config) { c.Allow.Rules = []string{"Accountant"} }, rule: "inbox_rule_forward_external"})
	add(ruleCase{name: "an allow-listed user does not fire", records: []string{r}, cfg: func(c *detect.Config) { c.Allow.Users = []string{"Megan.Bowen@contoso.example"} }, rule: "inbox_rule_forward_external"})
	add(ruleCase{name: "a disabled rule does not fire", records: []string{r}, cfg: func(c *detect.Config) { c.Disabled = []string{"inbox_rule_forward_external"} }, rule: "inbox_rule_forward_external"})
	_, r = one("fwd", func(id string) string {
		s := exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "x", "ForwardTo", "x@evil.example")
		return strings.Replace(s, `"ResultStatus":"True"`, `"ResultStatus":"False"`, 1)
	})
	add(ruleCase{name: "a failed cmdlet does not fire", records: []string{r}, rule: "inbox_rule_forward_external"})
	id, r = one("outlook", func(id string) string {
		return outlook(id, day, megan, "203.0.113.66", "RuleName", "fw", "RuleOperation", "AddMailboxRule", "RuleActions", "ForwardToRecipientsAction",
			"ServerRule", `{"Actions":[{"ActionType":"ForwardToRecipientsAction","Recipients":[{"Values":[{"Value":"SMTP:drop@evil.example"}]}]}],"Condition":{"From":"boss@vendor.example"}}`)
	})
	add(ruleCase{name: "an Outlook UpdateInboxRules forwarding outside fires", records: []string{r}, want: []string{"inbox_rule_forward_external:" + id}})
	_, r = one("outlook", func(id string) string {
		return outlook(id, day, megan, "192.0.2.10", "RuleName", "fw", "RuleOperation", "AddMailboxRule", "RuleActions", "ForwardToRecipientsAction",
			"RuleCondition", "From billing@vendor.example",
			"ServerRule", `{"Actions":[{"ActionType":"ForwardToRecipientsAction","Recipients":[{"Values":[{"Value":"SMTP:alex.wilber@contoso.example"}]}]}]}`)
	})
	add(ruleCase{name: "an Outlook UpdateInboxRules forwarding inside does not fire", records: []string{r}, rule: "inbox_rule_forward_external"})
	_, r = one("outlook", func(id string) string {
		return outlook(id, day, megan, "192.0.2.10", "RuleName", "Newsletters", "RuleOperation", "AddMailboxRule", "RuleState", "Enabled",
			"RuleCondition", "SubjectContainsWords newsletter", "RuleActions", `MoveToFolder \Inbox\Newsletters`, "ServerRule", "True")
	})
	add(ruleCase{name: "an Outlook rule filing newsletters does not fire", records: []string{r}, rule: "inbox_rule_forward_external"})

	// inbox_rule_hide
	id, r = one("hide", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "x", "DeleteMessage", "True")
	})
	add(ruleCase{name: "a rule deleting all mail fires", records: []string{r}, want: []string{"inbox_rule_hide:" + id}})
	id, r = one("hide", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "x", "MoveToFolder", `megan.bowen:\RSS Feeds`, "MarkAsRead", "True")
	})
	add(ruleCase{name: "a rule moving all mail to RSS Feeds fires", records: []string{r}, want: []string{"inbox_rule_hide:" + id}})
	id, r = one("hide", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "x", "SubjectContainsWords", "Invoice", "MoveToFolder", "Archive")
	})
	add(ruleCase{name: "a rule archiving mail about invoices fires", records: []string{r}, want: []string{"inbox_rule_hide:" + id}})
	_, r = one("hide", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "News", "SubjectContainsWords", "newsletter", "MoveToFolder", "Newsletters")
	})
	add(ruleCase{name: "a rule filing newsletters does not fire", records: []string{r}, rule: "inbox_rule_hide"})
	_, r = one("hide", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "New-InboxRule", "Name", "spam", "From", "offers@shop.example", "DeleteMessage", "True")
	})
	add(ruleCase{name: "a rule deleting one sender's offers does not fire", records: []string{r}, rule: "inbox_rule_hide"})
	id, r = one("hide", func(id string) string {
		return outlook(id, day, megan, "192.0.2.10", "RuleName", "x", "RuleOperation", "AddMailboxRule", "RuleActions", "DeleteAction")
	})
	add(ruleCase{name: "an Outlook rule deleting all mail fires", records: []string{r}, want: []string{"inbox_rule_hide:" + id}})

	// mailbox_forward_external
	id, r = one("mbx", func(id string) string {
		return exo(id, day, megan, "203.0.113.66:50433", "Set-Mailbox", "Identity", "megan.bowen", "ForwardingSmtpAddress", "smtp:collect@exfil-mail.example", "DeliverToMailboxAndForward", "False")
	})
	add(ruleCase{name: "mailbox forwarding outside fires", records: []string{r}, want: []string{"mailbox_forward_external:" + id}})
	id, r = one("mbx", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "Set-Mailbox", "Identity", "megan.bowen", "ForwardingAddress", "ext@evil.example")
	})
	add(ruleCase{name: "ForwardingAddress with an outside address fires", records: []string{r}, want: []string{"mailbox_forward_external:" + id}})
	_, r = one("mbx", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "Set-Mailbox", "Identity", "megan.bowen", "ForwardingSmtpAddress", "smtp:"+alex, "DeliverToMailboxAndForward", "True")
	})
	add(ruleCase{name: "internal mailbox forwarding does not fire", records: []string{r}, rule: "mailbox_forward_external"})
	_, r = one("mbx", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "Set-Mailbox", "Identity", "megan.bowen", "ForwardingAddress", "Alex Wilber")
	})
	add(ruleCase{name: "ForwardingAddress naming a recipient does not fire", records: []string{r}, rule: "mailbox_forward_external"})
	_, r = one("mbx", func(id string) string {
		return exo(id, day, megan, "192.0.2.10", "Set-Mailbox", "Identity", "megan.bowen", "ForwardingSmtpAddress", "$null")
	})
	add(ruleCase{name: "clearing forwarding does not fire", records: []string{r}, rule: "mailbox_forward_external"})
	_, r = one("mbx", func(id string) string {
		return exo(id, day, `NT AUTHORITY\SYSTEM (Microsoft.Exchange.ServiceHost)`, "", "Set-Mailbox", "Identity", "megan.bowen", "ProhibitSendQuota", "99 GB")
	})
	add(ruleCase{name: "a quota change does not fire", records: []string{r}, rule: "mailbox_forward_external"})

	// transport_rule_external
	id, r = one("tr", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "New-TransportRule", "Name", "Journal", "SentToScope", "NotInOrganization", "BlindCopyTo", "drop@evil.example")
	})
	add(ruleCase{name: "a transport rule blind-copying outside fires", records: []string{r}, want: []string{"transport_rule_external:" + id}})
	_, r = one("tr", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "New-TransportRule", "Name", "Compliance", "BlindCopyTo", "compliance@contoso.example")
	})
	add(ruleCase{name: "a transport rule copying inside does not fire", records: []string{r}, rule: "transport_rule_external"})
	_, r = one("tr", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "New-TransportRule", "Name", "Disclaimer", "ApplyHtmlDisclaimerText", "Confidential")
	})
	add(ruleCase{name: "a disclaimer transport rule does not fire", records: []string{r}, rule: "transport_rule_external"})

	// signin_new_address
	base := history(megan, "192.0.2.10", 6)
	id, r = one("sign", func(id string) string { return signin(id, day, megan, "203.0.113.66", true) })
	add(ruleCase{name: "a sign-in from a new network after a baseline fires", records: append(slices.Clone(base), r), want: []string{"signin_new_address:" + id}})
	add(ruleCase{name: "an allow-listed address does not fire", records: append(slices.Clone(base), r), cfg: func(c *detect.Config) { c.Allow.Addresses = []string{"203.0.113.0/24"} }, rule: "signin_new_address"})
	_, r = one("sign", func(id string) string { return signin(id, day, megan, "192.0.2.44", true) })
	add(ruleCase{name: "a sign-in from the user's usual network does not fire", records: append(slices.Clone(base), r), rule: "signin_new_address"})
	_, r = one("sign", func(id string) string { return signin(id, day, megan, "203.0.113.66", false) })
	add(ruleCase{name: "a failed sign-in from a new network does not fire", records: append(slices.Clone(base), r), rule: "signin_new_address"})
	_, r = one("sign", func(id string) string { return signin(id, day, megan, "203.0.113.66", true) })
	add(ruleCase{name: "without a baseline a new network does not fire", records: append(history(megan, "192.0.2.10", 2), r), rule: "signin_new_address"})
	shared := slices.Concat(base, history("u1@contoso.example", "198.51.100.7", 1), history("u2@contoso.example", "198.51.100.8", 1), history("u3@contoso.example", "198.51.100.9", 1))
	_, r = one("sign", func(id string) string { return signin(id, day, megan, "198.51.100.20", true) })
	add(ruleCase{name: "a network other users sign in from does not fire", records: append(shared, r), rule: "signin_new_address"})

	// signin_new_country
	geo := fakeGeo{"192.0.2": "DE", "192.0.3": "DE", "203.0.113": "US"}
	id, r = one("geo", func(id string) string { return signin(id, day, megan, "203.0.113.66", true) })
	add(ruleCase{name: "a sign-in from a new country fires the country rule", records: append(slices.Clone(base), r), want: []string{"signin_new_country:" + id},
		cfg: func(c *detect.Config) { c.Geo = geo }})
	id, r = one("geo", func(id string) string { return signin(id, day, megan, "192.0.3.5", true) })
	add(ruleCase{name: "a new network in a known country fires only the address rule", records: append(slices.Clone(base), r), want: []string{"signin_new_address:" + id},
		cfg: func(c *detect.Config) { c.Geo = geo }})

	// signin_spray
	var spray []string
	var fifth string
	for i := range 5 {
		id := nextID("spray")
		if i == 4 {
			fifth = id
		}
		spray = append(spray, signin(id, day.Add(time.Duration(i)*4*time.Minute), fmt.Sprintf("user%d@contoso.example", i), "198.51.100.200", false))
	}
	add(ruleCase{name: "failures of five users from one address within an hour fire once", records: spray, want: []string{"signin_spray:" + fifth}})
	add(ruleCase{name: "failures of four users do not fire", records: spray[:4], rule: "signin_spray"})
	var slow []string
	for i := range 5 {
		slow = append(slow, signin(nextID("spray"), day.Add(time.Duration(i)*2*time.Hour), fmt.Sprintf("user%d@contoso.example", i), "198.51.100.201", false))
	}
	add(ruleCase{name: "failures spread over hours do not fire", records: slow, rule: "signin_spray"})
	var brute []string
	for i := range 10 {
		brute = append(brute, signin(nextID("spray"), day.Add(time.Duration(i)*time.Minute), megan, "198.51.100.202", false))
	}
	add(ruleCase{name: "many failures of one user are not spraying but brute force", records: brute, want: []string{"signin_brute_force:" + strings.Split(strings.Split(brute[9], `"Id":"`)[1], `"`)[0]}})

	// admin_role_granted
	id, r = one("role", func(id string) string {
		return aad(id, day, alex, "Add member to role.", "Success", megan, map[string]any{"ModifiedProperties": mod("Role.DisplayName", "Global Administrator", "", "Role.ObjectID", "62e90394", "")})
	})
	add(ruleCase{name: "a directory role assignment fires", records: []string{r}, want: []string{"admin_role_granted:" + id}})
	_, r = one("role", func(id string) string { return aad(id, day, alex, "Add member to group.", "Success", megan, nil) })
	add(ruleCase{name: "a group membership does not fire", records: []string{r}, rule: "admin_role_granted"})
	_, r = one("role", func(id string) string { return aad(id, day, alex, "Add member to role.", "Failure", megan, nil) })
	add(ruleCase{name: "a failed role assignment does not fire", records: []string{r}, rule: "admin_role_granted"})
	id, r = one("role", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Add-RoleGroupMember", "Identity", "Organization Management", "Member", megan)
	})
	add(ruleCase{name: "an Exchange role group member fires", records: []string{r}, want: []string{"admin_role_granted:" + id}})

	// app_consent
	consent := func(id string) string {
		return aad(id, day, megan, "Consent to application.", "Success", "sp-1", map[string]any{
			"Target":             []map[string]any{{"ID": "sp-1", "Type": 2}, {"ID": "Mail Reader Pro", "Type": 1}},
			"ModifiedProperties": mod("ConsentContext.IsAdminConsent", "False", "", "ConsentAction.Permissions", "Scope: Mail.Read offline_access", "")})
	}
	id, r = one("consent", consent)
	add(ruleCase{name: "consent to an application fires", records: []string{r}, want: []string{"app_consent:" + id}})
	add(ruleCase{name: "consent to an allow-listed application does not fire", records: []string{r}, cfg: func(c *detect.Config) { c.Allow.Applications = []string{"mail reader pro"} }, rule: "app_consent"})
	_, r = one("consent", func(id string) string { return aad(id, day, alex, "Add service principal.", "Success", "sp-2", nil) })
	add(ruleCase{name: "adding a service principal does not fire", records: []string{r}, rule: "app_consent"})

	// mfa_removed
	id, r = one("mfa", func(id string) string {
		return aad(id, day, alex, "Update user.", "Success", megan, map[string]any{"ModifiedProperties": mod(
			"StrongAuthenticationMethod", "[]", `[{"MethodType":6,"Default":true},{"MethodType":7,"Default":false}]`, "Included Updated Properties", "StrongAuthenticationMethod", "")})
	})
	add(ruleCase{name: "removing MFA methods fires", records: []string{r}, want: []string{"mfa_removed:" + id}})
	_, r = one("mfa", func(id string) string {
		return aad(id, day, alex, "Update user.", "Success", megan, map[string]any{"ModifiedProperties": mod("StrongAuthenticationMethod", `[{"MethodType":6,"Default":true}]`, "[]")})
	})
	add(ruleCase{name: "registering an MFA method does not fire", records: []string{r}, rule: "mfa_removed"})
	_, r = one("mfa", func(id string) string {
		return aad(id, day, alex, "Update user.", "Success", megan, map[string]any{"ModifiedProperties": mod("Included Updated Properties", "AssignedLicense", "")})
	})
	add(ruleCase{name: "a license change does not fire", records: []string{r}, rule: "mfa_removed"})
	id, r = one("mfa", func(id string) string {
		return aad(id, day, alex, "Admin deleted security info", "Success", megan, nil)
	})
	add(ruleCase{name: "an admin deleting security info fires", records: []string{r}, want: []string{"mfa_removed:" + id}})

	// mailbox_permission_granted
	id, r = one("perm", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Add-MailboxPermission", "Identity", "ceo", "User", megan, "AccessRights", "FullAccess", "InheritanceType", "All")
	})
	add(ruleCase{name: "FullAccess granted fires", records: []string{r}, want: []string{"mailbox_permission_granted:" + id}})
	id, r = one("perm", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Add-RecipientPermission", "Identity", "ceo", "Trustee", megan, "AccessRights", "SendAs")
	})
	add(ruleCase{name: "SendAs granted fires", records: []string{r}, want: []string{"mailbox_permission_granted:" + id}})
	_, r = one("perm", func(id string) string {
		return exo(id, day, alex, "192.0.2.10", "Add-MailboxPermission", "Identity", "ceo", "User", megan, "AccessRights", "ReadPermission")
	})
	add(ruleCase{name: "ReadPermission does not fire", records: []string{r}, rule: "mailbox_permission_granted"})
	_, r = one("perm", func(id string) string {
		s := exo(id, day, `NT AUTHORITY\SYSTEM (Microsoft.Exchange.ServiceHost)`, "", "Add-MailboxPermission", "Identity", "DiscoverySearchMailbox", "User", "Discovery Management", "AccessRights", "FullAccess")
		return strings.Replace(s, `"UserType":2`, `"UserType":3`, 1)
	})
	add(ruleCase{name: "the service's own provisioning does not fire", records: []string{r}, rule: "mailbox_permission_granted"})

	// anonymous_link
	var links []string
	var third string
	for i := range 3 {
		id := nextID("anon")
		third = id
		links = append(links, spo(id, day.Add(time.Duration(i)*10*time.Minute), megan, "AnonymousLinkCreated", fmt.Sprintf("Budget %d.xlsx", i)))
	}
	add(ruleCase{name: "three anonymous links within an hour fire", records: links, want: []string{"anonymous_link:" + third}})
	add(ruleCase{name: "two anonymous links do not fire", records: links[:2], rule: "anonymous_link"})
	id = strings.Split(strings.Split(links[0], `"Id":"`)[1], `"`)[0]
	add(ruleCase{name: "with anonymous_links 1 every link fires", records: links[:1], want: []string{"anonymous_link:" + id},
		cfg: func(c *detect.Config) { c.Thresholds.AnonymousLinks = 1 }})

	// download_burst
	var dl []string
	var last string
	for i := range 50 {
		last = nextID("dl")
		dl = append(dl, spo(last, day.Add(time.Duration(i)*5*time.Second), megan, "FileDownloaded", fmt.Sprintf("f%d.xlsx", i)))
	}
	add(ruleCase{name: "fifty downloads within minutes fire once", records: dl, want: []string{"download_burst:" + last}})
	add(ruleCase{name: "forty-nine downloads do not fire", records: dl[:49], rule: "download_burst"})
	return append(cs, moreCases()...)
}

func load(t *testing.T, dialect string, raws []string) *detecttestDB {
	t.Helper()
	db := detecttest.Open(t, dialect)
	var recs []schema.Record
	for _, raw := range raws {
		recs = append(recs, detecttest.Record(t, raw))
	}
	detecttest.Load(t, db, dialect, recs)
	return &detecttestDB{db, dialect}
}

func alertKeys(alerts []detect.Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.Rule+":"+a.RecordID)
	}
	sort.Strings(out)
	return out
}

// TestRules runs every rule on records that must fire it and records that must not.
func TestRules(t *testing.T) {
	for _, c := range ruleCases() {
		t.Run(c.name, func(t *testing.T) {
			db := load(t, "sqlite", c.records)
			var cfg detect.Config
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			alerts, err := detect.Evaluate(context.Background(), detecttest.Handle(db.DB, db.dialect), from, to, cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(c.want)
			sort.Strings(want)
			if got := alertKeys(alerts); !slices.Equal(got, want) {
				t.Errorf("alerts %v, want %v", got, want)
				for _, a := range alerts {
					t.Logf("%s: %s %v", a.Rule, a.Summary, a.Evidence)
				}
			}
			for _, a := range alerts {
				if a.Summary == "" || len(a.Remediation) == 0 || a.UserID == "" || a.Severity == "" || !idRestsOnRecords(a) {
					t.Errorf("incomplete alert %+v", a)
				}
				for _, line := range a.Remediation {
					if strings.ContainsAny(line, "\n\r\x1b") || strings.Contains(line, "Remove-ADPermission") {
						t.Errorf("remediation line %q: a line break, an escape or an on-premises cmdlet", line)
					}
				}
			}
			if c.check != nil {
				c.check(t, alerts)
			}
		})
	}
}

// idRestsOnRecords reports whether an alert's ID is that of its rule and the first of
// its record ids (all of them, or those that reached a counting rule's threshold).
func idRestsOnRecords(a detect.Alert) bool {
	for k := len(a.RecordIDs); k > 0; k-- {
		if a.ID == detect.AlertID(a.Rule, a.RecordIDs[:k]...) {
			return true
		}
	}
	return false
}

// TestRulesSameOnEveryDatabase loads every case's records (each case its own tenant)
// into each database, evaluates them once, and checks each case's alerts there as
// TestRules does on SQLite: every fire case fires and every look-alike stays quiet
// on SQLite, PostgreSQL and MariaDB. (Cases with their own config run in TestRules.)
func TestRulesSameOnEveryDatabase(t *testing.T) {
	cases := ruleCases()
	var recs []string
	for i, c := range cases {
		if c.cfg != nil {
			continue
		}
		for _, r := range c.records {
			recs = append(recs, strings.Replace(r, `"Id":"`, fmt.Sprintf(`"OrganizationId":"tenant-%03d","Id":"c%03d-`, i, i), 1))
		}
	}
	for _, d := range detecttest.Drivers(t) {
		t.Run(d, func(t *testing.T) {
			db := detecttest.Open(t, d)
			var rs []schema.Record
			for _, raw := range recs {
				r, err := normalizeForTenant(raw)
				if err != nil {
					t.Fatal(err)
				}
				rs = append(rs, r)
			}
			detecttest.Load(t, db, d, rs)
			alerts, err := detect.Evaluate(context.Background(), detecttest.Handle(db, d), from, to, detect.Config{})
			if err != nil {
				t.Fatal(err)
			}
			byTenant := map[string][]detect.Alert{}
			for _, a := range alerts {
				byTenant[a.TenantID] = append(byTenant[a.TenantID], a)
			}
			for i, c := range cases {
				if c.cfg != nil {
					continue
				}
				tenant := fmt.Sprintf("tenant-%03d", i)
				var want []string
				for _, w := range c.want {
					rule, id, _ := strings.Cut(w, ":")
					want = append(want, fmt.Sprintf("%s:c%03d-%s", rule, i, id))
				}
				sort.Strings(want)
				if got := alertKeys(byTenant[tenant]); !slices.Equal(got, want) {
					t.Errorf("%s: alerts %v, want %v", c.name, got, want)
				}
				if c.check != nil {
					c.check(t, byTenant[tenant])
				}
			}
		})
	}
}
