package remediate

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/schema"
)

// Row is one remediation_action row.
type Row struct {
	ID         string    `json:"remediation_id"`
	AlertID    string    `json:"alert_id"`
	Action     string    `json:"action"`
	Target     string    `json:"target"`
	Request    []Request `json:"request"`
	Result     string    `json:"result"`
	HTTPStatus int       `json:"http_status,omitempty"`
	Error      string    `json:"error,omitempty"`
	OSUser     string    `json:"os_user"`
	RunAt      time.Time `json:"run_at"`
}

func quote(dialect, ident string) string {
	switch dialect {
	case sink.DialectMySQL:
		return "`" + ident + "`"
	case sink.DialectSQLServer:
		return "[" + ident + "]"
	}
	return `"` + ident + `"`
}

func columns(dialect string) string {
	names := schema.RemediationAction.ColumnNames()
	for i, n := range names {
		names[i] = quote(dialect, n)
	}
	return strings.Join(names, ", ")
}

// Store records an outcome for an alert as a new remediation_action row and returns it.
func Store(ctx context.Context, db *sql.DB, dialect, alertID string, o Outcome, osUser string, at time.Time) (Row, error) {
	row := Row{ID: uuid.NewString(), AlertID: alertID, Action: o.Action, Target: o.Target, Request: o.Sent,
		Result: o.Result, HTTPStatus: o.HTTPStatus, OSUser: osUser, RunAt: at.UTC().Truncate(time.Microsecond)}
	if row.Request == nil {
		row.Request = []Request{}
	}
	if o.Err != nil {
		row.Error = o.Err.Error()
	}
	if len(row.Target) > 512 {
		row.Target = row.Target[:509] + "..."
	}
	req, err := json.Marshal(row.Request)
	if err != nil {
		return row, fmt.Errorf("remediate: recording %s: %w", o.Action, err)
	}
	var status, msg any
	if row.HTTPStatus != 0 {
		status = int64(row.HTTPStatus)
	}
	if row.Error != "" {
		msg = row.Error
	}
	q := "INSERT INTO " + quote(dialect, schema.RemediationAction.Name) + " (" + columns(dialect) + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	if _, err := db.ExecContext(ctx, sink.Rebind(dialect, q), row.ID, row.AlertID, row.Action, row.Target, string(req),
		row.Result, status, msg, row.OSUser, sink.TimeValue(dialect, row.RunAt)); err != nil {
		return row, fmt.Errorf("remediate: recording %s of alert %s: %w", o.Action, short(alertID), err)
	}
	return row, nil
}

// Done returns the row of the last successful run (done or not_found) of action for
// alertID, and whether there is one.
func Done(ctx context.Context, db *sql.DB, dialect, alertID, action string) (Row, bool, error) {
	rows, err := List(ctx, db, dialect, Filter{AlertID: alertID})
	if err != nil {
		return Row{}, false, err
	}
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		if r.Action == action && (r.Result == ResultDone || r.Result == ResultNotFound) {
			return r, true, nil
		}
	}
	return Row{}, false, nil
}

// Filter selects remediation_action rows; zero fields select all.
type Filter struct {
	AlertID  string
	From, To time.Time // run_at in [From, To)
}

// List returns the remediation_action rows that match f, oldest first.
func List(ctx context.Context, db *sql.DB, dialect string, f Filter) ([]Row, error) {
	q := "SELECT " + columns(dialect) + " FROM " + quote(dialect, schema.RemediationAction.Name) + " WHERE 1 = 1"
	var args []any
	if f.AlertID != "" {
		q += " AND " + quote(dialect, "alert_id") + " = ?"
		args = append(args, f.AlertID)
	}
	if !f.From.IsZero() {
		q += " AND " + quote(dialect, "run_at") + " >= ?"
		args = append(args, sink.TimeValue(dialect, f.From))
	}
	if !f.To.IsZero() {
		q += " AND " + quote(dialect, "run_at") + " < ?"
		args = append(args, sink.TimeValue(dialect, f.To))
	}
	q += " ORDER BY " + quote(dialect, "run_at") + ", " + quote(dialect, "remediation_id")
	rs, err := db.QueryContext(ctx, sink.Rebind(dialect, q), args...)
	if err != nil {
		return nil, fmt.Errorf("remediate: listing remediation actions: %w", err)
	}
	defer rs.Close()
	var out []Row
	for rs.Next() {
		var r Row
		var req, msg sql.NullString
		var status sql.NullInt64
		var at any
		if err := rs.Scan(&r.ID, &r.AlertID, &r.Action, &r.Target, &req, &r.Result, &status, &msg, &r.OSUser, &at); err != nil {
			return nil, fmt.Errorf("remediate: listing remediation actions: %w", err)
		}
		r.HTTPStatus, r.Error = int(status.Int64), msg.String
		if req.Valid {
			if err := json.Unmarshal([]byte(req.String), &r.Request); err != nil {
				return nil, fmt.Errorf("remediate: remediation %s: request: %w", r.ID, err)
			}
		}
		if r.RunAt, err = scanTime(at); err != nil {
			return nil, fmt.Errorf("remediate: remediation %s: run_at: %w", r.ID, err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("remediate: listing remediation actions: %w", err)
	}
	return out, nil
}

func scanTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case []byte:
		return parseTime(string(x))
	case string:
		return parseTime(x)
	}
	return time.Time{}, fmt.Errorf("unexpected time value of type %T", v)
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{sink.SQLiteTimeFormat, "2006-01-02 15:04:05.999999999Z07:00", time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", s)
}
