package ddl

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/o365ingest/o365ingest/schema"
)

// Source is what the migrations are generated from: the versions, tables and views of
// package schema (Schema). Tests build their own to check how a change renders.
type Source struct {
	Versions []schema.Version
	// Tables are every migrated table, in creation order.
	Tables []*schema.Table
	Views  []schema.View
}

// Schema returns the Source of package schema.
func Schema() Source {
	return Source{Versions: schema.Versions, Tables: schema.Migrated(), Views: schema.Views}
}

// File is one generated migration file.
type File struct {
	// Dialect is the dialect and directory (migrations/<Dialect>/).
	Dialect string
	// Name is the file name, NNNNN_<version name>.sql.
	Name string
	Text string
}

// FileName returns the file name of version v.
func FileName(v schema.Version) string { return fmt.Sprintf("%05d_%s.sql", v.Number, v.Name) }

// Files renders every version for every dialect, in dialect then version order.
func (s Source) Files() ([]File, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var out []File
	for _, d := range Dialects {
		for _, v := range s.Versions {
			text, err := s.Render(d, v.Number)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", d, FileName(v), err)
			}
			out = append(out, File{Dialect: d, Name: FileName(v), Text: text})
		}
	}
	return out, nil
}

var versionName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Validate reports a declaration the generator cannot render: versions not numbered
// 1, 2, 3, ...; a Since naming no version; a column added to an existing table that is
// NOT NULL; an index over a column that does not exist yet; view definitions out of order.
func (s Source) Validate() error {
	known := map[int]bool{}
	for i, v := range s.Versions {
		if v.Number != i+1 {
			return fmt.Errorf("schema.Versions[%d] is version %d; want %d (versions are numbered 1, 2, 3, ... in order)", i, v.Number, i+1)
		}
		if !versionName.MatchString(v.Name) {
			return fmt.Errorf("version %d: name %q: want snake_case", v.Number, v.Name)
		}
		known[v.Number] = true
	}
	since := func(what string, n int) error {
		if n != 0 && !known[n] {
			return fmt.Errorf("%s: Since %d is not in schema.Versions", what, n)
		}
		return nil
	}
	names := map[string]bool{}
	for _, t := range s.Tables {
		if names[t.Name] {
			return fmt.Errorf("table %s declared twice", t.Name)
		}
		names[t.Name] = true
		if err := since("table "+t.Name, t.Since); err != nil {
			return err
		}
		for _, c := range t.Columns {
			what := "column " + t.Name + "." + c.Name
			if err := since(what, c.Since); err != nil {
				return err
			}
			if c.Since != 0 && c.Since < t.Created() {
				return fmt.Errorf("%s: Since %d is before its table exists (version %d)", what, c.Since, t.Created())
			}
			if c.FoldCase != 0 {
				if err := since(what+" FoldCase", c.FoldCase); err != nil {
					return err
				}
				if c.FoldCase < columnSince(t, c) {
					return fmt.Errorf("%s: FoldCase %d is before the column exists (version %d)", what, c.FoldCase, columnSince(t, c))
				}
				if c.Type != schema.Key && c.Type != schema.Text {
					return fmt.Errorf("%s: only key and text columns can compare case-insensitively", what)
				}
			}
			if c.Verbatim != 0 {
				if err := since(what+" Verbatim", c.Verbatim); err != nil {
					return err
				}
				if c.Type != schema.JSON || c.Verbatim < columnSince(t, c) {
					return fmt.Errorf("%s: Verbatim is for a JSON column, from a version it exists in", what)
				}
			}
			if c.Since > t.Created() && c.NotNull {
				return fmt.Errorf("%s: a column added to an existing table must be nullable (rows already stored have no value)", what)
			}
		}
		for _, dc := range t.Derived {
			what := "derived column " + t.Name + "." + dc.Name
			if err := since(what, dc.Since); err != nil {
				return err
			}
			if dc.Since <= t.Created() {
				return fmt.Errorf("%s: a derived column is added to an existing table (Since after the table's version)", what)
			}
			if !slices.Equal(dc.Dialects, []string{MySQL}) {
				return fmt.Errorf("%s: only MySQL/MariaDB derived columns are rendered (Dialects: mysql)", what)
			}
			if _, clash := t.Column(dc.Name); clash || names["column "+t.Name+"."+dc.Name] {
				return fmt.Errorf("%s: clashes with a column", what)
			}
			names["column "+t.Name+"."+dc.Name] = true
		}
		for _, ix := range t.Indexes {
			what := "index " + ix.Name
			if names["index "+ix.Name] {
				return fmt.Errorf("%s declared twice (index names are unique per database)", what)
			}
			names["index "+ix.Name] = true
			if err := since(what, ix.Since); err != nil {
				return err
			}
			for _, d := range ix.Dialects {
				if !slices.Contains(Dialects, d) {
					return fmt.Errorf("%s: unknown dialect %q", what, d)
				}
			}
			at := max(ix.Since, t.Created())
			if ix.Dropped != 0 {
				if err := since(what+" Dropped", ix.Dropped); err != nil {
					return err
				}
				if ix.Dropped <= at {
					return fmt.Errorf("%s: Dropped %d is not after the version that adds it (%d)", what, ix.Dropped, at)
				}
			}
			if ix.Sparse != 0 {
				if err := since(what+" Sparse", ix.Sparse); err != nil {
					return err
				}
				if ix.Sparse < at {
					return fmt.Errorf("%s: Sparse %d is before the index exists (version %d)", what, ix.Sparse, at)
				}
			}
			for _, d := range ix.DroppedOn {
				if !slices.Contains(Dialects, d) {
					return fmt.Errorf("%s: unknown dialect %q in DroppedOn", what, d)
				}
			}
			for _, name := range ix.Columns {
				if dc, ok := t.DerivedColumn(name); ok {
					if !slices.Equal(ix.Dialects, []string{MySQL}) {
						return fmt.Errorf("%s: derived column %s.%s is MySQL's only: the index must be too", what, t.Name, name)
					}
					if max(dc.Since, t.Created()) > at {
						return fmt.Errorf("%s: derived column %s.%s is added by version %d, after the index (version %d)", what, t.Name, name, dc.Since, at)
					}
					continue
				}
				c, ok := t.Column(name)
				if !ok {
					return fmt.Errorf("%s: no column %s.%s", what, t.Name, name)
				}
				if columnSince(t, c) > at {
					return fmt.Errorf("%s: column %s.%s is added by version %d, after the index (version %d)", what, t.Name, name, columnSince(t, c), at)
				}
			}
		}
	}
	for _, v := range s.Views {
		if len(v.Defs) == 0 {
			return fmt.Errorf("view %s: no definition", v.Name)
		}
		for i, d := range v.Defs {
			if err := since("view "+v.Name, d.Since); err != nil {
				return err
			}
			if d.Since == 0 || (i > 0 && d.Since <= v.Defs[i-1].Since) {
				return fmt.Errorf("view %s: definitions must have increasing Since versions", v.Name)
			}
		}
	}
	return nil
}

