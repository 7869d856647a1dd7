package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/o365ingest/o365ingest/schema"
)

// On PostgreSQL audit_record is range-partitioned by creation_time, one partition per
// month (audit_record_pYYYYMM) plus a DEFAULT partition (migrations/postgres/00001): a
// retention cut is a DROP of whole months (Prune), and the table keeps a shape Citus can
// distribute. Its primary key is (id, creation_time), as a partitioned table's must
// include the partition key; the sink still stores an id once (see Load).
//
// The sink creates the month partitions a batch needs before its load transaction, in a
// statement of their own: CREATE TABLE ... PARTITION OF takes a strong lock on the parent,
// which inside a load could deadlock with a concurrent loader. Rows of a month whose
// partition could not be made (the DEFAULT partition already holds rows of that month, or
// the database is not partitioned) land in the DEFAULT partition; nothing is refused.

// pgPartitions remembers the months known to have their partition.
type pgPartitions struct {
	mu          sync.Mutex
	checked     bool
	partitioned bool
	months      map[string]bool
}

// pgPartitionName names the partition of the month of t (UTC).
func pgPartitionName(t time.Time) string { return "audit_record_p" + t.UTC().Format("200601") }

// pgMonth returns the first instant of t's month, UTC.
func pgMonth(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// isPartitioned reports whether audit_record is a partitioned table (relkind p), once
// per sink: migrations run after Open, so this is asked at the first load.
func (s *Postgres) isPartitioned(ctx context.Context) (bool, error) {
	s.parts.mu.Lock()
	defer s.parts.mu.Unlock()
	if s.parts.checked {
		return s.parts.partitioned, nil
	}
	var kind string
	err := s.pool.QueryRow(ctx, `SELECT c.relkind::text FROM pg_class c WHERE c.oid = to_regclass('audit_record')`).Scan(&kind)
	if err != nil {
		return false, fmt.Errorf("postgres: reading how audit_record is stored: %w", err)
	}
	s.parts.checked, s.parts.partitioned = true, kind == "p"
	return s.parts.partitioned, nil
}

// partitionedKnown reports what isPartitioned found (false before it was asked).
func (s *Postgres) partitionedKnown() bool {
	s.parts.mu.Lock()
	defer s.parts.mu.Unlock()
	return s.parts.partitioned
}

// ensurePartitions creates the month partitions of recs that are not known to exist.
func (s *Postgres) ensurePartitions(ctx context.Context, recs []schema.Record) error {
	if len(recs) == 0 {
		return nil
	}
	ok, err := s.isPartitioned(ctx)
	if err != nil || !ok {
		return err
	}
	timeAt := schema.AuditRecord.ColumnIndex("creation_time")
	var need []time.Time
	s.parts.mu.Lock()
	if s.parts.months == nil {
		s.parts.months = map[string]bool{}
	}
	for _, r := range recs {
		t, ok := r.Values[timeAt].(time.Time)
		if !ok {
			t = r.CreationTime
		}
		name := pgPartitionName(t)
		if !s.parts.months[name] {
			s.parts.months[name] = true // asked once; see below for failures
			need = append(need, pgMonth(t))
		}
	}
	s.parts.mu.Unlock()
	for _, m := range need {
		if err := s.createPartition(ctx, m); err != nil {
			s.parts.mu.Lock()
			delete(s.parts.months, pgPartitionName(m))
			s.parts.mu.Unlock()
			return err
		}
	}
	return nil
}

// createPartition creates the partition of month m. Another process creating it at the
// same moment, or rows of that month already in the DEFAULT partition (which then keeps
// receiving them), are not errors.
func (s *Postgres) createPartition(ctx context.Context, m time.Time) error {
	q := s.d.quote
	stmt := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')",
		q(pgPartitionName(m)), q("audit_record"), m.Format("2006-01-02 15:04:05Z07:00"), m.AddDate(0, 1, 0).Format("2006-01-02 15:04:05Z07:00"))
	// The lock wait is bounded so that a long query holding the parent cannot stall loads
	// for long: the rows then go to the DEFAULT partition and the next batch tries again.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '5s'"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, stmt)
		return err
	})
	if err == nil {
		return nil
	}
	var e *pgconn.PgError
	if errors.As(err, &e) {
		switch e.Code {
		case "42P07", "23505": // created by a concurrent process
			return nil
		case "23514", "42P17", "55P03": // default holds that month; overlapping bounds; lock timeout
			return nil
		case "42501": // not the owner of audit_record: the rows go to DEFAULT
			return nil
		}
	}
	return fmt.Errorf("postgres: creating partition %s: %w", pgPartitionName(m), err)
}

// pgMonthPartitions lists the month partitions (audit_record_pYYYYMM) that exist, with
// their month.
func (s *Postgres) pgMonthPartitions(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = to_regclass('audit_record')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		digits, ok := strings.CutPrefix(name, "audit_record_p")
		if !ok {
			continue
		}
		m, err := time.Parse("200601", digits)
		if err != nil {
			continue
		}
		out[name] = m
	}
	return out, rows.Err()
}
