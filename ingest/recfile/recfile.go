// Package recfile reads audit records from files for `o365ingest import`: JSON arrays (a
// content blob exactly as the API serves it), JSON Lines, and the compliance portal's /
// Search-UnifiedAuditLog CSV export, each possibly gzip-compressed (the pipeline's
// evidence archive stores blobs as <contentId>.json.gz).
//
// The format is detected from the content; the extension only breaks ties. Files are
// streamed, one record at a time, never read whole into memory. A record is returned as
// the raw bytes it has in the file; judging it is the normalizer's job, so a line of
// JSON Lines that is not JSON is still returned (and quarantined downstream), never
// dropped.
package recfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Reader yields raw records from one file, one at a time, in order.
type Reader interface {
	// Next returns the next record's raw bytes (the caller may keep them), or io.EOF
	// after the last one. Other errors name the file and the line or record number;
	// after one, the file cannot be read further.
	Next() (raw []byte, err error)
	// Format names what was detected: "json" (an array), "jsonl", "csv" or "empty",
	// with "+gzip" appended for compressed files.
	Format() string
}

// Format names returned by Reader.Format (before any "+gzip" suffix).
const (
	FormatJSON  = "json"
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
	FormatEmpty = "empty"
)

// ErrUnknownFormat is returned (wrapped, with the file name) by Open and NewReader for
// content that is neither a JSON array, JSON Lines nor a CSV export with an AuditData column.
var ErrUnknownFormat = errors.New("unrecognized format: want a JSON array, JSON Lines, or a CSV export with an AuditData column")

// Open opens a record file and detects its format from its content, not only its
// extension. Close the returned io.Closer when done.
func Open(path string) (Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	r, c, err := newReader(f, path)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return r, closers(append(c, f)), nil
}

// NewReader detects the format of records read from r; name is used in errors and as
// the extension hint. The returned io.Closer releases decompression state; it does not
// close r.
func NewReader(r io.Reader, name string) (Reader, io.Closer, error) {
	rd, c, err := newReader(r, name)
	if err != nil {
		return nil, nil, err
	}
	return rd, closers(c), nil
}

// closers closes innermost first (decompressor, then file) and reports the first error.
type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// bufSize is the read buffer; records longer than it are still read whole.
const bufSize = 256 << 10

func newReader(r io.Reader, name string) (Reader, []io.Closer, error) {
	var cs []io.Closer
	br := bufio.NewReaderSize(r, bufSize)
	suffix := ""
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: opening gzip stream: %w", name, err)
		}
		cs = append(cs, gz)
		br = bufio.NewReaderSize(gz, bufSize)
		suffix = "+gzip"
	}
	br = skipBOM(br)

	// Leading blank lines are skipped to find the first character; count them so that
	// line numbers in errors stay those of the file.
	lines := 0
	first := byte(0)
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			return &emptyReader{format: FormatEmpty + suffix}, cs, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		if b == '\n' {
			lines++
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			first = b
			_ = br.UnreadByte()
			break
		}
	}

	ext := strings.ToLower(strings.TrimSuffix(strings.ToLower(name), ".gz"))
	ext = filepath.Ext(ext)
	switch {
	case ext == ".jsonl" || ext == ".ndjson":
		return &lineReader{br: br, name: name, line: lines, format: FormatJSONL + suffix}, cs, nil
	case first == '[' && ext != ".csv":
		return &arrayReader{dec: json.NewDecoder(br), name: name, format: FormatJSON + suffix}, cs, nil
	case first == '{' && ext != ".csv":
		return &lineReader{br: br, name: name, line: lines, format: FormatJSONL + suffix}, cs, nil
	}
	cr, err := newCSVReader(br, name, lines)
	if err != nil {
		return nil, nil, err
	}
	cr.format = FormatCSV + suffix
	return cr, cs, nil
}

// skipBOM drops a UTF-8 byte order mark and converts UTF-16 (what Windows PowerShell's
// Out-File and some Export-Csv settings write) to UTF-8.
func skipBOM(br *bufio.Reader) *bufio.Reader {
	b, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		_, _ = br.Discard(2)
		return bufio.NewReaderSize(fromUTF16(br, unicode.LittleEndian), bufSize)
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		_, _ = br.Discard(2)
		return bufio.NewReaderSize(fromUTF16(br, unicode.BigEndian), bufSize)
	}
	return br
}

// fromUTF16 converts UTF-16 (after its byte order mark) to UTF-8. Invalid sequences
// (a lone surrogate, an odd byte at the end) become U+FFFD, so the records still reach
// the normalizer and quarantine.
func fromUTF16(r io.Reader, order unicode.Endianness) io.Reader {
	return transform.NewReader(r, unicode.UTF16(order, unicode.IgnoreBOM).NewDecoder())
}

