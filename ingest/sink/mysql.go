package sink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"

	"github.com/o365ingest/o365ingest/schema"
)

// MySQL error numbers the sink acts on.
const (
	mysqlDuplicateKey = 1062
	mysqlDeadlock     = 1213
	// The server's JSON validation refused raw: MariaDB's JSON_VALID check (4025) and
	// MySQL's JSON type (3140, 3141) reject valid JSON they cannot hold, such as
	// nesting deeper than their limit or a lone surrogate escape.
	mysqlCheckFailed = 4025
	mysqlInvalidJSON = 3140
	mysqlJSONTooDeep = 3141
)

// refusesValue reports whether err is the server refusing a value it cannot hold.
func refusesValue(err error) bool {
	switch mysqlErrno(err) {
	case mysqlCheckFailed, mysqlInvalidJSON, mysqlJSONTooDeep:
		return true
	}
	return false
}

func mysqlErrno(err error) uint16 {
	var e *mysql.MySQLError
	if errors.As(err, &e) {
		return e.Number
	}
	return 0
}

var mysqlDialect = &Dialect{
	goose: goose.DialectMySQL,
	name:  DialectMySQL,
	quote: func(s string) string { return "`" + s + "`" },
	columnType: func(c schema.Column) (string, bool) {
		switch c.Type {
		case schema.Key:
			if c.FoldCase != 0 {
				return fmt.Sprintf("VARCHAR(%d) COLLATE %s", c.Size, MySQLFoldCollation), true
			}
			return fmt.Sprintf("VARCHAR(%d)", c.Size), true
		case schema.Text:
			if c.FoldCase != 0 {
				return "LONGTEXT COLLATE " + MySQLFoldCollation, true
			}
			return "LONGTEXT", true
		case schema.Int:
			return "BIGINT", true
		case schema.Bool:
			return "TINYINT(1)", true
		case schema.Time:
			return "DATETIME(6)", true
		case schema.JSON:
			return "JSON", true
		}
		return "", false
	},
	now: "UTC_TIMESTAMP(6)",
	later: func(d time.Duration) (string, []any) {
		return "UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND", []any{d.Microseconds()}
	},
	forUpdate:       " FOR UPDATE",
	length:          runeLen,
	uniqueViolation: func(err error) bool { return mysqlErrno(err) == mysqlDuplicateKey },
	deadlock:        func(err error) bool { return mysqlErrno(err) == mysqlDeadlock },
}

// MySQL is the MySQL/MariaDB sink (go-sql-driver/mysql). Rows go in as multi-row
// INSERT ... ON DUPLICATE KEY UPDATE id = id with the parameters interpolated on the
// client (one round trip per statement, no placeholder limit), in statements sized under
// the server's max_allowed_packet.
type MySQL struct {
	base
	// maxPacket is the server's max_allowed_packet, read once at Open.
	maxPacket int
	// infile is set when the server allows LOAD DATA LOCAL INFILE (local_infile=ON,
	// MariaDB's default): new records and their properties then go in as TSV through
	// it, which costs less on both sides than interpolated multi-row INSERTs.
	infile bool
}

// mysqlSessionParams are set on every connection: strict mode, so that a value that does
// not fit fails instead of being truncated or zeroed with a warning (the server's own
// modes are kept), and UTC, so that UTC_TIMESTAMP and DATETIME agree with Go's times.
var mysqlSessionParams = map[string]string{
	"sql_mode":  "CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES', 'NO_ENGINE_SUBSTITUTION')",
	"time_zone": "'+00:00'",
}

