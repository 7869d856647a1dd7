package detect

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/schema"
)

// insertIfAbsent returns an INSERT of cols into table that does nothing (zero rows
// affected) when a row with the same primary key exists, and how to order its
// arguments. keyCols are the primary-key columns, first in cols.
func insertIfAbsent(dialect, table string, cols []string, keyCols int) (string, func(args []any) []any) {
	qc := make([]string, len(cols))
	for i, c := range cols {
		qc[i] = quote(dialect, c)
	}
	list := strings.Join(qc, ", ")
	same := func(a []any) []any { return a }
	switch dialect {
	case sink.DialectMySQL:
		// ON DUPLICATE KEY with a no-op update reports 0 rows for an existing key,
		// without INSERT IGNORE's swallowing of data errors.
		return "INSERT INTO " + table + " (" + list + ") VALUES (" + placeholders(len(cols)) + ") ON DUPLICATE KEY UPDATE " + qc[0] + " = " + qc[0], same
	case sink.DialectSQLServer:
		var where []string
		for _, c := range qc[:keyCols] {
			where = append(where, c+" = ?")
		}
		q := "INSERT INTO " + table + " (" + list + ") SELECT " + placeholders(len(cols)) +
			" WHERE NOT EXISTS (SELECT 1 FROM " + table + " WITH (UPDLOCK, HOLDLOCK) WHERE " + strings.Join(where, " AND ") + ")"
		return q, func(a []any) []any { return append(append([]any{}, a...), a[:keyCols]...) }
	}
	var key []string
	for _, c := range qc[:keyCols] {
		key = append(key, c)
	}
	return "INSERT INTO " + table + " (" + list + ") VALUES (" + placeholders(len(cols)) + ") ON CONFLICT (" + strings.Join(key, ", ") + ") DO NOTHING", same
}

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
func Store(ctx context.Context, db *sql.DB, dialect string, alerts []Alert) ([]Alert, error) {
	if len(alerts) == 0 {
		return nil, nil
	}
	cols := schema.Alert.ColumnNames()
	q, order := insertIfAbsent(dialect, schema.Alert.Name, cols, 1)
	q = sink.Rebind(dialect, q)
	now := time.Now().UTC().Truncate(time.Microsecond)
	tx, err := db.BeginTx(ctx, nil)
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
			jsonText(ids), nullIfEmpty(a.ClientIP), nullIfEmpty(a.Country), sink.TimeValue(dialect, a.CreationTime),
			a.Summary, jsonText(ev), jsonText(rem), sink.TimeValue(dialect, now)}
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
func List(ctx context.Context, db *sql.DB, dialect string, from, to time.Time) ([]Alert, error) {
	rows, err := db.QueryContext(ctx, sink.Rebind(dialect, alertSelect+` WHERE a.creation_time >= ? AND a.creation_time < ? ORDER BY a.creation_time, a.rule, a.alert_id`),
		sink.TimeValue(dialect, from), sink.TimeValue(dialect, to))
	if err != nil {
		return nil, fmt.Errorf("detect: listing alerts: %w", err)
	}
	alerts, err := scanAlerts(rows)
	if err != nil {
		return nil, fmt.Errorf("detect: listing alerts: %w", err)
	}
	return alerts, nil
}
