package remediate_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/graph"
	"github.com/o365ingest/o365ingest/ingest/remediate"
	"github.com/o365ingest/o365ingest/schema"
)

const globalAdmin = "62e90394-69f5-4237-9190-012177145e10"

func raw(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func aad(id string, at time.Time, actor, op, object string, extra map[string]any) map[string]any {
	m := map[string]any{"Id": id, "CreationTime": at.UTC().Format("2006-01-02T15:04:05"), "Operation": op, "RecordType": 8, "ResultStatus": "Success",
		"UserType": 0, "Workload": "AzureActiveDirectory", "UserId": actor, "ClientIP": "203.0.113.66", "ObjectId": object,
		"Actor": []map[string]any{{"ID": actor, "Type": 5}}}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func mod(triples ...string) []map[string]string {
	var out []map[string]string
	for i := 0; i+2 < len(triples); i += 3 {
		out = append(out, map[string]string{"Name": triples[i], "NewValue": triples[i+1], "OldValue": triples[i+2]})
	}
	return out
}

// TestConsentAndRoleActions: remove-consent deletes the consented service principal's
// delegated grants (found by its object id, or by the app id through servicePrincipals),
// and remove-role deletes the directory role assignment the record names (the member's
// id looked up by UPN when the record lacks it); other grants and roles stay.
func TestConsentAndRoleActions(t *testing.T) {
	ctx := context.Background()
	emu, base := startEmulator(t, emulator.Options{RecordsPerDay: -1})
	g := graphClient(t, emu, base)
	const megan, alex = "megan.bowen@contoso.example", "alex.wilber@contoso.example"
	mu, _ := emu.GraphUser(megan)
	spID, _ := emu.AddConsent("4a1e0000-0000-4000-8000-00000000a001", "Mail Reader Pro", megan, "Mail.Read offline_access")
	_, _ = emu.AddConsent("4a1e0000-0000-4000-8000-00000000a001", "Mail Reader Pro", "", "User.Read")
	otherSP, _ := emu.AddConsent("4a1e0000-0000-4000-8000-00000000a002", "Teams helper", alex, "User.Read")
	appOnlySP, _ := emu.AddConsent("4a1e0000-0000-4000-8000-00000000a003", "Calendar Sync", megan, "Calendars.Read")
	emu.AddRoleAssignment(megan, globalAdmin)
	emu.AddRoleAssignment(megan, "f2ef992c-3afb-46b9-b7cf-a126ee74c451")
	emu.AddRoleAssignment(alex, globalAdmin)

	at := time.Now().UTC().Add(-2 * time.Hour)
	recs := []schema.Record{
		detecttest.Record(t, raw(t, aad("consent-1", at, megan, "Consent to application.", spID, map[string]any{
			"Target":             []map[string]any{{"ID": "ServicePrincipal_" + spID, "Type": 2}, {"ID": spID, "Type": 2}, {"ID": "Mail Reader Pro", "Type": 1}},
			"ModifiedProperties": mod("ConsentContext.IsAdminConsent", "False", "", "ConsentAction.Permissions", "Scope: Mail.Read offline_access", "")}))),
		detecttest.Record(t, raw(t, aad("consent-2", at.Add(time.Minute), megan, "Consent to application.", "Calendar Sync", map[string]any{
			"Target":             []map[string]any{{"ID": "Calendar Sync", "Type": 1}, {"ID": "4a1e0000-0000-4000-8000-00000000a003", "Type": 4}},
			"ModifiedProperties": mod("ConsentContext.IsAdminConsent", "False", "")}))),
		detecttest.Record(t, raw(t, aad("role-1", at.Add(2*time.Minute), alex, "Add member to role.", megan, map[string]any{
			"Target":             []map[string]any{{"ID": "User_" + mu.ID, "Type": 2}, {"ID": mu.ID, "Type": 2}, {"ID": megan, "Type": 5}},
			"ModifiedProperties": mod("Role.DisplayName", "Global Administrator", "", "Role.TemplateId", globalAdmin, "")}))),
		detecttest.Record(t, raw(t, aad("role-2", at.Add(3*time.Minute), megan, "Add member to role.", alex, map[string]any{
			"Target":             []map[string]any{{"ID": alex, "Type": 5}},
			"ModifiedProperties": mod("Role.DisplayName", "Global Administrator", "", "Role.ObjectID", "5e1f0000-aaaa-4000-8000-000000000001", "")}))),
	}
	db := detecttest.Open(t, "sqlite")
	h := detecttest.Handle(db, "sqlite")
	detecttest.Load(t, db, "sqlite", recs)
	alerts, err := detect.Evaluate(ctx, h, at.Add(-time.Hour), at.Add(time.Hour), detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := detect.Store(ctx, h, alerts); err != nil {
		t.Fatal(err)
	}
	run := func(rule, record, action string) remediate.Outcome {
		t.Helper()
		a := alertOf(t, alerts, rule, record)
		p, _, err := remediate.Load(ctx, h, a.ID, g.URL(""))
		if err != nil {
			t.Fatal(err)
		}
		s, ok := p.Step(action)
		if !ok {
			t.Fatalf("%s not planned for %s: %v", action, rule, p.Unavailable)
		}
		o := remediate.Execute(ctx, g, s)
		if o.Result != remediate.ResultDone {
			t.Fatalf("%s: %s: %v (sent %v)", action, o.Result, o.Err, o.Sent)
		}
		return o
	}

	t.Run("remove-consent by the service principal's id", func(t *testing.T) {
		o := run(detect.RuleAppConsent, "consent-1", remediate.ActionRemoveConsent)
		if n := len(emu.Grants(spID)); n != 0 {
			t.Errorf("%d grants left on the consented app", n)
		}
		if n := len(emu.Grants(otherSP)); n != 1 {
			t.Errorf("another app's grants touched: %d left", n)
		}
		if len(o.Sent) != 3 || o.Sent[0].Method != "GET" || !strings.Contains(o.Sent[0].URL, "clientId%20eq%20%27"+spID) {
			t.Errorf("sent %v", o.Sent)
		}
	})
	t.Run("remove-consent by the application id", func(t *testing.T) {
		o := run(detect.RuleAppConsent, "consent-2", remediate.ActionRemoveConsent)
		if n := len(emu.Grants(appOnlySP)); n != 0 {
			t.Errorf("%d grants left", n)
		}
		if !strings.Contains(o.Sent[0].URL, "/servicePrincipals(appId=%274a1e0000-0000-4000-8000-00000000a003%27)") {
			t.Errorf("first request %v", o.Sent[0])
		}
	})
	t.Run("remove-role with the member's id from the record", func(t *testing.T) {
		run(detect.RuleAdminRoleGranted, "role-1", remediate.ActionRemoveRole)
		left := emu.RoleAssignments(megan)
		if len(left) != 1 || left[0].RoleDefinitionID == globalAdmin {
			t.Errorf("megan's roles left: %+v", left)
		}
	})
	t.Run("remove-role looks the member up by UPN and the role by its built-in name", func(t *testing.T) {
		o := run(detect.RuleAdminRoleGranted, "role-2", remediate.ActionRemoveRole)
		if len(emu.RoleAssignments(alex)) != 0 {
			t.Error("alex still holds Global Administrator")
		}
		if !strings.HasSuffix(o.Sent[0].URL, "/users/"+alex+"?$select=id") {
			t.Errorf("first request %v", o.Sent[0])
		}
	})
	t.Run("nothing left is not_found, and nothing is deleted", func(t *testing.T) {
		a := alertOf(t, alerts, detect.RuleAdminRoleGranted, "role-1")
		p, _, _ := remediate.Load(ctx, h, a.ID, g.URL(""))
		s, _ := p.Step(remediate.ActionRemoveRole)
		if o := remediate.Execute(ctx, g, s); o.Result != remediate.ResultNotFound || len(o.Sent) != 1 {
			t.Errorf("%s %v, sent %v", o.Result, o.Err, o.Sent)
		}
	})
}

// TestPlansForOtherRules: what Graph cannot do is a manual Exchange command with its
// values as PowerShell literals; a spray alert offers no account action.
func TestPlansForOtherRules(t *testing.T) {
	ctx := context.Background()
	at := time.Now().UTC().Add(-2 * time.Hour)
	exo := func(id, op string, params ...string) schema.Record {
		var ps []map[string]string
		for i := 0; i+1 < len(params); i += 2 {
			ps = append(ps, map[string]string{"Name": params[i], "Value": params[i+1]})
		}
		return detecttest.Record(t, raw(t, map[string]any{"Id": id, "CreationTime": at.Format("2006-01-02T15:04:05"), "Operation": op, "RecordType": 1,
			"ResultStatus": "True", "UserType": 2, "Workload": "Exchange", "UserId": "adele.vance@contoso.example", "ClientIP": "203.0.113.66",
			"ObjectId": "x", "OrganizationName": "contoso.example", "Parameters": ps}))
	}
	db := detecttest.Open(t, "sqlite")
	h := detecttest.Handle(db, "sqlite")
	detecttest.Load(t, db, "sqlite", []schema.Record{
		exo("fwd", "Set-Mailbox", "Identity", "o'brien", "ForwardingSmtpAddress", "smtp:x@evil.example"),
		exo("tr", "New-TransportRule", "Name", "Copy all", "BlindCopyTo", "x@evil.example"),
		exo("perm", "Add-MailboxPermission", "Identity", "ceo@contoso.example", "User", "adele.vance@contoso.example", "AccessRights", "FullAccess"),
		exo("sendas", "Add-ADPermission", "Identity", "cfo@contoso.example", "User", "adele.vance@contoso.example", "ExtendedRights", "Send As"),
	})
	alerts, err := detect.Evaluate(ctx, h, at.Add(-time.Hour), at.Add(time.Hour), detect.Config{Domains: []string{"contoso.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := detect.Store(ctx, h, alerts); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ rule, record, manual string }{
		{detect.RuleMailboxForwardExternal, "fwd", "Set-Mailbox -Identity 'o''brien' -ForwardingSmtpAddress $null -ForwardingAddress $null -DeliverToMailboxAndForward $false"},
		{detect.RuleTransportCopyExternal, "tr", "Disable-TransportRule -Identity 'Copy all' -Confirm:$false"},
		{detect.RuleMailboxPermissionGrant, "perm", "Remove-MailboxPermission -Identity 'ceo@contoso.example' -User 'adele.vance@contoso.example' -AccessRights FullAccess -InheritanceType All -Confirm:$false"},
		// Send As granted with the older Add-ADPermission is undone with Exchange
		// Online's Remove-RecipientPermission (Remove-ADPermission is on-premises only).
		{detect.RuleMailboxPermissionGrant, "sendas", "Remove-RecipientPermission -Identity 'cfo@contoso.example' -Trustee 'adele.vance@contoso.example' -AccessRights SendAs -Confirm:$false"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			a := alertOf(t, alerts, c.rule, c.record)
			p, _, err := remediate.Load(ctx, h, a.ID, "https://graph.microsoft.com/v1.0")
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Manual) != 1 || p.Manual[0].Command != c.manual {
				t.Errorf("manual %+v, want %q", p.Manual, c.manual)
			}
			if s, ok := p.Step(remediate.ActionRevokeSessions); !ok || s.Account != "adele.vance@contoso.example" ||
				s.Requests[0].URL != "https://graph.microsoft.com/v1.0/users/adele.vance@contoso.example/revokeSignInSessions" {
				t.Errorf("revoke-sessions %+v", s)
			}
			if _, ok := p.Step(remediate.ActionRemoveInboxRule); ok {
				t.Error("remove-inbox-rule offered for a non-rule alert")
			}
		})
	}
}

// deleteTwice sends every DELETE twice, as a retried DELETE whose first attempt went
// through would: the action still succeeds, with Graph's 404 recorded.
type deleteTwice struct{ next http.RoundTripper }

func (d deleteTwice) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodDelete {
		first, err := d.next.RoundTrip(r.Clone(r.Context()))
		if err != nil {
			return nil, err
		}
		first.Body.Close()
	}
	return d.next.RoundTrip(r)
}

func TestAnAlreadyDeletedRuleCountsAsRemoved(t *testing.T) {
	ctx := context.Background()
	db := detecttest.Open(t, "sqlite")
	h := detecttest.Handle(db, "sqlite")
	emu, base := startEmulator(t, emulator.Options{})
	story := emu.AttackStory()
	a := alertOf(t, loadTenant(t, db, "sqlite", emu, base), detect.RuleInboxForwardExternal, story.InboxRuleID)
	res, _ := graph.CloudURL(api.CloudCommercial)
	tokens, err := api.New(api.Config{TenantID: emu.TenantID(), ClientID: emu.ClientID(), ClientSecret: emu.ClientSecret(),
		APIURL: base, LoginURL: base, Resource: res, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.New(graph.Config{BaseURL: base, Tokens: tokens, HTTPClient: &http.Client{Transport: deleteTwice{http.DefaultTransport}}})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := remediate.Load(ctx, h, a.ID, g.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := p.Step(remediate.ActionRemoveInboxRule)
	o := remediate.Execute(ctx, g, s)
	if o.Result != remediate.ResultDone || o.HTTPStatus != http.StatusNotFound {
		t.Errorf("%s (HTTP %d): %v", o.Result, o.HTTPStatus, o.Err)
	}
	if len(emu.MessageRules(story.User)) != 1 {
		t.Errorf("rules left: %+v", emu.MessageRules(story.User))
	}
}

// TestOutlookRuleIsPlanned: an Outlook UpdateInboxRules record (the rule in
// OperationProperties) gives the mailbox owner, the rule name and its recipients.
func TestOutlookRuleIsPlanned(t *testing.T) {
	ctx := context.Background()
	at := time.Now().UTC().Add(-2 * time.Hour)
	db := detecttest.Open(t, "sqlite")
	h := detecttest.Handle(db, "sqlite")
	detecttest.Load(t, db, "sqlite", []schema.Record{detecttest.Record(t, raw(t, map[string]any{
		"Id": "ol-1", "CreationTime": at.Format("2006-01-02T15:04:05"), "Operation": "UpdateInboxRules", "RecordType": 2, "ResultStatus": "Succeeded",
		"UserType": 0, "Workload": "Exchange", "UserId": "megan.bowen@contoso.example", "ClientIP": "203.0.113.66", "MailboxOwnerUPN": "megan.bowen@contoso.example",
		"OperationProperties": []map[string]string{{"Name": "RuleName", "Value": "Sync"}, {"Name": "RuleOperation", "Value": "AddMailboxRule"},
			{"Name": "RuleActions", "Value": "ForwardToRecipientsAction: Drop@Evil.example"}}}))})
	alerts, err := detect.Evaluate(ctx, h, at.Add(-time.Hour), at.Add(time.Hour), detect.Config{Domains: []string{"contoso.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := detect.Store(ctx, h, alerts); err != nil {
		t.Fatal(err)
	}
	a := alertOf(t, alerts, detect.RuleInboxForwardExternal, "ol-1")
	p, _, err := remediate.Load(ctx, h, a.ID, "https://graph.microsoft.com/v1.0")
	if err != nil {
		t.Fatal(err)
	}
	s, ok := p.Step(remediate.ActionRemoveInboxRule)
	if !ok || s.Account != "megan.bowen@contoso.example" || s.Target != `inbox rule "Sync" of the mailbox megan.bowen@contoso.example` ||
		!strings.Contains(s.What, "drop@evil.example") {
		t.Errorf("step %+v (unavailable %v)", s, p.Unavailable)
	}
}