// columnSince is the version that adds c to t.
func columnSince(t *schema.Table, c schema.Column) int { return max(c.Since, t.Created()) }

// indexSince is the version that adds ix to t.
func indexSince(t *schema.Table, ix schema.Index) int { return max(ix.Since, t.Created()) }

// TableAt returns t as it stands at version v: the columns and indexes declared up to v.
func TableAt(t *schema.Table, v int) *schema.Table { return tableAt(t, v) }

func tableAt(t *schema.Table, v int) *schema.Table {
	out := *t
	out.Columns = nil
	for _, c := range t.Columns {
		if columnSince(t, c) <= v {
			if c.FoldCase > v {
				c.FoldCase = 0
			}
			if c.Verbatim > v {
				c.Verbatim = 0
			}
			out.Columns = append(out.Columns, c)
		}
	}
	out.Indexes = nil
	for _, ix := range t.Indexes {
		if indexSince(t, ix) <= v && (ix.Dropped == 0 || v < ix.Dropped) {
			if ix.Sparse > v {
				ix.Sparse = 0
			}
			out.Indexes = append(out.Indexes, ix)
		}
	}
	out.Derived = nil
	for _, dc := range t.Derived {
		if dc.Since <= v {
			out.Derived = append(out.Derived, dc)
		}
	}
	return &out
}

// forDialect returns t without the indexes that are not for dialect d.
func forDialect(d string, t *schema.Table) *schema.Table {
	out := *t
	out.Indexes = nil
	for _, ix := range t.Indexes {
		if len(ix.Dialects) == 0 || slices.Contains(ix.Dialects, d) {
			if len(ix.DroppedOn) > 0 && !slices.Contains(ix.DroppedOn, d) {
				ix.Dropped = 0 // kept on this dialect
			}
			if d != Postgres && d != SQLite {
				ix.Sparse = 0 // no partial indexes
			}
			out.Indexes = append(out.Indexes, ix)
		}
	}
	out.Derived = nil
	for _, dc := range t.Derived {
		if slices.Contains(dc.Dialects, d) {
			out.Derived = append(out.Derived, dc)
		}
	}
	return &out
}

// change is what one version does to one existing table.
type change struct {
	before, after *schema.Table // the table at the version before and at the version
	columns       []schema.Column
	derived       []schema.Derived
	indexes       []schema.Index
	// fold are existing columns that compare case-insensitively from this version on
	// (as they stand at the version).
	fold []schema.Column
	// dropped are existing indexes this version drops; verbatim the JSON columns that
	// keep their text exactly from this version on (PostgreSQL: jsonb to json).
	dropped  []schema.Index
	verbatim []schema.Column
	// sparse are existing indexes made partial by this version (as they stand at it).
	sparse []schema.Index
}

