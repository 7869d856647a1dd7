package escape

import (
	"encoding/csv"
	"io"
	"strings"
)

// CSVCell returns s as it must be written to a CSV cell: prefixed with a single quote
// when it starts with a character a spreadsheet takes as the start of a formula
// (OWASP's rule: =, +, -, @, tab, carriage return; and the full-width =, +, -, @ that
// some Excel locales also read as formulas). Other text is returned unchanged; quoting
// for the CSV syntax itself is the csv.Writer's job.
func CSVCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	for _, p := range []string{"\uff1d", "\uff0b", "\uff0d", "\uff20"} {
		if strings.HasPrefix(s, p) {
			return "'" + s
		}
	}
	return s
}

// CSVWriter is a csv.Writer whose every cell goes through CSVCell. Every CSV that
// o365ingest writes is written with it.
type CSVWriter struct {
	w *csv.Writer
}

// NewCSVWriter returns a CSVWriter writing RFC 4180 CSV to w.
func NewCSVWriter(w io.Writer) *CSVWriter {
	return &CSVWriter{w: csv.NewWriter(w)}
}

// Write writes one row, each cell made safe by CSVCell.
func (c *CSVWriter) Write(row []string) error {
	safe := make([]string, len(row))
	for i, s := range row {
		safe[i] = CSVCell(s)
	}
	return c.w.Write(safe)
}

// Flush writes any buffered data to the underlying writer.
func (c *CSVWriter) Flush() { c.w.Flush() }

// Error reports any error of a previous Write or Flush.
func (c *CSVWriter) Error() error { return c.w.Error() }
