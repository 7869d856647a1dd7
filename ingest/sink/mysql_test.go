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
	if err := s.Handle().DB.QueryRowContext(ctxT(t), "SELECT @@SESSION.sql_mode, @@SESSION.time_zone").Scan(&mode, &tz); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mode, "STRICT_ALL_TABLES") || tz != "+00:00" {
		t.Errorf("session sql_mode %q time_zone %q; want STRICT_ALL_TABLES and +00:00", mode, tz)
	}
	// Bypassing the sink's checks, the server itself refuses an over-long value.
	_, err := s.Handle().DB.ExecContext(ctxT(t), "INSERT INTO ingest_lease (name, holder, expires_at) VALUES (?, 'h', UTC_TIMESTAMP())", strings.Repeat("n", 300))
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
	res, err := s.Load(ctxT(t), sink.RecordsOnly(recs...))
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

// TestMySQLRaceKeepsProperties: when a record turns out to be stored already at insert
// time (another loader won the race after the check), only the properties of the records
// this load inserted are added.
func TestMySQLRaceKeepsProperties(t *testing.T) {
	s := sinktest.Open(t, "mysql")
	ctx := ctxT(t)
	theirs := sinktest.Record("race-1", nil)
	theirs.Props = []schema.Property{{List: "Parameters", Ordinal: 0, Name: "Theirs"}}
	if _, err := s.Load(ctx, sink.RecordsOnly(theirs)); err != nil {
		t.Fatal(err)
	}
	ours := sinktest.Record("race-1", nil)
	ours.Props = []schema.Property{{List: "Parameters", Ordinal: 0, Name: "Ours"}, {List: "Parameters", Ordinal: 1, Name: "OursToo"}}
	other := sinktest.Record("race-2", nil)
	other.Props = []schema.Property{{List: "Target", Ordinal: 0, Name: "New"}}
	n, err := sink.MySQLInsertRecords(ctx, s, []schema.Record{ours, other})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("inserted %d, want 1 (race-2)", n)
	}
	if p := readProps(t, s, "race-1"); len(p) != 1 || p[0].Name != "Theirs" {
		t.Errorf("race-1 properties = %+v, want only the stored copy's", p)
	}
	if p := readProps(t, s, "race-2"); len(p) != 1 || p[0].Name != "New" {
		t.Errorf("race-2 properties = %+v", p)
	}
}

// TestMySQLMigrateAfterACrashBeforeTheZeroVersion: MySQL commits CREATE TABLE on its own,
// so a process killed while goose set up its version table can leave the table without
// its zero-version row. The next Migrate must still bring the database up to date.
func TestMySQLMigrateAfterACrashBeforeTheZeroVersion(t *testing.T) {
	s := sinktest.OpenUnmigrated(t, "mysql")
	ctx := ctxT(t)
	if _, err := s.Handle().DB.ExecContext(ctx, `CREATE TABLE goose_db_version (
		id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
		version_id bigint NOT NULL,
		is_applied boolean NOT NULL,
		tstamp datetime NULL default CURRENT_TIMESTAMP,
		PRIMARY KEY(id))`); err != nil {
		t.Fatal(err)
	}
	if err := sink.Migrate(ctx, s); err != nil {
		t.Fatalf("Migrate over an empty version table: %v", err)
	}
	st, err := sink.MigrateStatus(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st {
		if !m.Applied {
			t.Errorf("migration %s not applied", m.Name)
		}
	}
	if res, err := s.Load(ctx, sink.RecordsOnly(sinktest.Record("z-1", nil))); err != nil || res.Inserted != 1 {
		t.Errorf("Load after the repair: %+v, %v", res, err)
	}
}
