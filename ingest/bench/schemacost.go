package bench

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/schema"
)

// LimitBeforeVersion is the schema version the bench's "before" limit is measured on:
// the schema as released before version 9 (schema cost: raw as json on PostgreSQL, the
// indexes no documented question uses dropped). goose applies the newest version at
// or below it.
const LimitBeforeVersion = 8

// Variant is one schema the --schema-cost mode measures the bulk-load limit on: a
// fresh database migrated to Version (0: the newest), then changed by the SQL of Setup
// (run in order), loaded with Shape.
type Variant struct {
	Name    string
	Version int64
	Setup   []string
	Shape   sink.LimitShape
}

// CostResult is one variant's measured limit (the best of the rounds) and bytes per
// record; Rounds holds every round's.
type CostResult struct {
	Variant Variant
	Limit   Phase
	Sizes   Sizes
	Rounds  []Phase
}

// narrowColumns are the columns of the narrow-table variants: the record's identity,
// time and raw document, every typed column left NULL.
var narrowColumns = []string{"id", "tenant_id", "content_type", "content_id", "creation_time", "ingested_at", "raw"}

// secondaryIndexes lists the secondary indexes (ix_*) of table in the database s has.
func secondaryIndexes(ctx context.Context, s sink.Sink, table string) ([]string, error) {
	h := s.Handle()
	var q string
	switch h.Dialect.Name() {
	case sink.DialectPostgres:
		q = `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 AND indexname LIKE 'ix\_%' ORDER BY indexname`
	case sink.DialectMySQL:
		q = `SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME LIKE 'ix\_%' ORDER BY INDEX_NAME`
	case sink.DialectSQLite:
		q = `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND name LIKE 'ix\_%' ESCAPE '\' ORDER BY name`
	default:
		return nil, fmt.Errorf("%s: --schema-cost runs on postgres, mysql and sqlite", h.Dialect.Name())
	}
	rows, err := h.DB.QueryContext(ctx, q, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// dropIndex returns the statement that drops index name of table.
func dropIndex(dialect, table, name string) string {
	if dialect == sink.DialectMySQL {
		return fmt.Sprintf("ALTER TABLE %s DROP KEY %s", table, name)
	}
	return "DROP INDEX " + name
}

// rawType returns the type of audit_record.raw on PostgreSQL ("" elsewhere).
func rawType(ctx context.Context, s sink.Sink) (string, error) {
	h := s.Handle()
	if h.Dialect.Name() != sink.DialectPostgres {
		return "", nil
	}
	var t string
	err := h.DB.QueryRowContext(ctx, `SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'audit_record' AND column_name = 'raw'`).Scan(&t)
	return t, err
}

// Variants lists the schema-cost variants for the database s has (migrated to the
// newest version): the schema as released before version 9 and as it is now; raw as
// each other type (PostgreSQL: jsonb, json, text; MySQL/MariaDB: LONGTEXT without the
// JSON check); each secondary index dropped in turn; every secondary index dropped; no
// property rows; the typed columns left NULL; a narrow table (those columns, no
// secondary index, no properties).
func Variants(ctx context.Context, s sink.Sink) ([]Variant, error) {
	d := s.Handle().Dialect.Name()
	raw, err := rawType(ctx, s)
	if err != nil {
		return nil, err
	}
	scrub := raw == "jsonb"
	out := []Variant{
		{Name: "full schema (current)", Shape: sink.LimitShape{ScrubRaw: scrub}},
		{Name: fmt.Sprintf("schema before 00009 (version %d)", LimitBeforeVersion), Version: LimitBeforeVersion, Shape: sink.LimitShape{ScrubRaw: true}},
	}
	switch d {
	case sink.DialectPostgres:
		// TOAST compression of raw (the largest value of a row past ~2 KB): version 9
		// sets lz4 on PostgreSQL 14 and later; pglz is the server's default.
		var comp string
		if err := s.Handle().DB.QueryRowContext(ctx, `SELECT COALESCE(NULLIF(attcompression, ''), 'p') FROM pg_attribute WHERE attrelid = to_regclass('audit_record') AND attname = 'raw'`).Scan(&comp); err == nil {
			other := map[string]string{"l": "pglz", "p": "lz4"}[comp]
			if other != "" {
				out = append(out, Variant{Name: "raw compressed with " + other, Shape: sink.LimitShape{ScrubRaw: scrub}, Setup: []string{
					"ALTER TABLE audit_record ALTER COLUMN raw SET COMPRESSION " + other,
					"ALTER TABLE audit_record_default ALTER COLUMN raw SET COMPRESSION " + other}})
			}
		}
		for _, t := range []string{"jsonb", "json", "text"} {
			if t != raw {
				out = append(out, Variant{Name: "raw as " + t, Setup: []string{"ALTER TABLE audit_record ALTER COLUMN raw TYPE " + t},
					Shape: sink.LimitShape{ScrubRaw: t == "jsonb"}})
			}
		}
	case sink.DialectMySQL:
		out = append(out, Variant{Name: "raw as LONGTEXT (no JSON check)", Setup: []string{"ALTER TABLE audit_record MODIFY raw LONGTEXT NOT NULL"}})
	}
	var all []string
	for _, t := range []string{"audit_record", "audit_property"} {
		ixs, err := secondaryIndexes(ctx, s, t)
		if err != nil {
			return nil, err
		}
		for _, ix := range ixs {
			stmt := dropIndex(d, t, ix)
			all = append(all, stmt)
			out = append(out, Variant{Name: "without " + ix, Setup: []string{stmt}, Shape: sink.LimitShape{ScrubRaw: scrub}})
		}
	}
	out = append(out,
		Variant{Name: "without any secondary index", Setup: all, Shape: sink.LimitShape{ScrubRaw: scrub}},
		Variant{Name: "without property rows", Shape: sink.LimitShape{NoProps: true, ScrubRaw: scrub}},
		Variant{Name: fmt.Sprintf("%d of %d columns (typed columns NULL)", len(narrowColumns), len(schema.AuditRecord.Columns)),
			Shape: sink.LimitShape{Columns: narrowColumns, ScrubRaw: scrub}},
		Variant{Name: "narrow table (those columns, no secondary index, no properties)", Setup: all,
			Shape: sink.LimitShape{Columns: narrowColumns, NoProps: true, ScrubRaw: scrub}},
	)
	return out, nil
}

// loadLimit bulk-loads recs into s in chunks of chunk records, timing only the loads.
func loadLimit(ctx context.Context, s sink.Sink, recs []schema.Record, chunk int, shape sink.LimitShape) (Phase, error) {
	bl, ok := s.(sink.ShapedBulkLimiter)
	if !ok {
		return Phase{}, fmt.Errorf("sink %s has no shaped bulk-load path", s.Handle().Dialect.Name())
	}
	var p Phase
	for i := 0; i < len(recs); i += chunk {
		part := recs[i:min(i+chunk, len(recs))]
		runtime.GC()
		start := time.Now()
		if err := bl.BulkLimitShape(ctx, part, shape); err != nil {
			return p, err
		}
		p.Duration += time.Since(start)
		p.Records += len(part)
	}
	return p, nil
}

// measureVariant makes a fresh database for v, loads recs and reads the sizes.
func (o *Options) measureVariant(ctx context.Context, v Variant, recs []schema.Record) (CostResult, error) {
	res := CostResult{Variant: v}
	db, err := Fresh(ctx, o.Driver, o.DSN)
	if err != nil {
		return res, err
	}
	defer db.Drop(context.WithoutCancel(ctx))
	s, err := sink.Open(ctx, db.Driver, sink.BoundMemory(db.Driver, db.DSN, o.SQLiteCache, o.SQLiteMmap))
	if err != nil {
		return res, err
	}
	defer s.Close()
	if v.Version > 0 {
		err = sink.MigrateTo(ctx, s, v.Version)
	} else {
		err = sink.Migrate(ctx, s)
	}
	if err != nil {
		return res, err
	}
	for _, stmt := range v.Setup {
		if _, err := s.Handle().DB.ExecContext(ctx, stmt); err != nil {
			return res, fmt.Errorf("%s: %s: %w", v.Name, stmt, err)
		}
	}
	if res.Limit, err = loadLimit(ctx, s, recs, o.ChunkRecords, v.Shape); err != nil {
		return res, fmt.Errorf("%s: %w", v.Name, err)
	}
	if err := analyze(ctx, s.Handle().DB, s.Handle().Dialect.Name()); err != nil {
		return res, err
	}
	res.Sizes, err = MeasureSizes(ctx, s.Handle())
	return res, err
}

// SchemaCost measures what each part of the schema costs the database's bulk loader
// (`o365ingest bench --schema-cost`): the emulator's records are fetched and
// normalized once (untimed, held in memory), then each Variant gets a fresh database
// and the same rows through the same loader as the limit of Run. It prints a line per
// variant (records/s, its ratio to the current schema, bytes per record) and returns
// the results, the current schema first and the schema before 00009 second. With
// Options.CostRounds every variant is measured that many times, round-robin (a load
// spike of a shared machine then hits one round of each, not all of one variant), and
// the best round counts.
func SchemaCost(ctx context.Context, o Options) ([]CostResult, error) {
	o.defaults()
	emu, err := o.Emulator(ctx, o.spec(0, 0))
	if err != nil {
		return nil, fmt.Errorf("starting the emulator: %w", err)
	}
	defer emu.Close()
	tenant, err := tenantOf(ctx, emu, "bench", o.Logger)
	if err != nil {
		return nil, err
	}
	var recs []schema.Record
	seen := map[string]bool{}
	if err := eachRecord(ctx, tenant, func(r schema.Record) error {
		if !seen[r.ID] {
			seen[r.ID] = true
			recs = append(recs, r)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	props := 0
	for _, r := range recs {
		props += len(r.Props)
	}
	fmt.Fprintf(o.Out, "schema cost: %d records (%.1f property rows a record), each variant on a fresh database, loaded in chunks of %d\n",
		len(recs), float64(props)/float64(max(len(recs), 1)), o.ChunkRecords)

	// The variants are listed on a database migrated to the newest version.
	probe, err := o.probeVariants(ctx)
	if err != nil {
		return nil, err
	}
	if len(o.CostVariants) > 0 {
		// The current schema and the one before 00009 always, then those named.
		kept := probe[:2]
		for _, v := range probe[2:] {
			for _, want := range o.CostVariants {
				if want != "" && strings.Contains(v.Name, want) {
					kept = append(kept, v)
					break
				}
			}
		}
		probe = kept
	}
	rounds := max(o.CostRounds, 1)
	out := make([]CostResult, len(probe))
	for round := 1; round <= rounds; round++ {
		for i, v := range probe {
			r, err := o.measureVariant(ctx, v, recs)
			if err != nil {
				return nil, err
			}
			out[i].Variant, out[i].Sizes = v, r.Sizes
			out[i].Rounds = append(out[i].Rounds, r.Limit)
			if r.Limit.RPS() > out[i].Limit.RPS() {
				out[i].Limit = r.Limit
			}
			if rounds > 1 {
				fmt.Fprintf(o.Out, "schema cost: round %d: %-60s %8.0f records/s\n", round, v.Name, r.Limit.RPS())
			}
		}
	}
	base := out[0].Limit.RPS()
	for _, r := range out {
		s := r.Sizes
		total := s.RecordTable + s.RecordIndexes + s.PropertyTable + s.PropertyIndexes
		var each []string
		for _, p := range r.Rounds {
			each = append(each, fmt.Sprintf("%.0f", p.RPS()))
		}
		fmt.Fprintf(o.Out, "schema cost: %-66s %8.0f records/s  %5.2f x current  %6.0f bytes/record  (rounds: %s)\n",
			r.Variant.Name, r.Limit.RPS(), ratio(r.Limit.RPS(), base), s.PerRecord(total), strings.Join(each, " "))
	}
	for _, r := range out[:min(2, len(out))] {
		fmt.Fprintf(o.Out, "%s: ", r.Variant.Name)
		PrintSizes(o.Out, r.Sizes)
	}
	return out, nil
}

func (o *Options) probeVariants(ctx context.Context) ([]Variant, error) {
	db, err := Fresh(ctx, o.Driver, o.DSN)
	if err != nil {
		return nil, err
	}
	defer db.Drop(context.WithoutCancel(ctx))
	s, err := sink.Open(ctx, db.Driver, db.DSN)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := sink.Migrate(ctx, s); err != nil {
		return nil, err
	}
	return Variants(ctx, s)
}

// CostLine is the line beside RESULT for --schema-cost: each variant's limit.
func CostLine(driver string, rs []CostResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SCHEMA_COST sink=%s", driver)
	if len(rs) > 0 {
		fmt.Fprintf(&b, " records=%d limit_rps=%.0f", rs[0].Limit.Records, rs[0].Limit.RPS())
	}
	if len(rs) > 1 {
		fmt.Fprintf(&b, " limit_before_rps=%.0f limit_gain=%.2f", rs[1].Limit.RPS(), ratio(rs[0].Limit.RPS(), rs[1].Limit.RPS()))
	}
	return b.String()
}
