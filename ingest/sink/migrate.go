package sink

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"path"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/o365ingest/o365ingest/migrations"
)

// MigrationStatus is one migration and whether the database has it.
type MigrationStatus struct {
	// Version is the migration's number (00001_init.sql → 1).
	Version int64
	// Name is its file name.
	Name string
	// Applied reports whether the database has it; AppliedAt is when (zero if pending).
	Applied   bool
	AppliedAt time.Time
}

// MigrateOption configures Migrate, MigrateDown and MigrateStatus.
type MigrateOption func(*migrateConfig)

type migrateConfig struct {
	logger *slog.Logger
}

// MigrateLogger sends goose's progress messages (one per migration applied) to l. Without
// it they are discarded.
func MigrateLogger(l *slog.Logger) MigrateOption {
	return func(c *migrateConfig) { c.logger = l }
}

// provider builds a goose Provider over the sink's database and its dialect's embedded
// migrations, with a cross-process lock where goose has one: a PostgreSQL advisory lock
// (its id derived from the database and schema, so tests migrating separate schemas of
// one database in parallel do not queue) and MySQL's goose_lock table. SQL Server has no
// goose locker: migrate it from one process. SQLite has one writer anyway.
func provider(ctx context.Context, s Sink, locking bool, opts []MigrateOption) (*goose.Provider, error) {
	cfg := migrateConfig{logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	gd := s.Handle().Dialect.goose
	if gd == "" {
		return nil, fmt.Errorf("no goose dialect for sink dialect %q", s.Handle().Dialect.Name())
	}
	fsys, err := migrations.FS(s.Handle().Dialect.Name())
	if err != nil {
		return nil, err
	}
	popts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithSlog(cfg.logger)}
	if locking {
		switch s.Handle().Dialect.Name() {
		case DialectPostgres:
			var where string
			if err := s.Handle().DB.QueryRowContext(ctx, "SELECT current_database() || '.' || current_schema()").Scan(&where); err != nil {
				return nil, fmt.Errorf("reading the current schema: %w", err)
			}
			l, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(crc32.ChecksumIEEE([]byte("o365ingest migrate " + where)))))
			if err != nil {
				return nil, err
			}
			popts = append(popts, goose.WithSessionLocker(l))
		case DialectMySQL:
			l, err := lock.NewMySQLTableLocker()
			if err != nil {
				return nil, err
			}
			popts = append(popts, goose.WithLocker(l))
		}
	}
	return goose.NewProvider(gd, s.Handle().DB, fsys, popts...)
}

