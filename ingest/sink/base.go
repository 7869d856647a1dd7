package sink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/schema"
)

// base implements what every sink does the same way through database/sql: the ledger
// queries, MarkBlob, leases and the lookup tables. Each sink embeds it and adds Load.
type base struct {
	db *sql.DB
	d  *Dialect
	hooks
}

// knownChunk bounds the ids of one IN list, well under SQL Server's 2,100 parameters.
const knownChunk = 500

// Known reports which content ids of tenantID are loaded or expired.
func (s *base) Known(ctx context.Context, tenantID string, contentIDs []string) (map[string]bool, error) {
	known := make(map[string]bool)
	for chunk := range slices.Chunk(contentIDs, knownChunk) {
		query := s.d.knownSQL(len(chunk))
		args := make([]any, 0, len(chunk)+1)
		args = append(args, tenantID)
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := s.db.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, fmt.Errorf("%s: reading the ledger of tenant %s: %w", s.d.name, tenantID, err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s: reading the ledger of tenant %s: %w", s.d.name, tenantID, err)
			}
			known[id] = true
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("%s: reading the ledger of tenant %s: %w", s.d.name, tenantID, err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("%s: reading the ledger of tenant %s: %w", s.d.name, tenantID, err)
		}
	}
	return known, nil
}

// statusRank orders ledger statuses: a blob's status only ever moves up, so a loaded
// blob is never marked failed again and an expired one is not retried.
func statusRank(status string) int {
	switch status {
	case schema.BlobLoaded:
		return 3
	case schema.BlobExpired:
		return 2
	case schema.BlobFailed:
		return 1
	}
	return 0
}

// MarkBlob records a failed or expired blob. Status only moves up (failed < expired <
// loaded): marking a loaded blob does nothing, and marking an expired one failed does
// nothing. Marking a blob failed adds b.Attempts (at least 1) to its attempt count.
func (s *base) MarkBlob(ctx context.Context, b schema.Blob) error {
	if b.Status != schema.BlobFailed && b.Status != schema.BlobExpired {
		return blobError(b, "status", fmt.Sprintf("MarkBlob takes %s or %s, not %q", schema.BlobFailed, schema.BlobExpired, b.Status))
	}
	if err := checkBlob(b, s.d.length); err != nil {
		return err
	}
	var err error
	// Two processes marking the same new blob can both find no row and both insert (or,
	// on InnoDB, deadlock on the gap lock); the loser retries and finds the winner's row.
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.markBlob(ctx, b); err == nil || !s.d.retryable(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%s: marking blob %s/%s %s: %w", s.d.name, b.TenantID, b.ContentID, b.Status, err)
	}
	return nil
}

func (s *base) markBlob(ctx context.Context, b schema.Blob) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var status string
	var attempts sql.NullInt64
	err = tx.QueryRowContext(ctx, s.d.markSelectSQL(), b.TenantID, b.ContentID).Scan(&status, &attempts)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	add := 0
	if b.Status == schema.BlobFailed {
		add = max(b.Attempts, 1)
	}
	now := time.Now().UTC()
	switch {
	case !found:
		row := blobValues(b, b.Status, now)
		row[schema.ContentBlob.ColumnIndex("attempts")] = int64(add)
		_, err = tx.ExecContext(ctx, s.d.insertSQL(&schema.ContentBlob), s.d.args(row)...)
	case statusRank(b.Status) < statusRank(status):
		return nil // never downgrade
	default:
		set := []string{"content_type", "status", "reason", "attempts", "updated_at"}
		args := []any{b.ContentType, b.Status, nullString(b.Reason), attempts.Int64 + int64(add), s.d.time(now)}
		// Keep what an earlier listing recorded when this call does not know it.
		for _, f := range []struct {
			col string
			v   any
		}{{"content_uri", nullString(b.ContentURI)}, {"content_created", s.d.time(b.Created)}, {"content_expiration", s.d.time(b.Expiration)}} {
			if f.v != nil {
				set, args = append(set, f.col), append(args, f.v)
			}
		}
		args = append(args, b.TenantID, b.ContentID)
		_, err = tx.ExecContext(ctx, s.d.markUpdateSQL(set), args...)
	}
	if err != nil {
		return err
	}
	return tx.Commit()
}

// upsertSQL returns a statement that inserts a row of t or, when its primary key exists,
// updates the columns in update; and a function turning the row (all of t's columns, in
// order) into the statement's arguments.
func (d *Dialect) upsertSQL(t *schema.Table, update []string) (string, func(row []any) []any) {
	q := d.quote
	cols := t.ColumnNames()
	ins := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", q(t.Name), d.columns(cols), placeholders(len(cols)))
	idx := func(names []string) []int {
		out := make([]int, len(names))
		for i, n := range names {
			out[i] = t.ColumnIndex(n)
		}
		return out
	}
	upd, key := idx(update), idx(t.PrimaryKey)
	pick := func(row []any, at []int) []any {
		out := make([]any, len(at))
		for i, j := range at {
			out[i] = row[j]
		}
		return out
	}
	switch d.name {
	case DialectMySQL:
		// ON DUPLICATE KEY UPDATE c = ? repeats the value: VALUES(c) is deprecated on
		// MySQL 8 and MariaDB has no "AS new" row alias.
		set := make([]string, len(update))
		for i, c := range update {
			set[i] = q(c) + " = ?"
		}
		return d.rebind(ins + " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")), func(row []any) []any {
			return append(slices.Clone(row), pick(row, upd)...)
		}
	case DialectSQLServer:
		// Not MERGE (see go-bulkload.md §3): the key-range lock taken by the UPDATE makes
		// the INSERT that follows safe against a concurrent one.
		set := make([]string, len(update))
		for i, c := range update {
			set[i] = q(c) + " = ?"
		}
		where := make([]string, len(t.PrimaryKey))
		for i, c := range t.PrimaryKey {
			where[i] = q(c) + " = ?"
		}
		return d.rebind(fmt.Sprintf("UPDATE %s WITH (UPDLOCK, SERIALIZABLE) SET %s WHERE %s; IF @@ROWCOUNT = 0 %s;",
				q(t.Name), strings.Join(set, ", "), strings.Join(where, " AND "), ins)), func(row []any) []any {
				args := append(pick(row, upd), pick(row, key)...)
				return append(args, row...)
			}
	default:
		set := make([]string, len(update))
		for i, c := range update {
			set[i] = q(c) + " = excluded." + q(c)
		}
		return d.rebind(fmt.Sprintf("%s ON CONFLICT (%s) DO UPDATE SET %s", ins, d.columns(t.PrimaryKey), strings.Join(set, ", "))),
			func(row []any) []any { return row }
	}
}

