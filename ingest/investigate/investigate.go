// Package investigate answers the questions a responder asks first (what the demo
// shows): plain SQL over the typed columns and audit_property, no JSON functions, as an
// analyst would type it in Workbench or SSMS. Record text never becomes SQL: the
// tenant's domain, learned from the records, is a parameter.
package investigate

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/o365ingest/o365ingest/ingest/escape"
	"github.com/o365ingest/o365ingest/ingest/sink"
)

// question is one titled query; args are its parameters (in ? form, rebound per dialect).
type question struct {
	title, query string
	args         []any
}

// First prints the first questions' answers as aligned tables, each under a "== title"
// line: records per workload, inbox rules forwarding or redirecting outside the tenant's
// domain, inbox rules deleting mail, mailbox forwarding outside, and the addresses with
// the most failed sign-ins.
func First(ctx context.Context, w io.Writer, h sink.Handle) error {
	domain, err := TenantDomain(ctx, h.DB)
	if err != nil {
		return err
	}
	outside := "%@" + domain + "%"
	for _, q := range []question{
		{"Records per workload", `SELECT workload, COUNT(*) AS records FROM audit_record GROUP BY workload ORDER BY records DESC`, nil},
		{"Inbox rules that forward or redirect mail outside " + domain,
			`SELECT r.creation_time, r.user_id, r.client_ip, r.operation, p.name, p.value
			   FROM audit_record r JOIN audit_property p ON p.record_id = r.id AND p.list = 'Parameters'
			  WHERE r.operation IN ('New-InboxRule', 'Set-InboxRule')
			    AND p.name IN ('ForwardTo', 'RedirectTo', 'ForwardAsAttachmentTo')
			    AND p.value NOT LIKE ?
			  ORDER BY r.creation_time`, []any{outside}},
		{"Inbox rules that delete mail",
			`SELECT r.creation_time, r.user_id, r.client_ip, r.operation, p.name, p.value
			   FROM audit_record r JOIN audit_property p ON p.record_id = r.id AND p.list = 'Parameters'
			  WHERE r.operation IN ('New-InboxRule', 'Set-InboxRule') AND p.name IN ('DeleteMessage', 'SoftDeleteMessage') AND p.value = 'True'
			  ORDER BY r.creation_time`, nil},
		{"Mailbox forwarding to an outside address",
			`SELECT r.creation_time, r.user_id, r.object_id, p.name, p.value
			   FROM audit_record r JOIN audit_property p ON p.record_id = r.id AND p.list = 'Parameters'
			  WHERE r.operation = 'Set-Mailbox' AND p.name IN ('ForwardingSmtpAddress', 'ForwardingAddress')
			    AND p.value <> '' AND p.value NOT LIKE ?
			  ORDER BY r.creation_time`, []any{outside}},
		{"Addresses with the most failed sign-ins", h.Dialect.Limit(
			`SELECT client_ip, COUNT(*) AS failures, COUNT(DISTINCT user_id) AS users
			   FROM audit_record WHERE operation = 'UserLoginFailed'
			  GROUP BY client_ip ORDER BY failures DESC`, 5), nil},
	} {
		fmt.Fprintf(w, "\n== %s\n", escape.Terminal(q.title))
		if err := printQuery(ctx, w, h.DB, h.Dialect.Rebind(q.query), q.args); err != nil {
			return fmt.Errorf("%s: %w", q.title, err)
		}
	}
	return nil
}

// TenantDomain learns the tenant's main mail domain: the most common domain of user ids
// (lower-cased).
func TenantDomain(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, `SELECT user_id FROM audit_record WHERE user_id LIKE '%@%'`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	count := map[string]int{}
	best := ""
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return "", err
		}
		d := strings.ToLower(u[strings.LastIndex(u, "@")+1:])
		count[d]++
		if count[d] > count[best] {
			best = d
		}
	}
	return best, rows.Err()
}

// printQuery prints a query's result as an aligned table, every cell escaped for the
// terminal.
func printQuery(ctx context.Context, w io.Writer, db *sql.DB, q string, args []any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				cells[i] = "NULL"
			case []byte:
				cells[i] = string(v)
			case time.Time:
				cells[i] = v.UTC().Format(time.RFC3339)
			default:
				cells[i] = fmt.Sprint(v)
			}
			cells[i] = escape.TerminalCell(cells[i])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
		n++
	}
	if n == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return rows.Err()
}