// viewAt is a view's definition at some version.
type viewAt struct {
	name string
	def  schema.ViewDef
}

// viewsAt lists the views that exist at version v, with their definitions then.
func (s Source) viewsAt(v int) []viewAt {
	var out []viewAt
	for _, view := range s.Views {
		if def, ok := view.Def(v); ok {
			out = append(out, viewAt{view.Name, def})
		}
	}
	return out
}

// Render returns the migration file of version v for dialect d.
func (s Source) Render(d string, v int) (string, error) {
	if !slices.Contains(Dialects, d) {
		return "", fmt.Errorf("unknown dialect %q", d)
	}
	if v < 1 || v > len(s.Versions) {
		return "", fmt.Errorf("no version %d", v)
	}
	var created []*schema.Table
	var changes []change
	usesFold, folds := false, false
	for _, t := range s.Tables {
		t = forDialect(d, t)
		if t.Created() == v {
			created = append(created, t)
			for _, c := range tableAt(t, v).Columns {
				usesFold = usesFold || c.FoldCase != 0
			}
			continue
		}
		if t.Created() > v {
			continue
		}
		ch := change{before: tableAt(t, v-1), after: tableAt(t, v)}
		for _, c := range ch.after.Columns {
			switch {
			case columnSince(t, c) == v:
				ch.columns = append(ch.columns, c)
				usesFold = usesFold || c.FoldCase != 0
			case c.FoldCase == v:
				ch.fold = append(ch.fold, c)
				usesFold, folds = true, true
			case c.Verbatim == v && d == Postgres:
				ch.verbatim = append(ch.verbatim, c)
			}
		}
		for _, ix := range t.Indexes {
			if ix.Sparse > v {
				ix.Sparse = 0 // partial from a later version
			}
			if indexSince(t, ix) == v {
				ch.indexes = append(ch.indexes, ix)
			}
			if ix.Dropped == v && indexSince(t, ix) < v {
				ch.dropped = append(ch.dropped, ix)
			}
			if ix.Sparse == v && indexSince(t, ix) < v {
				ch.sparse = append(ch.sparse, ix)
			}
		}
		for _, dc := range t.Derived {
			if dc.Since == v {
				ch.derived = append(ch.derived, dc)
			}
		}
		if len(ch.columns) > 0 || len(ch.derived) > 0 || len(ch.indexes) > 0 || len(ch.fold) > 0 || len(ch.dropped) > 0 || len(ch.verbatim) > 0 || len(ch.sparse) > 0 {
			changes = append(changes, ch)
		}
	}
	var changed []viewAt // views this version creates or redefines
	for _, view := range s.viewsAt(v) {
		if view.def.Since == v {
			changed = append(changed, view)
		}
	}
	// PostgreSQL cannot change the type of a column a view uses, and SQLite rebuilds a
	// table to change a column's collation (renaming a table fails while a view names
	// it), so there every view is dropped first and created again afterwards.
	recreate := folds && (d == Postgres || d == SQLite)
	before, after := s.viewsAt(v-1), s.viewsAt(v)

	var b strings.Builder
	b.WriteString(header(d, s.Versions[v-1]))
	b.WriteString("\n-- +goose Up\n")
	if recreate {
		dropViews(&b, before)
	}
	if usesFold && d == Postgres {
		// citext is a trusted extension (PostgreSQL 13+): the database owner, or a role
		// with CREATE on the database, may install it.
		b.WriteString("CREATE EXTENSION IF NOT EXISTS citext;\n\n")
	}
	for _, t := range created {
		// 00001 was released with plain CREATE statements (IF NOT EXISTS on MySQL only).
		if err := createTable(&b, d, t, v, v != 1); err != nil {
			return "", fmt.Errorf("table %s: %w", t.Name, err)
		}
	}
	for _, ch := range changes {
		var err error
		if d == SQLite && len(ch.fold) > 0 {
			err = rebuild(&b, ch.before, ch.after)
		} else {
			err = alterUp(&b, d, ch)
		}
		if err != nil {
			return "", fmt.Errorf("table %s: %w", ch.after.Name, err)
		}
	}
	if recreate {
		for _, view := range after {
			createView(&b, d, view.name, view.def, false)
		}
	} else {
		for _, view := range changed {
			_, existed := s.viewDef(view.name, v-1)
			createView(&b, d, view.name, view.def, existed)
		}
	}

	b.WriteString("-- +goose Down\n")
	if recreate {
		dropViews(&b, after)
	} else {
		for i := len(changed) - 1; i >= 0; i-- {
			if prev, ok := s.viewDef(changed[i].name, v-1); ok {
				if d == Postgres {
					// CREATE OR REPLACE cannot take away the columns v added.
					fmt.Fprintf(&b, "DROP VIEW IF EXISTS %s;\n", changed[i].name)
				}
				createView(&b, d, changed[i].name, prev, true)
			} else {
				fmt.Fprintf(&b, "DROP VIEW IF EXISTS %s;\n", changed[i].name)
			}
		}
	}
	for i := len(changes) - 1; i >= 0; i-- {
		ch := changes[i]
		if d == SQLite && len(ch.fold) > 0 {
			if err := rebuild(&b, ch.after, ch.before); err != nil {
				return "", fmt.Errorf("table %s: %w", ch.after.Name, err)
			}
		} else {
			alterDown(&b, d, ch)
		}
	}
	for i := len(created) - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "DROP TABLE IF EXISTS %s;\n", Quote(d, created[i].Name))
	}
	if recreate {
		if len(created) > 0 || len(changes) > 0 {
			b.WriteString("\n")
		}
		for _, view := range before {
			createView(&b, d, view.name, view.def, false)
		}
	}
	return b.String(), nil
}

