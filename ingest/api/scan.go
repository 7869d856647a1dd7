package api

// The blob body decoder: a single-pass, byte-at-a-time JSON scanner of our own rather
// than encoding/json's Decoder, because the Decoder rescans its buffer from the start
// of the current value on every refill, so a long whitespace run or a deep value read
// in chunks costs quadratic time (a 32 MiB run of spaces took 24 s). This scanner looks
// at each byte once, keeps nesting as a bit stack (one bit a level) and never holds
// more of the body than its read buffer, plus, when asked, the element it is capturing
// up to a size limit. It validates exactly what encoding/json validates (strings with
// their escapes, numbers, literals, structure), so a body it accepts is one JSON array.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// headBytes is how much of an oversized record is kept (and quarantined).
const headBytes = 64 << 10

// byteReader reads a body through a fixed buffer, knows the body offset of each byte
// and, between begin and end, copies the bytes it passes into cap.
type byteReader struct {
	r    io.Reader
	buf  []byte
	i, n int
	base int64 // body offset of buf[0]
	err  error // sticky: io.EOF at the end of the body, or the read error

	cap       *capture // nil: nothing is captured
	capturing bool
	mark      int // buf index where the bytes not yet captured start
}

func newByteReader(r io.Reader, c *capture) *byteReader {
	return &byteReader{r: r, buf: make([]byte, 64<<10), cap: c}
}

// fill reads the next chunk; false at the end of the body or on an error (in err).
func (b *byteReader) fill() bool {
	if b.capturing {
		b.cap.write(b.buf[b.mark:b.n])
		b.mark = 0
	}
	b.base += int64(b.n)
	b.i, b.n = 0, 0
	for b.err == nil && b.n == 0 {
		b.n, b.err = b.r.Read(b.buf)
	}
	return b.n > 0
}

// peek returns the next byte without consuming it; false at the end or on an error.
func (b *byteReader) peek() (byte, bool) {
	if b.i == b.n && !b.fill() {
		return 0, false
	}
	return b.buf[b.i], true
}

func (b *byteReader) pos() int64 { return b.base + int64(b.i) }

// begin starts capturing at the current byte; end stops before it.
func (b *byteReader) begin() {
	if b.cap != nil {
		b.cap.reset()
		b.capturing, b.mark = true, b.i
	}
}

func (b *byteReader) end() {
	if b.capturing {
		b.cap.write(b.buf[b.mark:b.i])
		b.capturing = false
	}
}

// skipAll consumes the rest of the body.
func (b *byteReader) skipAll() {
	for {
		b.i = b.n
		if !b.fill() {
			return
		}
	}
}

// skipSpace consumes JSON whitespace. The common case, no whitespace at all, is
// inlined.
func (b *byteReader) skipSpace() {
	if b.i < b.n && b.buf[b.i] > ' ' {
		return
	}
	b.skipSpaceSlow()
}

func (b *byteReader) skipSpaceSlow() {
	for {
		for b.i < b.n {
			switch b.buf[b.i] {
			case ' ', '\t', '\n', '\r':
				b.i++
			default:
				return
			}
		}
		if !b.fill() {
			return
		}
	}
}

// capture keeps the bytes of one element: all of them up to max, beyond that only the
// first headBytes, the size and the sha256 of the whole.
type capture struct {
	max  int
	buf  []byte
	size int64
	h    hash.Hash // set once the element is over max
}

func (c *capture) reset() { c.buf, c.size, c.h = nil, 0, nil }

func (c *capture) write(p []byte) {
	c.size += int64(len(p))
	if c.h != nil {
		c.h.Write(p)
		if len(c.buf) < headBytes {
			c.buf = append(c.buf, p[:min(len(p), headBytes-len(c.buf))]...)
		}
		return
	}
	if len(c.buf)+len(p) <= c.max {
		c.buf = append(c.buf, p...)
		return
	}
	c.h = sha256.New()
	c.h.Write(c.buf)
	c.h.Write(p)
	if len(c.buf) > headBytes {
		c.buf = c.buf[:headBytes:headBytes]
	} else {
		c.buf = append(c.buf, p[:min(len(p), headBytes-len(c.buf))]...)
	}
	c.buf = append([]byte(nil), c.buf...) // drop the rest of a large backing array
}

func (c *capture) oversized() bool { return c.h != nil }

func (c *capture) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// malformed is a body that is not one JSON array: fetched again.
func malformed(format string, a ...any) error {
	return &retryBody{fmt.Errorf("%w: %s", ErrMalformedBlob, fmt.Sprintf(format, a...))}
}

// syntaxError is invalid JSON inside an element; scanArray names the element.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

func syntax(format string, a ...any) error { return &syntaxError{fmt.Sprintf(format, a...)} }

// readFailed turns the reader's sticky error into the scan's error: the body limit
// as it is (never retried), a transfer error as a retry, the end of the body as what
// was missing.
func (b *byteReader) readFailed(what string) error {
	switch {
	case b.err == nil || b.err == io.EOF:
		return syntax("%s at byte %d: unexpected end of body", what, b.pos())
	case errors.Is(b.err, ErrBlobTooLarge):
		return b.err
	}
	return &retryBody{fmt.Errorf("%w: reading body at byte %d: %v", ErrMalformedBlob, b.pos(), b.err)}
}

