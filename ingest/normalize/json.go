package normalize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON parser of our own rather than encoding/json, because the normalizer needs
// what encoding/json hides: the first of duplicated keys (encoding/json keeps the last),
// the literal digits of every number (YammerNetworkId does not fit a float64), and the
// exact bytes of nested objects — all in one pass over the record.

// kind is the JSON type of a value.
type kind uint8

const (
	nullKind kind = iota
	boolKind
	numberKind
	stringKind
	objectKind
	arrayKind
)

func (k kind) String() string {
	switch k {
	case nullKind:
		return "null"
	case boolKind:
		return "boolean"
	case numberKind:
		return "number"
	case stringKind:
		return "string"
	case objectKind:
		return "object"
	case arrayKind:
		return "array"
	}
	return "unknown"
}

// value is one parsed JSON value.
type value struct {
	kind kind
	// spaced says an object or array has whitespace between its tokens (its JSON text
	// is then compacted; without, s is already compact).
	spaced bool
	// s is a string's decoded text, a number's literal, "true"/"false", or an object's
	// or array's text in the document.
	s   string
	obj []member
	arr []value
}

type member struct {
	key string
	val value
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack; real records nest
// fewer than ten levels.
const maxDepth = 1000

type parser struct {
	// data is the whole document as one string, so that keys and unescaped strings
	// are substrings of it rather than copies (the raw column holds it anyway).
	data  string
	pos   int
	depth int
	// dups lists the keys that occurred more than once in some object.
	dups []string
	// sc holds the members and elements of the objects and arrays being parsed; each is
	// copied out, at its exact size, when it closes (no growth garbage per record):
	// into ar when set, else into a slice of its own.
	sc *scratch
	ar *arena
	// spaces counts the whitespace bytes skipped so far.
	spaces int
}

// scratch is a parser's reusable stacks, kept in scratchPool between documents.
type scratch struct {
	members []member
	elems   []value
	seen    map[string]bool
}

var scratchPool = sync.Pool{New: func() any { return &scratch{seen: make(map[string]bool)} }}

// release clears what the stacks point into (the document) and returns them to the pool.
func (p *parser) release() {
	sc := p.sc
	clear(sc.members[:cap(sc.members)])
	clear(sc.elems[:cap(sc.elems)])
	sc.members, sc.elems = sc.members[:0], sc.elems[:0]
	clear(sc.seen)
	p.sc = nil
	scratchPool.Put(sc)
}

// syntaxError is invalid JSON; off is the byte offset where parsing stopped.
type syntaxError struct {
	msg string
	off int
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.off, e.msg)
}

// arena holds the members and elements of the objects and arrays of one record's tree,
// in chunks reused from record to record (see arenas): the tree of a record is the
// largest part of what normalizing it allocates, and none of it outlives Record.
type arena struct {
	members [][]member
	elems   [][]value
	// m and e index the chunk being filled.
	m, e int
}

// arenaChunk is the size of a chunk; a container larger than that gets a chunk of
// its own size.
const arenaChunk = 512

var arenas = sync.Pool{New: func() any { return new(arena) }}

func (a *arena) allocMembers(src []member) []member {
	for {
		if a.m == len(a.members) {
			a.members = append(a.members, make([]member, 0, max(arenaChunk, len(src))))
		}
		c := a.members[a.m]
		if cap(c)-len(c) >= len(src) {
			n := len(c)
			c = append(c, src...)
			a.members[a.m] = c
			return c[n:len(c):len(c)]
		}
		if len(c) == 0 {
			// An empty chunk too small for this container: replace it.
			a.members[a.m] = make([]member, 0, len(src))
			continue
		}
		a.m++
	}
}

func (a *arena) allocElems(src []value) []value {
	for {
		if a.e == len(a.elems) {
			a.elems = append(a.elems, make([]value, 0, max(arenaChunk, len(src))))
		}
		c := a.elems[a.e]
		if cap(c)-len(c) >= len(src) {
			n := len(c)
			c = append(c, src...)
			a.elems[a.e] = c
			return c[n:len(c):len(c)]
		}
		if len(c) == 0 {
			a.elems[a.e] = make([]value, 0, len(src))
			continue
		}
		a.e++
	}
}

