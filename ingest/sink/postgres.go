package sink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/o365ingest/o365ingest/schema"
)

var postgresDialect = &Dialect{
	goose:       goose.DialectPostgres,
	name:        DialectPostgres,
	quote:       func(s string) string { return `"` + s + `"` },
	placeholder: "$",
	columnType: func(c schema.Column) (string, bool) {
		switch c.Type {
		case schema.Key, schema.Text:
			if c.FoldCase != 0 {
				return PostgresFoldType, true
			}
			return "text", true
		case schema.Int:
			return "bigint", true
		case schema.Bool:
			return "boolean", true
		case schema.Time:
			return "timestamptz", true
		case schema.JSON:
			if c.Verbatim != 0 {
				// json keeps the text exactly (\u0000, key order, duplicate keys).
				return "json", true
			}
			return "jsonb", true
		}
		return "", false
	},
	now: "now()",
	later: func(d time.Duration) (string, []any) {
		return "now() + make_interval(secs => ?::float8)", []any{d.Seconds()}
	},
	forUpdate: " FOR UPDATE",
	length:    runeLen,
	uniqueViolation: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505"
	},
}

// Postgres is the PostgreSQL sink (pgx v5). Loads go through a pgxpool; Handle().DB is a
// database/sql handle over the same pool, so migrations and queries share its settings.
type Postgres struct {
	base
	pool  *pgxpool.Pool
	parts pgPartitions
}

// OpenPostgres connects to PostgreSQL. dsn is a pgx connection string (URL or
// key=value); pool_* parameters size the pool, and any other unknown parameter
// (search_path, statement_timeout, ...) is set on every connection.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	where := describePostgres(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN; name it without its secrets instead.
		return nil, fmt.Errorf("postgres: cannot parse the DSN of %s", where)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connecting to %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connecting to %s: %w", where, err)
	}
	return &Postgres{base: base{db: stdlib.OpenDBFromPool(pool), d: postgresDialect}, pool: pool}, nil
}

// Close closes the database handle and the pool.
// resetConns closes the pool's connections (those in use once released), and with them
// their cached statement descriptions (forgetDescriptions).
func (s *Postgres) resetConns() { s.pool.Reset() }

func (s *Postgres) Close() error {
	err := s.db.Close()
	s.pool.Close()
	return err
}

// Temporary staging tables, one set per transaction (ON COMMIT DROP): a migration that
// adds a column can never leave a stale staging table behind in a pooled session.
const (
	pgStageRecord   = "o365_stage_record"
	pgStageProperty = "o365_stage_property"
)

// Load stores the batch in one transaction: the ids already stored are skipped (a replay
// sends no rows), the rest are COPYed into a temporary table and inserted with ON
// CONFLICT DO NOTHING RETURNING id (a concurrent loader may have stored some since), and
// the properties of exactly the returned records go the same way; then the quarantined
// records and the ledger rows.
func (s *Postgres) Load(ctx context.Context, b Batch) (LoadResult, error) {
	p, err := prepare(b, s.d.length)
	if err != nil {
		return LoadResult{}, err
	}
	res := LoadResult{Duplicates: p.dups}
	if err := s.ensurePartitions(ctx, p.recs); err != nil {
		return LoadResult{}, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return s.load(ctx, tx, p, &res)
	})
	if err != nil {
		return LoadResult{}, fmt.Errorf("postgres: loading %d records: %w", b.Records(), err)
	}
	return res, nil
}

