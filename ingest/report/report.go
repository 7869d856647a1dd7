// Package report renders an investigation report of loaded audit records as one
// self-contained HTML page: inline CSS and an inline SVG chart, no script, no font or
// image to fetch, so it opens anywhere, offline, and can be mailed or attached to a
// ticket. Every record value is escaped (html/template): audit records carry
// attacker-chosen text (rule names, subjects, user agents).
//
// Sections: totals; activity over time per workload (stacked bars); top operations,
// users and addresses; sign-in failures; the alerts (element id "alerts") with
// their evidence and suggested remediation; and the remediation actions recorded for
// those alerts (element id "remediations", from remediation_action).
package report

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"embed"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/remediate"
	"github.com/o365ingest/o365ingest/ingest/sink"
)

//go:embed report.html.tmpl
var files embed.FS

var page = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"num":   func(n int) string { return groupDigits(n) },
	"short": func(id string) string { return id[:min(12, len(id))] },
	"keys": func(m map[string]string) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	},
}).ParseFS(files, "report.html.tmpl"))

// Count is one row of a top-N table.
type Count struct {
	Key   string
	Count int
}

// Failure is one group of failed sign-ins.
type Failure struct {
	User, Address, Error, Reason string
	Count                        int
	Last                         time.Time
}

// data is what the template renders.
type data struct {
	From, To, Generated                time.Time
	Records, Users, Addresses, Failed  int
	Chart                              chart
	Operations, TopUsers, TopAddresses []Count
	Failures                           []Failure
	Alerts                             []detect.Alert
	BySeverity                         []Count
	// Remediations are the remediation actions recorded for the alerts shown.
	Remediations []remediate.Row
}

// Render builds the report of the records with from <= creation_time < to in db (a
// migrated database of dialect postgres, mysql, sqlserver or sqlite) and of alerts.
func Render(ctx context.Context, h sink.Handle, from, to time.Time, alerts []detect.Alert) ([]byte, error) {
	from, to = from.UTC(), to.UTC()
	if !to.After(from) {
		return nil, fmt.Errorf("report: empty time range %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	d := data{From: from, To: to, Generated: time.Now().UTC(), Alerts: slices.Clone(alerts)}
	slices.SortStableFunc(d.Alerts, func(a, b detect.Alert) int {
		return cmp.Or(-cmp.Compare(rank(a.Severity), rank(b.Severity)), a.CreationTime.Compare(b.CreationTime))
	})
	sev := map[string]int{}
	for _, a := range alerts {
		sev[a.Severity]++
	}
	for _, s := range []string{detect.SeverityHigh, detect.SeverityMedium, detect.SeverityLow} {
		if sev[s] > 0 {
			d.BySeverity = append(d.BySeverity, Count{s, sev[s]})
		}
	}
	q := func(query string) string { return h.Dialect.Rebind(query) }
	tf, tt := h.Dialect.Time(from), h.Dialect.Time(to)
	var err error
	if d.Operations, d.Records, err = counts(ctx, h, q(`SELECT operation, COUNT(*) FROM audit_record WHERE creation_time >= ? AND creation_time < ? GROUP BY operation`), tf, tt); err != nil {
		return nil, fmt.Errorf("report: operations: %w", err)
	}
	var users, addrs []Count
	if users, _, err = counts(ctx, h, q(`SELECT user_id, COUNT(*) FROM audit_record WHERE creation_time >= ? AND creation_time < ? GROUP BY user_id`), tf, tt); err != nil {
		return nil, fmt.Errorf("report: users: %w", err)
	}
	if addrs, _, err = counts(ctx, h, q(`SELECT client_ip, COUNT(*) FROM audit_record WHERE creation_time >= ? AND creation_time < ? AND client_ip IS NOT NULL GROUP BY client_ip`), tf, tt); err != nil {
		return nil, fmt.Errorf("report: addresses: %w", err)
	}
	d.Users, d.Addresses = len(users), len(addrs)
	d.Operations, d.TopUsers, d.TopAddresses = top(d.Operations, 15), top(users, 15), top(addrs, 15)
	if d.Failures, d.Failed, err = failures(ctx, h, tf, tt); err != nil {
		return nil, fmt.Errorf("report: sign-in failures: %w", err)
	}
	if d.Chart, err = activity(ctx, h, from, to); err != nil {
		return nil, fmt.Errorf("report: activity: %w", err)
	}
	if len(alerts) > 0 {
		rows, err := remediate.List(ctx, h, remediate.Filter{})
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		shown := map[string]bool{}
		for _, a := range alerts {
			shown[a.ID] = true
		}
		for _, r := range rows {
			if shown[r.AlertID] {
				d.Remediations = append(d.Remediations, r)
			}
		}
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("report: rendering: %w", err)
	}
	return buf.Bytes(), nil
}

func rank(s string) int {
	switch s {
	case detect.SeverityHigh:
		return 3
	case detect.SeverityMedium:
		return 2
	}
	return 1
}

// counts reads (key, count) rows; a NULL key reads as "(none)". It returns the rows
// sorted by count, largest first, and their total.
func counts(ctx context.Context, h sink.Handle, query string, args ...any) ([]Count, int, error) {
	rows, err := h.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Count
	total := 0
	for rows.Next() {
		var k sql.NullString
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, 0, err
		}
		key := k.String
		if !k.Valid || key == "" {
			key = "(none)"
		}
		out = append(out, Count{key, n})
		total += n
	}
	slices.SortStableFunc(out, func(a, b Count) int { return cmp.Or(-cmp.Compare(a.Count, b.Count), cmp.Compare(a.Key, b.Key)) })
	return out, total, rows.Err()
}

func top(cs []Count, n int) []Count {
	if len(cs) > n {
		return cs[:n]
	}
	return cs
}

// failures groups failed sign-ins by user, address and error, most first.
func failures(ctx context.Context, h sink.Handle, tf, tt any) ([]Failure, int, error) {
	rows, err := h.DB.QueryContext(ctx, h.Dialect.Rebind(`SELECT user_id, client_ip, error_number, logon_error, COUNT(*), MAX(creation_time)
		FROM audit_record WHERE operation = ? AND creation_time >= ? AND creation_time < ?
		GROUP BY user_id, client_ip, error_number, logon_error`), "UserLoginFailed", tf, tt)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Failure
	total := 0
	for rows.Next() {
		var u, ip, en, le sql.NullString
		var f Failure
		var last any
		if err := rows.Scan(&u, &ip, &en, &le, &f.Count, &last); err != nil {
			return nil, 0, err
		}
		f.User, f.Address, f.Error, f.Reason = u.String, ip.String, en.String, le.String
		f.Last = parseTime(last)
		out = append(out, f)
		total += f.Count
	}
	slices.SortStableFunc(out, func(a, b Failure) int {
		return cmp.Or(-cmp.Compare(a.Count, b.Count), b.Last.Compare(a.Last), cmp.Compare(a.User, b.User))
	})
	return top2(out, 20), total, rows.Err()
}

func top2(fs []Failure, n int) []Failure {
	if len(fs) > n {
		return fs[:n]
	}
	return fs
}

// parseTime reads a Time column's value as any driver returns it.
func parseTime(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case []byte:
		return parseTime(string(x))
	case string:
		for _, l := range []string{sink.SQLiteTimeFormat, time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00"} {
			if t, err := time.Parse(l, x); err == nil {
				return t.UTC()
			}
		}
	}
	return time.Time{}
}

func groupDigits(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
