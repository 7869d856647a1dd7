package sink

import (
	"fmt"
	"strings"

	"github.com/o365ingest/o365ingest/schema"
)

// The T-SQL of the SQL Server sink, as pure functions: no SQL Server can run where this
// was written, so testdata/sqlserver/*.sql holds their golden output, reviewed by hand.

// Session temp tables of a SQL Server load (dropped before each use and before commit,
// since a pooled session keeps them).
const (
	mssqlStageRecord     = "#o365_stage_record"
	mssqlStageProperty   = "#o365_stage_property"
	mssqlStageQuarantine = "#o365_stage_quarantine"
)

// mssqlOrd is the staging column that keeps each row's position in the batch, so that
// ROW_NUMBER keeps the first of duplicated keys.
const mssqlOrd = "o365_ord"

func mssqlQuote(s string) string { return "[" + s + "]" }

// mssqlStageSQL (re)creates an empty staging table shaped like t plus the ord column.
// SELECT TOP 0 ... INTO copies each column's type, length, collation and nullability, and
// listing the columns leaves out the IDENTITY surrogate and computed columns.
func mssqlStageSQL(stage string, t *schema.Table) string {
	return fmt.Sprintf("DROP TABLE IF EXISTS %s;\nSELECT TOP 0 CAST(0 AS BIGINT) AS %s, %s INTO %s FROM %s;",
		mssqlQuote(stage), mssqlQuote(mssqlOrd), sqlserverDialect.columns(t.ColumnNames()), mssqlQuote(stage), mssqlQuote(t.Name))
}

// mssqlStageColumns are the bulk-copy columns of a staging table for t.
func mssqlStageColumns(t *schema.Table) []string {
	return append([]string{mssqlOrd}, t.ColumnNames()...)
}

// mssqlDropStagesSQL drops every staging table of a load.
func mssqlDropStagesSQL() string {
	return fmt.Sprintf("DROP TABLE IF EXISTS %s, %s, %s;", mssqlQuote(mssqlStageRecord), mssqlQuote(mssqlStageProperty), mssqlQuote(mssqlStageQuarantine))
}

// mssqlDedupInsert returns INSERT INTO t ... SELECT from stage keeping, per key, the first
// staged row that is not stored yet. UPDLOCK, HOLDLOCK on the probe holds a key-range lock
// until commit, so a concurrent load cannot insert the same key in between; output, when
// set, is an OUTPUT clause (before SELECT).
func mssqlDedupInsert(t *schema.Table, stage string, key []string, output, extraWhere string) string {
	q := mssqlQuote
	cols := t.ColumnNames()
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = "s." + q(c)
	}
	part := make([]string, len(key))
	match := make([]string, len(key))
	for i, k := range key {
		part[i] = q(k)
		match[i] = fmt.Sprintf("t.%s = s.%s", q(k), q(k))
	}
	where := fmt.Sprintf("s.[rn] = 1%s AND NOT EXISTS (SELECT 1 FROM %s AS t WITH (UPDLOCK, HOLDLOCK) WHERE %s)",
		extraWhere, q(t.Name), strings.Join(match, " AND "))
	return fmt.Sprintf("INSERT INTO %s (%s)%s\nSELECT %s\nFROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY %s) AS [rn] FROM %s) AS s\nWHERE %s;",
		q(t.Name), sqlserverDialect.columns(cols), output, strings.Join(sel, ", "), strings.Join(part, ", "), q(mssqlOrd), q(stage), where)
}

// mssqlInsertRecordsSQL inserts the staged records that are new and the staged properties
// of exactly those records, in one batch, and returns how many records it inserted (one
// row, one column). withProps is false when the batch has no properties (no staging
// table for them then).
func mssqlInsertRecordsSQL(withProps bool) string {
	idCol, _ := schema.AuditRecord.Column("id")
	var b strings.Builder
	fmt.Fprintf(&b, "SET NOCOUNT ON;\nDECLARE @inserted TABLE ([id] NVARCHAR(%d) COLLATE %s NOT NULL PRIMARY KEY);\n", idCol.Size, mssqlCollation)
	b.WriteString(mssqlDedupInsert(&schema.AuditRecord, mssqlStageRecord, []string{"id"}, " OUTPUT inserted.[id] INTO @inserted ([id])", ""))
	b.WriteString("\n")
	if withProps {
		b.WriteString(mssqlDedupInsert(&schema.AuditProperty, mssqlStageProperty, schema.AuditProperty.PrimaryKey, "",
			" AND s.[record_id] IN (SELECT [id] FROM @inserted)"))
		b.WriteString("\n")
	}
	b.WriteString("SELECT COUNT(*) FROM @inserted;")
	return b.String()
}

// mssqlInsertQuarantineSQL inserts the staged quarantined records not stored yet and
// returns how many (one row, one column).
func mssqlInsertQuarantineSQL() string {
	return "SET NOCOUNT ON;\n" + mssqlDedupInsert(&schema.Quarantine, mssqlStageQuarantine, schema.Quarantine.PrimaryKey, "", "") +
		"\nSELECT @@ROWCOUNT;"
}

// mssqlCollation is the collation of every string column (see migrations/README.md).
const mssqlCollation = "Latin1_General_100_BIN2"
