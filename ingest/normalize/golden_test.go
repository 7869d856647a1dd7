package normalize

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/o365ingest/o365ingest/internal/corpus"
	"github.com/o365ingest/o365ingest/schema"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the corpus")

// corpusDir is ../shared/corpus (the test skips without it, fails under CI).
func corpusDir(t testing.TB) string { return corpus.Dir(t) }

// input is one record handed to the normalizer, keyed by the line it starts on.
type input struct {
	line int
	raw  []byte
}

// corpusLines splits a JSON Lines file into its non-blank lines.
func corpusLines(t testing.TB, path string) []input {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []input
	for i, l := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, input{line: i + 1, raw: l})
		}
	}
	return out
}

// powershellInputs feeds the Search-UnifiedAuditLog listing twice: whole (not JSON at
// all), and just its AuditData block (JSON with unescaped backslashes and a duplicate
// key). Both must be refused with a reason, never panic.
func powershellInputs(t testing.TB, path string) []input {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := []input{{line: 1, raw: data}}
	lines := strings.Split(string(data), "\n")
	start, end := -1, -1
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "AuditData"):
			start = i + 1
		case strings.HasPrefix(l, "ResultIndex"):
			end = i
		}
	}
	if start < 0 || end < start {
		t.Fatalf("%s: no AuditData block found", path)
	}
	return append(out, input{line: start + 1, raw: []byte(strings.Join(lines[start:end], "\n"))})
}

var goldenTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// goldenEntry renders one normalization result: the non-NULL columns in column order
// (raw and ingested_at are checked here instead: they would only repeat the input), the
// properties one per line, or the error.
func goldenEntry(t testing.TB, in input, src Source, rec schema.Record, err error) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("{\n")
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("line %d: error %v is not a *normalize.Error", in.line, err)
		}
		if q := Quarantine(in.raw, in.line, err); q.RecordID != e.RecordID || q.Reason != e.Reason {
			t.Errorf("line %d: quarantine entry %+v does not carry the error %+v", in.line, q, e)
		}
		b.WriteString(`    "record_id": ` + mustJSON(t, e.RecordID) + ",\n")
		b.WriteString(`    "error": ` + mustJSON(t, e.Reason) + "\n  }")
		return b.String()
	}
	if len(rec.Values) != len(schema.AuditRecord.Columns) {
		t.Fatalf("line %d: %d values for %d columns", in.line, len(rec.Values), len(schema.AuditRecord.Columns))
	}
	if want := strings.ToValidUTF8(string(in.raw), "\uFFFD"); rec.Value("raw") != want {
		t.Errorf("line %d: raw is not the record as received", in.line)
	}
	if got := rec.Value("ingested_at"); got != src.IngestedAt {
		t.Errorf("line %d: ingested_at = %v, want %v", in.line, got, src.IngestedAt)
	}
	b.WriteString(`    "columns": {`)
	first := true
	for i, c := range schema.AuditRecord.Columns {
		v := rec.Values[i]
		if v == nil || c.Name == "raw" || c.Name == "ingested_at" {
			continue
		}
		checkType(t, in.line, c, v)
		if tm, ok := v.(time.Time); ok {
			v = tm.Format(time.RFC3339Nano)
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString("\n      " + mustJSON(t, c.Name) + ": " + mustJSON(t, v))
	}
	b.WriteString("\n    }")
	if len(rec.Props) > 0 {
		// [list, ordinal, name, value, old_value]
		b.WriteString(`,` + "\n" + `    "props": [`)
		for i, p := range rec.Props {
			if i > 0 {
				b.WriteString(",")
			}
			row := []any{p.List, p.Ordinal, p.Name, nil, nil}
			if p.Value.Valid {
				row[3] = p.Value.String
			}
			if p.OldValue.Valid {
				row[4] = p.OldValue.String
			}
			b.WriteString("\n      " + mustJSON(t, row))
		}
		b.WriteString("\n    ]")
	}
	b.WriteString("\n  }")
	return b.String()
}