// mysqlConfig parses dsn and sets what the sink relies on: parseTime (DATETIME scans as
// time.Time; goose's MySQL locker needs it too), UTC, interpolateParams, the server's
// max_allowed_packet, utf8mb4 with a binary collation (see migrations/README.md) and the
// strict session. Parameters the DSN sets explicitly for the session are kept.
func mysqlConfig(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	cfg.MaxAllowedPacket = 0 // read the server's value on connect
	if err := cfg.Apply(mysql.Charset("utf8mb4", "utf8mb4_bin")); err != nil {
		return nil, err
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	for k, v := range mysqlSessionParams {
		if _, set := cfg.Params[k]; !set {
			cfg.Params[k] = v
		}
	}
	return cfg, nil
}

// OpenMySQL connects to MySQL 8 or MariaDB. dsn is go-sql-driver's form,
// user:password@tcp(host:3306)/database; see mysqlConfig for what the sink adds.
func OpenMySQL(ctx context.Context, dsn string) (*MySQL, error) {
	where := describeMySQL(dsn)
	cfg, err := mysqlConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql: cannot parse the DSN of %s: %w", where, err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: %s: %w", where, err)
	}
	db := sql.OpenDB(conn)
	// Below wait_timeout and the idle timeouts of proxies, which otherwise close idle
	// connections under the pool ("invalid connection").
	db.SetConnMaxLifetime(3 * time.Minute)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	var maxPacket int
	var infile bool
	if err := db.QueryRowContext(ctx, "SELECT @@max_allowed_packet, @@local_infile").Scan(&maxPacket, &infile); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql: connecting to %s: %w", where, err)
	}
	return &MySQL{base: base{db: db, d: mysqlDialect}, maxPacket: maxPacket, infile: infile}, nil
}

// Close closes the connections.
func (s *MySQL) Close() error { return s.db.Close() }

// mysqlMaxRows caps the rows of one statement (go-bulkload.md §2 measured 500-1,000 as
// the sweet spot); mysqlMaxStatement caps its bytes below max_allowed_packet, so that one
// statement never holds the server's whole packet budget.
const (
	mysqlMaxRows      = 500
	mysqlMaxStatement = 8 << 20
	mysqlRetries      = 5
)

// Load stores the batch in one transaction, retried whole when InnoDB picks it as a
// deadlock victim (1213), or, without LOAD DATA, when LOAD DATA waited too long for a
// concurrent loader (see errInfileContended).
func (s *MySQL) Load(ctx context.Context, b Batch) (LoadResult, error) {
	p, err := prepare(b, s.d.length)
	if err != nil {
		return LoadResult{}, err
	}
	infile := s.infile
	for attempt := 1; ; attempt++ {
		res := LoadResult{Duplicates: p.dups}
		err = s.load(ctx, p, &res, infile)
		if err == nil {
			return res, nil
		}
		if errors.Is(err, errInfileContended) && infile {
			infile = false
			continue
		}
		// A deadlock on the AUTO-INC lock, which LOAD DATA holds to its end, is reported
		// as 1467; it is retried like any deadlock, with INSERTs.
		if errno := mysqlErrno(err); errno == mysqlAutoIncFailed {
			infile = false
		} else if errno != mysqlDeadlock {
			return LoadResult{}, fmt.Errorf("mysql: loading %d records: %w", b.Records(), err)
		}
		if attempt == mysqlRetries {
			return LoadResult{}, fmt.Errorf("mysql: loading %d records: %w", b.Records(), err)
		}
		select {
		case <-ctx.Done():
			return LoadResult{}, fmt.Errorf("mysql: loading %d records: %w (after a deadlock)", b.Records(), ctx.Err())
		case <-time.After(time.Duration(attempt*attempt) * 50 * time.Millisecond):
		}
	}
}

