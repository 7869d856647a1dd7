package migrations_test

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/migrations/internal/ddl"
	"github.com/o365ingest/o365ingest/schema"
)

// The address every identity column holds, as stored (two spellings) and as looked up.
const (
	storedMixed = "Megan.Bowen@Contoso.com"
	storedLower = "megan.bowen@contoso.com"
)

var lookups = []string{"megan.bowen@contoso.com", "Megan.Bowen@Contoso.com", "MEGAN.BOWEN@CONTOSO.COM", "mEgAn.BoWeN@cOnToSo.CoM"}

// indexedIdentities are the identity columns the documented questions look up, each
// with the indexes that may serve an equality lookup (the first column of each).
var indexedIdentities = map[string]map[string][]string{
	"audit_record": {
		"user_id":           {"ix_audit_record_user_time"},
		"mailbox_owner_upn": {"ix_audit_record_mailbox_owner"},
		"actor_upn":         {"ix_audit_record_actor_time"},
		"target_upn":        {"ix_audit_record_target_time"},
		"object_id":         {"ix_audit_record_object"},
	},
	"alert": {"user_id": {"ix_alert_user"}},
}

// viewAddresses are the address columns of each view, with the record fields that fill
// them in identityRecords, and whether the view serves user_id from an index.
var viewAddresses = map[string][]string{
	"v_signin":             {"user_id"},
	"v_mailbox_rule":       {"user_id", "mailbox", "forward_to", "redirect_to", "forward_as_attachment_to", "from_address"},
	"v_mailbox_forwarding": {"user_id", "target", "forwarding_smtp_address", "redirect_message_to"},
	"v_file_activity":      {"user_id"},
	"v_sharing":            {"user_id", "shared_with"},
	"v_admin_change":       {"user_id", "target", "grantee"},
}

// identityRecords are two records per view (one per spelling of the address) with every
// identity column and view address set, and noise around them so that a planner has a
// reason to use an index.
func identityRecords() []schema.Record {
	var out []schema.Record
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	kinds := []struct {
		name  string
		set   map[string]any
		props []schema.Property
	}{
		{"signin", map[string]any{"record_type": int64(15), "operation": "UserLoggedIn", "workload": "AzureActiveDirectory"}, nil},
		{"rule", map[string]any{"record_type": int64(1), "operation": "New-InboxRule", "workload": "Exchange"}, []schema.Property{
			prop("Parameters", 0, "ForwardTo", "%s"), prop("Parameters", 1, "RedirectTo", "%s"),
			prop("Parameters", 2, "ForwardAsAttachmentTo", "%s"), prop("Parameters", 3, "From", "%s")}},
		{"forwarding", map[string]any{"record_type": int64(1), "operation": "Set-Mailbox", "workload": "Exchange"}, []schema.Property{
			prop("Parameters", 0, "Identity", "%s"), prop("Parameters", 1, "ForwardingSmtpAddress", "%s"),
			prop("Parameters", 2, "DeliverToMailboxAndForward", "True")}},
		{"transport", map[string]any{"record_type": int64(1), "operation": "New-TransportRule", "workload": "Exchange"}, []schema.Property{
			prop("Parameters", 0, "Name", "%s"), prop("Parameters", 1, "RedirectMessageTo", "%s")}},
		{"file", map[string]any{"record_type": int64(6), "operation": "FileDownloaded", "workload": "SharePoint"}, nil},
		{"sharing", map[string]any{"record_type": int64(14), "operation": "SharingSet", "workload": "SharePoint"}, nil},
		{"admin", map[string]any{"record_type": int64(8), "operation": "Add member to role.", "workload": "AzureActiveDirectory"}, nil},
	}
	for _, k := range kinds {
		for i, addr := range []string{storedMixed, storedLower} {
			set := map[string]any{
				"creation_time": at.Add(time.Duration(i) * time.Minute), "user_id": addr, "mailbox_owner_upn": addr,
				"actor_upn": addr, "target_upn": addr, "object_id": addr, "dest_mailbox_owner_upn": addr,
				"send_as_user_smtp": addr, "send_on_behalf_of_user_smtp": addr, "target_user_or_group_name": addr,
				"user_shared_with": addr,
			}
			for c, v := range k.set {
				set[c] = v
			}
			id := fmt.Sprintf("identity-%s-%d", k.name, i)
			r := sinktest.Record(id, set)
			for _, p := range k.props {
				p.Value.String = strings.ReplaceAll(p.Value.String, "%s", addr)
				r.Props = append(r.Props, p)
			}
			out = append(out, r)
		}
	}
	// Noise: other users doing the same operations, so that the operation index is the
	// worse choice for one user's rows.
	for i := range 3500 {
		addr := fmt.Sprintf("user%04d@contoso.com", i)
		set := map[string]any{
			"creation_time": at.Add(time.Duration(i) * time.Second),
			"user_id":       addr, "mailbox_owner_upn": addr, "actor_upn": addr, "target_upn": addr, "object_id": addr,
		}
		k := kinds[i%len(kinds)]
		for c, v := range k.set {
			set[c] = v
		}
		out = append(out, sinktest.Record(fmt.Sprintf("noise-%04d", i), set))
	}
	return out
}

func prop(list string, ord int, name, value string) schema.Property {
	return schema.Property{List: list, Ordinal: ord, Name: name, Value: sql.NullString{String: value, Valid: true}}
}

