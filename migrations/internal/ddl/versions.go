package ddl

import (
	"fmt"
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
			if c.Since > t.Created() && c.NotNull {
				return fmt.Errorf("%s: a column added to an existing table must be nullable (rows already stored have no value)", what)
			}
		}
		for _, ix := range t.Indexes {
			what := "index " + ix.Name
			if err := since(what, ix.Since); err != nil {
				return err
			}
			at := max(ix.Since, t.Created())
			for _, name := range ix.Columns {
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
			out.Columns = append(out.Columns, c)
		}
	}
	out.Indexes = nil
	for _, ix := range t.Indexes {
		if indexSince(t, ix) <= v {
			out.Indexes = append(out.Indexes, ix)
		}
	}
	return &out
}

// change is what one version does to one existing table.
type change struct {
	table   *schema.Table // the table as it stands at the version
	columns []schema.Column
	indexes []schema.Index
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
	for _, t := range s.Tables {
		if t.Created() == v {
			created = append(created, t)
			continue
		}
		if t.Created() > v {
			continue
		}
		ch := change{table: tableAt(t, v)}
		for _, c := range t.Columns {
			if columnSince(t, c) == v {
				ch.columns = append(ch.columns, c)
			}
		}
		for _, ix := range t.Indexes {
			if indexSince(t, ix) == v {
				ch.indexes = append(ch.indexes, ix)
			}
		}
		if len(ch.columns) > 0 || len(ch.indexes) > 0 {
			changes = append(changes, ch)
		}
	}
	var views []schema.View
	for _, view := range s.Views {
		if def, ok := view.Def(v); ok && def.Since == v {
			views = append(views, view)
		}
	}

	var b strings.Builder
	b.WriteString(header(d, s.Versions[v-1]))
	b.WriteString("\n-- +goose Up\n")
	for _, t := range created {
		// 00001 was released with plain CREATE statements (IF NOT EXISTS on MySQL only).
		if err := createTable(&b, d, t, v, v != 1); err != nil {
			return "", fmt.Errorf("table %s: %w", t.Name, err)
		}
	}
	for _, ch := range changes {
		if err := alterUp(&b, d, ch); err != nil {
			return "", fmt.Errorf("table %s: %w", ch.table.Name, err)
		}
	}
	for _, view := range views {
		def, _ := view.Def(v)
		_, existed := view.Def(v - 1)
		createView(&b, d, view.Name, def, existed)
	}

	b.WriteString("-- +goose Down\n")
	for i := len(views) - 1; i >= 0; i-- {
		if prev, ok := views[i].Def(v - 1); ok {
			if d == Postgres {
				// CREATE OR REPLACE cannot take away the columns v added.
				fmt.Fprintf(&b, "DROP VIEW IF EXISTS %s;\n", views[i].Name)
			}
			createView(&b, d, views[i].Name, prev, true)
		} else {
			fmt.Fprintf(&b, "DROP VIEW IF EXISTS %s;\n", views[i].Name)
		}
	}
	for i := len(changes) - 1; i >= 0; i-- {
		alterDown(&b, d, changes[i])
	}
	for i := len(created) - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "DROP TABLE IF EXISTS %s;\n", Quote(d, created[i].Name))
	}
	return b.String(), nil
}

// header returns the comment lines that start version v's file.
func header(d string, v schema.Version) string {
	if h, ok := frozenHeaders[v.Number]; ok {
		return h(d)
	}
	h := Header + "-- Version " + fmt.Sprint(v.Number) + ": " + v.Doc + "\n" +
		"-- Declared in package schema (Since: " + fmt.Sprint(v.Number) + "); see migrations/README.md.\n"
	if d == MySQL {
		h += "-- MySQL commits each DDL statement implicitly: each table's change is one statement.\n"
	}
	return h
}

// quotedIdent matches an identifier in a view definition's double quotes.
var quotedIdent = regexp.MustCompile(`"([A-Za-z_][A-Za-z0-9_]*)"`)