func (s *MySQL) load(ctx context.Context, p *prepared, res *LoadResult, infile bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := s.d.quote
	recRows := make([][]any, len(p.recs))
	for i := range p.recs {
		recRows[i] = p.recs[i].Values
	}
	groups, err := s.chunk(recRows, func(i int) string { return "record " + p.recs[i].ID })
	if err != nil {
		return err
	}
	var fresh []schema.Record
	for _, g := range groups {
		recs := p.recs[g.from:g.to]
		// Skip ids already stored: a replay sends nothing, burns no AUTO_INCREMENT values,
		// and the properties below belong to records new in this transaction.
		ids := make([]any, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		existing := make(map[string]bool)
		rows, err := tx.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s IN (%s)", q("id"), q("audit_record"), q("id"), placeholders(len(ids))), ids...)
		if err != nil {
			return fmt.Errorf("checking stored ids: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			existing[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range recs {
			if existing[r.ID] {
				res.Duplicates++
				continue
			}
			fresh = append(fresh, r)
		}
	}
	if len(fresh) > 0 {
		n, err := s.insertRecords(ctx, tx, fresh, infile)
		if err != nil {
			return err
		}
		res.Inserted += n
		res.Duplicates += len(fresh) - n
	}
	if err := s.at(stageRecords); err != nil {
		return err
	}
	if len(p.quarantined) > 0 {
		rows := make([][]any, len(p.quarantined))
		for i, qr := range p.quarantined {
			rows[i] = quarantineValues(qr, p.now)
		}
		n, err := s.insert(ctx, tx, &schema.Quarantine, rows, "qkey", func(i int) string {
			return fmt.Sprintf("quarantined record %d of blob %s", p.quarantined[i].Ordinal, p.quarantined[i].ContentID)
		})
		if err != nil {
			return err
		}
		res.Quarantined = int(n)
	}
	if err := s.writeLedger(ctx, tx, p); err != nil {
		return err
	}
	if err := s.at(stageLedger); err != nil {
		return err
	}
	return tx.Commit()
}

// insertRecords inserts records not seen stored by the check before it, with their
// properties, and returns how many it inserted. Normally all of them: one multi-row
// statement. When fewer went in, a concurrent loader stored some of them in between;
// the statement is undone to a savepoint and the records go in one by one, so that the
// properties added are exactly those of the records this transaction inserted. The same
// one-by-one path finds the record whose value the server refuses, returned as a
// *ValueError.
func (s *MySQL) insertRecords(ctx context.Context, tx *sql.Tx, recs []schema.Record, infile bool) (int, error) {
	rows := make([][]any, len(recs))
	for i, r := range recs {
		rows[i] = r.Values
	}
	name := func(i int) string { return "record " + recs[i].ID }
	if _, err := tx.ExecContext(ctx, "SAVEPOINT o365_records"); err != nil {
		return 0, err
	}
	var n int64
	var err error
	if infile {
		// LOAD DATA drops a refused row with a warning instead of failing: any row short
		// (a race lost or a value refused) or changed sends the records down the
		// one-by-one INSERT path below, which is strict and names the culprit.
		n, err = s.loadRecords(ctx, tx, rows)
		if errors.Is(err, errInfileWarnings) {
			n, err = 0, nil
		}
		if err != nil {
			return 0, err
		}
	} else {
		n, err = s.insert(ctx, tx, &schema.AuditRecord, rows, "id", name)
	}
	if err != nil && !refusesValue(err) {
		return 0, err
	}
	mine := recs
	if err != nil || int(n) != len(recs) {
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT o365_records"); err != nil {
			return 0, err
		}
		mine = nil
		for i := range recs {
			one, err := s.insert(ctx, tx, &schema.AuditRecord, rows[i:i+1], "id", func(int) string { return name(i) })
			if err != nil && refusesValue(err) {
				// Name the record, so the pipeline quarantines it and loads the rest.
				return 0, &ValueError{RecordID: recs[i].ID, Table: schema.AuditRecord.Name, Column: "raw",
					Reason: "the database refuses this JSON: " + errors.Unwrap(err).Error()}
			}
			if err != nil {
				return 0, err
			}
			if one == 1 {
				mine = append(mine, recs[i])
			}
		}
	}
	var props [][]any
	for _, r := range mine {
		for _, pr := range r.Props {
			props = append(props, propValues(r.ID, pr))
		}
	}
	if infile {
		n, err := s.loadData(ctx, tx, &schema.AuditProperty, len(props), func(i int) []any { return props[i] })
		if err == nil && int(n) != len(props) {
			err = fmt.Errorf("%d of %d properties stored: one of a new record was there already", n, len(props))
		}
		if err != nil {
			return 0, fmt.Errorf("storing properties: %w", err)
		}
		return len(mine), nil
	}
	if _, err := s.insert(ctx, tx, &schema.AuditProperty, props, "record_id", func(i int) string {
		return fmt.Sprintf("property %s[%v] of record %s", props[i][1], props[i][2], props[i][0])
	}); err != nil {
		return 0, err
	}
	return len(mine), nil
}

// span is a run of rows [from, to) that fits one statement.
type span struct{ from, to int }

// chunk splits rows into spans of at most mysqlMaxRows rows whose interpolated text stays
// under the statement budget. A single row larger than max_allowed_packet is an error
// naming it (name(i)).
func (s *MySQL) chunk(rows [][]any, name func(i int) string) ([]span, error) {
	budget := min(mysqlMaxStatement, s.maxPacket-64<<10)
	var out []span
	from, size := 0, 0
	for i, r := range rows {
		n := mysqlRowSize(r)
		if n > s.maxPacket-64<<10 {
			return nil, fmt.Errorf("%s: %d bytes as SQL, more than the server's max_allowed_packet (%d); raise max_allowed_packet", name(i), n, s.maxPacket)
		}
		if i > from && (i-from >= mysqlMaxRows || size+n > budget) {
			out = append(out, span{from, i})
			from, size = i, 0
		}
		size += n
	}
	if from < len(rows) {
		out = append(out, span{from, len(rows)})
	}
	return out, nil
}

// mysqlRowSize estimates the bytes of a row interpolated into SQL: strings are quoted and
// the driver backslash-escapes NUL, \n, \r, \x1a, quotes and backslashes.
func mysqlRowSize(row []any) int {
	n := 3 // "(", ")", ","
	for _, v := range row {
		switch x := v.(type) {
		case string:
			n += len(x) + 3
			for i := 0; i < len(x); i++ {
				switch x[i] {
				case 0, '\n', '\r', 0x1a, '\'', '"', '\\':
					n++
				}
			}
		case time.Time:
			n += 30
		default:
			n += 22
		}
	}
	return n
}

// insert writes rows into t with multi-row INSERT ... ON DUPLICATE KEY UPDATE key = key
// (a no-op that counts 0 affected rows, so the result is the rows really inserted; unlike
// INSERT IGNORE it does not turn bad values into warnings).
func (s *MySQL) insert(ctx context.Context, tx *sql.Tx, t *schema.Table, rows [][]any, key string, name func(i int) string) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	spans, err := s.chunk(rows, name)
	if err != nil {
		return 0, err
	}
	q := s.d.quote
	head := fmt.Sprintf("INSERT INTO %s (%s) VALUES ", q(t.Name), s.d.columns(t.ColumnNames()))
	tuple := "(" + placeholders(len(t.Columns)) + ")"
	tail := fmt.Sprintf(" ON DUPLICATE KEY UPDATE %s = %s", q(key), q(key))
	var total int64
	for _, sp := range spans {
		var b strings.Builder
		b.WriteString(head)
		args := make([]any, 0, (sp.to-sp.from)*len(t.Columns))
		for i := sp.from; i < sp.to; i++ {
			if i > sp.from {
				b.WriteString(", ")
			}
			b.WriteString(tuple)
			args = append(args, rows[i]...)
		}
		b.WriteString(tail)
		res, err := tx.ExecContext(ctx, b.String(), args...)
		if err != nil {
			if sp.to-sp.from == 1 {
				return 0, fmt.Errorf("storing %s: %w", name(sp.from), err)
			}
			return 0, fmt.Errorf("storing %s to %s into %s: %w", name(sp.from), name(sp.to-1), t.Name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