// scanArray checks the body is exactly one JSON array (whitespace around allowed) and
// calls emit after each element with its [start,end) byte offsets; with a capture the
// element's bytes are in it. A malformed or truncated body is a *retryBody wrapping
// ErrMalformedBlob; an error of emit is returned as it is.
func scanArray(b *byteReader, emit func(start, end int64) error) (int, error) {
	b.skipSpace()
	c, ok := b.peek()
	if !ok {
		return 0, inElement(-1, b.readFailed("reading start of body"))
	}
	if c != '[' {
		return 0, malformed("body starts with %q, not an array", c)
	}
	b.i++
	var v valueScanner
	n := 0
	for {
		b.skipSpace()
		c, ok := b.peek()
		if !ok {
			return n, inElement(-1, b.readFailed(fmt.Sprintf("after element %d: unterminated array", n)))
		}
		if n == 0 && c == ']' {
			b.i++
			break
		}
		start := b.pos()
		b.begin()
		if err := v.value(b); err != nil {
			b.end()
			return n, inElement(n, err)
		}
		end := b.pos()
		b.end()
		if emit != nil {
			if err := emit(start, end); err != nil {
				return n, err
			}
		}
		n++
		b.skipSpace()
		c, ok = b.peek()
		if !ok {
			return n, inElement(-1, b.readFailed(fmt.Sprintf("after element %d: unterminated array", n)))
		}
		b.i++
		if c == ']' {
			break
		}
		if c != ',' {
			return n, malformed("after element %d: %q where a comma or ] belongs", n, c)
		}
	}
	b.skipSpace()
	if _, ok := b.peek(); ok {
		return n, malformed("data after the array")
	}
	if b.err != io.EOF {
		return n, inElement(-1, b.readFailed("after the array"))
	}
	return n, nil
}

// inElement makes a syntax error of element i (-1: outside the elements) a malformed
// body; other errors pass unchanged.
func inElement(i int, err error) error {
	var se *syntaxError
	switch {
	case !errors.As(err, &se):
		return err
	case i < 0:
		return malformed("%s", se.msg)
	}
	return malformed("element %d: %s", i, se.msg)
}

// valueScanner validates one JSON value without recursion: open containers are a bit
// stack (1 = object), so any depth costs one bit a level.
type valueScanner struct {
	stack []uint64
	depth int
}

func (v *valueScanner) push(obj bool) {
	w, bit := v.depth/64, uint(v.depth%64)
	if w == len(v.stack) {
		v.stack = append(v.stack, 0)
	}
	if obj {
		v.stack[w] |= 1 << bit
	} else {
		v.stack[w] &^= 1 << bit
	}
	v.depth++
}

func (v *valueScanner) topIsObject() bool {
	d := v.depth - 1
	return v.stack[d/64]&(1<<uint(d%64)) != 0
}

// value consumes one JSON value. Errors are *retryBody wrapping ErrMalformedBlob or
// the reader's error.
func (v *valueScanner) value(b *byteReader) error {
	v.depth = 0
	opened := false // the last byte opened an array: ] may close it at once
	for {
		// A value is expected here.
		b.skipSpace()
		c, ok := b.peek()
		if !ok {
			return b.readFailed("reading a value")
		}
		switch {
		case c == ']' && opened:
			b.i++
			v.depth--
		case c == '{':
			b.i++
			v.push(true)
			b.skipSpace()
			c, ok := b.peek()
			if !ok {
				return b.readFailed("reading an object")
			}
			if c == '}' {
				b.i++
				v.depth--
				break
			}
			if err := key(b); err != nil {
				return err
			}
			opened = false
			continue
		case c == '[':
			b.i++
			v.push(false)
			for b.i < b.n && b.buf[b.i] == '[' { // a run of them, without the loop's checks
				b.i++
				v.push(false)
			}
			opened = true
			continue
		case c == '"':
			if err := str(b); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if err := number(b); err != nil {
				return err
			}
		case c == 't':
			if err := literal(b, "true"); err != nil {
				return err
			}
		case c == 'f':
			if err := literal(b, "false"); err != nil {
				return err
			}
		case c == 'n':
			if err := literal(b, "null"); err != nil {
				return err
			}
		default:
			return syntax("byte %d: %q where a value belongs", b.pos(), c)
		}
		opened = false
		// After a complete value: close containers or go on to the next member.
		for {
			if v.depth == 0 {
				return nil
			}
			b.skipSpace()
			c, ok := b.peek()
			if !ok {
				return b.readFailed("reading a container")
			}
			obj := v.topIsObject()
			switch {
			case c == ',':
				b.i++
				if obj {
					b.skipSpace()
					if err := key(b); err != nil {
						return err
					}
				}
			case (c == '}' && obj) || (c == ']' && !obj):
				b.i++
				v.depth--
				for c == ']' && b.i < b.n && b.buf[b.i] == ']' && v.depth > 0 && !v.topIsObject() {
					b.i++
					v.depth--
				}
				continue
			default:
				return syntax("byte %d: %q where a comma or the end of the %s belongs", b.pos(), c, map[bool]string{true: "object", false: "array"}[obj])
			}
			break
		}
	}
}