// TestIdentityLookupsIgnoreCase is issue 13's acceptance test: on every identity column
// and every view address, a lookup in any case returns the rows of the lower-case one
// (both spellings stored), and on the indexed identity columns and the views' user_id
// the database's EXPLAIN shows the column's index serving it.
func TestIdentityLookupsIgnoreCase(t *testing.T) {
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			s := sinktest.Open(t, driver)
			d := s.Handle().Dialect.Name()
			if _, err := s.Load(ctx, sink.RecordsOnly(identityRecords()...)); err != nil {
				t.Fatal(err)
			}
			tx, err := s.Handle().DB.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2000 {
				id := fmt.Sprintf("alert-%04d", i)
				user := fmt.Sprintf("user%04d@contoso.com", i)
				if i < 2 {
					user = []string{storedMixed, storedLower}[i]
				}
				now := s.Handle().Dialect.Time(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
				if _, err := tx.ExecContext(ctx, s.Handle().Dialect.Rebind(`INSERT INTO alert (alert_id, `+ddl.Quote(d, "rule")+`, severity, user_id, creation_time, summary, detected_at) VALUES (?, 'r', 'low', ?, ?, 's', ?)`), id, user, now, now); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			analyze(t, ctx, s.Handle().DB, d)

			count := func(from, col, value string) int {
				t.Helper()
				var n int
				q := fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s = '%s'", from, col, value)
				if err := s.Handle().DB.QueryRowContext(ctx, q).Scan(&n); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return n
			}
			for _, table := range schema.Migrated() {
				for _, c := range table.Columns {
					if c.FoldCase == 0 {
						continue
					}
					want := count(table.Name, c.Name, storedLower)
					if want < 2 {
						t.Errorf("%s.%s = %q: %d rows, want both spellings (2 or more)", table.Name, c.Name, storedLower, want)
					}
					for _, v := range lookups {
						if got := count(table.Name, c.Name, v); got != want {
							t.Errorf("%s.%s = %q: %d rows, lower case gives %d", table.Name, c.Name, v, got, want)
						}
					}
				}
			}
			// SQL Server's plans are XML (SET SHOWPLAN_XML) and not read here: there only
			// the lookups are checked.
			plans := d != "sqlserver"
			for table, cols := range indexedIdentities {
				if !plans {
					break
				}
				for col, indexes := range cols {
					q := fmt.Sprintf("SELECT * FROM %s WHERE %s = '%s'", table, col, lookups[3])
					if plan, ok := usesIndex(t, ctx, s.Handle().DB, d, q, col, indexes); !ok {
						t.Errorf("%s: no index in the plan:\n%s", q, plan)
					}
				}
			}
			for view, cols := range viewAddresses {
				for _, col := range cols {
					want := count(view, col, storedLower)
					if want < 2 {
						t.Errorf("%s.%s = %q: %d rows, want both spellings", view, col, storedLower, want)
					}
					for _, v := range lookups {
						if got := count(view, col, v); got != want {
							t.Errorf("%s.%s = %q: %d rows, lower case gives %d", view, col, v, got, want)
						}
					}
				}
				q := fmt.Sprintf("SELECT * FROM %s WHERE user_id = '%s'", view, lookups[2])
				if !plans {
					continue
				}
				if plan, ok := usesIndex(t, ctx, s.Handle().DB, d, q, "user_id", []string{"ix_audit_record_user_time"}); !ok {
					t.Errorf("%s: no index on user_id in the plan:\n%s", q, plan)
				}
			}
		})
	}
}

// analyze refreshes the planner's statistics after a load.
func analyze(t *testing.T, ctx context.Context, db *sql.DB, d string) {
	t.Helper()
	var stmts []string
	switch d {
	case "postgres":
		stmts = []string{"ANALYZE audit_record", "ANALYZE audit_property", "ANALYZE alert"}
	case "mysql":
		stmts = []string{"ANALYZE TABLE audit_record", "ANALYZE TABLE audit_property", "ANALYZE TABLE alert"}
	case "sqlite":
		stmts = []string{"ANALYZE"}
	}
	for _, q := range stmts {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		rows.Close()
	}
}

// usesIndex runs the dialect's EXPLAIN of q and reports whether it shows one of indexes
// (PostgreSQL: the partitions' copies of them, named after the column) serving the scan.
func usesIndex(t *testing.T, ctx context.Context, db *sql.DB, d, q, col string, indexes []string) (string, bool) {
	t.Helper()
	var explain string
	switch d {
	case "sqlite":
		explain = "EXPLAIN QUERY PLAN " + q
	default:
		explain = "EXPLAIN " + q
	}
	rows, err := db.QueryContext(ctx, explain)
	if err != nil {
		t.Fatalf("%s: %v", explain, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var fields []string
		for i, v := range vals {
			fields = append(fields, cols[i]+"="+v.String)
		}
		lines = append(lines, strings.Join(fields, " "))
	}
	plan := strings.Join(lines, "\n")
	for _, ix := range indexes {
		switch d {
		case "sqlite":
			if regexp.MustCompile(`USING (COVERING )?INDEX ` + ix + `\b`).MatchString(plan) {
				return plan, true
			}
		case "mysql":
			if regexp.MustCompile(`\bkey=` + ix + `\b`).MatchString(plan) {
				return plan, true
			}
		case "postgres":
			// A partition's index is named after the partition and columns
			// (audit_record_default_user_id_creation_time_idx).
			re := regexp.MustCompile(`Index (Only )?Scan (using|on) (` + ix + `|\S*` + col + `\S*_idx)\b`)
			if re.MatchString(plan) {
				return plan, true
			}
		}
	}
	return plan, false
}
