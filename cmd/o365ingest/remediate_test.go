package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/remediate"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// remediationSetup starts an in-process emulator (seed 1, the demo's tenant) and writes
// a config for it with graph_url, on the given database.
func remediationSetup(t *testing.T, driver, dsn string, opts emulator.Options) (cfgPath, base string, emu *emulator.Server) {
	t.Helper()
	opts.Seed, opts.RecordsPerDay, opts.RateLimit, opts.BlobInterval = 1, 150, -1, 6*3600e9
	emu, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	base, err = emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	cfgPath = filepath.Join(t.TempDir(), "o365ingest.yaml")
	cfg := fmt.Sprintf(`tenants:
  - name: contoso
    tenant_id: %s
    client_id: %s
    client_secret: %q
    api_url: %s
    login_url: %s
    graph_url: %s
sink:
  driver: %s
  dsn: %q
ingest:
  rate_limit: 1000000
`, emu.TenantID(), emu.ClientID(), emu.ClientSecret(), base, base, base, driver, dsn)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "backfill", "--config", cfgPath, "--since", "7d"); code != exitOK {
		t.Fatalf("backfill exited %d:\n%s", code, out)
	}
	return cfgPath, base, emu
}

// forwardingAlert returns the id of the alert on the emulator's planted forwarding rule.
func forwardingAlert(t *testing.T, cfg string, story emulator.AttackStory) string {
	t.Helper()
	code, out := runCLI(t, "--config", cfg, "alerts", "--format", "json", "--since", "8d")
	var alerts []struct {
		ID       string `json:"id"`
		Rule     string `json:"rule"`
		RecordID string `json:"record_id"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &alerts) != nil {
		t.Fatalf("alerts exited %d:\n%s", code, out)
	}
	for _, a := range alerts {
		if a.Rule == "inbox_rule_forward_external" && a.RecordID == story.InboxRuleID {
			return a.ID
		}
	}
	t.Fatalf("no alert on the forwarding rule among %d:\n%s", len(alerts), out)
	return ""
}

// graphCalls reads the emulator's /_emulator/graph-calls as "METHOD path" lines.
func graphCalls(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/_emulator/graph-calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var calls []emulator.GraphCall
	if err := json.Unmarshal(body, &calls); err != nil {
		t.Fatalf("graph-calls: %v\n%s", err, body)
	}
	var out []string
	for _, c := range calls {
		out = append(out, fmt.Sprintf("%s %s %d", c.Method, c.Path, c.Status))
	}
	return out
}

func remediationRows(t *testing.T, cfg, alertID string) []remediate.Row {
	t.Helper()
	code, out := runCLI(t, "--config", cfg, "remediations", "--alert", alertID, "--format", "json")
	var rows []remediate.Row
	if code != exitOK || json.Unmarshal([]byte(out), &rows) != nil {
		t.Fatalf("remediations exited %d:\n%s", code, out)
	}
	return rows
}

// TestRemediateTheForwardingRule is the acceptance test through the command, on
// SQLite, PostgreSQL and MariaDB: a dry run sends nothing; remove-inbox-rule and
// revoke-sessions with --yes make exactly their Graph calls, the rule is gone, and
// remediation_action holds two rows with their results; the same command again says it
// is done and sends nothing.
func TestRemediateTheForwardingRule(t *testing.T) {
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			cfg, base, emu := remediationSetup(t, driver, sinktest.DSN(t, driver), emulator.Options{})
			story := emu.AttackStory()
			id := forwardingAlert(t, cfg, story)

			code, out := runCLI(t, "--config", cfg, "remediate", "--alert", id[:12])
			if code != exitOK || !strings.Contains(out, "remove-inbox-rule: inbox rule \"..\" of the mailbox "+story.User) ||
				!strings.Contains(out, "POST "+base+"/v1.0/users/"+story.User+"/revokeSignInSessions") ||
				!strings.Contains(out, "Dry run: nothing was sent") {
				t.Fatalf("dry run exited %d:\n%s", code, out)
			}
			if calls := graphCalls(t, base); len(calls) != 0 {
				t.Fatalf("the dry run made Graph calls: %v", calls)
			}
			code, out = runCLI(t, "--config", cfg, "remediate", "--alert", id, "--action", "remove-inbox-rule")
			if code != exitUsage || !strings.Contains(out, "Not on a terminal: add --yes") {
				t.Fatalf("--action without --yes off a terminal exited %d:\n%s", code, out)
			}

			code, out = runCLI(t, "--config", cfg, "remediate", "--alert", id, "--action", "remove-inbox-rule,revoke-sessions", "--yes")
			if code != exitOK || !strings.Contains(out, "remove-inbox-rule: done (HTTP 204)") || !strings.Contains(out, "revoke-sessions: done (HTTP 200)") {
				t.Fatalf("remediate --yes exited %d:\n%s", code, out)
			}
			want := []string{
				"GET /v1.0/users/" + story.User + "/mailFolders/inbox/messageRules 200",
				"POST /v1.0/users/" + story.User + "/revokeSignInSessions 200",
				"DELETE /v1.0/users/" + story.User + "/mailFolders/inbox/messageRules/AQAAAJ5dZqE= 204",
			}
			// Steps run in the actions' order (revoke-sessions first): compare as sets of lines.
			got := graphCalls(t, base)
			if len(got) != 3 || !sameLines(got, want) {
				t.Fatalf("Graph calls:\n%s\nwant (any order):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, r := range emu.MessageRules(story.User) {
				if r.DisplayName == emulator.AttackRuleName {
					t.Errorf("the forwarding rule is still in the mailbox: %+v", r)
				}
			}
			rows := remediationRows(t, cfg, id[:12])
			if len(rows) != 2 {
				t.Fatalf("%d remediation_action rows, want 2: %+v", len(rows), rows)
			}
			for _, r := range rows {
				if r.Result != "done" || r.OSUser == "" || r.RunAt.IsZero() || len(r.Request) == 0 {
					t.Errorf("row %+v", r)
				}
			}
			code, out = runCLI(t, "--config", cfg, "remediations")
			if code != exitOK || strings.Count(out, " done ") != 2 || !strings.Contains(out, id[:12]) {
				t.Errorf("remediations table exited %d:\n%s", code, out)
			}

			code, out = runCLI(t, "--config", cfg, "remediate", "--alert", id, "--action", "remove-inbox-rule,revoke-sessions", "--yes")
			if code != exitOK || strings.Count(out, "already remediated") != 2 {
				t.Fatalf("second remediate exited %d:\n%s", code, out)
			}
			if n := len(graphCalls(t, base)); n != 3 {
				t.Errorf("the second run made Graph calls (%d in all)", n)
			}
			if rows := remediationRows(t, cfg, id); len(rows) != 2 {
				t.Errorf("the second run added rows: %d", len(rows))
			}
			code, out = runCLI(t, "--config", cfg, "remediate", "--alert", id, "--action", "revoke-sessions", "--yes", "--again")
			if code != exitOK || !strings.Contains(out, "revoke-sessions: done") {
				t.Fatalf("--again exited %d:\n%s", code, out)
			}
			if rows := remediationRows(t, cfg, id); len(rows) != 3 {
				t.Errorf("--again recorded %d rows in all, want 3", len(rows))
			}
		})
	}
}

func sameLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestRemediateRecordsAMissingPermission: an app without User.RevokeSessions.All gets
// Graph's 403; the command exits 1 naming the permission, and the action is recorded as
// refused with its cause.
func TestRemediateRecordsAMissingPermission(t *testing.T) {
	cfg, base, emu := remediationSetup(t, "sqlite", filepath.Join(t.TempDir(), "o365.db"), emulator.Options{GraphWithhold: []string{"User.RevokeSessions.All"}})
	id := forwardingAlert(t, cfg, emu.AttackStory())
	code, out := runCLI(t, "--config", cfg, "remediate", "--alert", id, "--action", "revoke-sessions", "--yes")
	if code != exitFailure || !strings.Contains(out, "revoke-sessions: refused (HTTP 403)") || !strings.Contains(out, "Authorization_RequestDenied") || !strings.Contains(out, "User.RevokeSessions.All") {
		t.Fatalf("remediate exited %d:\n%s", code, out)
	}
	if calls := graphCalls(t, base); len(calls) != 1 || !strings.HasSuffix(calls[0], " 403") {
		t.Errorf("Graph calls %v", calls)
	}
	rows := remediationRows(t, cfg, id)
	if len(rows) != 1 || rows[0].Result != "refused" || rows[0].HTTPStatus != 403 || !strings.Contains(rows[0].Error, "User.RevokeSessions.All") {
		t.Fatalf("rows %+v", rows)
	}
}

// TestRemediateSafety: one alert per call, no --yes without --action, unknown actions
// and actions that do not fit are usage errors, and a terminal's confirmation names the
// account; a declined confirmation sends nothing.
func TestRemediateSafety(t *testing.T) {
	cfg, base, emu := remediationSetup(t, "sqlite", filepath.Join(t.TempDir(), "o365.db"), emulator.Options{})
	story := emu.AttackStory()
	id := forwardingAlert(t, cfg, story)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"two alerts", []string{"--alert", id + "," + id}, "one alert per call"},
		{"no alert", nil, "--alert ID is required"},
		{"--yes without --action", []string{"--alert", id, "--yes"}, "--yes needs --action"},
		{"an unknown action", []string{"--alert", id, "--action", "wipe-mailbox", "--yes"}, "unknown action"},
		{"an action that does not fit", []string{"--alert", id, "--action", "remove-role", "--yes"}, "not possible for alert"},
		{"an unknown alert", []string{"--alert", "0123456789ab", "--action", "revoke-sessions", "--yes"}, "no such alert"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := runCLI(t, append([]string{"--config", cfg, "remediate"}, c.args...)...)
			if code != exitUsage || !strings.Contains(out, c.want) {
				t.Errorf("exited %d, want %d with %q:\n%s", code, exitUsage, c.want, out)
			}
		})
	}
	t.Run("a terminal asks for confirmation naming the account", func(t *testing.T) {
		old := confirmInput
		t.Cleanup(func() { confirmInput = old })
		confirmInput = func(*Env) (io.Reader, bool) { return strings.NewReader("no\n"), true }
		code, out := runCLI(t, "--config", cfg, "remediate", "--alert", id, "--action", "disable-account")
		if code != exitOK || !strings.Contains(out, "Execute disable-account on the account "+story.User) || !strings.Contains(out, "Not confirmed: nothing was sent") {
			t.Fatalf("exited %d:\n%s", code, out)
		}
		if calls := graphCalls(t, base); len(calls) != 0 {
			t.Fatalf("a declined confirmation made Graph calls: %v", calls)
		}
		confirmInput = func(*Env) (io.Reader, bool) { return strings.NewReader("yes\n"), true }
		code, out = runCLI(t, "--config", cfg, "remediate", "--alert", id, "--action", "disable-account")
		if code != exitOK || !strings.Contains(out, "disable-account: done (HTTP 204)") {
			t.Fatalf("exited %d:\n%s", code, out)
		}
		if u, _ := emu.GraphUser(story.User); u.AccountEnabled {
			t.Error("the account is still enabled")
		}
	})
}

// TestDemoEndsWithTheRemediationDryRun: the demo's last section is remediate's dry run
// for the planted forwarding rule.
func TestDemoEndsWithTheRemediationDryRun(t *testing.T) {
	code, out := runCLI(t, "demo", "--db", filepath.Join(t.TempDir(), "demo.db"), "--records-per-day", "200")
	if code != exitOK {
		t.Fatalf("demo exited %d:\n%s", code, out)
	}
	i := strings.Index(out, "would do for the forwarding rule (dry run: nothing is sent)")
	if i < 0 {
		t.Fatalf("no remediation dry run in the demo:\n%s", out)
	}
	rest := out[i:]
	for _, want := range []string{`remove-inbox-rule: inbox rule ".." of the mailbox megan.bowen@contoso.example`,
		"/v1.0/users/megan.bowen@contoso.example/mailFolders/inbox/messageRules", "revoke-sessions", "--action remove-inbox-rule,revoke-sessions --yes"} {
		if !strings.Contains(rest, want) {
			t.Errorf("the dry run lacks %q:\n%s", want, rest)
		}
	}
}

// TestRemediateJSON: --format json gives the plan (with its requests) and, once
// executed, each action's result and row id.
func TestRemediateJSON(t *testing.T) {
	cfg, base, emu := remediationSetup(t, "sqlite", filepath.Join(t.TempDir(), "o365.db"), emulator.Options{})
	story := emu.AttackStory()
	id := forwardingAlert(t, cfg, story)
	var doc struct {
		Plan struct {
			AlertID string `json:"alert_id"`
			Steps   []struct {
				Action   string `json:"action"`
				Account  string `json:"account"`
				Requests []struct{ Method, URL string }
			} `json:"steps"`
		} `json:"plan"`
		Executed bool `json:"executed"`
		Results  []struct {
			Action, Result string
			RemediationID  string `json:"remediation_id"`
			HTTPStatus     int    `json:"http_status"`
		} `json:"results"`
	}
	code, out := runCLI(t, "--config", cfg, "remediate", "--alert", id, "--format", "json")
	if code != exitOK || json.Unmarshal([]byte(out), &doc) != nil || doc.Executed || doc.Plan.AlertID != id || len(doc.Plan.Steps) != 3 {
		t.Fatalf("dry run exited %d:\n%s", code, out)
	}
	if s := doc.Plan.Steps[2]; s.Action != "remove-inbox-rule" || s.Account != story.User || len(s.Requests) != 2 || s.Requests[1].Method != "DELETE" {
		t.Errorf("step %+v", s)
	}
	if calls := graphCalls(t, base); len(calls) != 0 {
		t.Fatalf("dry run made calls %v", calls)
	}
	code, out = runCLI(t, "--config", cfg, "remediate", "--alert", id, "--action", "revoke-sessions", "--yes", "--format", "json")
	doc.Results = nil
	if code != exitOK || json.Unmarshal([]byte(out), &doc) != nil || !doc.Executed || len(doc.Results) != 1 ||
		doc.Results[0].Result != "done" || doc.Results[0].HTTPStatus != 200 || doc.Results[0].RemediationID == "" {
		t.Fatalf("execution exited %d:\n%s", code, out)
	}
}
