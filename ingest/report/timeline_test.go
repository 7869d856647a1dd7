package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/ingest/report"
	"github.com/o365ingest/o365ingest/schema"
)

// TestTimeline pivots on one user across workloads, as actor, mailbox owner and
// directory target, in time order, on each database, and writes it in each format.
func TestTimeline(t *testing.T) {
	raws := []string{
		`{"Id":"t3","CreationTime":"2026-03-02T09:10:00","Operation":"New-InboxRule","RecordType":1,"Workload":"Exchange","UserId":"Megan.Bowen@contoso.example","ClientIP":"203.0.113.66","ResultStatus":"True"}`,
		`{"Id":"t1","CreationTime":"2026-03-02T08:50:00","Operation":"UserLoginFailed","RecordType":15,"Workload":"AzureActiveDirectory","UserId":"megan.bowen@contoso.example","ClientIP":"203.0.113.66","ErrorNumber":"50126","LogonError":"InvalidUserNameOrPassword"}`,
		`{"Id":"t2","CreationTime":"2026-03-02T09:00:00","Operation":"MailItemsAccessed","RecordType":50,"Workload":"Exchange","UserId":"alex.wilber@contoso.example","MailboxOwnerUPN":"megan.bowen@contoso.example","ClientIP":"192.0.2.10"}`,
		`{"Id":"t4","CreationTime":"2026-03-02T09:20:00","Operation":"Reset user password.","RecordType":8,"Workload":"AzureActiveDirectory","UserId":"alex.wilber@contoso.example","Target":[{"ID":"megan.bowen@contoso.example","Type":5}]}`,
		`{"Id":"t5","CreationTime":"2026-03-02T09:30:00","Operation":"FileAccessed","RecordType":6,"Workload":"SharePoint","UserId":"alex.wilber@contoso.example","ClientIP":"192.0.2.10","SourceFileName":"x.docx"}`,
		`{"Id":"t6","CreationTime":"2026-03-05T09:30:00","Operation":"FileAccessed","RecordType":6,"Workload":"SharePoint","UserId":"megan.bowen@contoso.example","ClientIP":"192.0.2.10"}`,
	}
	for _, d := range detecttest.Drivers(t) {
		t.Run(d, func(t *testing.T) {
			db := detecttest.Open(t, d)
			var recs []schema.Record
			for _, r := range raws {
				recs = append(recs, detecttest.Record(t, r))
			}
			detecttest.Load(t, db, d, recs)
			entries, err := report.Timeline(context.Background(), detecttest.Handle(db, d), "MEGAN.BOWEN@contoso.example", from, to, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.RecordID+":"+e.Role)
			}
			if want := "t1:actor t2:mailbox t3:actor t4:target"; strings.Join(got, " ") != want {
				t.Errorf("timeline %v, want %s", got, want)
			}
			if entries[0].Detail != "error 50126 InvalidUserNameOrPassword" {
				t.Errorf("sign-in failure detail %q", entries[0].Detail)
			}
			var buf bytes.Buffer
			if err := report.WriteTimeline(&buf, "csv", entries); err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(&buf).ReadAll()
			if err != nil || len(rows) != 5 || rows[0][0] != "creation_time" || rows[1][0] != "2026-03-02T08:50:00Z" {
				t.Errorf("CSV %v %v", rows, err)
			}
			buf.Reset()
			report.WriteTimeline(&buf, "json", entries)
			var js []map[string]any
			if err := json.Unmarshal(buf.Bytes(), &js); err != nil || len(js) != 4 || js[3]["role"] != "target" {
				t.Errorf("JSON %s %v", buf.String(), err)
			}
			buf.Reset()
			report.WriteTimeline(&buf, "table", entries)
			if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 5 || !strings.Contains(lines[1], "UserLoginFailed") {
				t.Errorf("table:\n%s", buf.String())
			}
		})
	}
}
