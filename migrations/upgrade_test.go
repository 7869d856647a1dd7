package migrations_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/migrations"
	"github.com/o365ingest/o365ingest/migrations/internal/ddl"
	"github.com/o365ingest/o365ingest/schema"
)

// released is the last version released before the generator wrote every file: the
// version an upgrade starts from.
const released = ddl.FrozenVersions

var gooseDialect = map[string]goose.Dialect{
	"postgres":  goose.DialectPostgres,
	"mysql":     goose.DialectMySQL,
	"sqlserver": goose.DialectMSSQL,
	"sqlite":    goose.DialectSQLite3,
}

func gooseProvider(t *testing.T, s sink.Sink) *goose.Provider {
	t.Helper()
	fsys, err := migrations.FS(s.Handle().Dialect.Name())
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(gooseDialect[s.Handle().Dialect.Name()], s.Handle().DB, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUpgradeFromReleased migrates a database to the released version 3, loads the
// corpus into it as a version-3 binary would (records, properties, quarantine, ledger,
// a run, alerts and their deliveries, through the columns version 3 has), migrates it to
// the newest version and checks that every row of every table is as it was and that the
// views answer as before; then rolls back to version 3 and migrates up again, checking
// the same, and loads the corpus through the current sink into the upgraded database.
func TestUpgradeFromReleased(t *testing.T) {
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			s := sinktest.OpenUnmigrated(t, driver)
			p := gooseProvider(t, s)
			if _, err := p.UpTo(ctx, released); err != nil {
				t.Fatalf("migrating to version %d: %v", released, err)
			}
			records := loadReleased(t, ctx, s)

			ids := sinktest.StoredIDs(t, s.Handle().DB)
			before := snapshot(t, ctx, s)
			views := viewCounts(t, ctx, s)
			if views["v_signin"] == 0 || views["v_file_activity"] == 0 {
				t.Fatalf("the views see nothing of the corpus at version %d: %v", released, views)
			}

			check := func(when string) {
				t.Helper()
				if diff := compareSnapshots(before, snapshot(t, ctx, s)); diff != "" {
					t.Errorf("%s: %s", when, diff)
				}
				for v, n := range viewCounts(t, ctx, s) {
					if n != views[v] {
						t.Errorf("%s: %s has %d rows, %d at version %d", when, v, n, views[v], released)
					}
				}
			}
			if err := sink.Migrate(ctx, s); err != nil {
				t.Fatalf("migrating version %d to the newest (%d): %v", released, schema.Newest(), err)
			}
			check(fmt.Sprintf("after migrating %d → %d", released, schema.Newest()))

			if _, err := p.DownTo(ctx, released); err != nil {
				t.Fatalf("migrating down to %d: %v", released, err)
			}
			if v, err := p.GetDBVersion(ctx); err != nil || v != released {
				t.Fatalf("after migrating down: version %d (%v), want %d", v, err, released)
			}
			check(fmt.Sprintf("after migrating down %d → %d", schema.Newest(), released))

			if err := sink.Migrate(ctx, s); err != nil {
				t.Fatalf("migrating up again: %v", err)
			}
			check("after migrating up again")

			// The upgraded database takes the current sink's loads: every record is
			// already there, nothing is doubled.
			res, err := s.Load(ctx, sink.RecordsOnly(records...))
			if err != nil {
				t.Fatalf("loading the corpus into the upgraded database: %v", err)
			}
			if res.Inserted != 0 || res.Duplicates != len(records) {
				t.Errorf("reloading the corpus after the upgrade: %+v, want every one of %d a duplicate", res, len(records))
			}
			if got := sinktest.StoredIDs(t, s.Handle().DB); !slices.Equal(got, ids) {
				t.Errorf("after reloading: %d ids stored, %d before the upgrade", len(got), len(ids))
			}
		})
	}
}

