package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

func TestPruneCommand(t *testing.T) {
	if code, out := runCLI(t, "prune"); code != exitUsage || !strings.Contains(out, "--older-than is required") {
		t.Errorf("prune without --older-than: exit %d\n%s", code, out)
	}
	if code, out := runCLI(t, "prune", "--older-than", "soon"); code != exitUsage || !strings.Contains(out, "bad duration") {
		t.Errorf("prune --older-than soon: exit %d\n%s", code, out)
	}
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			dsn := sinktest.DSN(t, driver)
			ctx := context.Background()
			s, err := sink.Open(ctx, driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := sink.Migrate(ctx, s); err != nil {
				t.Fatal(err)
			}
			old := sinktest.Record("old", map[string]any{"creation_time": time.Now().UTC().AddDate(-2, 0, 0)})
			recent := sinktest.Record("recent", map[string]any{"creation_time": time.Now().UTC().AddDate(0, 0, -1)})
			if _, err := s.Load(ctx, sink.Batch{Records: []schema.Record{old, recent}}); err != nil {
				t.Fatal(err)
			}
			code, out := runCLI(t, "prune", "--sink", driver, "--dsn", dsn, "--older-than", "365d")
			if code != exitOK || !strings.Contains(out, "pruned 1 records") {
				t.Fatalf("exit %d\n%s", code, out)
			}
			var ids []string
			rows, err := s.Handle().DB.Query("SELECT id FROM audit_record")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				rows.Scan(&id)
				ids = append(ids, id)
			}
			rows.Close()
			if len(ids) != 1 || ids[0] != "recent" {
				t.Errorf("left %v, want [recent]", ids)
			}
		})
	}
}
