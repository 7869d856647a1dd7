// Package schema is the single source of truth for o365ingest's logical SQL schema: the
// tables, their columns and logical types, the indexes investigators need, and the types
// that carry normalized rows from the normalizer to the sinks.
//
// Every dialect's migrations (migrations/<dialect>/) are generated from this package and a
// test fails when a migrated database's columns drift from it. Analysts write saved queries
// against these names, so the schema is a contract: columns are only ever added.
package schema

// Type is a logical column type; each dialect maps it to a physical type
// (see migrations and the sinks).
type Type int

const (
	// Text is unbounded Unicode text (text / LONGTEXT / NVARCHAR(MAX) / TEXT).
	Text Type = iota
	// Key is bounded Unicode text that can be indexed on every database; Column.Size
	// is its maximum length in characters. A longer value is never truncated: the
	// normalizer rejects the record into quarantine with the reason.
	Key
	// Int is a 64-bit signed integer.
	Int
	// Bool is a boolean (boolean / TINYINT(1) / BIT / INTEGER 0-1).
	Bool
	// Time is a UTC timestamp with microsecond precision
	// (timestamptz / DATETIME(6) / DATETIME2(6) / TEXT 'YYYY-MM-DD HH:MM:SS[.ffffff]').
	Time
	// JSON is a JSON document (jsonb / JSON / NVARCHAR(MAX) with ISJSON / TEXT with json_valid).
	JSON
)

// String returns the type's name as used in docs and test messages.
func (t Type) String() string {
	switch t {
	case Text:
		return "text"
	case Key:
		return "key"
	case Int:
		return "int"
	case Bool:
		return "bool"
	case Time:
		return "time"
	case JSON:
		return "json"
	}
	return "unknown"
}

// Column is one logical column.
type Column struct {
	Name string
	Type Type
	// Size is the maximum length in characters of a Key column.
	Size int
	// NotNull marks columns that always have a value.
	NotNull bool
	// From lists where the normalizer finds the value in a raw record, tried in order;
	// the first present wins. A path is a dotted list of keys ("Item.ParentFolder.Path");
	// "List[Name]" selects the Value of the Name/Value pair called Name in that list
	// ("ExtendedProperties[UserAgent]"); "List[Type=5]" selects the ID of the first
	// element of an Actor/Target list whose Type is 5. Empty for columns the
	// normalizer computes (id, tenant_id, client_ip, raw, ...).
	From []string
	// Doc is the analyst-facing description.
	Doc string
	// Since is the migration version that adds the column to an existing table (see
	// Versions); 0 means the column came with its table. A column added later is nullable.
	Since int
	// FoldCase is the version from which the column compares case-insensitively (0:
	// exactly, code point by code point). It is for addresses and UPNs, which Exchange and
	// Entra treat case-insensitively: WHERE user_id = 'Megan.Bowen@contoso.com' then finds
	// megan.bowen@contoso.com on every database, through the column's index. The stored
	// text is unchanged (and raw keeps the record exactly as received).
	FoldCase int
	// Verbatim is the version from which a JSON column keeps its document's text exactly
	// on PostgreSQL (json, where jsonb reorders keys, drops duplicates and cannot hold
	// \u0000); 0: jsonb. The other databases keep JSON text as it is already (MySQL 8's
	// binary JSON excepted).
	Verbatim int
}

// Index is a secondary index.
type Index struct {
	Name    string
	Columns []string
	// Since is the migration version that adds the index to an existing table; 0 means
	// it came with its table.
	Since int
	// Pattern makes the index serve prefix LIKE 'x%' too: on PostgreSQL it uses
	// text_pattern_ops (a default btree cannot serve LIKE under a non-C collation).
	Pattern bool
	// Dialects limits the index to these dialects (empty: every dialect).
	Dialects []string
	// Dropped is the version that drops the index (0: kept), on the dialects of
	// DroppedOn (empty: every dialect that has it). An index is dropped when no
	// documented question and no loader query needs it (another index serves them).
	Dropped   int
	DroppedOn []string
	// Sparse is the version from which the index holds only the rows whose first
	// column is not NULL, on PostgreSQL and SQLite (a partial index, WHERE c IS NOT
	// NULL; MySQL/MariaDB and SQL Server keep a full one): for columns most records
	// leave NULL (an Azure AD actor, a mailbox owner, a site, a GeoIP country), which
	// then cost the bulk loader nothing. Every lookup (=, IN, LIKE, a range) implies the
	// column is not NULL, so the planner still uses it; a query for IS NULL cannot.
	Sparse int
}

// Table is one logical table.
type Table struct {
	Name       string
	Doc        string
	Columns    []Column
	PrimaryKey []string
	Indexes    []Index
	// Since is the migration version that creates the table (see Versions); 0 means
	// version 1 (00001_init.sql).
	Since int
	// Derived are columns the database computes from the row's other columns, for an
	// index to serve a view's expression (see Derived). They are not logical columns.
	Derived []Derived
}

// Derived is a column a database computes from the row (a VIRTUAL generated column on
// MySQL/MariaDB), so that an index can serve an expression a view selects by: MariaDB
// cannot index an expression itself, and without the index a question such as "failed
// sign-ins by address" reads every sign-in row through a 128 MB buffer pool. Loaders
// never write it and analysts do not name it: the views read it in that dialect's text
// (ViewDef.Dialect). An Index of the same Dialects may list it among its columns.
type Derived struct {
	Name string
	// Type is the column's physical type and Expr its expression over the row's columns,
	// both in the dialect's own SQL (identifiers as in a view: "value" is quoted).
	Type, Expr string
	// Since is the version that adds it.
	Since int
	// Dialects are the dialects that have it (only mysql is rendered).
	Dialects []string
}

// Created returns the version that creates the table.
func (t *Table) Created() int { return max(t.Since, 1) }

// Column returns the named column and whether it exists.
func (t *Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// DerivedColumn returns the named derived column and whether it exists.
func (t *Table) DerivedColumn(name string) (Derived, bool) {
	for _, c := range t.Derived {
		if c.Name == name {
			return c, true
		}
	}
	return Derived{}, false
}

// ColumnIndex returns the position of the named column, or -1.
func (t *Table) ColumnIndex(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// ColumnNames returns the table's column names in order.
func (t *Table) ColumnNames() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

// Tables returns the ingest tables: every table of migration 00001_init.sql, in creation
// order. Migrated lists every table of every migration.
func Tables() []*Table {
	return []*Table{&AuditRecord, &AuditProperty, &ContentBlob, &Quarantine, &IngestRun, &IngestLease, &RecordTypeTable, &UserTypeTable}
}

// Migrated returns every table the migrations create, in creation order: Tables, then
// AlertTables, then the tables later versions add. The migration generator and the
// check that a migrated database's columns match this package read it. A new table goes
// at the end of this list, with Since set to the version that creates it.
func Migrated() []*Table {
	return append(append(Tables(), AlertTables()...), RemediationTables()...)
}