// checkType holds every value to the Go type its column's logical type promises.
func checkType(t testing.TB, line int, c schema.Column, v any) {
	t.Helper()
	ok := false
	switch c.Type {
	case schema.Text, schema.Key, schema.JSON:
		_, ok = v.(string)
	case schema.Int:
		_, ok = v.(int64)
	case schema.Bool:
		_, ok = v.(bool)
	case schema.Time:
		var tm time.Time
		tm, ok = v.(time.Time)
		ok = ok && tm.Location() == time.UTC
	}
	if !ok {
		t.Errorf("line %d: column %s (%s) holds %T %v", line, c.Name, c.Type, v, v)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestGoldenCorpus(t *testing.T) {
	corpus := corpusDir(t)
	files, err := filepath.Glob(filepath.Join(corpus, "records", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus records found (%v)", err)
	}
	files = append(files,
		filepath.Join(corpus, "synthetic", "beats-ip-formats.jsonl"),
		filepath.Join(corpus, "synthetic", "msdocs-AipFileDeleted.invalid-json.txt"))
	total, failed := 0, 0
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			// Files under records/ are normalized like an import (tenant from
			// OrganizationId); the synthetic ones carry no OrganizationId.
			src := Source{ContentType: "import", ContentID: name, IngestedAt: goldenTime}
			var ins []input
			if strings.HasSuffix(name, ".txt") {
				ins = powershellInputs(t, path)
			} else {
				ins = corpusLines(t, path)
			}
			if filepath.Base(filepath.Dir(path)) == "synthetic" {
				src.TenantID = "golden-tenant"
			}
			var b strings.Builder
			b.WriteString("{\n")
			for i, in := range ins {
				rec, err := Record(in.raw, src)
				total++
				if err != nil {
					failed++
				}
				if strings.HasSuffix(name, ".txt") && err == nil {
					t.Errorf("line %d: the PowerShell listing normalized without an error", in.line)
				}
				if i > 0 {
					b.WriteString(",\n")
				}
				b.WriteString("  " + strconv.Quote(strconv.Itoa(in.line)) + ": ")
				b.WriteString(goldenEntry(t, in, src, rec, err))
			}
			b.WriteString("\n}\n")
			got := []byte(b.String())
			if !json.Valid(got) {
				t.Fatalf("golden output is not JSON:\n%s", got)
			}
			golden := filepath.Join("testdata", "golden", name+".golden.json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./ingest/normalize -update to create it)", err)
			}
			if !bytes.Equal(want, got) {
				t.Errorf("%s differs from the normalizer's output; review the diff after `go test ./ingest/normalize -update`:\n%s",
					golden, firstDiff(want, got))
			}
		})
	}
	t.Logf("corpus: %d records normalized, %d refused", total-failed, failed)
}

// firstDiff shows the first differing line of two texts.
func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  golden: " + x + "\n  now:    " + y
		}
	}
	return "(no line differs)"
}

// FuzzRecord checks that no input panics and that a success is a well-formed row.
func FuzzRecord(f *testing.F) {
	corpus := corpusDir(f)
	files, _ := filepath.Glob(filepath.Join(corpus, "records", "*.jsonl"))
	files = append(files, filepath.Join(corpus, "synthetic", "beats-ip-formats.jsonl"))
	for _, path := range files {
		for _, in := range corpusLines(f, path) {
			f.Add(in.raw)
		}
	}
	f.Add([]byte(`{"Id":"x","CreationTime":"2020-01-01T00:00:00","OrganizationId":"o","Parameters":"[{\"Name\":1}]"}`))
	f.Add([]byte("{\"Id\":\"\xff\",\"CreationTime\":\"2020-01-01 00:00:00\",\"OrganizationId\":\"o\"}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		rec, err := Record(raw, Source{IngestedAt: goldenTime})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason == "" {
				t.Fatalf("error %v is not a *Error with a reason", err)
			}
			if q := Quarantine(raw, 0, err); !utf8.ValidString(q.Raw) || !utf8.ValidString(q.Reason) {
				t.Fatalf("quarantine entry is not valid UTF-8")
			}
			return
		}
		if rec.ID == "" || rec.Value("id") != rec.ID {
			t.Fatalf("success without an id: %q", rec.ID)
		}
		if len(rec.Values) != len(schema.AuditRecord.Columns) {
			t.Fatalf("%d values for %d columns", len(rec.Values), len(schema.AuditRecord.Columns))
		}
		for i, c := range schema.AuditRecord.Columns {
			v := rec.Values[i]
			if v == nil {
				if c.NotNull {
					t.Fatalf("NOT NULL column %s is NULL", c.Name)
				}
				continue
			}
			checkType(t, 0, c, v)
			if s, ok := v.(string); ok {
				if !utf8.ValidString(s) {
					t.Fatalf("column %s is not valid UTF-8", c.Name)
				}
				if c.Type == schema.Key && utf8.RuneCountInString(s) > c.Size {
					t.Fatalf("column %s holds %d characters, more than %d", c.Name, utf8.RuneCountInString(s), c.Size)
				}
			}
		}
	})
}
