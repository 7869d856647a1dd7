package migrations_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// TestMySQLVersionStoppedHalfwayRunsAgain: MySQL commits every DDL statement on its
// own, so a process killed inside a version (or after its statements, before goose
// records it) leaves its changes applied and the version unrecorded; the next Migrate
// runs the whole version again. For every version after the released ones, this applies
// it, forgets it (as such a crash does) and migrates again: every statement must be
// re-runnable, and the database must end at the newest version. With every statement of
// the version applied, each statement's guard is exercised; a stop between statements
// leaves a subset of them, which the same guards cover.
func TestMySQLVersionStoppedHalfwayRunsAgain(t *testing.T) {
	for v := int64(released) + 1; v <= int64(schema.Newest()); v++ {
		t.Run(fmt.Sprintf("version %d", v), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			s := sinktest.OpenUnmigrated(t, "mysql")
			p := gooseProvider(t, s)
			if _, err := p.UpTo(ctx, v); err != nil {
				t.Fatalf("migrating to version %d: %v", v, err)
			}
			if _, err := s.Handle().DB.ExecContext(ctx, "DELETE FROM goose_db_version WHERE version_id = ?", v); err != nil {
				t.Fatal(err)
			}
			if err := sink.Migrate(ctx, s); err != nil {
				t.Fatalf("migrating again over version %d applied but not recorded: %v", v, err)
			}
			if got, err := p.GetDBVersion(ctx); err != nil || got != int64(schema.Newest()) {
				t.Fatalf("version %d (%v), want %d", got, err, schema.Newest())
			}
			// And down through it again, forgetting the step down the same way.
			if _, err := p.DownTo(ctx, v-1); err != nil {
				t.Fatalf("migrating down to %d: %v", v-1, err)
			}
		})
	}
}
