package recfile

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/internal/corpus"
)

// readAll opens path and returns its format and every record.
func readAll(t *testing.T, path string) (string, [][]byte, error) {
	t.Helper()
	r, c, err := Open(path)
	if err != nil {
		return "", nil, err
	}
	defer c.Close()
	var recs [][]byte
	for {
		raw, err := r.Next()
		if err == io.EOF {
			return r.Format(), recs, nil
		}
		if err != nil {
			return r.Format(), recs, err
		}
		recs = append(recs, raw)
	}
}

// writeFile writes content to a new file in a temporary directory.
func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ids normalizes each record and returns its id, or "error: <reason>".
func ids(recs [][]byte) []string {
	var out []string
	for _, raw := range recs {
		r, err := normalize.Record(raw, normalize.Source{})
		if err != nil {
			var e *normalize.Error
			errors.As(err, &e)
			out = append(out, "error: "+e.Reason)
			continue
		}
		out = append(out, r.ID)
	}
	return out
}

func TestTestdata(t *testing.T) {
	cases := []struct {
		file, format string
		want         []string
	}{
		{"export.csv", "csv", []string{"6f1c3b0e-0000-4000-8000-000000000001", "6f1c3b0e-0000-4000-8000-000000000002"}},
		{"blob.json.gz", "json+gzip", []string{"6f1c3b0e-0000-4000-8000-000000000011", "6f1c3b0e-0000-4000-8000-000000000012", "6f1c3b0e-0000-4000-8000-000000000013"}},
		{"records.jsonl", "jsonl", []string{"6f1c3b0e-0000-4000-8000-000000000021", "6f1c3b0e-0000-4000-8000-000000000022",
			"error: record: invalid JSON at byte 83: unexpected character 't', want a key", "6f1c3b0e-0000-4000-8000-000000000024"}},
	}
	for _, c := range cases {
		t.Run(c.file+" reads every record in order", func(t *testing.T) {
			format, recs, err := readAll(t, filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			if format != c.format {
				t.Errorf("Format() = %q, want %q", format, c.format)
			}
			got := ids(recs)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
	t.Run("a multi-line quoted AuditData keeps its line breaks", func(t *testing.T) {
		_, recs, err := readAll(t, filepath.Join("testdata", "export.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || !bytes.HasPrefix(recs[1], []byte("{\n  \"CreationTime\"")) {
			t.Errorf("second AuditData = %q", recs[1])
		}
	})
	t.Run("a JSONL line that is not JSON is returned as it was, without its line ending", func(t *testing.T) {
		_, recs, err := readAll(t, filepath.Join("testdata", "records.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 4 || !bytes.HasSuffix(recs[2], []byte("this line was cut")) || bytes.HasSuffix(recs[1], []byte("\r")) {
			t.Errorf("records = %q", recs)
		}
	})
}

func TestFormats(t *testing.T) {
	const rec1 = `{"Id":"a","CreationTime":"2020-02-17T17:12:03","OrganizationId":"o"}`
	const rec2 = `{"Id":"b","CreationTime":"2020-02-17T17:12:03","OrganizationId":"o"}`
	big := `{"Id":"c","CreationTime":"2020-02-17T17:12:03","OrganizationId":"o","Data":"` + strings.Repeat("x", 3<<20) + `"}`
	csvQuote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	cases := []struct {
		name, file, content, format string
		want                        []string
	}{
		{"a pretty-printed JSON array is streamed element by element", "blob.json", "[\n  " + rec1 + ",\n  " + rec2 + "\n]\n", "json", []string{rec1, rec2}},
		{"concatenated blobs read as one sequence", "blobs.json", "[" + rec1 + "]\n[" + rec2 + "]", "json", []string{rec1, rec2}},
		{"an empty blob has no records", "empty.json", "[]", "json", nil},
		{"an empty file has no records", "nothing.json", "", "empty", nil},
		{"JSON Lines are detected without the extension", "records.txt", rec1 + "\n" + rec2 + "\n", "jsonl", []string{rec1, rec2}},
		{"a .jsonl extension wins even when the first line is not an object", "x.jsonl", "garbage\n" + rec1, "jsonl", []string{"garbage", rec1}},
		{"a line longer than any buffer is read whole", "big.jsonl", rec1 + "\n" + big + "\n", "jsonl", []string{rec1, big}},
		{"the CSV header is matched case-insensitively and #TYPE is skipped", "export.csv",
			"#TYPE Deserialized.Microsoft.Exchange.Management.SystemConfigurationTasks.AuditRecord\nrecordid,AUDITDATA\n1," + csvQuote(rec1) + "\n", "csv", []string{rec1}},
		{"the portal's newer export columns are read", "audit.csv",
			"RecordId,CreationDate,RecordType,Operation,UserId,AuditData,AssociatedAdminUnits,AssociatedAdminUnitsNames\n" +
				"a,2020-02-17T17:12:03.0000000Z,ExchangeAdmin,Set-Mailbox,u," + csvQuote(rec1) + ",,\n" +
				"c,2020-02-17T17:12:03.0000000Z,ExchangeAdmin,Set-Mailbox,u," + csvQuote(big) + ",,\n", "csv", []string{rec1, big}},
		{"a CSV row cut short is returned whole so it is quarantined, not lost", "short.csv",
			"CreationDate,UserIds,Operations,AuditData\n1/1/2020,u,Op\n", "csv", []string{"1/1/2020,u,Op"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			format, recs, err := readAll(t, writeFile(t, c.file, []byte(c.content)))
			if err != nil {
				t.Fatal(err)
			}
			if format != c.format {
				t.Errorf("Format() = %q, want %q", format, c.format)
			}
			if len(recs) != len(c.want) {
				t.Fatalf("%d records, want %d", len(recs), len(c.want))
			}
			for i := range recs {
				if string(recs[i]) != c.want[i] {
					t.Errorf("record %d = %.80q, want %.80q", i+1, recs[i], c.want[i])
				}
			}
		})
	}

	t.Run("a gzip-compressed file is detected by its magic bytes, whatever its name", func(t *testing.T) {
		var b bytes.Buffer
		gz := gzip.NewWriter(&b)
		gz.Write([]byte(rec1 + "\n" + rec2 + "\n"))
		gz.Close()
		format, recs, err := readAll(t, writeFile(t, "archive.bin", b.Bytes()))
		if err != nil || format != "jsonl+gzip" || len(recs) != 2 {
			t.Errorf("format %q, %d records, err %v", format, len(recs), err)
		}
	})
	t.Run("a UTF-16 CSV export with a byte order mark is converted to UTF-8", func(t *testing.T) {
		text := "CreationDate,AuditData\n1/1/2020," + csvQuote(`{"Id":"é😀"}`) + "\n"
		units := utf16.Encode([]rune(text))
		b := []byte{0xFF, 0xFE}
		for _, u := range units {
			b = binary.LittleEndian.AppendUint16(b, u)
		}
		format, recs, err := readAll(t, writeFile(t, "export.csv", b))
		if err != nil || format != "csv" || len(recs) != 1 || string(recs[0]) != `{"Id":"é😀"}` {
			t.Errorf("format %q, records %q, err %v", format, recs, err)
		}
	})
	t.Run("big-endian UTF-16 with a lone surrogate and an odd last byte decodes with U+FFFD in their place (the odd byte a record of its own, for quarantine)", func(t *testing.T) {
		text := "CreationDate,AuditData\n1/1/2020," + csvQuote(`{"Id":"a?b"}`) + "\n"
		units := utf16.Encode([]rune(text))
		b := []byte{0xFE, 0xFF}
		for _, u := range units {
			if u == '?' {
				u = 0xD800 // a high surrogate with no low one after it
			}
			b = binary.BigEndian.AppendUint16(b, u)
		}
		b = append(b, 0x00) // half a code unit
		format, recs, err := readAll(t, writeFile(t, "export-be.csv", b))
		if err != nil || format != "csv" || len(recs) != 2 || string(recs[0]) != "{\"Id\":\"a\uFFFDb\"}" || string(recs[1]) != "\uFFFD" {
			t.Errorf("format %q, records %q, err %v", format, recs, err)
		}
	})
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, file, content string
		// want are substrings of the error.
		want []string
	}{
		{"a truncated JSON array names the file and the element", "cut.json", `[{"Id":"a"},{"Id":"b"`, []string{"cut.json", "element 2", "ends inside this element"}},
		{"a CSV without AuditData is not a record file", "other.csv", "a,b\n1,2\n", []string{"other.csv", "line 1", "no AuditData column"}},
		{"text in no known format is refused", "notes.txt", "hello world\n", []string{"notes.txt", "no AuditData column"}},
		{"a CSV with a broken quote names the file and line", "broken.csv", "AuditData\n\"{}\"\n\"{}\"x\"y\n", []string{"broken.csv", "line 3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := readAll(t, writeFile(t, c.file, []byte(c.content)))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("an unknown format is reported as ErrUnknownFormat", func(t *testing.T) {
		_, _, err := Open(writeFile(t, "notes.txt", []byte("hello\n")))
		if !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("error = %v, want ErrUnknownFormat", err)
		}
	})
	t.Run("a corrupt gzip stream names the file", func(t *testing.T) {
		var b bytes.Buffer
		gz := gzip.NewWriter(&b)
		gz.Write([]byte(`[{"Id":"a"},{"Id":"b"}]`))
		gz.Close()
		data := b.Bytes()
		data[len(data)-6] ^= 0xFF // break the CRC
		_, _, err := readAll(t, writeFile(t, "blob.json.gz", data))
		if err == nil || !strings.Contains(err.Error(), "blob.json.gz") {
			t.Errorf("error = %v, want one naming blob.json.gz", err)
		}
	})
}

// TestCorpus reads every corpus file back and counts one record per line.
func TestCorpus(t *testing.T) {
	records := filepath.Join(corpus.Dir(t), "records")
	files, err := filepath.Glob(filepath.Join(records, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files (%v)", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path)+" reads one record per line", func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var lines [][]byte
			for _, l := range bytes.Split(data, []byte("\n")) {
				if len(bytes.TrimSpace(l)) > 0 {
					lines = append(lines, l)
				}
			}
			format, recs, err := readAll(t, path)
			if err != nil {
				t.Fatal(err)
			}
			if format != "jsonl" || len(recs) != len(lines) {
				t.Fatalf("format %q, %d records, want jsonl and %d", format, len(recs), len(lines))
			}
			for i := range recs {
				if !bytes.Equal(recs[i], lines[i]) {
					t.Errorf("record %d differs from line %d", i+1, i+1)
				}
			}
			// The same records as a gzip-compressed JSON array, as the evidence archive
			// stores a blob, read back identically.
			var b bytes.Buffer
			gz := gzip.NewWriter(&b)
			gz.Write([]byte("["))
			gz.Write(bytes.Join(lines, []byte(",\n")))
			gz.Write([]byte("]"))
			gz.Close()
			format, again, err := readAll(t, writeFile(t, "blob.json.gz", b.Bytes()))
			if err != nil || format != "json+gzip" || len(again) != len(lines) {
				t.Fatalf("as a blob: format %q, %d records, err %v", format, len(again), err)
			}
			for i := range again {
				if !bytes.Equal(again[i], lines[i]) {
					t.Errorf("blob record %d differs from line %d", i+1, i+1)
				}
			}
		})
	}
}

// TestDamagedRecordsAreHandedOnAndTheRestRead: a damaged element, line or row comes back
// whole with a *DamagedError naming its position (or, when only its content is broken,
// as plain raw bytes for the normalizer to quarantine), and every record after it is read.
func TestDamagedRecordsAreHandedOnAndTheRestRead(t *testing.T) {
	for _, c := range []struct {
		name, file, content string
		want                []string // the records, in order
		damaged             []string // the positions of the DamagedErrors
	}{
		{"invalid JSON inside an array is one element", "bad.json", "[{\"Id\":\"a\"},{\"Id\":x},{\"Id\":\"c\"}]",
			[]string{`{"Id":"a"}`, `{"Id":x}`, `{"Id":"c"}`}, nil},
		{"a lost quote in an array damages its line only", "quote.json", "[\n{\"Id\":\"a},\n{\"Id\":\"b\"}\n]\n",
			[]string{`{"Id":"a},`, `{"Id":"b"}`}, []string{"element 1 (byte 2)"}},
		{"a lost brace in an array written one element per line damages its line only", "brace-lost.json", "[\n{\"Id\":\"a\",\"X\":{\"Y\":1},\n{\"Id\":\"b\"}\n]\n",
			[]string{`{"Id":"a","X":{"Y":1},`, `{"Id":"b"}`}, []string{"element 1 (byte 2)"}},
		{"a stray closing brace in an array", "brace.json", `[{"Id":"a"}},{"Id":"b"}]`,
			[]string{`{"Id":"a"}}`, `{"Id":"b"}`}, []string{"element 1 (byte 1)"}},
		{"an array cut short keeps what came before", "cut.json", `[{"Id":"a"},{"Id":"b","Op`,
			[]string{`{"Id":"a"}`, `{"Id":"b","Op`}, []string{"element 2 (byte 12)"}},
		{"a CSV row with a quote that never closes is one line", "broken.csv", "AuditData\n\"{}\"\n\"{\"\"Id\"\":1}\n\"{}\"\n",
			[]string{"{}", "\"{\"\"Id\"\":1}", "{}"}, []string{"line 3"}},
		{"a CSV row with a stray quote", "stray.csv", "AuditData\n\"{}\"x\"y\n\"{}\"\n",
			[]string{"\"{}\"x\"y", "{}"}, []string{"line 2"}},
		{"a quoted CSV field over two lines is one row", "multi.csv", "AuditData,Other\n\"{}\",\"two\nlines\"\n\"{}\",x\n",
			[]string{"{}", "{}"}, nil},
		{"a JSON Lines line that is not JSON is still a line", "bad.jsonl", "{\"Id\":\"a\"}\nnot json\n{\"Id\":\"c\"}\n",
			[]string{`{"Id":"a"}`, "not json", `{"Id":"c"}`}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, cl, err := Open(writeFile(t, c.file, []byte(c.content)))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			var got, damaged []string
			for {
				raw, err := r.Next()
				if err == io.EOF {
					break
				}
				var d *DamagedError
				if errors.As(err, &d) {
					damaged = append(damaged, d.Position)
					if d.Position != r.Position() && raw != nil {
						t.Errorf("DamagedError at %s, Position() %s", d.Position, r.Position())
					}
				} else if err != nil {
					t.Fatalf("after %q: %v", got, err)
				}
				if raw != nil {
					got = append(got, string(raw))
				}
			}
			if !slices.Equal(got, c.want) || !slices.Equal(damaged, c.damaged) {
				t.Errorf("records %q damaged %q\nwant    %q damaged %q", got, damaged, c.want, c.damaged)
			}
		})
	}
}
