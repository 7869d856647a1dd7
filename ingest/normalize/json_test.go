package normalize

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestJSONTextIsCompact holds jsonText of every object and array in the corpus (and in
// documents with whitespace in odd places) to what json.Compact makes of its text: the
// parser only skips the compaction when there is no whitespace between the tokens.
func TestJSONTextIsCompact(t *testing.T) {
	docs := []string{
		`{"a":[1,2,{"b":"x y"}],"c":{}}`,
		"{ \"a\" : [ 1 ,2,{\"b\" :\"x y\"} ] ,\"c\":{ },\"d\":[ ]\n}",
		`{"a":{"b":{"c":[[],[ ],[1 ]]}},"e":"\" { [ "}`,
		"\t[ {\"k\":\"v\"} ]\r\n",
	}
	files, _ := filepath.Glob(filepath.Join(corpusDir(t), "records", "*.jsonl"))
	for _, path := range files {
		for _, in := range corpusLines(t, path) {
			docs = append(docs, string(in.raw))
		}
	}
	checked := 0
	var walk func(v value)
	walk = func(v value) {
		switch v.kind {
		case objectKind, arrayKind:
			var want bytes.Buffer
			if err := json.Compact(&want, []byte(v.s)); err != nil {
				t.Fatalf("json.Compact(%q): %v", v.s, err)
			}
			if got := v.jsonText(); got != want.String() {
				t.Errorf("jsonText of %q = %q, want %q", v.s, got, want.String())
			}
			checked++
		}
		for _, m := range v.obj {
			walk(m.val)
		}
		for _, e := range v.arr {
			walk(e)
		}
	}
	for _, withArena := range []bool{false, true} {
		for _, d := range docs {
			var ar *arena
			if withArena {
				ar = arenas.Get().(*arena)
			}
			root, _, err := parseJSON(d, ar)
			if err != nil {
				continue // not every corpus line is JSON; those are refused elsewhere
			}
			walk(root)
			if ar != nil {
				ar.release()
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d containers checked", checked)
	}
}

// TestArenaLargeContainers parses containers larger than an arena chunk, and many
// small ones, through one reused arena, and checks every element survived.
func TestArenaLargeContainers(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"big":[`)
	for i := range 3 * arenaChunk {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"n":` + itoa(i) + `}`)
	}
	b.WriteString(`],"small":[[1],[2],[3]]}`)
	for round := range 3 {
		ar := arenas.Get().(*arena)
		root, _, err := parseJSON(b.String(), ar)
		if err != nil {
			t.Fatal(err)
		}
		big, _ := root.get("big")
		if len(big.arr) != 3*arenaChunk {
			t.Fatalf("round %d: %d elements", round, len(big.arr))
		}
		for i, e := range big.arr {
			if n, ok := e.get("n"); !ok || n.s != itoa(i) {
				t.Fatalf("round %d: element %d is %+v", round, i, e)
			}
		}
		small, _ := root.get("small")
		if small.jsonText() != "[[1],[2],[3]]" || len(small.arr) != 3 || small.arr[2].arr[0].s != "3" {
			t.Fatalf("round %d: small = %+v", round, small)
		}
		ar.release()
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