// loadReleased writes the corpus into a version-3 database with plain INSERTs naming
// only the columns version 3 has, as the released binary did, and returns the records.
func loadReleased(t *testing.T, ctx context.Context, s sink.Sink) []schema.Record {
	t.Helper()
	d := s.Handle().Dialect
	tx, err := s.Handle().DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	insert := func(table *schema.Table, vals map[string]any) {
		t.Helper()
		tab := ddl.TableAt(table, released)
		var names, marks []string
		var args []any
		for _, c := range tab.Columns {
			v, ok := vals[c.Name]
			if !ok {
				continue
			}
			names = append(names, d.Quote(c.Name))
			marks = append(marks, "?")
			switch x := v.(type) {
			case time.Time:
				v = d.Time(x)
			case bool:
				if d.Name() == "sqlite" {
					v = map[bool]int64{false: 0, true: 1}[x]
				}
			}
			args = append(args, v)
		}
		q := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", d.Quote(tab.Name), strings.Join(names, ", "), strings.Join(marks, ", "))
		if _, err := tx.ExecContext(ctx, d.Rebind(q), args...); err != nil {
			t.Fatalf("%s: %v", table.Name, err)
		}
	}
	ingested := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	blobs := map[string]int{}
	var records []schema.Record
	var order []string
	for _, c := range sinktest.Corpus(t) {
		if _, ok := blobs[c.File]; !ok {
			order = append(order, c.File)
		}
		blobs[c.File]++
		r, err := normalize.Record(c.Raw, normalize.Source{TenantID: "tenant-1", ContentType: "Audit.General", ContentID: c.File, IngestedAt: ingested})
		if err != nil {
			q := normalize.Quarantine(c.Raw, c.Line-1, err)
			insert(&schema.Quarantine, map[string]any{
				"qkey": fmt.Sprintf("%x", sha256.Sum256([]byte(c.String()))), "tenant_id": "tenant-1",
				"content_type": "Audit.General", "content_id": c.File, "ordinal": int64(q.Ordinal),
				"record_id": q.RecordID, "reason": q.Reason, "raw": q.Raw, "quarantined_at": ingested,
			})
			continue
		}
		if seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		records = append(records, r)
		vals := map[string]any{}
		for i, col := range schema.AuditRecord.Columns {
			if r.Values[i] != nil {
				vals[col.Name] = r.Values[i]
			}
		}
		insert(&schema.AuditRecord, vals)
		for _, pr := range r.Props {
			insert(&schema.AuditProperty, map[string]any{
				"record_id": r.ID, "list": pr.List, "ordinal": int64(pr.Ordinal), "name": pr.Name,
				"value": nullable(pr.Value), "old_value": nullable(pr.OldValue),
			})
		}
		if len(records)%10 == 1 {
			id := fmt.Sprintf("%x", sha256.Sum256([]byte("alert "+r.ID)))
			insert(&schema.Alert, map[string]any{
				"alert_id": id, "rule": "upgrade_test", "severity": "low", "tenant_id": "tenant-1",
				"user_id": r.Value("user_id"), "record_id": r.ID, "record_ids": fmt.Sprintf("[%q]", r.ID),
				"client_ip": r.Value("client_ip"), "country": "NL", "creation_time": r.CreationTime,
				"summary": "upgrade test alert on " + r.ID, "evidence": `{"operation":"x"}`,
				"remediation": `["Get-Mailbox"]`, "detected_at": ingested,
			})
			insert(&schema.AlertDelivery, map[string]any{
				"alert_id": id, "webhook": "soc", "status": "sent", "attempts": int64(1),
				"sent_at": ingested, "updated_at": ingested,
			})
		}
	}
	for _, f := range order {
		insert(&schema.ContentBlob, map[string]any{
			"tenant_id": "tenant-1", "content_id": f, "content_type": "Audit.General", "status": schema.BlobLoaded,
			"sha256": fmt.Sprintf("%x", sha256.Sum256([]byte(f))), "bytes": int64(1000), "record_count": int64(blobs[f]),
			"updated_at": ingested,
		})
	}
	// A record the normalizer refuses, quarantined with its reason.
	insert(&schema.Quarantine, map[string]any{
		"qkey": fmt.Sprintf("%x", sha256.Sum256([]byte("damaged"))), "tenant_id": "tenant-1",
		"content_type": "Audit.General", "content_id": order[0], "ordinal": int64(9999),
		"reason": "Id: missing", "raw": `{"Operation":"x"`, "quarantined_at": ingested,
	})
	insert(&schema.IngestLease, map[string]any{"name": "tenant-1/Audit.General", "holder": "h 1 x", "expires_at": ingested})
	// The lookup tables as the released Migrate filled them.
	for _, l := range []struct {
		t     *schema.Table
		names map[int]string
	}{{&schema.RecordTypeTable, schema.RecordTypes}, {&schema.UserTypeTable, schema.UserTypes}} {
		for n, name := range l.names {
			insert(l.t, map[string]any{l.t.Columns[0].Name: int64(n), l.t.Columns[1].Name: name})
		}
	}
	insert(&schema.IngestRun, map[string]any{
		"run_id": "run-1", "command": "import", "host": "h", "started_at": ingested, "finished_at": ingested,
		"outcome": "ok", "records_loaded": int64(len(records)), "message": "released binary",
	})
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if len(records) < 100 {
		t.Fatalf("only %d records normalized from the corpus", len(records))
	}
	return records
}

