package sink_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// TestPostgresNUL: text cannot hold NUL; the PostgreSQL sink stores U+FFFD instead and
// says so in parse_notes, rather than failing the whole batch. raw (json since version
// 9) keeps the record byte for byte: \u0000, a lone surrogate escape, key order,
// whitespace and a duplicate key, which jsonb changed.
func TestPostgresNUL(t *testing.T) {
	s := sinktest.Open(t, "postgres")
	const raw = `{"Subject":"a\u0000b",  "Id":"nul-1", "Half":"\ud83d", "Id":"nul-1"}`
	r := sinktest.Record("nul-1", map[string]any{
		"raw":          raw,
		"item_subject": "a\x00b",
		"parse_notes":  "earlier note",
	})
	r.Props = []schema.Property{{List: "Parameters", Name: "P", Value: sql.NullString{String: "x\x00y", Valid: true}}}
	if _, err := s.Load(ctxT(t), sink.RecordsOnly(r)); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := s.Handle().DB.QueryRowContext(ctxT(t), `SELECT raw::text FROM audit_record WHERE id = 'nul-1'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != raw {
		t.Errorf("raw = %s\nwant %s (byte for byte)", stored, raw)
	}
	got := readRecords(t, s)["nul-1"]
	at := func(c string) any { return got[schema.AuditRecord.ColumnIndex(c)] }
	if at("raw") != raw {
		t.Errorf("raw read back = %s", at("raw"))
	}
	if at("item_subject") != "a\uFFFDb" {
		t.Errorf("item_subject = %q", at("item_subject"))
	}
	notes, _ := at("parse_notes").(string)
	for _, want := range []string{"earlier note", "item_subject: NUL replaced", "audit_property: NUL replaced"} {
		if !strings.Contains(notes, want) {
			t.Errorf("parse_notes %q lacks %q", notes, want)
		}
	}
	if p := readProps(t, s, "nul-1"); len(p) != 1 || p[0].Value.String != "x\uFFFDy" {
		t.Errorf("properties = %+v", p)
	}
	if strings.Contains(notes, "raw") {
		t.Errorf("parse_notes %q: raw is kept as received", notes)
	}
}
