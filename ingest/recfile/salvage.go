package recfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DamagedError is returned by Reader.Next together with the raw bytes of a record the
// file's own syntax breaks (a CSV row with a stray quote, a JSON array element cut off):
// the record is not lost, the caller quarantines raw with this reason, and Next goes on
// with the next record. Any other error ends the file.
type DamagedError struct {
	// File is the file's name; Position names the record in it: "line 12",
	// "element 7 (byte 1234)".
	File, Position string
	Err            error
}

func (e *DamagedError) Error() string { return e.File + ": " + e.Position + ": " + e.Err.Error() }
func (e *DamagedError) Unwrap() error { return e.Err }

// maxRecord bounds one record's bytes while its end is searched for: a damaged file (a
// quote or bracket that never closes) cannot make the reader hold it whole.
const maxRecord = 64 << 20

// arrayReader streams the elements of a JSON array (several arrays one after another,
// as concatenated blobs are, are read as one sequence). It splits elements loosely: it
// tracks only strings (with escapes) and bracket depth, so an element with a syntax error
// still ends at the next comma or closing bracket at the array's depth, and is handed on
// whole (the normalizer quarantines it with its reason). A raw newline ends a string
// (JSON forbids one inside), so a lost quote damages one line's element, not the rest
// of the file.
type arrayReader struct {
	br     *bufio.Reader
	name   string
	format string
	n      int   // elements returned
	off    int64 // bytes consumed
	start  int64 // offset of the last element returned
	open   bool  // inside a top-level array
	stray  bool  // the element has a closing brace without its opening one
	err    error
}

func (a *arrayReader) Format() string { return a.format }

// Position names the last element returned.
func (a *arrayReader) Position() string {
	return fmt.Sprintf("element %d (byte %d)", a.n, a.start)
}

func (a *arrayReader) Next() ([]byte, error) {
	if a.err != nil {
		return nil, a.err
	}
	raw, err := a.next()
	if err != nil {
		var d *DamagedError
		if !errors.As(err, &d) {
			a.err = err
		}
	}
	return raw, err
}

func (a *arrayReader) readByte() (byte, error) {
	c, err := a.br.ReadByte()
	if err == nil {
		a.off++
	}
	return c, err
}

func space(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (a *arrayReader) next() ([]byte, error) {
	for {
		if !a.open {
			// Between arrays: only whitespace, then '[' or the end.
			c, err := a.readByte()
			if err == io.EOF {
				return nil, io.EOF
			}
			if err != nil {
				return nil, fmt.Errorf("%s: after element %d (byte %d): %w", a.name, a.n, a.off, err)
			}
			if space(c) {
				continue
			}
			if c != '[' {
				return nil, fmt.Errorf("%s: after element %d (byte %d): unexpected %q, want a JSON array", a.name, a.n, a.off-1, c)
			}
			a.open = true
		}
		raw, end, start, err := a.element()
		if end == ']' {
			a.open = false
		}
		if len(bytes.TrimSpace(raw)) > 0 {
			a.n++
			a.start = start
			if err != nil {
				if end == 0 {
					a.err = io.EOF // the file ended inside this element
				}
				return raw, &DamagedError{File: a.name, Position: a.Position(), Err: err}
			}
			return raw, nil
		}
		if err != nil {
			if err == io.EOF {
				a.err = io.EOF // reported once; the next call ends the file
				return nil, &DamagedError{File: a.name, Position: fmt.Sprintf("after element %d (byte %d)", a.n, a.off), Err: errors.New("the array is not closed")}
			}
			return nil, err
		}
		// An empty element (two commas, or "[]") is nothing to hand on.
	}
}

// element reads up to the comma or closing bracket that ends the current element at the
// array's depth and returns its bytes (trimmed), the byte that ended it (0 at the end of
// the file) and its offset. err is io.EOF when the file ended before the element began,
// or the reason the element is damaged.
func (a *arrayReader) element() (raw []byte, end byte, start int64, err error) {
	var buf bytes.Buffer
	depth := 0
	inString, escaped := false, false
	start = -1
	var damage error
	for {
		if damage != nil {
			return a.resync(&buf, start, damage)
		}
		c, rerr := a.readByte()
		if rerr == io.EOF {
			if buf.Len() > 0 {
				return bytes.TrimSpace(buf.Bytes()), 0, start, errors.New("the file ends inside this element")
			}
			return nil, 0, start, io.EOF
		}
		if rerr != nil {
			return nil, 0, start, fmt.Errorf("%s: element %d (byte %d): %w", a.name, a.n+1, a.off, rerr)
		}
		if start < 0 && !space(c) {
			start = a.off - 1
		}
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			case c == '\n':
				// JSON strings hold no raw newline: a quote was lost.
				damage = errors.New("a string runs past the end of its line")
				if next, _ := a.br.Peek(1); len(next) == 1 && (next[0] == '{' || next[0] == ']' || next[0] == '[') {
					return bytes.TrimSpace(buf.Bytes()), ',', start, damage
				}
				continue
			}
			buf.WriteByte(c)
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			if depth > 0 {
				depth--
				break
			}
			if c == '}' {
				buf.WriteByte(c)
				a.stray = true
				continue
			}
			if a.closesArray() {
				return a.finish(&buf, c, start)
			}
			buf.WriteByte(c)
			damage = errors.New("a closing bracket inside an element")
			continue
		case ',':
			if depth == 0 {
				return a.finish(&buf, c, start)
			}
		case '\n':
			// Brackets still open at the end of a line, and the next line starts an
			// object at its first column, as the next element of an array written one
			// element per line does: a bracket was lost; this element ends here.
			if next, _ := a.br.Peek(1); depth > 0 && len(next) == 1 && next[0] == '{' {
				return bytes.TrimSpace(buf.Bytes()), ',', start, errors.New("its brackets are not closed at the end of its line")
			}
		}
		buf.WriteByte(c)
		if buf.Len() > maxRecord {
			return nil, 0, start, fmt.Errorf("%s: element %d (byte %d): longer than %d MB; the array is damaged beyond this point", a.name, a.n+1, start, maxRecord>>20)
		}
	}
}

