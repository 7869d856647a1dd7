package report_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/ingest/remediate"
	"github.com/o365ingest/o365ingest/ingest/report"
	"github.com/o365ingest/o365ingest/schema"
)

// TestReportShowsRemediationActions: the remediation actions recorded for the report's
// alerts are in the "remediations" section, escaped; those of other alerts are not.
func TestReportShowsRemediationActions(t *testing.T) {
	raw := `{"Id":"r1","CreationTime":"2026-03-02T09:00:00","Operation":"New-InboxRule","RecordType":1,"Workload":"Exchange","UserId":"megan.bowen@contoso.example","ClientIP":"203.0.113.66","ResultStatus":"True","Parameters":[{"Name":"Name","Value":"<b>x</b>"},{"Name":"ForwardTo","Value":"collect@exfil-mail.example"}]}`
	for _, d := range detecttest.Drivers(t) {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			db := detecttest.Open(t, d)
			h := detecttest.Handle(db, d)
			detecttest.Load(t, db, d, []schema.Record{detecttest.Record(t, raw)})
			alerts, err := detect.Evaluate(ctx, h, from, to, detect.Config{})
			if err != nil || len(alerts) != 1 {
				t.Fatalf("%d alerts, %v", len(alerts), err)
			}
			at := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
			for _, o := range []remediate.Outcome{
				{Action: remediate.ActionRemoveInboxRule, Target: `inbox rule "<b>x</b>" of the mailbox megan.bowen@contoso.example`, Result: remediate.ResultDone, HTTPStatus: 204,
					Sent: []remediate.Request{{Method: "GET", URL: "https://graph.microsoft.com/v1.0/users/megan.bowen@contoso.example/mailFolders/inbox/messageRules"}}},
				{Action: remediate.ActionRevokeSessions, Target: "user megan.bowen@contoso.example", Result: remediate.ResultRefused, HTTPStatus: 403,
					Err: errors.New("graph: HTTP 403 Authorization_RequestDenied (the app needs User.RevokeSessions.All)")},
			} {
				if _, err := remediate.Store(ctx, h, alerts[0].ID, o, "analyst", at); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := remediate.Store(ctx, h, strings.Repeat("f", 64), remediate.Outcome{Action: remediate.ActionDisableAccount, Target: "user other@contoso.example", Result: remediate.ResultDone}, "analyst", at); err != nil {
				t.Fatal(err)
			}
			page, err := report.Render(ctx, h, from, to, alerts)
			if err != nil {
				t.Fatal(err)
			}
			s := string(page)
			i := strings.Index(s, `id="remediations"`)
			if i < 0 {
				t.Fatal("no remediations section")
			}
			sec := s[i:]
			sec = sec[:strings.Index(sec, "</section>")]
			for _, want := range []string{"remove-inbox-rule", "&lt;b&gt;x&lt;/b&gt;", "done", "204", "revoke-sessions", "refused", "403", "User.RevokeSessions.All", "analyst", alerts[0].ID[:12]} {
				if !strings.Contains(sec, want) {
					t.Errorf("remediations section lacks %q:\n%s", want, sec)
				}
			}
			if strings.Contains(sec, "<b>x</b>") || strings.Contains(sec, "other@contoso.example") {
				t.Errorf("remediations section shows raw markup or another alert's action:\n%s", sec)
			}
		})
	}
}