// release clears the chunks (they point into the document) and returns the arena to
// the pool. Nothing allocated from it may be used afterwards.
func (a *arena) release() {
	for i := range a.members[:min(a.m+1, len(a.members))] {
		clear(a.members[i])
		a.members[i] = a.members[i][:0]
	}
	for i := range a.elems[:min(a.e+1, len(a.elems))] {
		clear(a.elems[i])
		a.elems[i] = a.elems[i][:0]
	}
	a.m, a.e = 0, 0
	arenas.Put(a)
}

// parseJSON parses one complete JSON document. With an arena, the tree's containers
// are allocated from it and live as long as it does.
func parseJSON(data string, ar *arena) (value, []string, error) {
	p := parser{data: data, sc: scratchPool.Get().(*scratch), ar: ar}
	defer p.release()
	p.skipSpace()
	v, err := p.value()
	if err != nil {
		return value{}, nil, err
	}
	p.skipSpace()
	if p.pos < len(p.data) {
		return value{}, nil, p.errorf("unexpected %s after the value", p.describe())
	}
	return v, p.dups, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), off: p.pos}
}

// describe names the byte at the current position for error messages.
func (p *parser) describe() string {
	if p.pos >= len(p.data) {
		return "end of input"
	}
	r, _ := utf8.DecodeRuneInString(p.data[p.pos:])
	return fmt.Sprintf("character %q", r)
}

func (p *parser) skipSpace() {
	start := p.pos
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			p.spaces += p.pos - start
			return
		}
	}
	p.spaces += p.pos - start
}

func (p *parser) value() (value, error) {
	if p.pos >= len(p.data) {
		return value{}, p.errorf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, err := p.str()
		return value{kind: stringKind, s: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true", value{kind: boolKind, s: "true"})
	case c == 'f':
		return p.literal("false", value{kind: boolKind, s: "false"})
	case c == 'n':
		return p.literal("null", value{kind: nullKind})
	}
	return value{}, p.errorf("unexpected %s, want a value", p.describe())
}

func (p *parser) literal(word string, v value) (value, error) {
	if !strings.HasPrefix(p.data[p.pos:], word) {
		return value{}, p.errorf("unexpected %s, want %s", p.describe(), word)
	}
	p.pos += len(word)
	return v, nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf("nested deeper than %d levels", maxDepth)
	}
	return nil
}

func (p *parser) object() (value, error) {
	if err := p.enter(); err != nil {
		return value{}, err
	}
	defer func() { p.depth-- }()
	start, spaces := p.pos, p.spaces
	p.pos++ // {
	base := len(p.sc.members)
	defer func() { p.sc.members = p.sc.members[:base] }()
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return value{kind: objectKind, spaced: p.spaces != spaces, s: p.data[start:p.pos]}, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return value{}, p.errorf("unexpected %s, want a key", p.describe())
		}
		k, err := p.str()
		if err != nil {
			return value{}, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return value{}, p.errorf("unexpected %s after key %q, want ':'", p.describe(), k)
		}
		p.pos++
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return value{}, err
		}
		p.sc.members = append(p.sc.members, member{key: k, val: v})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return value{}, p.errorf("unexpected end of input in an object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			continue
		case '}':
			p.pos++
			var members []member
			if p.ar != nil {
				members = p.ar.allocMembers(p.sc.members[base:])
			} else {
				members = slices.Clone(p.sc.members[base:])
			}
			p.noteDuplicates(members)
			return value{kind: objectKind, spaced: p.spaces != spaces, s: p.data[start:p.pos], obj: members}, nil
		}
		return value{}, p.errorf("unexpected %s in an object, want ',' or '}'", p.describe())
	}
}

// noteDuplicates records keys that occur more than once; lookups take the first.
func (p *parser) noteDuplicates(members []member) {
	if len(members) < 2 {
		return
	}
	if len(members) <= 16 {
		for i := 1; i < len(members); i++ {
			for j := 0; j < i; j++ {
				if members[i].key == members[j].key {
					p.dups = append(p.dups, members[i].key)
					break
				}
			}
		}
		return
	}
	seen := p.sc.seen
	clear(seen)
	for _, m := range members {
		if seen[m.key] {
			p.dups = append(p.dups, m.key)
		}
		seen[m.key] = true
	}
}