// finish returns an element that ended at its comma or the array's closing bracket.
func (a *arrayReader) finish(buf *bytes.Buffer, end byte, start int64) ([]byte, byte, int64, error) {
	var err error
	if a.stray {
		err = errors.New("a closing brace without its opening one")
	}
	a.stray = false
	return bytes.TrimSpace(buf.Bytes()), end, start, err
}

// resync reads on after damage that loses track of strings or brackets, to where the
// next element surely begins: a line starting with '{', ']' or '[' (an array written one
// element per line), or "},{" (a compact one); all of it belongs to the damaged element.
func (a *arrayReader) resync(buf *bytes.Buffer, start int64, damage error) ([]byte, byte, int64, error) {
	a.stray = false
	for {
		c, err := a.readByte()
		if err != nil {
			if err != io.EOF {
				return nil, 0, start, fmt.Errorf("%s: element %d (byte %d): %w", a.name, a.n+1, a.off, err)
			}
			return bytes.TrimSpace(buf.Bytes()), 0, start, damage
		}
		if c == '\n' {
			if next, _ := a.br.Peek(1); len(next) == 1 && (next[0] == '{' || next[0] == ']' || next[0] == '[') {
				return bytes.TrimSpace(buf.Bytes()), ',', start, damage
			}
		}
		if c == ',' {
			if last := bytes.TrimRight(buf.Bytes(), " \t\r\n"); len(last) > 0 && last[len(last)-1] == '}' {
				if next, _ := a.br.Peek(1); len(next) == 1 && next[0] == '{' {
					return bytes.TrimSpace(buf.Bytes()), ',', start, damage
				}
			}
		}
		buf.WriteByte(c)
		if buf.Len() > maxRecord {
			return nil, 0, start, fmt.Errorf("%s: element %d (byte %d): longer than %d MB; the array is damaged beyond this point", a.name, a.n+1, start, maxRecord>>20)
		}
	}
}

// closesArray reports whether a ']' at the array's depth ends it: only whitespace follows
// it, up to the end of the file or another array.
func (a *arrayReader) closesArray() bool {
	for n := 1; n <= 4096; n++ {
		b, err := a.br.Peek(n)
		if len(b) < n {
			return err != nil // only whitespace up to the end
		}
		c := b[n-1]
		if !space(c) {
			return c == '['
		}
	}
	return true
}