func (s Source) viewDef(name string, v int) (schema.ViewDef, bool) {
	for _, view := range s.Views {
		if view.Name == name {
			return view.Def(v)
		}
	}
	return schema.ViewDef{}, false
}

func dropViews(b *strings.Builder, views []viewAt) {
	for i := len(views) - 1; i >= 0; i-- {
		fmt.Fprintf(b, "DROP VIEW IF EXISTS %s;\n", views[i].name)
	}
	if len(views) > 0 {
		b.WriteString("\n")
	}
}

// rebuild writes SQLite's way of changing a column's collation: a new table as to is,
// every row copied, the old table dropped, the new one renamed and its indexes created.
// The rows are copied unchanged.
func rebuild(b *strings.Builder, from, to *schema.Table) error {
	q := func(s string) string { return Quote(SQLite, s) }
	tmp := *to
	tmp.Name = to.Name + "__rebuild"
	tmp.Indexes = nil
	var tb strings.Builder
	if err := createTable(&tb, SQLite, &tmp, math.MaxInt, false); err != nil {
		return err
	}
	b.WriteString(strings.Replace(strings.TrimSuffix(tb.String(), "\n"),
		"CONSTRAINT "+q("pk_"+tmp.Name), "CONSTRAINT "+q("pk_"+to.Name), 1))
	var cols []string
	for _, c := range to.Columns {
		if _, ok := from.Column(c.Name); ok {
			cols = append(cols, q(c.Name))
		}
	}
	list := strings.Join(cols, ", ")
	fmt.Fprintf(b, "INSERT INTO %s (%s)\n    SELECT %s FROM %s;\n", q(tmp.Name), list, list, q(to.Name))
	fmt.Fprintf(b, "DROP TABLE %s;\n", q(to.Name))
	fmt.Fprintf(b, "ALTER TABLE %s RENAME TO %s;\n", q(tmp.Name), q(to.Name))
	for _, ix := range to.Indexes {
		stmt, err := createIndex(SQLite, to, ix, true)
		if err != nil {
			return err
		}
		b.WriteString(stmt)
	}
	b.WriteString("\n")
	return nil
}

// mysqlAlter writes one ALTER TABLE of table with parts for MySQL, guarded so that it
// runs again harmlessly. MySQL commits each DDL statement on its own, so a process
// stopped between two statements of a version (or after its last one, before goose
// records the version) leaves some applied; goose then runs the whole version again,
// and an unguarded ADD COLUMN would fail ("Duplicate column name") on every later run.
// InnoDB applies one ALTER TABLE whole or not at all, so the first column (or index)
// it adds tells whether it ran: the statement is prepared from a string that is the
// ALTER when that marker is absent (present, for down) and a no-op otherwise. An ALTER
// that only changes collations is re-runnable as it is.
func mysqlAlter(b *strings.Builder, table string, ch change, parts []string, down bool) {
	stmt := fmt.Sprintf("ALTER TABLE %s\n    %s", Quote(MySQL, table), strings.Join(parts, ",\n    "))
	var check string
	switch {
	case len(ch.columns) > 0:
		check = fmt.Sprintf("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s' AND COLUMN_NAME = '%s'", table, ch.columns[0].Name)
	case len(ch.derived) > 0:
		check = fmt.Sprintf("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s' AND COLUMN_NAME = '%s'", table, ch.derived[0].Name)
	case len(ch.indexes) > 0:
		check = fmt.Sprintf("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s' AND INDEX_NAME = '%s'", table, ch.indexes[0].Name)
	case len(ch.dropped) > 0:
		// The version only drops indexes: the marker is the first one, present until
		// the ALTER has run (absent until its undoing has).
		check = fmt.Sprintf("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s' AND INDEX_NAME = '%s'", table, ch.dropped[0].Name)
		down = !down
	default:
		fmt.Fprintf(b, "%s;\n", stmt)
		return
	}
	want := "= 0" // up: the marker is absent
	if down {
		want = "> 0" // an index has a STATISTICS row per column
	}
	// The ALTER goes on one line inside its string literal: goose splits statements
	// at lines that end with a semicolon.
	literal := "'" + strings.ReplaceAll(strings.ReplaceAll(stmt, "\n    ", " "), "'", "''") + "'"
	fmt.Fprintf(b, "SET @o365ingest_ddl = IF((%s) %s,\n    %s,\n    'DO 0');\n", check, want, literal)
	b.WriteString("PREPARE o365ingest_ddl FROM @o365ingest_ddl;\nEXECUTE o365ingest_ddl;\nDEALLOCATE PREPARE o365ingest_ddl;\n")
}

