package sink

import (
	"database/sql"
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
