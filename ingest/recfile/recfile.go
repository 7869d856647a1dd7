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
	// Position names the last record Next returned in the file: "line 12" (JSON Lines,
	// CSV) or "element 7 (byte 1234)" (a JSON array), for quarantine reasons.
	Position() string
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
		return &arrayReader{br: br, name: name, format: FormatJSON + suffix}, cs, nil
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
func (e *emptyReader) Position() string      { return "" }

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

// Position names the last line returned.
func (l *lineReader) Position() string { return fmt.Sprintf("line %d", l.line) }

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
// compliance portal export. It splits the file into rows itself, by lines and quote
// parity (a quoted field may span lines), so a damaged row (a stray or missing quote)
// is handed on as a DamagedError with its line and does not swallow the rows after it:
// a row whose quotes do not close within maxJoin lines is that one line.
type csvReader struct {
	br     *bufio.Reader
	name   string
	format string
	// line is the number of the last physical line read; pending holds lines read
	// ahead but not consumed (after a row that did not close).
	line    int
	pending []csvLine
	eof     bool
	col     int
	// at is the line of the last row returned.
	at  int
	err error
}

type csvLine struct {
	n    int
	text []byte
}

// maxJoin is how many lines one quoted CSV field may span.
const maxJoin = 1000

func newCSVReader(br *bufio.Reader, name string, skipped int) (*csvReader, error) {
	c := &csvReader{br: br, name: name, line: skipped, col: -1}
	// Windows PowerShell's Export-Csv starts with "#TYPE <class>" unless told not to.
	if b, _ := br.Peek(5); string(b) == "#TYPE" {
		if _, err := c.readLine(); err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: line %d: %w", name, c.line, err)
		}
	}
	header, _, err := c.row()
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%s: %w", name, ErrUnknownFormat)
		}
		return nil, fmt.Errorf("%s: reading the CSV header: %w (%w)", name, err, ErrUnknownFormat)
	}
	for i, h := range header {
		if strings.EqualFold(strings.Trim(strings.TrimSpace(h), "\ufeff"), "AuditData") {
			c.col = i
			break
		}
	}
	if c.col < 0 {
		return nil, fmt.Errorf("%s: line %d: no AuditData column in the header %q: %w", name, c.at, header, ErrUnknownFormat)
	}
	return c, nil
}

func (c *csvReader) Format() string { return c.format }

// Position names the last row returned.
func (c *csvReader) Position() string { return fmt.Sprintf("line %d", c.at) }

// readLine reads the next physical line (without its line break).
func (c *csvReader) readLine() (csvLine, error) {
	if len(c.pending) > 0 {
		l := c.pending[0]
		c.pending = c.pending[1:]
		return l, nil
	}
	if c.eof {
		return csvLine{}, io.EOF
	}
	b, err := c.br.ReadBytes('\n')
	if err == io.EOF {
		c.eof = true
		if len(b) == 0 {
			return csvLine{}, io.EOF
		}
	} else if err != nil {
		return csvLine{}, err
	}
	c.line++
	return csvLine{n: c.line, text: bytes.TrimRight(b, "\r\n")}, nil
}

// row reads the next row: its fields, and its text. A row that is damaged is returned
// with a *DamagedError and its first line as text.
func (c *csvReader) row() ([]string, []byte, error) {
	var first csvLine
	for {
		l, err := c.readLine()
		if err != nil {
			return nil, nil, err
		}
		if len(bytes.TrimSpace(l.text)) > 0 {
			first = l
			break
		}
	}
	c.at = first.n
	text := first.text
	if bytes.Count(text, []byte{'"'})%2 == 1 {
		// A quoted field goes on over the next lines, or a quote is damaged: join
		// lines until the quotes balance; when they never do, the first line alone is
		// the damaged row and the lines after it are rows again.
		joined := bytes.Clone(text)
		var taken []csvLine
		balanced := false
		for len(taken) < maxJoin && len(joined) < maxRecord {
			l, err := c.readLine()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, nil, err
			}
			taken = append(taken, l)
			joined = append(append(joined, '\n'), l.text...)
			if bytes.Count(l.text, []byte{'"'})%2 == 1 {
				balanced = true
				break
			}
		}
		if !balanced {
			c.pending = append(taken, c.pending...)
			return nil, text, &DamagedError{File: c.name, Position: c.Position(), Err: errors.New("a quoted field is not closed")}
		}
		text = joined
	}
	cr := csv.NewReader(bytes.NewReader(text))
	cr.FieldsPerRecord = -1 // exports differ in columns; rows are matched by header name
	row, err := cr.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, text, &DamagedError{File: c.name, Position: c.Position(), Err: err}
	}
	return row, text, nil
}

func (c *csvReader) Next() ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	row, text, err := c.row()
	if err != nil {
		var d *DamagedError
		if errors.As(err, &d) {
			return text, err
		}
		if err != io.EOF {
			err = fmt.Errorf("%s: line %d: %w", c.name, c.line, err)
		}
		c.err = err
		return nil, err
	}
	if c.col >= len(row) {
		// A row cut short: hand the whole row on so that it is quarantined with its
		// content rather than lost.
		return text, nil
	}
	return []byte(row[c.col]), nil
}