func nullable(s sql.NullString) any {
	if !s.Valid {
		return nil
	}
	return s.String
}

// tableSnapshot is a table's row count and a hash of every row's version-3 columns.
type tableSnapshot struct {
	rows int
	hash string
}

var snapshots atomic.Int64

// snapshot reads every table of version 3, its version-3 columns, in primary key order.
func snapshot(t *testing.T, ctx context.Context, s sink.Sink) map[string]tableSnapshot {
	t.Helper()
	d := s.Handle().Dialect.Name()
	out := map[string]tableSnapshot{}
	for _, table := range schema.Migrated() {
		if table.Created() > released {
			continue
		}
		tab := ddl.TableAt(table, released)
		cols := make([]string, len(tab.Columns))
		for i, c := range tab.Columns {
			cols[i] = ddl.Quote(d, c.Name)
		}
		key := make([]string, len(tab.PrimaryKey))
		for i, c := range tab.PrimaryKey {
			key[i] = ddl.Quote(d, c)
		}
		// A fresh query text each time: PostgreSQL refuses a cached plan whose result
		// types a migration changed (text to citext).
		gen := snapshots.Add(1)
		q := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s /* %d */", strings.Join(cols, ", "), ddl.Quote(d, tab.Name), strings.Join(key, ", "), gen)
		rows, err := s.Handle().DB.QueryContext(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		h := sha256.New()
		n := 0
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			n++
			for _, v := range vals {
				switch x := v.(type) {
				case []byte:
					v = string(x)
				case time.Time:
					v = x.UTC().Format(time.RFC3339Nano)
				}
				fmt.Fprintf(h, "%T:%v\x00", v, v)
			}
			io.WriteString(h, "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		out[tab.Name] = tableSnapshot{rows: n, hash: fmt.Sprintf("%x", h.Sum(nil))}
	}
	return out
}

func compareSnapshots(before, after map[string]tableSnapshot) string {
	var diffs []string
	for name, b := range before {
		a := after[name]
		switch {
		case a.rows != b.rows:
			diffs = append(diffs, fmt.Sprintf("%s: %d rows, %d before", name, a.rows, b.rows))
		case a.hash != b.hash:
			diffs = append(diffs, fmt.Sprintf("%s: the rows' values changed", name))
		}
		if b.rows == 0 {
			diffs = append(diffs, fmt.Sprintf("%s: empty before the upgrade, so the test proves nothing for it", name))
		}
	}
	return strings.Join(diffs, "; ")
}

func viewCounts(t *testing.T, ctx context.Context, s sink.Sink) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, v := range schema.Views {
		var n int
		if err := s.Handle().DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+v.Name).Scan(&n); err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		out[v.Name] = n
	}
	return out
}
