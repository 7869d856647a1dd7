package migrations_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// TestViewPathsUpgrade: version 8 gives MySQL/MariaDB v_signin and v_sharing their own
// text over derived columns (signin_succeeded, sharing_external) and adds indexes. On a
// version-7 database holding the corpus, every view must answer exactly as before (every
// row, every column) after migrating to 8, after rolling back to 7 and after migrating up
// again; on MySQL the derived columns exist at 8 only, and nothing a loader writes names
// them (the corpus loads again as duplicates).
func TestViewPathsUpgrade(t *testing.T) {
	const before, version = 7, 8
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			s := sinktest.OpenUnmigrated(t, driver)
			p := gooseProvider(t, s)
			if _, err := p.UpTo(ctx, before); err != nil {
				t.Fatalf("migrating to version %d: %v", before, err)
			}
			records := loadReleased(t, ctx, s)
			// The identity records add mailbox forwarding and transport rules (and
			// Set-Mailbox/New-TransportRule records without such a parameter), which the
			// released corpus has none of: v_mailbox_forwarding has its own MySQL and
			// PostgreSQL texts at 8.
			if _, err := s.Load(ctx, sink.RecordsOnly(identityRecords()...)); err != nil {
				t.Fatalf("loading the identity records at version %d: %v", before, err)
			}
			want := viewRows(t, ctx, s)
			for _, v := range []string{"v_signin", "v_sharing", "v_mailbox_forwarding"} {
				if strings.HasPrefix(want[v], "0\n") {
					t.Fatalf("%s has no rows at version %d: the test would prove nothing", v, before)
				}
			}
			check := func(when string, derived bool) {
				t.Helper()
				got := viewRows(t, ctx, s)
				for _, v := range schema.Views {
					if got[v.Name] != want[v.Name] {
						t.Errorf("%s: %s answers differently than at version %d:\n%s", when, v.Name, before, firstDiff(want[v.Name], got[v.Name]))
					}
				}
				if driver != "mysql" {
					return
				}
				for _, c := range []string{"signin_succeeded", "sharing_external"} {
					var n int
					if err := s.Handle().DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'audit_record' AND COLUMN_NAME = ?", c).Scan(&n); err != nil {
						t.Fatal(err)
					}
					if (n == 1) != derived {
						t.Errorf("%s: audit_record.%s: %d columns, want it present %v", when, c, n, derived)
					}
				}
			}
			if _, err := p.UpTo(ctx, version); err != nil {
				t.Fatalf("migrating %d → %d: %v", before, version, err)
			}
			check(fmt.Sprintf("after migrating %d → %d", before, version), true)
			if _, err := p.DownTo(ctx, before); err != nil {
				t.Fatalf("migrating down to %d: %v", before, err)
			}
			check(fmt.Sprintf("after migrating down %d → %d", version, before), false)
			if err := sink.Migrate(ctx, s); err != nil {
				t.Fatalf("migrating up again: %v", err)
			}
			check("after migrating up again", schema.Newest() >= version)
			res, err := s.Load(ctx, sink.RecordsOnly(records...))
			if err != nil {
				t.Fatalf("loading the corpus into the upgraded database: %v", err)
			}
			if res.Inserted != 0 || res.Duplicates != len(records) {
				t.Errorf("reloading the corpus: %+v, want every one of %d a duplicate", res, len(records))
			}
		})
	}
}

// viewRows returns every row of every view, one line each in record_id order (then by
// the whole line, for views with several rows a record), as text.
func viewRows(t *testing.T, ctx context.Context, s sink.Sink) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range schema.Views {
		cols := make([]string, len(v.Columns))
		for i, c := range v.Columns {
			cols[i] = s.Handle().Dialect.Quote(c)
		}
		rows, err := s.Handle().DB.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+v.Name+" ORDER BY record_id")
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		var lines []string
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			fields := make([]string, len(vals))
			for i, x := range vals {
				fields[i] = "NULL"
				if x.Valid {
					fields[i] = fmt.Sprintf("%q", x.String)
				}
			}
			lines = append(lines, strings.Join(fields, "|"))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		rows.Close()
		out[v.Name] = fmt.Sprint(len(lines)) + "\n" + strings.Join(lines, "\n")
	}
	return out
}

// firstDiff shows the first line where two viewRows texts differ.
func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("line %d\n  was: %s\n  now: %s", i, x, y)
		}
	}
	return "(same)"
}