// header returns the comment lines that start version v's file.
func header(d string, v schema.Version) string {
	if h, ok := frozenHeaders[v.Number]; ok {
		return h(d)
	}
	h := Header + "-- Version " + fmt.Sprint(v.Number) + ": " + v.Doc + "\n" +
		"-- Declared in package schema (Since: " + fmt.Sprint(v.Number) + "); see migrations/README.md.\n"
	if d == MySQL {
		h += "-- MySQL commits each DDL statement implicitly: each table's change is one statement,\n" +
			"-- guarded so that a version stopped halfway runs again harmlessly.\n"
	}
	return h
}

// quotedIdent matches an identifier in a view definition's double quotes.
var quotedIdent = regexp.MustCompile(`"([A-Za-z_][A-Za-z0-9_]*)"`)

// nocaseCall matches the start of NOCASE(expr) in a view definition.
const nocaseCall = "NOCASE("

// mysqlOnlyCall matches the start of MYSQL_ONLY(text): text on MySQL/MariaDB (an index
// hint), nothing elsewhere.
const mysqlOnlyCall = "MYSQL_ONLY("

// ViewSQL renders a view definition's SELECT for dialect d: "ident" becomes the
// dialect's quoting, NOCASE(expr) makes expr compare case-insensitively (citext on
// PostgreSQL, a case-insensitive COLLATE elsewhere), and MYSQL_ONLY(text) is text on
// MySQL/MariaDB and nothing elsewhere.
func ViewSQL(d string, def schema.ViewDef) string {
	sql := quotedIdent.ReplaceAllStringFunc(def.For(d), func(m string) string {
		return Quote(d, m[1:len(m)-1])
	})
	for {
		i := strings.Index(sql, mysqlOnlyCall)
		if i < 0 {
			break
		}
		start := i + len(mysqlOnlyCall)
		end := closingParen(sql, start)
		if end < 0 {
			break
		}
		keep := ""
		if d == MySQL {
			keep = " " + sql[start:end]
		}
		// The space before the call goes with it.
		sql = strings.TrimRight(sql[:i], " ") + keep + sql[end+1:]
	}
	for {
		i := strings.Index(sql, nocaseCall)
		if i < 0 {
			return sql
		}
		start := i + len(nocaseCall)
		end := closingParen(sql, start)
		if end < 0 {
			return sql // unbalanced: left for the database to report
		}
		expr := sql[start:end]
		var repl string
		switch d {
		case Postgres:
			repl = "CAST(" + expr + " AS " + PostgresFoldType + ")"
		case MySQL:
			repl = "(" + expr + ") COLLATE " + MySQLFoldCollation
		case SQLServer:
			repl = "(" + expr + ") COLLATE " + SQLServerFoldCollate
		case SQLite:
			repl = "(" + expr + ") COLLATE " + SQLiteFoldCollate
		}
		sql = sql[:i] + repl + sql[end+1:]
	}
}

// mysqlDerivedDef returns dc's definition in MySQL's ALTER TABLE ... ADD COLUMN or
// CREATE TABLE: a VIRTUAL generated column (computed when read, stored only in the
// indexes over it, so the rows and the loaders are unchanged).
func mysqlDerivedDef(dc schema.Derived) string {
	expr := quotedIdent.ReplaceAllStringFunc(dc.Expr, func(m string) string {
		return Quote(MySQL, m[1:len(m)-1])
	})
	return fmt.Sprintf("%s %s AS (%s) VIRTUAL", Quote(MySQL, dc.Name), dc.Type, expr)
}

