package sink

import (
	"fmt"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/schema"
)

// The statements the shared code runs, as pure functions of the dialect so that the SQL
// of a database we cannot run here (SQL Server) is golden-tested as text.

// knownSQL selects the loaded or expired content ids of a tenant among n ids.
func (d *Dialect) knownSQL(n int) string {
	q := d.quote
	return d.rebind(fmt.Sprintf("SELECT %s FROM %s WHERE %s = ? AND %s IN ('%s', '%s') AND %s IN (%s)",
		q("content_id"), q("content_blob"), q("tenant_id"), q("status"), schema.BlobLoaded, schema.BlobExpired,
		q("content_id"), placeholders(n)))
}

// insertSQL inserts one row of t (all columns, in order).
func (d *Dialect) insertSQL(t *schema.Table) string {
	return d.rebind(fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", d.quote(t.Name), d.columns(t.ColumnNames()), placeholders(len(t.Columns))))
}

// markSelectSQL reads a ledger row's status and attempts, locking it.
func (d *Dialect) markSelectSQL() string {
	q := d.quote
	return d.rebind(fmt.Sprintf("SELECT %s, %s FROM %s%s WHERE %s = ? AND %s = ?%s",
		q("status"), q("attempts"), q("content_blob"), d.tableHint, q("tenant_id"), q("content_id"), d.forUpdate))
}

// markUpdateSQL updates the columns set of a ledger row (arguments: the values of set,
// then tenant id and content id).
func (d *Dialect) markUpdateSQL(set []string) string {
	q := d.quote
	assign := make([]string, len(set))
	for i, c := range set {
		assign[i] = q(c) + " = ?"
	}
	return d.rebind(fmt.Sprintf("UPDATE %s SET %s WHERE %s = ? AND %s = ?",
		q("content_blob"), strings.Join(assign, ", "), q("tenant_id"), q("content_id")))
}

// leaseUpdateSQL takes the lease name for holder if holder has it or it has expired.
func (d *Dialect) leaseUpdateSQL(name, holder string, ttl time.Duration) (string, []any) {
	q := d.quote
	expr, exprArgs := d.later(ttl)
	args := append(append([]any{holder}, exprArgs...), name, holder)
	return d.rebind(fmt.Sprintf("UPDATE %s SET %s = ?, %s = %s WHERE %s = ? AND (%s = ? OR %s < %s)",
		q("ingest_lease"), q("holder"), q("expires_at"), expr, q("name"), q("holder"), q("expires_at"), d.now)), args
}

// leaseInsertSQL creates the lease name for holder unless it exists; it affects one row
// when it did.
func (d *Dialect) leaseInsertSQL(name, holder string, ttl time.Duration) (string, []any) {
	expr, exprArgs := d.later(ttl)
	query, order := d.InsertIfAbsent("ingest_lease", []string{"name", "holder", "expires_at"}, 1, []string{"?", "?", expr})
	return query, order(append([]any{name, holder}, exprArgs...))
}

// releaseSQL deletes the lease name if holder has it.
func (d *Dialect) releaseSQL() string {
	q := d.quote
	return d.rebind(fmt.Sprintf("DELETE FROM %s WHERE %s = ? AND %s = ?", q("ingest_lease"), q("name"), q("holder")))
}
