package sink

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/azuread"
	"github.com/pressly/goose/v3"

	"github.com/o365ingest/o365ingest/schema"
)

// SQL Server error numbers the sink acts on.
const (
	mssqlUniqueKey  = 2627 // violation of a PRIMARY KEY or UNIQUE constraint
	mssqlUniqueIdx  = 2601 // duplicate key in a unique index
	mssqlDeadlocked = 1205
)

func mssqlErrno(err error) int32 {
	var e mssql.Error
	if errors.As(err, &e) {
		return e.Number
	}
	var pe *mssql.Error
	if errors.As(err, &pe) {
		return pe.Number
	}
	return 0
}

var sqlserverDialect = &Dialect{
	goose:       goose.DialectMSSQL, // goose's Provider rejects "sqlserver"
	name:        DialectSQLServer,
	quote:       mssqlQuote,
	placeholder: "@p",
	top:         true,
	columnType: func(c schema.Column) (string, bool) {
		coll := SQLServerCollation
		if c.FoldCase != 0 && c.Type != schema.JSON {
			coll = SQLServerFoldCollation
		}
		switch c.Type {
		case schema.Key:
			return fmt.Sprintf("NVARCHAR(%d) COLLATE %s", c.Size, coll), true
		case schema.Text, schema.JSON:
			return "NVARCHAR(MAX) COLLATE " + coll, true
		case schema.Int:
			return "BIGINT", true
		case schema.Bool:
			return "BIT", true
		case schema.Time:
			return "DATETIME2(6)", true
		}
		return "", false
	},
	now: "SYSUTCDATETIME()",
	later: func(d time.Duration) (string, []any) {
		// DATEADD takes an int: seconds, then the milliseconds left, so any ttl up to 68
		// years fits.
		ms := d.Milliseconds()
		return "DATEADD(millisecond, CAST(? AS INT), DATEADD(second, CAST(? AS INT), SYSUTCDATETIME()))", []any{ms % 1000, ms / 1000}
	},
	tableHint: " WITH (UPDLOCK, HOLDLOCK)",
	length:    utf16Len,
	uniqueViolation: func(err error) bool {
		n := mssqlErrno(err)
		return n == mssqlUniqueKey || n == mssqlUniqueIdx
	},
	deadlock: func(err error) bool { return mssqlErrno(err) == mssqlDeadlocked },
}

// SQLServer is the SQL Server / Azure SQL sink (go-mssqldb). A load pins one connection,
// bulk-copies the batch into session temp tables and inserts from there what is new, in
// one transaction with XACT_ABORT on.
type SQLServer struct {
	base
}

// usesEntraID reports whether a DSN asks for Microsoft Entra ID (Azure AD) authentication.
func usesEntraID(dsn string) bool {
	return strings.Contains(strings.ToLower(dsn), "fedauth=")
}

// OpenSQLServer connects to SQL Server or Azure SQL. dsn is go-mssqldb's form
// (sqlserver://user:pass@host:1433?database=audit&encrypt=true, or the ADO form). With a
// fedauth= parameter (ActiveDirectoryDefault, ActiveDirectoryManagedIdentity,
// ActiveDirectoryServicePrincipal, ...) it authenticates with Microsoft Entra ID. For
// Azure SQL always set encrypt=true: without it the server certificate is not checked.
func OpenSQLServer(ctx context.Context, dsn string) (*SQLServer, error) {
	where := describeSQLServer(dsn)
	var conn driver.Connector
	var err error
	if usesEntraID(dsn) {
		conn, err = azuread.NewConnector(dsn)
	} else {
		conn, err = mssql.NewConnector(dsn)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlserver: cannot parse the DSN of %s: %w", where, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlserver: connecting to %s: %w", where, err)
	}
	return &SQLServer{base{db: db, d: sqlserverDialect}}, nil
}

// Close closes the connections.
func (s *SQLServer) Close() error { return s.db.Close() }

// mssqlRetries bounds how often a load chosen as a deadlock victim (1205) runs again.
const mssqlRetries = 5

