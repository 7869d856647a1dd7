package sink

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Pruner is implemented by sinks that can apply a retention period.
type Pruner interface {
	// Prune deletes the records created before cutoff, with their properties, and the
	// quarantined records quarantined before it. The ledger is kept: its rows say the
	// blobs were loaded, so a later pass does not fetch them again (they have expired
	// from the API long before any sensible cutoff anyway). Prune works in bounded
	// transactions, so an interrupted prune has deleted whole records and can simply be
	// run again.
	Prune(ctx context.Context, cutoff time.Time) (PruneResult, error)
	// PrunePreview counts what Prune(cutoff) would delete now, deleting nothing:
	// Records, Quarantined and (on PostgreSQL) the Partitions it would drop. Properties
	// is not counted (they go with their records).
	PrunePreview(ctx context.Context, cutoff time.Time) (PruneResult, error)
}

// PruneResult counts what Prune removed.
type PruneResult struct {
	Records, Properties, Quarantined int64
	// Partitions are the PostgreSQL month partitions dropped whole.
	Partitions []string
}

// pruneChunk is how many records one prune transaction deletes.
const pruneChunk = 5000

// Prune deletes in chunks of pruneChunk records: their properties, then them.
func (s *base) Prune(ctx context.Context, cutoff time.Time) (PruneResult, error) {
	var res PruneResult
	if err := s.pruneRows(ctx, cutoff, &res); err != nil {
		return res, err
	}
	return res, nil
}

func (s *base) pruneRows(ctx context.Context, cutoff time.Time, res *PruneResult) error {
	q := s.d.quote
	at := s.d.time(cutoff.UTC())
	pick := s.d.rebind(s.d.Limit(fmt.Sprintf("SELECT %s FROM %s WHERE %s < ?", q("id"), q("audit_record"), q("creation_time")), pruneChunk))
	for {
		n, err := s.pruneChunk(ctx, pick, at, res)
		if err != nil {
			return fmt.Errorf("%s: pruning records before %s: %w", s.d.name, cutoff.Format(time.RFC3339), err)
		}
		if n < pruneChunk {
			break
		}
	}
	r, err := s.db.ExecContext(ctx, s.d.rebind(fmt.Sprintf("DELETE FROM %s WHERE %s < ?", q("quarantine"), q("quarantined_at"))), at)
	if err != nil {
		return fmt.Errorf("%s: pruning quarantined records: %w", s.d.name, err)
	}
	n, _ := r.RowsAffected()
	res.Quarantined += n
	return nil
}

// pruneChunk deletes up to pruneChunk records older than at, and their properties, in
// one transaction, and returns how many records it found.
func (s *base) pruneChunk(ctx context.Context, pick string, at any, res *PruneResult) (int, error) {
	q := s.d.quote
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, pick, at)
	if err != nil {
		return 0, err
	}
	var ids []any
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for from := 0; from < len(ids); from += knownChunk {
		chunk := ids[from:min(from+knownChunk, len(ids))]
		in := placeholders(len(chunk))
		r, err := tx.ExecContext(ctx, s.d.rebind(fmt.Sprintf("DELETE FROM %s WHERE %s IN (%s)", q("audit_property"), q("record_id"), in)), chunk...)
		if err != nil {
			return 0, err
		}
		n, _ := r.RowsAffected()
		res.Properties += n
		args := append(append([]any(nil), chunk...), at)
		r, err = tx.ExecContext(ctx, s.d.rebind(fmt.Sprintf("DELETE FROM %s WHERE %s IN (%s) AND %s < ?", q("audit_record"), q("id"), in, q("creation_time"))), args...)
		if err != nil {
			return 0, err
		}
		n, _ = r.RowsAffected()
		res.Records += n
	}
	return len(ids), tx.Commit()
}

// Prune drops the month partitions that lie wholly before cutoff (after deleting their
// records' properties), then deletes the older records left in the month of the cutoff
// and in the DEFAULT partition in chunks, as every sink does.
func (s *Postgres) Prune(ctx context.Context, cutoff time.Time) (PruneResult, error) {
	var res PruneResult
	if _, err := s.isPartitioned(ctx); err != nil {
		return res, err
	}
	if s.partitionedKnown() {
		parts, err := s.pgMonthPartitions(ctx)
		if err != nil {
			return res, fmt.Errorf("postgres: listing partitions: %w", err)
		}
		for _, name := range slices.Sorted(maps.Keys(parts)) {
			if parts[name].AddDate(0, 1, 0).After(cutoff.UTC()) {
				continue
			}
			if err := s.dropPartition(ctx, name, &res); err != nil {
				return res, fmt.Errorf("postgres: dropping partition %s: %w", name, err)
			}
			s.parts.mu.Lock()
			delete(s.parts.months, name)
			s.parts.mu.Unlock()
		}
	}
	return res, s.pruneRows(ctx, cutoff, &res)
}

// dropPartition deletes the properties of a partition's records and drops it, in one
// transaction. The DROP locks audit_record briefly; lock_timeout keeps a long query from
// stalling it (and the loads queued behind it) for more than a few seconds.
func (s *Postgres) dropPartition(ctx context.Context, name string, res *PruneResult) error {
	q := s.d.quote
	var records, props int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '10s'"); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", q(name))).Scan(&records); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s p USING %s r WHERE p.%s = r.%s",
			q("audit_property"), q(name), q("record_id"), q("id")))
		if err != nil {
			return err
		}
		props = tag.RowsAffected()
		_, err = tx.Exec(ctx, fmt.Sprintf("DROP TABLE %s", q(name)))
		return err
	})
	if err != nil {
		return err
	}
	res.Records += records
	res.Properties += props
	res.Partitions = append(res.Partitions, name)
	return nil
}

// PrunePreview counts the records and quarantined records older than cutoff.
func (s *base) PrunePreview(ctx context.Context, cutoff time.Time) (PruneResult, error) {
	var res PruneResult
	q := s.d.quote
	at := s.d.time(cutoff.UTC())
	for _, c := range []struct {
		table, column string
		n             *int64
	}{{"audit_record", "creation_time", &res.Records}, {"quarantine", "quarantined_at", &res.Quarantined}} {
		err := s.db.QueryRowContext(ctx, s.d.rebind(fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s < ?", q(c.table), q(c.column))), at).Scan(c.n)
		if err != nil {
			return res, fmt.Errorf("%s: counting %s rows before %s: %w", s.d.name, c.table, cutoff.Format(time.RFC3339), err)
		}
	}
	return res, nil
}

// PrunePreview counts as every sink does and names the month partitions that Prune
// would drop whole.
func (s *Postgres) PrunePreview(ctx context.Context, cutoff time.Time) (PruneResult, error) {
	res, err := s.base.PrunePreview(ctx, cutoff)
	if err != nil {
		return res, err
	}
	if _, err := s.isPartitioned(ctx); err != nil {
		return res, err
	}
	if s.partitionedKnown() {
		parts, err := s.pgMonthPartitions(ctx)
		if err != nil {
			return res, fmt.Errorf("postgres: listing partitions: %w", err)
		}
		for _, name := range slices.Sorted(maps.Keys(parts)) {
			if !parts[name].AddDate(0, 1, 0).After(cutoff.UTC()) {
				res.Partitions = append(res.Partitions, name)
			}
		}
	}
	return res, nil
}