// ledgerUpdate are the content_blob columns a Load overwrites; attempts is kept.
var ledgerUpdate = []string{"content_type", "content_uri", "content_created", "content_expiration", "status", "reason",
	"sha256", "bytes", "record_count", "quarantined", "updated_at"}

// execer is what *sql.Tx and *sql.Conn share.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// writeLedger upserts the ledger rows of a loaded batch inside its transaction.
func (s *base) writeLedger(ctx context.Context, tx execer, p *prepared) error {
	if len(p.blobs) == 0 {
		return nil
	}
	query, argsOf := s.d.upsertSQL(&schema.ContentBlob, ledgerUpdate)
	for _, b := range p.blobs {
		if _, err := tx.ExecContext(ctx, query, s.d.args(argsOf(blobValues(b, schema.BlobLoaded, p.now)))...); err != nil {
			return fmt.Errorf("writing the ledger entry of blob %s/%s: %w", b.TenantID, b.ContentID, err)
		}
	}
	return nil
}

// Acquire takes or renews the lease name for holder until ttl from now (the database's
// clock, so hosts with skewed clocks agree). It is one UPDATE that succeeds when holder
// already has the lease or it has expired, else one INSERT that succeeds when nobody has
// it; the primary key settles a race between two inserts.
func (s *base) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("%s: acquiring lease %s: ttl %v must be positive", s.d.name, name, ttl)
	}
	for _, f := range []struct{ col, v string }{{"name", name}, {"holder", holder}} {
		c := mustColumn(&schema.IngestLease, f.col)
		if f.v == "" || s.d.length(f.v) > c.Size {
			return false, &ValueError{RecordID: "lease " + name, Table: schema.IngestLease.Name, Column: f.col, Reason: fmt.Sprintf("must be 1 to %d characters", c.Size)}
		}
	}
	update, updateArgs := s.d.leaseUpdateSQL(name, holder, ttl)
	res, err := s.db.ExecContext(ctx, update, updateArgs...)
	if err != nil {
		return false, fmt.Errorf("%s: acquiring lease %s: %w", s.d.name, name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("%s: acquiring lease %s: %w", s.d.name, name, err)
	} else if n > 0 {
		return true, nil
	}
	insert, insertArgs := s.d.leaseInsertSQL(name, holder, ttl)
	res, err = s.db.ExecContext(ctx, insert, insertArgs...)
	if err != nil {
		if s.d.uniqueViolation(err) {
			return false, nil // another holder inserted it first
		}
		return false, fmt.Errorf("%s: acquiring lease %s: %w", s.d.name, name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: acquiring lease %s: %w", s.d.name, name, err)
	}
	return n == 1, nil
}

// Release gives up the lease name if holder has it.
func (s *base) Release(ctx context.Context, name, holder string) error {
	if _, err := s.db.ExecContext(ctx, s.d.releaseSQL(), name, holder); err != nil {
		return fmt.Errorf("%s: releasing lease %s: %w", s.d.name, name, err)
	}
	return nil
}

// syncLookups makes record_type and user_type hold exactly the names this binary knows:
// missing rows are inserted and changed names updated; rows this binary does not know
// (added by a newer binary) are left alone.
func (s *base) syncLookups(ctx context.Context) error {
	for _, l := range []struct {
		t     *schema.Table
		names map[int]string
	}{{&schema.RecordTypeTable, schema.RecordTypes}, {&schema.UserTypeTable, schema.UserTypes}} {
		if err := s.syncLookup(ctx, l.t, l.names); err != nil {
			return fmt.Errorf("%s: filling %s: %w", s.d.name, l.t.Name, err)
		}
	}
	return nil
}

func (s *base) syncLookup(ctx context.Context, t *schema.Table, names map[int]string) error {
	q := s.d.quote
	keyCol, nameCol := t.Columns[0].Name, t.Columns[1].Name
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf("SELECT %s, %s FROM %s", q(keyCol), q(nameCol), q(t.Name)))
	if err != nil {
		return err
	}
	have := map[int]string{}
	for rows.Next() {
		var k int64
		var n string
		if err := rows.Scan(&k, &n); err != nil {
			rows.Close()
			return err
		}
		have[int(k)] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	query, argsOf := s.d.upsertSQL(t, []string{nameCol})
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, k := range slices.Sorted(maps.Keys(names)) {
		if n, ok := have[k]; ok && n == names[k] {
			continue
		}
		if _, err := tx.ExecContext(ctx, query, argsOf([]any{int64(k), names[k]})...); err != nil {
			return fmt.Errorf("%d %q: %w", k, names[k], err)
		}
	}
	return tx.Commit()
}
