package detect

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/schema"
)

// jsonText renders v as JSON text for a JSON column.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// Store inserts the alerts that are not stored yet (by ID), with detected_at now, and
// returns those it inserted, with DetectedAt set. Storing the same alerts again inserts
// nothing and returns none.
func Store(ctx context.Context, h sink.Handle, alerts []Alert) ([]Alert, error) {
	if len(alerts) == 0 {
		return nil, nil
	}
	cols := schema.Alert.ColumnNames()
	q, order := h.Dialect.InsertIfAbsent(schema.Alert.Name, cols, 1, nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	tx, err := h.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("detect: storing alerts: %w", err)
	}
	defer tx.Rollback()
	var stored []Alert
	for _, a := range alerts {
		if a.ID == "" {
			a.ID = AlertID(a.Rule, a.RecordIDs...)
		}
		ids := a.RecordIDs
		if ids == nil {
			ids = []string{a.RecordID}
		}
		ev := a.Evidence
		if ev == nil {
			ev = map[string]string{}
		}
		rem := a.Remediation
		if rem == nil {
			rem = []string{}
		}
		args := []any{a.ID, a.Rule, a.Severity, nullIfEmpty(a.TenantID), nullIfEmpty(a.UserID), nullIfEmpty(a.RecordID),
			jsonText(ids), nullIfEmpty(a.ClientIP), nullIfEmpty(a.Country), h.Dialect.Time(a.CreationTime),
			a.Summary, jsonText(ev), jsonText(rem), h.Dialect.Time(now)}
		res, err := tx.ExecContext(ctx, q, order(args)...)
		if err != nil {
			return nil, fmt.Errorf("detect: storing alert %s (%s): %w", a.ID[:12], a.Rule, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("detect: storing alerts: %w", err)
		} else if n == 1 {
			a.DetectedAt = now
			stored = append(stored, a)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("detect: storing alerts: %w", err)
	}
	return stored, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// alertSelect reads alert rows in Alert field order.
const alertSelect = `SELECT a.alert_id, a.rule, a.severity, a.tenant_id, a.user_id, a.record_id, a.record_ids,
	a.client_ip, a.country, a.creation_time, a.summary, a.evidence, a.remediation, a.detected_at FROM alert a`

func scanAlerts(rows *sql.Rows) ([]Alert, error) {
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		var a Alert
		var tenant, user, rec, ids, ip, country, ev, rem sql.NullString
		var ct, det any
		if err := rows.Scan(&a.ID, &a.Rule, &a.Severity, &tenant, &user, &rec, &ids, &ip, &country, &ct, &a.Summary, &ev, &rem, &det); err != nil {
			return nil, err
		}
		a.TenantID, a.UserID, a.RecordID, a.ClientIP, a.Country = tenant.String, user.String, rec.String, ip.String, country.String
		var err error
		if a.CreationTime, err = scanTime(ct); err != nil {
			return nil, fmt.Errorf("alert %s: creation_time: %w", a.ID, err)
		}
		if a.DetectedAt, err = scanTime(det); err != nil {
			return nil, fmt.Errorf("alert %s: detected_at: %w", a.ID, err)
		}
		for _, j := range []struct {
			text sql.NullString
			dst  any
		}{{ids, &a.RecordIDs}, {ev, &a.Evidence}, {rem, &a.Remediation}} {
			if j.text.Valid {
				if err := json.Unmarshal([]byte(j.text.String), j.dst); err != nil {
					return nil, fmt.Errorf("alert %s: %w", a.ID, err)
				}
			}
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// List returns the stored alerts whose record's time lies in [from, to), oldest first.
func List(ctx context.Context, h sink.Handle, from, to time.Time) ([]Alert, error) {
	rows, err := h.DB.QueryContext(ctx, h.Dialect.Rebind(alertSelect+` WHERE a.creation_time >= ? AND a.creation_time < ? ORDER BY a.creation_time, a.rule, a.alert_id`),
		h.Dialect.Time(from), h.Dialect.Time(to))
	if err != nil {
		return nil, fmt.Errorf("detect: listing alerts: %w", err)
	}
	alerts, err := scanAlerts(rows)
	if err != nil {
		return nil, fmt.Errorf("detect: listing alerts: %w", err)
	}
	return alerts, nil
}
