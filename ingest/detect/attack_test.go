package detect_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
)

// TestAttackStory is the acceptance test: on the emulator's synthetic tenant the
// phished account's forwarding inbox rule and mailbox forwarding are alerts, and no
// normal user gets any.
func TestAttackStory(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a week of synthetic records")
	}
	db := &detecttestDB{detecttest.Open(t, "sqlite"), "sqlite"}
	story := detecttest.LoadEmulator(t, db.DB, db.dialect)
	now := time.Now().UTC()
	alerts, err := detect.Evaluate(context.Background(), detecttest.Handle(db.DB, db.dialect), now.Add(-8*24*time.Hour), now.Add(time.Hour), detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		t.Logf("%s %s %s: %s", a.CreationTime.Format(time.RFC3339), a.Rule, a.UserID, a.Summary)
	}
	var got []string
	for _, a := range alerts {
		if !strings.EqualFold(a.UserID, story.User) {
			t.Errorf("alert on a normal user: %s %s: %s", a.Rule, a.UserID, a.Summary)
			continue
		}
		got = append(got, a.Rule+":"+a.RecordID)
	}
	for _, want := range []string{"inbox_rule_forward_external:" + story.InboxRuleID, "mailbox_forward_external:" + story.SetMailboxID} {
		if !slices.Contains(got, want) {
			t.Errorf("missing alert %s; got %v", want, got)
		}
	}
	for _, g := range got {
		if !strings.HasPrefix(g, "inbox_rule_forward_external:") && !strings.HasPrefix(g, "mailbox_forward_external:") && g != "signin_new_address:"+story.SignInID {
			t.Errorf("unexpected alert on the phished user: %s", g)
		}
	}
	for _, a := range alerts {
		if a.Rule == "inbox_rule_forward_external" && (a.Evidence["external_recipients"] != story.ForwardTo || a.ClientIP != story.AttackerIP) {
			t.Errorf("forwarding alert evidence %v from %s, want %s from %s", a.Evidence, a.ClientIP, story.ForwardTo, story.AttackerIP)
		}
	}
}
