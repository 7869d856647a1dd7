package sink

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/o365ingest/o365ingest/schema"
)

// LOAD DATA LOCAL INFILE from memory (go-bulkload.md §2): the rows are written as TSV
// into a buffer the driver reads through a "Reader::name" handler, registered under a
// name unique to the call. Escaping is the server's default for FIELDS ESCAPED BY '\\':
// backslash, TAB, LF, CR and NUL as escape sequences, NULL as \N.

var infileSeq atomic.Uint64

// MySQL error numbers of a lock wait cut short.
const (
	mysqlLockWaitTimeout = 1205
	mysqlAutoIncFailed   = 1467 // "Failed to read auto-increment value": the AUTO-INC lock wait timed out
)

// errInfileWarnings is returned by loadData when the server changed or refused a value
// (LOCAL turns such errors into warnings whatever the sql_mode).
var errInfileWarnings = errors.New("the server changed or refused values")

// errInfileContended is returned by loadRecords when its LOAD DATA waited more than
// mysqlInfileLockWait for a lock: Load then runs the transaction again with INSERTs.
// LOAD DATA is a bulk insert, and under innodb_autoinc_lock_mode=1 (MariaDB's default) it
// holds the table's AUTO-INC lock to its end; if it waits there for the row lock of a
// concurrent loader of the same ids, and that loader waits for the AUTO-INC lock, InnoDB
// does not see the cycle and both would wait innodb_lock_wait_timeout (50 s). Concurrent
// loads of the same ids are rare (leases keep units apart), so the wait is cut short.
var errInfileContended = errors.New("LOAD DATA waited for a concurrent loader")

// mysqlInfileLockWait bounds how long LOAD DATA of records waits for a lock.
const mysqlInfileLockWait = 3 // seconds

// loadRecords loads audit_record rows with LOAD DATA under a short lock wait.
func (s *MySQL) loadRecords(ctx context.Context, tx *sql.Tx, rows [][]any) (int64, error) {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET @o365_lock_wait = @@innodb_lock_wait_timeout, innodb_lock_wait_timeout = %d", mysqlInfileLockWait)); err != nil {
		return 0, err
	}
	n, err := s.loadData(ctx, tx, &schema.AuditRecord, len(rows), func(i int) []any { return rows[i] })
	if _, rerr := tx.ExecContext(ctx, "SET innodb_lock_wait_timeout = @o365_lock_wait"); rerr != nil && err == nil {
		err = rerr
	}
	switch mysqlErrno(err) {
	case mysqlLockWaitTimeout, mysqlAutoIncFailed:
		return 0, fmt.Errorf("%w: %w", errInfileContended, err)
	}
	return n, err
}

// appendTSVField appends v to buf as one LOAD DATA field.
func appendTSVField(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		buf.WriteString(`\N`)
	case string:
		start := 0
		for i := 0; i < len(x); i++ {
			var esc string
			switch x[i] {
			case '\\':
				esc = `\\`
			case '\t':
				esc = `\t`
			case '\n':
				esc = `\n`
			case '\r':
				esc = `\r`
			case 0:
				esc = `\0`
			default:
				continue
			}
			buf.WriteString(x[start:i])
			buf.WriteString(esc)
			start = i + 1
		}
		buf.WriteString(x[start:])
	case int64:
		buf.Write(strconv.AppendInt(buf.AvailableBuffer(), x, 10))
	case int:
		buf.Write(strconv.AppendInt(buf.AvailableBuffer(), int64(x), 10))
	case bool:
		if x {
			buf.WriteByte('1')
		} else {
			buf.WriteByte('0')
		}
	case time.Time:
		buf.Write(x.UTC().AppendFormat(buf.AvailableBuffer(), "2006-01-02 15:04:05.999999"))
	default:
		fmt.Fprint(buf, x)
	}
}

// loadData writes n rows (row(i) gives t's values in column order) into t with LOAD DATA
// LOCAL INFILE inside tx and returns how many the server inserted. IGNORE skips a row
// whose unique key is stored already; any other warning (a value changed or refused,
// which LOCAL turns into warnings whatever the sql_mode) fails the call, so the caller
// must validate rows first (prepare does).
func (s *MySQL) loadData(ctx context.Context, tx *sql.Tx, t *schema.Table, n int, row func(i int) []any) (int64, error) {
	if n == 0 {
		return 0, nil
	}
	var buf bytes.Buffer
	for i := range n {
		for c, v := range row(i) {
			if c > 0 {
				buf.WriteByte('\t')
			}
			appendTSVField(&buf, v)
		}
		buf.WriteByte('\n')
	}
	name := "o365ingest-" + strconv.FormatUint(infileSeq.Add(1), 10)
	mysql.RegisterReaderHandler(name, func() io.Reader { return bytes.NewReader(buf.Bytes()) })
	defer mysql.DeregisterReaderHandler(name)
	res, err := tx.ExecContext(ctx, fmt.Sprintf(`LOAD DATA LOCAL INFILE 'Reader::%s' IGNORE INTO TABLE %s CHARACTER SET utf8mb4 `+
		`FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' (%s)`,
		name, s.d.quote(t.Name), s.d.columns(t.ColumnNames())))
	if err != nil {
		return 0, fmt.Errorf("LOAD DATA into %s: %w", t.Name, err)
	}
	inserted, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	// Duplicates skipped by IGNORE raise warning 1062 each; anything else is a value the
	// server changed or dropped.
	var warnings int64
	if err := tx.QueryRowContext(ctx, "SELECT @@warning_count").Scan(&warnings); err != nil {
		return 0, err
	}
	if skipped := int64(n) - inserted; warnings > skipped {
		return 0, fmt.Errorf("LOAD DATA into %s: %d warnings for %d skipped rows (%w): %w", t.Name, warnings, skipped, errInfileWarnings, s.firstWarning(ctx, tx))
	}
	return inserted, nil
}

// firstWarning reads the first warning of the last statement other than a duplicate key.
func (s *MySQL) firstWarning(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "SHOW WARNINGS LIMIT 20")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var level, msg string
		var code int
		if err := rows.Scan(&level, &code, &msg); err != nil {
			return err
		}
		if code != mysqlDuplicateKey {
			return fmt.Errorf("%s %d: %s", level, code, msg)
		}
	}
	return fmt.Errorf("a value was changed or refused")
}