func (s *Postgres) load(ctx context.Context, tx pgx.Tx, p *prepared, res *LoadResult) error {
	q := s.d.quote
	stage := func(stage string, t *schema.Table, rows [][]any) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP", stage, q(t.Name))); err != nil {
			return fmt.Errorf("creating %s: %w", stage, err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, t.ColumnNames(), pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			return rows[i], nil
		})); err != nil {
			return fmt.Errorf("copying into %s: %w", t.Name, err)
		}
		return nil
	}
	fresh, err := s.unstored(ctx, tx, p.recs)
	if err != nil {
		return err
	}
	res.Duplicates += len(p.recs) - len(fresh)
	if len(fresh) > 0 {
		copied, err := s.copyDirect(ctx, tx, fresh)
		if err != nil {
			return err
		}
		if copied {
			res.Inserted = len(fresh)
			fresh = nil
		}
	}
	if len(fresh) > 0 {
		rows := make([][]any, len(fresh))
		for i, r := range fresh {
			rows[i] = pgRecordValues(r)
		}
		if err := stage(pgStageRecord, &schema.AuditRecord, rows); err != nil {
			return err
		}
		cols := s.d.columns(schema.AuditRecord.ColumnNames())
		// ORDER BY id: concurrent loaders lock overlapping ids in the same order.
		// A partitioned audit_record's key is (id, creation_time); a repeated record has
		// the same creation time, and ids stored under another time were skipped above.
		conflict := q("id")
		if s.partitionedKnown() {
			conflict += ", " + q("creation_time")
		}
		ids, err := tx.Query(ctx, fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ORDER BY %s ON CONFLICT (%s) DO NOTHING RETURNING %s",
			q("audit_record"), cols, cols, pgStageRecord, q("id"), conflict, q("id")))
		if err != nil {
			return fmt.Errorf("inserting records: %w", err)
		}
		inserted := make(map[string]bool, len(fresh))
		for ids.Next() {
			var id string
			if err := ids.Scan(&id); err != nil {
				ids.Close()
				return fmt.Errorf("inserting records: %w", err)
			}
			inserted[id] = true
		}
		ids.Close()
		if err := ids.Err(); err != nil {
			return fmt.Errorf("inserting records: %w", err)
		}
		res.Inserted = len(inserted)
		res.Duplicates += len(fresh) - len(inserted)
		var props [][]any
		for _, r := range fresh {
			if !inserted[r.ID] {
				continue
			}
			for _, pr := range r.Props {
				row := propValues(r.ID, pr)
				pgScrubNUL(row, nil)
				props = append(props, row)
			}
		}
		if len(props) > 0 {
			if err := stage(pgStageProperty, &schema.AuditProperty, props); err != nil {
				return err
			}
			pcols := s.d.columns(schema.AuditProperty.ColumnNames())
			if _, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT DO NOTHING",
				q("audit_property"), pcols, pcols, pgStageProperty)); err != nil {
				return fmt.Errorf("inserting properties: %w", err)
			}
		}
	}
	if err := s.at(stageRecords); err != nil {
		return err
	}
	if len(p.quarantined) > 0 {
		var batch pgx.Batch
		query := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO NOTHING",
			q("quarantine"), s.d.columns(schema.Quarantine.ColumnNames()), s.d.rebind(placeholders(len(schema.Quarantine.Columns))), q("qkey"))
		for _, qr := range p.quarantined {
			row := quarantineValues(qr, p.now)
			if pgScrubNUL(row, nil) {
				reason := schema.Quarantine.ColumnIndex("reason")
				row[reason] = row[reason].(string) + "; NUL characters replaced by U+FFFD for PostgreSQL"
			}
			batch.Queue(query, row...).Exec(func(tag pgconn.CommandTag) error {
				res.Quarantined += int(tag.RowsAffected())
				return nil
			})
		}
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return fmt.Errorf("storing quarantined records: %w", err)
		}
	}
	if err := s.writeLedger(ctx, pgxExec{tx}, p); err != nil {
		return err
	}
	return s.at(stageLedger)
}

// copyDirect COPYs records known to be new (unstored found none of their ids) and their
// properties straight into the tables, under a savepoint: the fast path, with no staging
// table and no second write. When a concurrent loader stored one of the ids in between,
// the COPY fails on the key; the savepoint is rolled back and copyDirect reports false,
// so the caller takes the staging path, which skips what is stored.
func (s *Postgres) copyDirect(ctx context.Context, tx pgx.Tx, recs []schema.Record) (bool, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return false, err
	}
	_, err = sp.CopyFrom(ctx, pgx.Identifier{"audit_record"}, schema.AuditRecord.ColumnNames(),
		pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) { return pgRecordValues(recs[i]), nil }))
	if err == nil {
		_, err = sp.CopyFrom(ctx, pgx.Identifier{"audit_property"}, schema.AuditProperty.ColumnNames(), newPropSource(recs))
	}
	if err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return false, rerr
		}
		if s.d.uniqueViolation(err) {
			return false, nil
		}
		return false, fmt.Errorf("copying records: %w", err)
	}
	return true, sp.Commit(ctx)
}

// unstored returns the records whose ids are not stored yet, in one indexed lookup.
func (s *Postgres) unstored(ctx context.Context, tx pgx.Tx, recs []schema.Record) ([]schema.Record, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	// The lookup must probe the key index, never scan: right after a TRUNCATE, a new
	// month partition or a fresh install, the planner's statistics say the table is
	// tiny and it picks a sequential scan that tests every row against the whole array,
	// which turns a backfill quadratic (seen: 40 s stalls). enable_seqscan is switched
	// off for this statement only.
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		return nil, fmt.Errorf("checking stored ids: %w", err)
	}
	rows, err := tx.Query(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s = ANY($1)", s.d.quote("id"), s.d.quote("audit_record"), s.d.quote("id")), ids)
	if err != nil {
		return nil, fmt.Errorf("checking stored ids: %w", err)
	}
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("checking stored ids: %w", err)
		}
		stored[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("checking stored ids: %w", err)
	}
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = on"); err != nil {
		return nil, fmt.Errorf("checking stored ids: %w", err)
	}
	if len(stored) == 0 {
		return recs, nil
	}
	fresh := make([]schema.Record, 0, len(recs)-len(stored))
	for _, r := range recs {
		if !stored[r.ID] {
			fresh = append(fresh, r)
		}
	}
	return fresh, nil
}