// key consumes an object key and its colon.
func key(b *byteReader) error {
	c, ok := b.peek()
	if !ok {
		return b.readFailed("reading an object key")
	}
	if c != '"' {
		return syntax("byte %d: %q where an object key belongs", b.pos(), c)
	}
	if err := str(b); err != nil {
		return err
	}
	b.skipSpace()
	c, ok = b.peek()
	if !ok {
		return b.readFailed("reading an object")
	}
	if c != ':' {
		return syntax("byte %d: %q where a colon belongs", b.pos(), c)
	}
	b.i++
	return nil
}

// str consumes a string, validating its escapes and refusing raw control characters
// (as encoding/json does; invalid UTF-8 is let through, as encoding/json does).
func str(b *byteReader) error {
	b.i++ // the opening quote
	for {
		for b.i < b.n {
			c := b.buf[b.i]
			switch {
			case c == '"':
				b.i++
				return nil
			case c == '\\':
				b.i++
				if err := escape(b); err != nil {
					return err
				}
			case c < 0x20:
				return syntax("byte %d: control character %#02x in a string", b.pos(), c)
			default:
				b.i++
			}
		}
		if !b.fill() {
			return b.readFailed("reading a string")
		}
	}
}

func escape(b *byteReader) error {
	c, ok := b.peek()
	if !ok {
		return b.readFailed("reading a string escape")
	}
	b.i++
	switch c {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return nil
	case 'u':
		for range 4 {
			h, ok := b.peek()
			if !ok {
				return b.readFailed("reading a \\u escape")
			}
			if !isHex(h) {
				return syntax("byte %d: %q in a \\u escape", b.pos(), h)
			}
			b.i++
		}
		return nil
	}
	return syntax("byte %d: invalid escape \\%c", b.pos()-1, c)
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number consumes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func number(b *byteReader) error {
	digits := func() (int, error) {
		n := 0
		for {
			c, ok := b.peek()
			if !ok || !isDigit(c) {
				if !ok && b.err != io.EOF {
					return n, b.readFailed("reading a number")
				}
				return n, nil
			}
			b.i++
			n++
		}
	}
	bad := func() error {
		if _, ok := b.peek(); !ok && b.err != io.EOF {
			return b.readFailed("reading a number")
		}
		return syntax("byte %d: invalid number", b.pos())
	}
	if c, _ := b.peek(); c == '-' {
		b.i++
	}
	c, ok := b.peek()
	switch {
	case !ok || !isDigit(c):
		return bad()
	case c == '0':
		b.i++
	default:
		if _, err := digits(); err != nil {
			return err
		}
	}
	if c, ok := b.peek(); ok && c == '.' {
		b.i++
		if n, err := digits(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return bad()
		}
	}
	if c, ok := b.peek(); ok && (c == 'e' || c == 'E') {
		b.i++
		if c, ok := b.peek(); ok && (c == '+' || c == '-') {
			b.i++
		}
		if n, err := digits(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return bad()
		}
	}
	return nil
}

func literal(b *byteReader, word string) error {
	for i := 0; i < len(word); i++ {
		c, ok := b.peek()
		if !ok {
			return b.readFailed("reading " + word)
		}
		if c != word[i] {
			return syntax("byte %d: invalid literal (want %s)", b.pos(), word)
		}
		b.i++
	}
	return nil
}

// looseArray splits a body that is a top-level JSON array into its elements without
// requiring them to be valid JSON: it only tracks strings (with escapes) and bracket
// depth, so an element with a syntax error still ends at the next comma or bracket at
// depth 0. It calls emit for each non-empty element with its [start,end) offsets
// (trailing whitespace excluded; with a capture, the element's bytes are in it,
// trailing whitespace included) and returns false when the body is not one complete
// array with only whitespace around it. Depth is a counter, so any nesting costs
// nothing.
func looseArray(b *byteReader, emit func(start, end int64) error) (bool, error) {
	depth := 0
	var start, end int64
	opened, closed, inString, escaped, inElem := false, false, false, false, false
	for {
		if b.i == b.n && !b.fill() {
			break
		}
		c := b.buf[b.i]
		space := c == ' ' || c == '\t' || c == '\n' || c == '\r'
		switch {
		case closed:
			if !space {
				return false, nil
			}
		case !opened:
			if !space {
				if c != '[' {
					return false, nil
				}
				opened = true
			}
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			end = b.pos() + 1
		case space:
		case depth == 0 && (c == ',' || c == ']'):
			if inElem {
				b.end()
				inElem = false
				if err := emit(start, end); err != nil {
					return false, err
				}
			}
			closed = c == ']'
		default:
			if !inElem {
				start = b.pos()
				b.begin()
				inElem = true
			}
			end = b.pos() + 1
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth < 0 {
					b.end()
					return false, nil
				}
			}
		}
		b.i++
	}
	if inElem {
		b.end()
	}
	return closed, nil
}
