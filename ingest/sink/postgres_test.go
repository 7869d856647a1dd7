package sink_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// TestPostgresNUL: jsonb cannot hold \u0000 and text cannot hold NUL; the PostgreSQL sink
// stores U+FFFD instead and says so in parse_notes, rather than failing the whole batch.
func TestPostgresNUL(t *testing.T) {
	s := sinktest.Open(t, "postgres")
	r := sinktest.Record("nul-1", map[string]any{
		"raw":          `{"Id":"nul-1","Subject":"a\u0000b"}`,
		"item_subject": "a\x00b",
		"parse_notes":  "earlier note",
	})
	r.Props = []schema.Property{{List: "Parameters", Name: "P", Value: sql.NullString{String: "x\x00y", Valid: true}}}
	if _, err := s.Load(ctxT(t), sink.RecordsOnly(r)); err != nil {
		t.Fatal(err)
	}
	got := readRecords(t, s)["nul-1"]
	at := func(c string) any { return got[schema.AuditRecord.ColumnIndex(c)] }
	if !jsonEqual(t, at("raw").(string), `{"Id":"nul-1","Subject":"a\ufffdb"}`) {
		t.Errorf("raw = %s", at("raw"))
	}
	if at("item_subject") != "a\uFFFDb" {
		t.Errorf("item_subject = %q", at("item_subject"))
	}
	notes, _ := at("parse_notes").(string)
	for _, want := range []string{"earlier note", `raw: \u0000 replaced by \ufffd for PostgreSQL jsonb`, "item_subject: NUL replaced", "audit_property: NUL replaced"} {
		if !strings.Contains(notes, want) {
			t.Errorf("parse_notes %q lacks %q", notes, want)
		}
	}
	if p := readProps(t, s, "nul-1"); len(p) != 1 || p[0].Value.String != "x\uFFFDy" {
		t.Errorf("properties = %+v", p)
	}
}
