package escape

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Terminal returns s with every character a terminal would interpret shown as a
// visible escape: C0 controls other than tab and newline (\r, \x1b, \x07, ...), DEL
// (\x7f), C1 controls (\u009b, ...), bytes that are not UTF-8 (\x9b: a lone 0x9b is a
// CSI to some terminals), the bidirectional controls that reorder what is displayed
// (\u202e, ...) and the Unicode line and paragraph separators. Use it for text printed
// on lines of its own; use TerminalCell inside a table.
func Terminal(s string) string { return terminal(s, false) }

// TerminalCell is Terminal that also shows tab and newline as \t and \n, so that one
// value stays in one cell of one row: a newline in a record could otherwise print a
// forged row, a tab shift the columns.
func TerminalCell(s string) string { return terminal(s, true) }

func terminal(s string, cell bool) string {
	if isPlain(s, cell) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
			i++
			continue
		}
		i += size
		switch {
		case r == '\t' && !cell, r == '\n' && !cell:
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case isControl(r) && r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case isControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isPlain reports whether s needs no escape, cheaply for the common ASCII case. It may
// say false for text that needs none (a real U+FFFD); terminal then copies it as is.
func isPlain(s string, cell bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			for _, r := range s[i:] {
				if r == utf8.RuneError || isControl(r) || (cell && (r == '\t' || r == '\n')) {
					return false
				}
			}
			return true
		}
		if c < 0x20 || c == 0x7f {
			if !cell && (c == '\t' || c == '\n') {
				continue
			}
			return false
		}
	}
	return true
}

// isControl reports the characters that must never reach a terminal or a pasted
// command raw: C0 (tab and newline included; callers decide), DEL, C1, the
// bidirectional formatting characters and the line and paragraph separators.
func isControl(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// TerminalWriter passes everything written to it through Terminal: tabs and newlines
// as they are, every other control character as a visible escape. o365ingest's stderr
// is one, so an error message quoting what a server or a record said cannot drive the
// terminal. Text that holds no control character (slog's text and JSON logs, which
// escape their own) passes unchanged. Each Write is escaped on its own: a rune split
// across two Writes is shown as the escapes of its bytes.
type TerminalWriter struct {
	w io.Writer
}

// NewTerminalWriter returns a TerminalWriter writing to w.
func NewTerminalWriter(w io.Writer) *TerminalWriter { return &TerminalWriter{w: w} }

// Write writes p escaped; it reports len(p) written when the escaped text was.
func (t *TerminalWriter) Write(p []byte) (int, error) {
	s := Terminal(string(p))
	if _, err := io.WriteString(t.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Underlying returns the writer under t, for output that drives the terminal on
// purpose (a progress bar redrawing itself).
func (t *TerminalWriter) Underlying() io.Writer { return t.w }

// Fd returns the file descriptor of the writer underneath when it has one (an
// *os.File), so that callers can still ask whether it is a terminal; else ^uintptr(0).
func (t *TerminalWriter) Fd() uintptr {
	if f, ok := t.w.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}