// pgRecordValues returns r's values for PostgreSQL: text cannot hold NUL, so it becomes
// U+FFFD, with a note in parse_notes saying so. raw goes as received: since version 9 it
// is json, which keeps the text byte for byte (\u0000 and lone surrogate escapes too,
// which jsonb could not hold).
func pgRecordValues(r schema.Record) []any {
	vals := r.Values
	copied := false
	own := func() {
		if !copied {
			vals, copied = append([]any(nil), vals...), true
		}
	}
	var notes []string
	if pgHasNUL(vals) {
		own()
		pgScrubNUL(vals, func(i int) {
			notes = append(notes, schema.AuditRecord.Columns[i].Name+": NUL replaced by U+FFFD for PostgreSQL")
		})
	}
	for _, p := range r.Props {
		if strings.ContainsRune(p.Name, 0) || strings.ContainsRune(p.List, 0) || strings.ContainsRune(p.Value.String, 0) || strings.ContainsRune(p.OldValue.String, 0) {
			notes = append(notes, "audit_property: NUL replaced by U+FFFD for PostgreSQL")
			break
		}
	}
	if len(notes) == 0 {
		return vals
	}
	own()
	at := schema.AuditRecord.ColumnIndex("parse_notes")
	note := strings.Join(notes, "; ")
	if old, ok := vals[at].(string); ok && old != "" {
		note = old + "; " + note
	}
	vals[at] = note
	return vals
}

func pgHasNUL(vals []any) bool {
	for _, v := range vals {
		if s, ok := v.(string); ok && strings.IndexByte(s, 0) >= 0 {
			return true
		}
	}
	return false
}

// pgScrubNUL replaces NUL characters in the strings of row in place, calling changed with
// the index of each value it altered; it reports whether it altered any.
func pgScrubNUL(row []any, changed func(i int)) bool {
	altered := false
	for i, v := range row {
		if s, ok := v.(string); ok && strings.IndexByte(s, 0) >= 0 {
			row[i] = strings.ReplaceAll(s, "\x00", "\uFFFD")
			altered = true
			if changed != nil {
				changed(i)
			}
		}
	}
	return altered
}

// pgScrubJSON (the benchmark's loads into a schema before version 9, whose raw is
// jsonb) replaces the JSON escapes jsonb rejects — \u0000 and an unpaired surrogate
// half — with \ufffd. It reads escapes as JSON does, so an escaped backslash followed by
// "u0000" is left alone.
func pgScrubJSON(s string) (string, bool) {
	if !strings.Contains(s, `\u`) {
		return s, false
	}
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(s[i+2:i+6], 16, 16)
		return rune(n), err == nil
	}
	var b strings.Builder
	changed := false
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] != 'u' {
			b.WriteString(s[i : i+2])
			i++
			continue
		}
		r, ok := hex4(i)
		if !ok {
			b.WriteString(s[i : i+2])
			i++
			continue
		}
		switch {
		case r == 0, r >= 0xDC00 && r <= 0xDFFF:
			b.WriteString(`\ufffd`)
			changed = true
		case r >= 0xD800 && r <= 0xDBFF:
			if lo, ok := hex4(i + 6); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				b.WriteString(s[i : i+12])
				i += 11
				continue
			}
			b.WriteString(`\ufffd`)
			changed = true
		default:
			b.WriteString(s[i : i+6])
		}
		i += 5
	}
	if !changed {
		return s, false
	}
	return b.String(), true
}

// pgxExec lets the shared ledger code run inside a pgx transaction.
type pgxExec struct{ tx pgx.Tx }

func (e pgxExec) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tag, err := e.tx.Exec(ctx, query, args...)
	return rowsResult(tag.RowsAffected()), err
}

// rowsResult is the sql.Result of a statement run outside database/sql.
type rowsResult int64

func (r rowsResult) LastInsertId() (int64, error) { return 0, errors.New("no LastInsertId here") }
func (r rowsResult) RowsAffected() (int64, error) { return int64(r), nil }