// closingParen returns the index of the parenthesis that closes the one open before
// start, skipping string literals, or -1.
func closingParen(s string, start int) int {
	depth, inString := 1, false
	for i := start; i < len(s); i++ {
		switch c := s[i]; {
		case inString:
			if c == '\'' {
				inString = false
			}
		case c == '\'':
			inString = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// createView writes the statement that creates view name with def, or replaces it when
// replace is set (the view exists with another definition).
func createView(b *strings.Builder, d, name string, def schema.ViewDef, replace bool) {
	body := ViewSQL(d, def)
	switch d {
	case SQLServer:
		// goose does not understand GO: the view is one statement.
		fmt.Fprintf(b, "-- +goose StatementBegin\nCREATE OR ALTER VIEW %s AS\n%s;\n-- +goose StatementEnd\n\n", name, body)
	case SQLite:
		// SQLite has no CREATE OR REPLACE VIEW.
		if replace {
			fmt.Fprintf(b, "DROP VIEW IF EXISTS %s;\n", name)
		}
		fmt.Fprintf(b, "CREATE VIEW IF NOT EXISTS %s AS\n%s;\n\n", name, body)
	default:
		fmt.Fprintf(b, "CREATE OR REPLACE VIEW %s AS\n%s;\n\n", name, body)
	}
}

// alterUp writes the statements that make ch on an existing table (SQLite's collation
// changes are rebuilds, see rebuild).
func alterUp(b *strings.Builder, d string, ch change) error {
	t := ch.after
	q := func(s string) string { return Quote(d, s) }
	var defs, folds []string
	for _, c := range ch.columns {
		def, err := columnDef(d, t, c)
		if err != nil {
			return err
		}
		defs = append(defs, def)
	}
	for _, c := range ch.fold {
		def, err := columnDef(d, t, c)
		if err != nil {
			return err
		}
		folds = append(folds, def)
	}
	var affected []schema.Index // indexes SQL Server must drop to change a column's collation
	if d != MySQL {
		for _, ix := range ch.dropped {
			if d == SQLServer {
				fmt.Fprintf(b, "DROP INDEX IF EXISTS %s ON %s;\n", q(ix.Name), q(t.Name))
			} else {
				fmt.Fprintf(b, "DROP INDEX IF EXISTS %s;\n", q(ix.Name))
			}
		}
	}
	for _, ix := range ch.sparse {
		// Built again as a partial index (PostgreSQL, SQLite).
		stmt, err := createIndex(d, t, ix, true)
		if err != nil {
			return err
		}
		fmt.Fprintf(b, "DROP INDEX IF EXISTS %s;\n%s", q(ix.Name), stmt)
	}
	if d == Postgres {
		// json keeps a document's text exactly; the stored jsonb values become their
		// jsonb text (the table is rewritten, under an exclusive lock).
		for _, c := range ch.verbatim {
			typ, err := ColumnType(d, c)
			if err != nil {
				return err
			}
			fmt.Fprintf(b, "ALTER TABLE %s ALTER COLUMN %s TYPE %s;\n", q(t.Name), q(c.Name), typ)
			b.WriteString(pgCompression(t.Name, c.Name, "lz4"))
		}
	}
	switch d {
	case MySQL:
		// One ALTER TABLE per table: InnoDB applies it whole or not at all.
		var parts []string
		for _, def := range folds {
			parts = append(parts, "MODIFY COLUMN "+def)
		}
		for _, def := range defs {
			parts = append(parts, "ADD COLUMN "+def)
		}
		for _, dc := range ch.derived {
			parts = append(parts, "ADD COLUMN "+mysqlDerivedDef(dc))
		}
		for _, ix := range ch.indexes {
			parts = append(parts, "ADD "+mysqlKey(t, ix))
		}
		for _, ix := range ch.dropped {
			parts = append(parts, "DROP KEY "+q(ix.Name))
		}
		mysqlAlter(b, t.Name, ch, parts, false)
	case SQLServer:
		affected = sqlServerAffected(ch)
		for _, ix := range affected {
			fmt.Fprintf(b, "DROP INDEX IF EXISTS %s ON %s;\n", q(ix.Name), q(t.Name))
		}
		prefixes := sqlServerFoldPrefixes(ch)
		if len(prefixes) > 0 {
			var cols []string
			for _, name := range prefixes {
				cols = append(cols, q(name+PrefixSuffix))
			}
			fmt.Fprintf(b, "ALTER TABLE %s DROP COLUMN %s;\n", q(t.Name), strings.Join(cols, ", "))
		}
		for _, def := range folds {
			fmt.Fprintf(b, "ALTER TABLE %s ALTER COLUMN %s;\n", q(t.Name), def)
		}
		for _, name := range append(prefixes, sqlServerNewPrefixes(ch)...) {
			defs = append(defs, sqlServerPrefixColumn(name))
		}
		if len(defs) > 0 {
			fmt.Fprintf(b, "ALTER TABLE %s ADD\n    %s;\n", q(t.Name), strings.Join(defs, ",\n    "))
		}
	case Postgres:
		if len(ch.fold) > 0 {
			var parts []string
			for _, c := range ch.fold {
				parts = append(parts, fmt.Sprintf("ALTER COLUMN %s TYPE %s", q(c.Name), PostgresFoldType))
			}
			fmt.Fprintf(b, "ALTER TABLE %s\n    %s;\n", q(t.Name), strings.Join(parts, ",\n    "))
		}
		for _, def := range defs {
			fmt.Fprintf(b, "ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s;\n", q(t.Name), def)
		}
	case SQLite:
		for _, def := range defs {
			fmt.Fprintf(b, "ALTER TABLE %s ADD COLUMN %s;\n", q(t.Name), def)
		}
	}
	if d != MySQL {
		for _, ix := range append(slices.Clone(affected), ch.indexes...) {
			stmt, err := createIndex(d, t, ix, d != SQLServer || slices.ContainsFunc(ch.indexes, sameIndex(ix)))
			if err != nil {
				return err
			}
			b.WriteString(stmt)
		}
	}
	b.WriteString("\n")
	return nil
}

func sameIndex(ix schema.Index) func(schema.Index) bool {
	return func(o schema.Index) bool { return o.Name == ix.Name }
}

// alterDown writes the statements that undo alterUp.
func alterDown(b *strings.Builder, d string, ch change) {
	t := ch.before
	q := func(s string) string { return Quote(d, s) }
	var folds []string
	for _, c := range ch.fold {
		old, _ := ch.before.Column(c.Name)
		def, _ := columnDef(d, t, old)
		folds = append(folds, def)
	}
	if d == MySQL {
		var parts []string
		for _, def := range folds {
			parts = append(parts, "MODIFY COLUMN "+def)
		}
		for _, ix := range ch.indexes {
			parts = append(parts, "DROP KEY "+q(ix.Name))
		}
		for _, dc := range ch.derived {
			parts = append(parts, "DROP COLUMN "+q(dc.Name))
		}
		for _, c := range ch.columns {
			parts = append(parts, "DROP COLUMN "+q(c.Name))
		}
		for _, ix := range ch.dropped {
			parts = append(parts, "ADD "+mysqlKey(t, ix))
		}
		mysqlAlter(b, t.Name, ch, parts, true)
		return
	}
	defer func() {
		// The dropped indexes come back last, once the table is as it was, and the
		// partial ones whole.
		for _, ix := range ch.sparse {
			ix.Sparse = 0
			stmt, _ := createIndex(d, t, ix, true)
			fmt.Fprintf(b, "DROP INDEX IF EXISTS %s;\n%s", q(ix.Name), stmt)
		}
		for _, ix := range ch.dropped {
			stmt, _ := createIndex(d, t, ix, d != SQLServer)
			b.WriteString(stmt)
		}
		if d == Postgres {
			for _, c := range ch.verbatim {
				b.WriteString(pgCompression(t.Name, c.Name, "pglz"))
				old, _ := ch.before.Column(c.Name)
				typ, _ := ColumnType(d, old)
				// jsonb cannot hold \u0000 nor a lone surrogate escape: in a record
				// stored since, each becomes \ufffd (an escaped backslash before such
				// text is not told apart: Down is for development).
				fmt.Fprintf(b, "ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s;\n", q(t.Name), q(c.Name), typ, pgJSONBScrub(q(c.Name)+"::text")+"::"+typ)
			}
		}
	}()
	var affected []schema.Index
	if d == SQLServer {
		affected = sqlServerAffected(ch)
	}
	drop := append(slices.Clone(ch.indexes), affected...)
	for i := len(drop) - 1; i >= 0; i-- {
		switch d {
		case SQLServer:
			fmt.Fprintf(b, "DROP INDEX IF EXISTS %s ON %s;\n", q(drop[i].Name), q(t.Name))
		default:
			fmt.Fprintf(b, "DROP INDEX IF EXISTS %s;\n", q(drop[i].Name))
		}
	}
	switch d {
	case SQLServer:
		var cols []string
		prefixes := sqlServerFoldPrefixes(ch)
		for _, name := range append(sqlServerNewPrefixes(ch), prefixes...) {
			cols = append(cols, q(name+PrefixSuffix))
		}
		for _, c := range ch.columns {
			if c.Type == schema.JSON {
				fmt.Fprintf(b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", q(t.Name), q("ck_"+t.Name+"_"+c.Name+"_json"))
			}
			cols = append(cols, q(c.Name))
		}
		if len(cols) > 0 {
			fmt.Fprintf(b, "ALTER TABLE %s DROP COLUMN IF EXISTS %s;\n", q(t.Name), strings.Join(cols, ", "))
		}
		for _, def := range folds {
			fmt.Fprintf(b, "ALTER TABLE %s ALTER COLUMN %s;\n", q(t.Name), def)
		}
		if len(prefixes) > 0 {
			var defs []string
			for _, name := range prefixes {
				defs = append(defs, sqlServerPrefixColumn(name))
			}
			fmt.Fprintf(b, "ALTER TABLE %s ADD\n    %s;\n", q(t.Name), strings.Join(defs, ",\n    "))
		}
		for _, ix := range affected {
			stmt, _ := createIndex(d, t, ix, false)
			b.WriteString(stmt)
		}
	case Postgres:
		for i := len(ch.columns) - 1; i >= 0; i-- {
			fmt.Fprintf(b, "ALTER TABLE %s DROP COLUMN IF EXISTS %s;\n", q(t.Name), q(ch.columns[i].Name))
		}
		if len(ch.fold) > 0 {
			var parts []string
			for _, c := range ch.fold {
				old, _ := ch.before.Column(c.Name)
				typ, _ := ColumnType(d, old)
				parts = append(parts, fmt.Sprintf("ALTER COLUMN %s TYPE %s", q(c.Name), typ))
			}
			fmt.Fprintf(b, "ALTER TABLE %s\n    %s;\n", q(t.Name), strings.Join(parts, ",\n    "))
		}
	case SQLite:
		for i := len(ch.columns) - 1; i >= 0; i-- {
			fmt.Fprintf(b, "ALTER TABLE %s DROP COLUMN %s;\n", q(t.Name), q(ch.columns[i].Name))
		}
	}
}

// sqlServerAffected lists the indexes, older than the version, that cover a column whose
// collation the version changes: SQL Server cannot alter an indexed column.
func sqlServerAffected(ch change) []schema.Index {
	var out []schema.Index
	for _, ix := range ch.before.Indexes {
		for _, name := range ix.Columns {
			if slices.ContainsFunc(ch.fold, func(c schema.Column) bool { return c.Name == name }) {
				out = append(out, ix)
				break
			}
		}
	}
	return out
}

// sqlServerFoldPrefixes lists the Text columns whose collation the version changes and
// that have an indexed prefix column (computed from them, so dropped and added again).
func sqlServerFoldPrefixes(ch change) []string {
	var out []string
	for _, c := range ch.fold {
		if c.Type != schema.Text {
			continue
		}
		for _, ix := range ch.before.Indexes {
			if slices.Contains(ix.Columns, c.Name) && !slices.Contains(out, c.Name) {
				out = append(out, c.Name)
			}
		}
	}
	return out
}

// sqlServerNewPrefixes lists the Text columns that ch's new indexes cover and that have no
// indexed prefix column yet (no index of an earlier version covers them).
func sqlServerNewPrefixes(ch change) []string {
	var out []string
	for _, ix := range ch.indexes {
		for _, name := range ix.Columns {
			c, _ := ch.after.Column(name)
			if c.Type != schema.Text && c.Type != schema.JSON {
				continue
			}
			if slices.Contains(out, name) {
				continue
			}
			older := false
			for _, other := range ch.before.Indexes {
				if slices.Contains(other.Columns, name) {
					older = true
				}
			}
			if !older {
				out = append(out, name)
			}
		}
	}
	return out
}

// pgJSONBScrub returns the SQL expression that makes the JSON text expr acceptable to
// jsonb: \u0000 and lone surrogate escapes become \ufffd.
func pgJSONBScrub(expr string) string {
	const high, low = `\\u[dD][89abAB][0-9a-fA-F]{2}`, `\\u[dD][c-fC-F][0-9a-fA-F]{2}`
	e := fmt.Sprintf(`replace(%s, '\u0000', '\ufffd')`, expr)
	e = fmt.Sprintf(`regexp_replace(%s, '%s(?!%s)', '\\ufffd', 'g')`, e, high, low)
	return fmt.Sprintf(`regexp_replace(%s, '(?<!%s)%s', '\\ufffd', 'g')`, e, high, low)
}

// pgCompression returns the block that sets the TOAST compression of table.column, and
// of each existing partition's (a partition made later takes the parent's), on
// PostgreSQL 14 and later built with lz4; elsewhere it does nothing. A verbatim JSON
// column is the largest value of its row, which TOAST compresses once the row passes
// ~2 KB: lz4 costs the loader a fraction of pglz's CPU.
func pgCompression(table, column, method string) string {
	q := func(s string) string { return Quote(Postgres, s) }
	return fmt.Sprintf(`-- +goose StatementBegin
DO $$
DECLARE
    t regclass;
BEGIN
    IF current_setting('server_version_num')::int < 140000 THEN
        RETURN;
    END IF;
    FOR t IN SELECT to_regclass('%[1]s') UNION ALL SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = to_regclass('%[1]s') LOOP
        EXECUTE format('ALTER TABLE %%s ALTER COLUMN %[2]s SET COMPRESSION %[3]s', t);
    END LOOP;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL; -- built without lz4: pglz stays
END
$$;
-- +goose StatementEnd
`, q(table), q(column), method)
}