func (p *parser) array() (value, error) {
	if err := p.enter(); err != nil {
		return value{}, err
	}
	defer func() { p.depth-- }()
	start, spaces := p.pos, p.spaces
	p.pos++ // [
	base := len(p.sc.elems)
	defer func() { p.sc.elems = p.sc.elems[:base] }()
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return value{kind: arrayKind, spaced: p.spaces != spaces, s: p.data[start:p.pos]}, nil
	}
	for {
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return value{}, err
		}
		p.sc.elems = append(p.sc.elems, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return value{}, p.errorf("unexpected end of input in an array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			continue
		case ']':
			p.pos++
			var elems []value
			if p.ar != nil {
				elems = p.ar.allocElems(p.sc.elems[base:])
			} else {
				elems = slices.Clone(p.sc.elems[base:])
			}
			return value{kind: arrayKind, spaced: p.spaces != spaces, s: p.data[start:p.pos], arr: elems}, nil
		}
		return value{}, p.errorf("unexpected %s in an array, want ',' or ']'", p.describe())
	}
}

func (p *parser) number() (value, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.pos < len(p.data) && p.data[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return value{}, p.errorf("unexpected %s in a number", p.describe())
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return value{}, p.errorf("unexpected %s after a decimal point", p.describe())
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return value{}, p.errorf("unexpected %s in an exponent", p.describe())
		}
	}
	return value{kind: numberKind, s: p.data[start:p.pos]}, nil
}

// str parses a string at p.pos (which holds the opening quote) and returns its text.
func (p *parser) str() (string, error) {
	p.pos++ // "
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := p.data[start:p.pos]
			p.pos++
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.errorf("control character %#02x in a string", c)
		}
		p.pos++
	}
	var b strings.Builder
	b.WriteString(p.data[start:p.pos])
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c < 0x20:
			return "", p.errorf("control character %#02x in a string", c)
		case c != '\\':
			b.WriteByte(c)
			p.pos++
			continue
		}
		// An escape.
		p.pos++
		if p.pos >= len(p.data) {
			break
		}
		e := p.data[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A pair makes one rune; a lone surrogate becomes U+FFFD, as encoding/json does.
				r2 := rune(-1)
				if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					var ok2 bool
					r2, ok2 = p.hex4()
					if !ok2 {
						return "", p.errorf("invalid \\u escape")
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						b.WriteRune(dec)
						continue
					}
					p.pos = save
				}
				b.WriteRune(utf8.RuneError)
				continue
			}
			b.WriteRune(r)
		default:
			p.pos--
			return "", p.errorf("invalid escape \\%c in a string", e)
		}
	}
	return "", p.errorf("unexpected end of input in a string")
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// get returns the first member called key, falling back to a case-insensitive match
// because the corpus spells some keys both ways (UniqueId/UniqueID).
func (v *value) get(key string) (value, bool) {
	if v.kind != objectKind {
		return value{}, false
	}
	for i := range v.obj {
		if v.obj[i].key == key {
			return v.obj[i].val, true
		}
	}
	for i := range v.obj {
		if len(v.obj[i].key) == len(key) && strings.EqualFold(v.obj[i].key, key) {
			return v.obj[i].val, true
		}
	}
	return value{}, false
}

// jsonText renders a value as compact JSON text.
func (v *value) jsonText() string {
	switch v.kind {
	case nullKind:
		return "null"
	case boolKind, numberKind:
		return v.s
	case stringKind:
		return quoteJSON(v.s)
	}
	if !v.spaced {
		return v.s // no whitespace between its tokens: compact as it is
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(v.s)); err != nil {
		// Cannot happen for text our parser accepted; keep the bytes rather than lose them.
		return v.s
	}
	return buf.String()
}

// text renders a value for a text column: strings as they are, everything else as JSON.
func (v *value) text() string {
	if v.kind == stringKind {
		return v.s
	}
	return v.jsonText()
}

// embedded parses a string that holds a JSON object or array ("stringly" lists such as
// OperationProperties). It reports false for anything else.
func (v *value) embedded() (value, bool) {
	if v.kind != stringKind {
		return value{}, false
	}
	s := strings.TrimSpace(v.s)
	if s == "" || (s[0] != '[' && s[0] != '{') {
		return value{}, false
	}
	inner, _, err := parseJSON(s, nil)
	if err != nil {
		return value{}, false
	}
	return inner, true
}

// quoteJSON renders s as a JSON string without escaping <, > and & (json.Marshal does,
// which would make notes like `EventData: ... "<Type>Edit</Type>"` unreadable).
func quoteJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}
