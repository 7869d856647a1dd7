package sink

import (
	"context"

	"github.com/o365ingest/o365ingest/schema"
)

// InjectFailure makes s call f at each stage of Load, inside its transaction; an error
// from f fails the Load. Tests use it to check that a failure leaves nothing behind.
func InjectFailure(s Sink, f func(stage string) error) {
	s.(interface{ setHook(func(string) error) }).setHook(f)
}

// The stages InjectFailure's function sees.
const (
	StageRecords = stageRecords
	StageLedger  = stageLedger
)

// MySQLInsertRecords runs the MySQL sink's record insert (without its check for ids
// already stored) in a transaction of its own, to exercise its race path: a record
// stored by someone else between the check and the insert.
func MySQLInsertRecords(ctx context.Context, s Sink, recs []schema.Record) (int, error) {
	m := s.(*MySQL)
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	n, err := m.insertRecords(ctx, tx, recs, m.infile)
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}
