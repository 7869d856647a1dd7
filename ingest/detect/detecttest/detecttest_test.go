package detecttest_test

import (
	"testing"

	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/schema"
)

// TestMigrationsApply checks that every migration, 00002_views and 00003_alerts
// included, applies on each database and that records load.
func TestMigrationsApply(t *testing.T) {
	for _, d := range detecttest.Drivers(t) {
		t.Run(d, func(t *testing.T) {
			db := detecttest.Open(t, d)
			rec := detecttest.Record(t, `{"Id":"a1","CreationTime":"2026-03-02T09:14:51","Operation":"New-InboxRule","RecordType":1,"UserId":"u@contoso.example","Parameters":[{"Name":"ForwardTo","Value":"x@evil.example"}]}`)
			detecttest.Load(t, db, d, nil)
			detecttest.Load(t, db, d, []schema.Record{rec})
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM v_mailbox_rule WHERE forward_to IS NOT NULL`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("v_mailbox_rule has %d forwarding rows, want 1", n)
			}
		})
	}
}
