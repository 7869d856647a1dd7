package sink

import (
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/schema"
)

// TestCheckPropsRepeatedOrdinal: a (list, ordinal) given twice is refused whether the
// record has a few properties (checked pairwise) or many (checked with a map), and
// the same ordinal in two lists is not a repeat.
func TestCheckPropsRepeatedOrdinal(t *testing.T) {
	for _, n := range []int{3, 32, 33, 100} {
		var props []schema.Property
		for i := range n {
			props = append(props, schema.Property{List: "Parameters", Ordinal: i, Name: "p", Value: sql.NullString{String: "v", Valid: true}})
		}
		props = append(props, schema.Property{List: "Actor", Ordinal: 0, Name: "UPN"})
		r := schema.Record{ID: "r1", Props: props}
		if err := checkProps(r, runeLen); err != nil {
			t.Errorf("%d properties, none repeated: %v", n, err)
		}
		r.Props = append(props[:len(props):len(props)], schema.Property{List: "Parameters", Ordinal: n / 2, Name: "again"})
		err := checkProps(r, runeLen)
		if err == nil || !strings.Contains(err.Error(), "two properties at (Parameters[") {
			t.Errorf("%d properties, one repeated: %v, want it refused", n, err)
		}
	}
}

// TestPropSourceRows: the PostgreSQL property COPY source gives, row by row, what
// propValues gives (NUL scrubbed), across records and lists, with a NUL in an id.
func TestPropSourceRows(t *testing.T) {
	val := sql.NullString{String: "v", Valid: true}
	recs := []schema.Record{
		{ID: "a", Props: []schema.Property{{List: "Parameters", Ordinal: 0, Name: "x", Value: val}, {List: "Parameters", Ordinal: 1, Name: "y"}, {List: "Actor", Ordinal: 0, Name: "UPN", Value: val, OldValue: val}}},
		{ID: "b"},
		{ID: "c\x00", Props: []schema.Property{{List: "Actor", Ordinal: 0, Name: "n\x00"}, {List: "Actor", Ordinal: 1}}},
	}
	var want [][]any
	for _, r := range recs {
		for _, p := range r.Props {
			row := propValues(r.ID, p)
			pgScrubNUL(row, nil)
			want = append(want, row)
		}
	}
	src := newPropSource(recs)
	i := 0
	for src.Next() {
		got, _ := src.Values()
		if i >= len(want) || !slices.Equal(got, want[i]) {
			t.Fatalf("row %d = %v, want %v", i, got, want[min(i, len(want)-1)])
		}
		i++
	}
	if i != len(want) {
		t.Fatalf("%d rows, want %d", i, len(want))
	}
}
