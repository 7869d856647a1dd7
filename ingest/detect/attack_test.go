package detect_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/schema"
)

// loadEmulator serves the emulator's synthetic tenant (seed 1, as the demo does), reads
// its 7 days through the API client, normalizes every record and loads it into a new
// SQLite database.
func loadEmulator(t *testing.T) (*detecttestDB, emulator.AttackStory) {
	t.Helper()
	ctx := context.Background()
	emu, err := emulator.New(emulator.Options{Seed: 1, BlobInterval: 4 * time.Hour, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	base, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	client, err := api.New(api.Config{TenantID: emu.TenantID(), ClientID: emu.ClientID(), ClientSecret: emu.ClientSecret(), APIURL: base, LoginURL: base})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.EnsureSubscriptions(ctx, api.ContentTypes); err != nil {
		t.Fatal(err)
	}
	db := &detecttestDB{detecttest.Open(t, "sqlite"), "sqlite"}
	now := time.Now().UTC()
	var mu sync.Mutex
	seen := map[string]bool{}
	var recs []schema.Record
	for _, ct := range api.ContentTypes {
		blobs, err := client.ListRange(ctx, ct, now.Add(-7*24*time.Hour+time.Hour), now)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs {
			_, err := client.FetchBlob(ctx, b, func(raw json.RawMessage, _ int) error {
				r, err := normalize.Record(raw, normalize.Source{TenantID: emu.TenantID(), ContentType: ct, ContentID: b.ContentID, IngestedAt: now})
				if err != nil {
					return nil // quarantined in real runs; not this test's subject
				}
				mu.Lock()
				defer mu.Unlock()
				if !seen[r.ID] {
					seen[r.ID] = true
					recs = append(recs, r)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	detecttest.Load(t, db.DB, db.dialect, recs)
	t.Logf("loaded %d records from the emulator", len(recs))
	return db, emu.AttackStory()
}

// TestAttackStory is the acceptance test: on the emulator's synthetic tenant the
// phished account's forwarding inbox rule and mailbox forwarding are alerts, and no
// normal user gets any.
func TestAttackStory(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a week of synthetic records")
	}
	db, story := loadEmulator(t)
	now := time.Now().UTC()
	alerts, err := detect.Evaluate(context.Background(), db.DB, db.dialect, now.Add(-8*24*time.Hour), now.Add(time.Hour), detect.Config{})
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