// ViewSQL renders a view definition's SELECT for dialect d.
func ViewSQL(d string, def schema.ViewDef) string {
	return quotedIdent.ReplaceAllStringFunc(def.SQL, func(m string) string {
		return Quote(d, m[1:len(m)-1])
	})
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

// alterUp writes the statements that add ch's columns and indexes to an existing table.
func alterUp(b *strings.Builder, d string, ch change) error {
	t := ch.table
	q := func(s string) string { return Quote(d, s) }
	var defs []string
	for _, c := range ch.columns {
		def, err := columnDef(d, t, c)
		if err != nil {
			return err
		}
		defs = append(defs, def)
	}
	switch d {
	case MySQL:
		// One ALTER TABLE per table: InnoDB applies it whole or not at all.
		var parts []string
		for _, def := range defs {
			parts = append(parts, "ADD COLUMN "+def)
		}
		for _, ix := range ch.indexes {
			parts = append(parts, "ADD "+mysqlKey(t, ix))
		}
		fmt.Fprintf(b, "ALTER TABLE %s\n    %s;\n", q(t.Name), strings.Join(parts, ",\n    "))
	case SQLServer:
		for _, name := range sqlServerNewPrefixes(ch) {
			defs = append(defs, sqlServerPrefixColumn(name))
		}
		if len(defs) > 0 {
			fmt.Fprintf(b, "ALTER TABLE %s ADD\n    %s;\n", q(t.Name), strings.Join(defs, ",\n    "))
		}
	case Postgres:
		for _, def := range defs {
			fmt.Fprintf(b, "ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s;\n", q(t.Name), def)
		}
	case SQLite:
		for _, def := range defs {
			fmt.Fprintf(b, "ALTER TABLE %s ADD COLUMN %s;\n", q(t.Name), def)
		}
	}
	if d != MySQL {
		for _, ix := range ch.indexes {
			stmt, err := createIndex(d, t, ix, true)
			if err != nil {
				return err
			}
			b.WriteString(stmt)
		}
	}
	b.WriteString("\n")
	return nil
}

// alterDown writes the statements that remove what alterUp added.
func alterDown(b *strings.Builder, d string, ch change) {
	t := ch.table
	q := func(s string) string { return Quote(d, s) }
	if d == MySQL {
		var parts []string
		for _, ix := range ch.indexes {
			parts = append(parts, "DROP KEY "+q(ix.Name))
		}
		for _, c := range ch.columns {
			parts = append(parts, "DROP COLUMN "+q(c.Name))
		}
		fmt.Fprintf(b, "ALTER TABLE %s\n    %s;\n", q(t.Name), strings.Join(parts, ",\n    "))
		return
	}
	for i := len(ch.indexes) - 1; i >= 0; i-- {
		switch d {
		case SQLServer:
			fmt.Fprintf(b, "DROP INDEX IF EXISTS %s ON %s;\n", q(ch.indexes[i].Name), q(t.Name))
		default:
			fmt.Fprintf(b, "DROP INDEX IF EXISTS %s;\n", q(ch.indexes[i].Name))
		}
	}
	switch d {
	case SQLServer:
		var drop []string
		for _, name := range sqlServerNewPrefixes(ch) {
			drop = append(drop, q(name+PrefixSuffix))
		}
		for _, c := range ch.columns {
			if c.Type == schema.JSON {
				fmt.Fprintf(b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", q(t.Name), q("ck_"+t.Name+"_"+c.Name+"_json"))
			}
			drop = append(drop, q(c.Name))
		}
		if len(drop) > 0 {
			fmt.Fprintf(b, "ALTER TABLE %s DROP COLUMN IF EXISTS %s;\n", q(t.Name), strings.Join(drop, ", "))
		}
	case Postgres:
		for i := len(ch.columns) - 1; i >= 0; i-- {
			fmt.Fprintf(b, "ALTER TABLE %s DROP COLUMN IF EXISTS %s;\n", q(t.Name), q(ch.columns[i].Name))
		}
	case SQLite:
		for i := len(ch.columns) - 1; i >= 0; i-- {
			fmt.Fprintf(b, "ALTER TABLE %s DROP COLUMN %s;\n", q(t.Name), q(ch.columns[i].Name))
		}
	}
}

// sqlServerNewPrefixes lists the Text columns that ch's new indexes cover and that have no
// indexed prefix column yet (no index of an earlier version covers them).
func sqlServerNewPrefixes(ch change) []string {
	var out []string
	for _, ix := range ch.indexes {
		for _, name := range ix.Columns {
			c, _ := ch.table.Column(name)
			if c.Type != schema.Text && c.Type != schema.JSON {
				continue
			}
			if slices.Contains(out, name) {
				continue
			}
			older := false
			for _, other := range ch.table.Indexes {
				isNew := slices.ContainsFunc(ch.indexes, func(ix schema.Index) bool { return ix.Name == other.Name })
				if !isNew && slices.Contains(other.Columns, name) {
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
