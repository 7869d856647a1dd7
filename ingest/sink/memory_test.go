package sink_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// TestBoundMemorySetsSQLitePragmas: the bounds reach the SQLite connection as its page
// cache and memory map, a DSN that sets its own keeps it, and other drivers' DSNs are
// left alone.
func TestBoundMemorySetsSQLitePragmas(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, query        string
		wantCache, wantMap int64
	}{
		{"bounded", "", -32768, 32 << 20},
		{"dsn's own cache", "?_pragma=cache_size(-1000)", -1000, 32 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := sink.BoundMemory("sqlite3", filepath.Join(t.TempDir(), "m.db")+tc.query, 32<<20, 32<<20)
			s, err := sink.Open(ctx, "sqlite", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var cache, mmap int64
			db := s.Handle().DB
			if err := db.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(ctx, "PRAGMA mmap_size").Scan(&mmap); err != nil {
				t.Fatal(err)
			}
			if cache != tc.wantCache || mmap != tc.wantMap {
				t.Errorf("%s: cache_size %d, mmap_size %d; want %d and %d", dsn, cache, mmap, tc.wantCache, tc.wantMap)
			}
		})
	}
	pg := "postgres://u@h/db?sslmode=disable"
	if got := sink.BoundMemory("postgres", pg, 1<<20, 1<<20); got != pg {
		t.Errorf("postgres DSN changed to %q", got)
	}
}
