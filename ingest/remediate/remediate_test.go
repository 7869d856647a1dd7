package remediate_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/graph"
	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/remediate"
	"github.com/o365ingest/o365ingest/schema"
)

// startEmulator serves the synthetic tenant of seed 1 (as the demo does, fewer records).
func startEmulator(t *testing.T, opts emulator.Options) (*emulator.Server, string) {
	t.Helper()
	opts.Seed, opts.RateLimit = 1, -1
	if opts.RecordsPerDay == 0 {
		opts.RecordsPerDay = 150
	}
	opts.BlobInterval = 6 * time.Hour
	emu, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	base, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu, base
}

// loadTenant reads the emulator's 7 days through the API client into db and stores
// the alerts the rules raise.
func loadTenant(t *testing.T, db *sql.DB, dialect string, emu *emulator.Server, base string) []detect.Alert {
	h := detecttest.Handle(db, dialect)
	t.Helper()
	ctx := context.Background()
	client, err := api.New(api.Config{TenantID: emu.TenantID(), ClientID: emu.ClientID(), ClientSecret: emu.ClientSecret(), APIURL: base, LoginURL: base, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.EnsureSubscriptions(ctx, api.ContentTypes); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	seen := map[string]bool{}
	var recs []schema.Record
	for _, ct := range api.ContentTypes {
		blobs, err := client.ListRange(ctx, ct, now.Add(-7*24*time.Hour+time.Hour), now)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs {
			if _, err := client.FetchBlob(ctx, b, func(raw json.RawMessage, _ int) error {
				r, err := normalize.Record(raw, normalize.Source{TenantID: emu.TenantID(), ContentType: ct, ContentID: b.ContentID, IngestedAt: now})
				if err == nil && !seen[r.ID] {
					seen[r.ID] = true
					recs = append(recs, r)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	detecttest.Load(t, db, dialect, recs)
	alerts, err := detect.Evaluate(ctx, h, now.Add(-8*24*time.Hour), now.Add(time.Hour), detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := detect.Store(ctx, h, alerts); err != nil {
		t.Fatal(err)
	}
	return alerts
}

func graphClient(t *testing.T, emu *emulator.Server, base string) *graph.Client {
	t.Helper()
	res, _ := graph.CloudURL(api.CloudCommercial)
	tokens, err := api.New(api.Config{TenantID: emu.TenantID(), ClientID: emu.ClientID(), ClientSecret: emu.ClientSecret(),
		APIURL: base, LoginURL: base, Resource: res, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.New(graph.Config{BaseURL: base, Tokens: tokens, HTTPClient: tokens.HTTPClient(), BackoffBase: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func alertOf(t *testing.T, alerts []detect.Alert, rule, recordID string) detect.Alert {
	t.Helper()
	for _, a := range alerts {
		if a.Rule == rule && a.RecordID == recordID {
			return a
		}
	}
	t.Fatalf("no %s alert on record %s among %d alerts", rule, recordID, len(alerts))
	return detect.Alert{}
}

func calls(emu *emulator.Server) []string {
	var out []string
	for _, c := range emu.GraphCalls() {
		s := c.Method + " " + c.Path
		if c.Query != "" {
			s += "?" + c.Query
		}
		out = append(out, fmt.Sprintf("%s -> %d", s, c.Status))
	}
	return out
}

// TestForwardingRuleAlert is the acceptance test of the issue on every database: for
// the emulator's planted forwarding rule, planning sends nothing; executing
// remove-inbox-rule and revoke-sessions sends exactly their requests, the rule is gone
// from the mailbox (the benign one stays), and two rows record the results; a second
// run says it is done; a withheld permission is recorded as refused with its cause.
func TestForwardingRuleAlert(t *testing.T) {
	for _, dialect := range detecttest.Drivers(t) {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := detecttest.Open(t, dialect)
			h := detecttest.Handle(db, dialect)
			emu, base := startEmulator(t, emulator.Options{})
			story := emu.AttackStory()
			a := alertOf(t, loadTenant(t, db, dialect, emu, base), detect.RuleInboxForwardExternal, story.InboxRuleID)
			g := graphClient(t, emu, base)

			p, _, err := remediate.Load(ctx, h, a.ID[:12], g.URL(""))
			if err != nil {
				t.Fatal(err)
			}
			if len(emu.GraphCalls()) != 0 {
				t.Fatalf("planning made Graph calls: %v", calls(emu))
			}
			var names []string
			for _, s := range p.Steps {
				names = append(names, s.Action)
			}
			if strings.Join(names, ",") != "revoke-sessions,disable-account,remove-inbox-rule" {
				t.Fatalf("planned %v", names)
			}
			rule, _ := p.Step(remediate.ActionRemoveInboxRule)
			if rule.Account != story.User || !strings.Contains(rule.Target, `".."`) || rule.Requests[0].URL != base+"/v1.0/users/"+story.User+"/mailFolders/inbox/messageRules" {
				t.Errorf("remove-inbox-rule planned as %+v", rule)
			}

			for _, name := range []string{remediate.ActionRemoveInboxRule, remediate.ActionRevokeSessions} {
				s, _ := p.Step(name)
				o := remediate.Execute(ctx, g, s)
				if _, err := remediate.Store(ctx, h, a.ID, o, "tester", time.Now()); err != nil {
					t.Fatal(err)
				}
				if o.Result != remediate.ResultDone {
					t.Fatalf("%s: %s: %v", name, o.Result, o.Err)
				}
			}
			want := []string{
				"GET /v1.0/users/" + story.User + "/mailFolders/inbox/messageRules -> 200",
				"DELETE /v1.0/users/" + story.User + "/mailFolders/inbox/messageRules/AQAAAJ5dZqE= -> 204",
				"POST /v1.0/users/" + story.User + "/revokeSignInSessions -> 200",
			}
			if got := calls(emu); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("Graph calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			left := emu.MessageRules(story.User)
			if len(left) != 1 || left[0].DisplayName == emulator.AttackRuleName {
				t.Errorf("rules left in the mailbox: %+v", left)
			}
			if u, _ := emu.GraphUser(story.User); u.SignInSessionsValidFromDateTime.IsZero() || !u.AccountEnabled {
				t.Errorf("user after revoke: %+v", u)
			}

			rows, err := remediate.List(ctx, h, remediate.Filter{AlertID: a.ID})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 {
				t.Fatalf("%d remediation_action rows, want 2: %+v", len(rows), rows)
			}
			for _, r := range rows {
				if r.Result != remediate.ResultDone || r.OSUser != "tester" || r.AlertID != a.ID || len(r.Request) == 0 || r.HTTPStatus == 0 {
					t.Errorf("row %+v", r)
				}
			}
			if rows[0].Action != remediate.ActionRemoveInboxRule || rows[0].HTTPStatus != 204 || len(rows[0].Request) != 2 || rows[1].HTTPStatus != 200 {
				t.Errorf("rows %+v", rows)
			}
			if _, done, err := remediate.Done(ctx, h, a.ID, remediate.ActionRevokeSessions); err != nil || !done {
				t.Errorf("Done(revoke-sessions) = %v, %v after it ran", done, err)
			}
			if _, done, _ := remediate.Done(ctx, h, a.ID, remediate.ActionDisableAccount); done {
				t.Error("Done(disable-account) before it ran")
			}

			// Apply does nothing for an action already done, unless again.
			rs, _ := p.Step(remediate.ActionRevokeSessions)
			if res, err := remediate.Apply(ctx, h, g, a.ID, rs, false, "tester"); err != nil || !res.Skipped || res.Previous.Result != remediate.ResultDone {
				t.Errorf("Apply of a done action: %+v, %v", res, err)
			}
			before := len(emu.GraphCalls())
			if res, err := remediate.Apply(ctx, h, g, a.ID, rs, true, "tester"); err != nil || res.Skipped || res.Row.Result != remediate.ResultDone || len(emu.GraphCalls()) != before+1 {
				t.Errorf("Apply with again: %+v, %v", res, err)
			}

			// Running remove-inbox-rule again finds nothing left to remove.
			s, _ := p.Step(remediate.ActionRemoveInboxRule)
			if o := remediate.Execute(ctx, g, s); o.Result != remediate.ResultNotFound {
				t.Errorf("second removal: %s %v", o.Result, o.Err)
			}
		})
	}
}

// TestWithheldPermission: an app without User.RevokeSessions.All is refused with
// Graph's 403, recorded as refused with Graph's code and the permission it needs.
func TestWithheldPermission(t *testing.T) {
	for _, dialect := range detecttest.Drivers(t) {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := detecttest.Open(t, dialect)
			h := detecttest.Handle(db, dialect)
			emu, base := startEmulator(t, emulator.Options{GraphWithhold: []string{"User.RevokeSessions.All"}})
			story := emu.AttackStory()
			a := alertOf(t, loadTenant(t, db, dialect, emu, base), detect.RuleInboxForwardExternal, story.InboxRuleID)
			g := graphClient(t, emu, base)
			p, _, err := remediate.Load(ctx, h, a.ID, g.URL(""))
			if err != nil {
				t.Fatal(err)
			}
			s, _ := p.Step(remediate.ActionRevokeSessions)
			o := remediate.Execute(ctx, g, s)
			if _, err := remediate.Store(ctx, h, a.ID, o, "tester", time.Now()); err != nil {
				t.Fatal(err)
			}
			rows, err := remediate.List(ctx, h, remediate.Filter{AlertID: a.ID})
			if err != nil || len(rows) != 1 {
				t.Fatalf("rows %+v, %v", rows, err)
			}
			r := rows[0]
			if r.Result != remediate.ResultRefused || r.HTTPStatus != 403 || !strings.Contains(r.Error, "Authorization_RequestDenied") || !strings.Contains(r.Error, "User.RevokeSessions.All") {
				t.Errorf("refused row %+v", r)
			}
			if u, _ := emu.GraphUser(story.User); !u.SignInSessionsValidFromDateTime.IsZero() {
				t.Error("sessions revoked without the permission")
			}
			if _, done, _ := remediate.Done(ctx, h, a.ID, remediate.ActionRevokeSessions); done {
				t.Error("a refused action counts as done")
			}
		})
	}
}
