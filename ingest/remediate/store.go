package remediate

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/o365ingest/o365ingest/ingest/graph"
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

func columns(d *sink.Dialect) string { return d.QuoteList(schema.RemediationAction.ColumnNames()) }

// Store records an outcome for an alert as a new remediation_action row and returns it.
func Store(ctx context.Context, h sink.Handle, alertID string, o Outcome, osUser string, at time.Time) (Row, error) {
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
	d := h.Dialect
	q := "INSERT INTO " + d.Quote(schema.RemediationAction.Name) + " (" + columns(d) + ") VALUES (" + sink.Placeholders(len(schema.RemediationAction.Columns)) + ")"
	if _, err := h.DB.ExecContext(ctx, d.Rebind(q), row.ID, row.AlertID, row.Action, row.Target, string(req),
		row.Result, status, msg, row.OSUser, d.Time(row.RunAt)); err != nil {
		return row, fmt.Errorf("remediate: recording %s of alert %s: %w", o.Action, short(alertID), err)
	}
	return row, nil
}

// Done returns the row of the last successful run (done or not_found) of action for
// alertID, and whether there is one.
func Done(ctx context.Context, h sink.Handle, alertID, action string) (Row, bool, error) {
	rows, err := List(ctx, h, Filter{AlertID: alertID})
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
	// AlertID is an alert's id, or a prefix of it in hex as the tables show it.
	AlertID  string
	From, To time.Time // run_at in [From, To)
}

// List returns the remediation_action rows that match f, oldest first.
func List(ctx context.Context, h sink.Handle, f Filter) ([]Row, error) {
	d := h.Dialect
	q := "SELECT " + columns(d) + " FROM " + d.Quote(schema.RemediationAction.Name) + " WHERE 1 = 1"
	var args []any
	switch id := strings.ToLower(f.AlertID); {
	case id == "":
	case len(id) < 64 && strings.Trim(id, "0123456789abcdef") == "":
		// A shortened id as the tables show it (hex only, so no LIKE wildcard).
		q += " AND " + d.Quote("alert_id") + " LIKE ?"
		args = append(args, id+"%")
	default:
		q += " AND " + d.Quote("alert_id") + " = ?"
		args = append(args, f.AlertID)
	}
	if !f.From.IsZero() {
		q += " AND " + d.Quote("run_at") + " >= ?"
		args = append(args, d.Time(f.From))
	}
	if !f.To.IsZero() {
		q += " AND " + d.Quote("run_at") + " < ?"
		args = append(args, d.Time(f.To))
	}
	q += " ORDER BY " + d.Quote("run_at") + ", " + d.Quote("remediation_id")
	rs, err := h.DB.QueryContext(ctx, d.Rebind(q), args...)
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
		if r.RunAt, err = sink.ScanTime(at); err != nil {
			return nil, fmt.Errorf("remediate: remediation %s: run_at: %w", r.ID, err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("remediate: listing remediation actions: %w", err)
	}
	return out, nil
}

// Applied is what Apply did with one step.
type Applied struct {
	// Skipped is set when the action had already succeeded for the alert (Previous is
	// that run) and nothing was sent.
	Skipped  bool
	Previous Row
	// Outcome and Row are the action's result and its remediation_action row (when run).
	Outcome Outcome
	Row     Row
}

// Apply runs one planned step for an alert unless it already succeeded (again forces
// it), and records the outcome as a remediation_action row by osUser. The row is
// written even when ctx was cancelled during the action (with a fresh 30 s deadline),
// so what was sent is never left unrecorded. An error means the database failed; the
// action's own failure is in the Outcome.
func Apply(ctx context.Context, h sink.Handle, g *graph.Client, alertID string, s Step, again bool, osUser string) (Applied, error) {
	if !again {
		prev, done, err := Done(ctx, h, alertID, s.Action)
		if err != nil {
			return Applied{}, err
		}
		if done {
			return Applied{Skipped: true, Previous: prev}, nil
		}
	}
	o := Execute(ctx, g, s)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	row, err := Store(rctx, h, alertID, o, osUser, time.Now())
	if err != nil {
		return Applied{Outcome: o}, fmt.Errorf("remediate: %s ran (%s) but could not be recorded: %w", s.Action, o.Result, err)
	}
	return Applied{Outcome: o, Row: row}, nil
}