type emptyReader struct{ format string }

func (e *emptyReader) Next() ([]byte, error) { return nil, io.EOF }
func (e *emptyReader) Format() string        { return e.format }

// arrayReader streams the elements of a JSON array (several arrays one after another,
// as concatenated blobs are, are read as one sequence).
type arrayReader struct {
	dec    *json.Decoder
	name   string
	format string
	n      int  // records returned
	open   bool // inside an array
	err    error
}

func (a *arrayReader) Format() string { return a.format }

func (a *arrayReader) Next() ([]byte, error) {
	if a.err != nil {
		return nil, a.err
	}
	raw, err := a.next()
	if err != nil {
		a.err = err
	}
	return raw, err
}

func (a *arrayReader) next() ([]byte, error) {
	for !a.open {
		tok, err := a.dec.Token()
		if err == io.EOF {
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("%s: after record %d (byte %d): %w", a.name, a.n, a.dec.InputOffset(), err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return nil, fmt.Errorf("%s: after record %d (byte %d): unexpected %v, want a JSON array", a.name, a.n, a.dec.InputOffset(), tok)
		}
		a.open = true
	}
	if !a.dec.More() {
		if _, err := a.dec.Token(); err != nil { // the closing ]
			return nil, fmt.Errorf("%s: after record %d (byte %d): %w", a.name, a.n, a.dec.InputOffset(), err)
		}
		a.open = false
		return a.next()
	}
	var raw json.RawMessage
	if err := a.dec.Decode(&raw); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%s: record %d (byte %d): %w", a.name, a.n+1, a.dec.InputOffset(), err)
	}
	a.n++
	return raw, nil
}

// lineReader reads JSON Lines: one record per line, blank lines skipped, no line length
// limit (unlike bufio.Scanner).
type lineReader struct {
	br     *bufio.Reader
	name   string
	format string
	line   int // lines consumed
	err    error
}

func (l *lineReader) Format() string { return l.format }

func (l *lineReader) Next() ([]byte, error) {
	for l.err == nil {
		b, err := l.br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			l.err = fmt.Errorf("%s: line %d: %w", l.name, l.line+1, err)
			return nil, l.err
		}
		if err == io.EOF {
			l.err = io.EOF
			if len(b) == 0 {
				break
			}
		}
		l.line++
		b = bytes.TrimRight(b, "\r\n")
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		return b, nil
	}
	return nil, l.err
}

// csvReader returns the AuditData field of each row of a Search-UnifiedAuditLog or
// compliance portal export.
type csvReader struct {
	cr     *csv.Reader
	name   string
	format string
	// skipped counts lines before the csv.Reader's first line (blank lines, #TYPE).
	skipped int
	col     int
	err     error
}

func newCSVReader(br *bufio.Reader, name string, skipped int) (*csvReader, error) {
	// Windows PowerShell's Export-Csv starts with "#TYPE <class>" unless told not to.
	if b, _ := br.Peek(5); string(b) == "#TYPE" {
		if _, err := br.ReadString('\n'); err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: line %d: %w", name, skipped+1, err)
		}
		skipped++
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // exports differ in columns; rows are matched by header name
	// Quotes stay strict: a lenient reader can swallow every following row into one
	// field when a quote is broken; an error naming the line is better.
	c := &csvReader{cr: cr, name: name, skipped: skipped, col: -1}
	header, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%s: %w", name, ErrUnknownFormat)
		}
		return nil, fmt.Errorf("%s: reading the CSV header: %w (%w)", name, c.lineErr(err), ErrUnknownFormat)
	}
	for i, h := range header {
		if strings.EqualFold(strings.Trim(strings.TrimSpace(h), "\ufeff"), "AuditData") {
			c.col = i
			break
		}
	}
	if c.col < 0 {
		return nil, fmt.Errorf("%s: line %d: no AuditData column in the header %q: %w", name, skipped+1, header, ErrUnknownFormat)
	}
	return c, nil
}

// lineErr renumbers a csv.ParseError to the file's own lines.
func (c *csvReader) lineErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %w", pe.StartLine+c.skipped, pe.Err)
	}
	return err
}

func (c *csvReader) Format() string { return c.format }

func (c *csvReader) Next() ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	row, err := c.cr.Read()
	if err == io.EOF {
		c.err = io.EOF
		return nil, io.EOF
	}
	if err != nil {
		c.err = fmt.Errorf("%s: %w", c.name, c.lineErr(err))
		return nil, c.err
	}
	if c.col >= len(row) {
		// A row cut short: hand the whole row on so that it is quarantined with its
		// content rather than lost.
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		_ = w.Write(row)
		w.Flush()
		return bytes.TrimRight(b.Bytes(), "\r\n"), nil
	}
	return []byte(row[c.col]), nil
}