// Load stores the batch in one transaction, retried whole after a deadlock.
func (s *SQLServer) Load(ctx context.Context, b Batch) (LoadResult, error) {
	p, err := prepare(b, s.d.length)
	if err != nil {
		return LoadResult{}, err
	}
	for attempt := 1; ; attempt++ {
		res := LoadResult{Duplicates: p.dups}
		err = s.load(ctx, p, &res)
		if err == nil {
			return res, nil
		}
		if mssqlErrno(err) != mssqlDeadlocked || attempt == mssqlRetries {
			return LoadResult{}, fmt.Errorf("sqlserver: loading %d records: %w", b.Records(), err)
		}
		select {
		case <-ctx.Done():
			return LoadResult{}, fmt.Errorf("sqlserver: loading %d records: %w (after a deadlock)", b.Records(), ctx.Err())
		case <-time.After(time.Duration(attempt*attempt) * 50 * time.Millisecond):
		}
	}
}

func (s *SQLServer) load(ctx context.Context, p *prepared, res *LoadResult) error {
	// Temp tables live in the session: everything runs on one pinned connection.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// XACT_ABORT: any error rolls the whole transaction back on the server at once,
	// instead of leaving it open with only the failed statement undone.
	if _, err := conn.ExecContext(ctx, "SET XACT_ABORT ON;"); err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	if len(p.recs) > 0 {
		recRows := make([][]any, len(p.recs))
		var propRows [][]any
		for i, r := range p.recs {
			recRows[i] = append([]any{int64(i)}, r.Values...)
			for _, pr := range r.Props {
				propRows = append(propRows, append([]any{int64(len(propRows))}, propValues(r.ID, pr)...))
			}
		}
		if err := s.stage(ctx, tx, mssqlStageRecord, &schema.AuditRecord, recRows); err != nil {
			return err
		}
		if len(propRows) > 0 {
			if err := s.stage(ctx, tx, mssqlStageProperty, &schema.AuditProperty, propRows); err != nil {
				return err
			}
		}
		var inserted int64
		if err := tx.QueryRowContext(ctx, mssqlInsertRecordsSQL(len(propRows) > 0)).Scan(&inserted); err != nil {
			return fmt.Errorf("inserting records: %w", err)
		}
		res.Inserted = int(inserted)
		res.Duplicates += len(recRows) - int(inserted)
	}
	if err := s.at(stageRecords); err != nil {
		return err
	}
	if len(p.quarantined) > 0 {
		rows := make([][]any, len(p.quarantined))
		for i, qr := range p.quarantined {
			rows[i] = append([]any{int64(i)}, quarantineValues(qr, p.now)...)
		}
		if err := s.stage(ctx, tx, mssqlStageQuarantine, &schema.Quarantine, rows); err != nil {
			return err
		}
		var n int64
		if err := tx.QueryRowContext(ctx, mssqlInsertQuarantineSQL()).Scan(&n); err != nil {
			return fmt.Errorf("storing quarantined records: %w", err)
		}
		res.Quarantined = int(n)
	}
	if err := s.writeLedger(ctx, tx, p); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, mssqlDropStagesSQL()); err != nil {
		return err
	}
	if err := s.at(stageLedger); err != nil {
		return err
	}
	return tx.Commit()
}

// stage creates the staging table for t and bulk-copies rows (ord first) into it.
func (s *SQLServer) stage(ctx context.Context, tx *sql.Tx, stage string, t *schema.Table, rows [][]any) error {
	if _, err := tx.ExecContext(ctx, mssqlStageSQL(stage, t)); err != nil {
		return fmt.Errorf("creating %s: %w", stage, err)
	}
	stmt, err := tx.PrepareContext(ctx, mssql.CopyIn(stage, mssql.BulkOptions{Tablock: true}, mssqlStageColumns(t)...))
	if err != nil {
		return fmt.Errorf("bulk copy into %s: %w", stage, err)
	}
	defer stmt.Close()
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, r...); err != nil {
			return fmt.Errorf("bulk copy into %s: %w", stage, err)
		}
	}
	// The call without arguments sends the rows' end and reports the server's count.
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("bulk copy into %s: %w", stage, err)
	}
	return nil
}
