package investigate_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/ingest/investigate"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// TestFirstQuestionsOnEveryDatabase: the responder's first questions answer on every
// sink, and the domain learned from the records is a parameter, never SQL: a tenant
// whose most common user domain holds a quote still gets its answers.
func TestFirstQuestionsOnEveryDatabase(t *testing.T) {
	at := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04:05")
	rec := func(id, user, op string, params ...string) string {
		var ps []string
		for i := 0; i+1 < len(params); i += 2 {
			ps = append(ps, `{"Name":"`+params[i]+`","Value":"`+params[i+1]+`"}`)
		}
		return `{"Id":"` + id + `","CreationTime":"` + at + `","Operation":"` + op + `","RecordType":1,"Workload":"Exchange",` +
			`"UserId":"` + user + `","ClientIP":"203.0.113.66","OrganizationId":"42642b7a-0a36-4a5a-9a5e-4d2b6e4a1f10","ObjectId":"x","Parameters":[` + strings.Join(ps, ",") + `]}`
	}
	for _, tc := range []struct{ name, domain string }{
		{"a plain domain", "contoso.example"},
		{"a domain holding a quote", "o'hara.example"},
	} {
		for _, driver := range sinktest.Drivers(t) {
			t.Run(tc.name+"/"+driver, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				s := sinktest.Open(t, driver)
				u := "megan.bowen@" + tc.domain
				var recs []schema.Record
				for _, raw := range []string{
					rec("r1", u, "New-InboxRule", "Name", "..", "ForwardTo", "collect@exfil-mail.example", "DeleteMessage", "True"),
					rec("r2", u, "New-InboxRule", "Name", "team", "ForwardTo", "lee@"+tc.domain),
					rec("r3", "alex.wilber@"+tc.domain, "Set-Mailbox", "Identity", "alex", "ForwardingSmtpAddress", "smtp:alex@elsewhere.example"),
				} {
					recs = append(recs, detecttest.Record(t, raw))
				}
				if _, err := s.Load(ctx, sink.RecordsOnly(recs...)); err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				if err := investigate.First(ctx, &out, s.Handle()); err != nil {
					t.Fatalf("First: %v\n%s", err, out.String())
				}
				got := out.String()
				for _, want := range []string{"== Inbox rules that forward or redirect mail outside " + tc.domain, "collect@exfil-mail.example", "smtp:alex@elsewhere.example"} {
					if !strings.Contains(got, want) {
						t.Errorf("output lacks %q:\n%s", want, got)
					}
				}
				if strings.Contains(got, "lee@"+tc.domain) {
					t.Errorf("a rule forwarding inside %s is listed as outside:\n%s", tc.domain, got)
				}
			})
		}
	}
}