// Migrate applies every pending migration, then makes the record_type and user_type
// lookup tables hold the names this binary knows. Running it again is a no-op. Every
// command that touches the database runs it first; migrations are additive.
func Migrate(ctx context.Context, s Sink, opts ...MigrateOption) error {
	p, err := provider(ctx, s, true, opts)
	if err != nil {
		return fmt.Errorf("%s: preparing migrations: %w", s.Handle().Dialect.Name(), err)
	}
	if err := repairVersionTable(ctx, s); err != nil {
		return fmt.Errorf("%s: %w", s.Handle().Dialect.Name(), err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("%s: migrating up: %w", s.Handle().Dialect.Name(), err)
	}
	forgetDescriptions(s)
	b, ok := s.(interface{ lookups() *base })
	if !ok {
		return fmt.Errorf("%s: sink %T cannot fill the lookup tables", s.Handle().Dialect.Name(), s)
	}
	return b.lookups().syncLookups(ctx)
}

// MigrateDown rolls back the most recent migration. Rolling back 00001 drops every
// table: it is for development and tests, never for a database holding evidence.
func MigrateDown(ctx context.Context, s Sink, opts ...MigrateOption) error {
	p, err := provider(ctx, s, true, opts)
	if err != nil {
		return fmt.Errorf("%s: preparing migrations: %w", s.Handle().Dialect.Name(), err)
	}
	if _, err := p.Down(ctx); err != nil {
		if errors.Is(err, goose.ErrNoNextVersion) {
			return fmt.Errorf("%s: migrating down: no migration is applied", s.Handle().Dialect.Name())
		}
		return fmt.Errorf("%s: migrating down: %w", s.Handle().Dialect.Name(), err)
	}
	forgetDescriptions(s)
	return nil
}

// forgetDescriptions makes a sink forget what it cached of the tables' column types
// once a migration may have changed them: pgx caches each COPY's statement description
// per connection, and after 00009 (raw jsonb to json) a cached description would send
// jsonb's binary format to a json column. A process that was loading while another
// migrated keeps its cache: stop ingest before migrating (see migrations/README.md).
func forgetDescriptions(s Sink) {
	if r, ok := s.(interface{ resetConns() }); ok {
		r.resetConns()
	}
}

// MigrateStatus lists every migration the binary has, in version order, and whether the
// database has it. It takes no lock and changes nothing but goose's version table, which
// it creates when missing.
func MigrateStatus(ctx context.Context, s Sink, opts ...MigrateOption) ([]MigrationStatus, error) {
	p, err := provider(ctx, s, false, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: preparing migrations: %w", s.Handle().Dialect.Name(), err)
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: reading migration status: %w", s.Handle().Dialect.Name(), err)
	}
	out := make([]MigrationStatus, len(st))
	for i, m := range st {
		out[i] = MigrationStatus{
			Version:   m.Source.Version,
			Name:      path.Base(m.Source.Path),
			Applied:   m.State == goose.StateApplied,
			AppliedAt: m.AppliedAt,
		}
	}
	return out, nil
}

// repairVersionTable gives back goose's zero-version row to a version table a crash left
// empty. goose creates its table and inserts version 0 in one transaction, but MySQL
// commits CREATE TABLE implicitly: a process killed between the two leaves a table with
// no rows, and every later migration then fails with "missing zero version migration"
// for ever. An empty table means nothing was applied, so the row goose would have
// written is the whole repair. Other dialects create both in one transaction.
func repairVersionTable(ctx context.Context, s Sink) error {
	if s.Handle().Dialect.Name() != DialectMySQL {
		return nil
	}
	db := s.Handle().DB
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", goose.DefaultTablename).Scan(&n); err != nil {
		return fmt.Errorf("checking goose's version table: %w", err)
	}
	if n == 0 {
		return nil
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+goose.DefaultTablename).Scan(&n); err != nil {
		return fmt.Errorf("reading goose's version table: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO "+goose.DefaultTablename+" (version_id, is_applied) VALUES (0, TRUE)"); err != nil {
		return fmt.Errorf("restoring the zero version a crash left out of goose's version table: %w", err)
	}
	return nil
}

// lookups gives Migrate the shared implementation of every sink.
func (s *base) lookups() *base { return s }

// MigrateTo applies the pending migrations up to and including version (the newest one
// at or below it when version itself does not exist), then fills the lookup tables as
// Migrate does. The benchmark uses it to measure the schema as an earlier release left
// it; ingest always runs Migrate.
func MigrateTo(ctx context.Context, s Sink, version int64, opts ...MigrateOption) error {
	p, err := provider(ctx, s, true, opts)
	if err != nil {
		return fmt.Errorf("%s: preparing migrations: %w", s.Handle().Dialect.Name(), err)
	}
	if err := repairVersionTable(ctx, s); err != nil {
		return fmt.Errorf("%s: %w", s.Handle().Dialect.Name(), err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("%s: migrating up to %d: %w", s.Handle().Dialect.Name(), version, err)
	}
	forgetDescriptions(s)
	b, ok := s.(interface{ lookups() *base })
	if !ok {
		return fmt.Errorf("%s: sink %T cannot fill the lookup tables", s.Handle().Dialect.Name(), s)
	}
	return b.lookups().syncLookups(ctx)
}
