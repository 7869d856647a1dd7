package sink_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// TestMySQLStrictSession: the sink's sessions are strict, so nothing is silently truncated.
func TestMySQLStrictSession(t *testing.T) {
	s := sinktest.Open(t, "mysql")
	var mode, tz string
	if err := s.DB().QueryRowContext(ctxT(t), "SELECT @@SESSION.sql_mode, @@SESSION.time_zone").Scan(&mode, &tz); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mode, "STRICT_ALL_TABLES") || tz != "+00:00" {
		t.Errorf("session sql_mode %q time_zone %q; want STRICT_ALL_TABLES and +00:00", mode, tz)
	}
	// Bypassing the sink's checks, the server itself refuses an over-long value.
	_, err := s.DB().ExecContext(ctxT(t), "INSERT INTO ingest_lease (name, holder, expires_at) VALUES (?, 'h', UTC_TIMESTAMP())", strings.Repeat("n", 300))
	if err == nil {
		t.Error("a 300-character lease name was accepted into VARCHAR(256)")
	}
}

// TestMySQLLargeBatch: a batch bigger than one statement (by bytes and by rows) is split
// and still loads whole.
func TestMySQLLargeBatch(t *testing.T) {
	s := sinktest.Open(t, "mysql")
	var recs []schema.Record
	big := strings.Repeat("0123456789", 300_000) // 3 MB: three rows exceed one 8 MB statement
	for i := range 1200 {
		set := map[string]any{}
		if i < 4 {
			set["event_data"] = big
		}
		recs = append(recs, sinktest.Record(fmt.Sprintf("big-%04d", i), set))
	}
	res, err := s.Load(ctxT(t), sink.Batch{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 1200 {
		t.Errorf("Load: %+v, want 1200 inserted", res)
	}
	if n := count(t, s, "audit_record"); n != 1200 {
		t.Errorf("audit_record holds %d rows", n)
	}
}
