package normalize

import (
	"fmt"
	"strconv"
	"strings"
)

// path is a compiled Column.From source path (syntax in schema.Column.From).
type path struct {
	text string
	segs []segment
}

type selector uint8

const (
	selNone selector = iota
	// selName picks the Value of the Name/Value element called name: "List[Name]".
	selName
	// selType picks the ID of the first element whose Type is typ: "List[Type=5]".
	selType
)

type segment struct {
	key string
	// index is the array index of a numeric segment, else -1.
	index int
	sel   selector
	name  string
	typ   int64
}

// compilePath parses a source path once, at init.
func compilePath(s string) (path, error) {
	p := path{text: s}
	for _, part := range strings.Split(s, ".") {
		seg := segment{key: part, index: -1}
		if i := strings.IndexByte(part, '['); i >= 0 {
			if !strings.HasSuffix(part, "]") || i == 0 {
				return path{}, fmt.Errorf("source path %q: malformed selector in %q", s, part)
			}
			seg.key = part[:i]
			inner := part[i+1 : len(part)-1]
			if t, ok := strings.CutPrefix(inner, "Type="); ok {
				n, err := strconv.ParseInt(t, 10, 64)
				if err != nil {
					return path{}, fmt.Errorf("source path %q: Type selector %q is not an integer", s, t)
				}
				seg.sel, seg.typ = selType, n
			} else {
				if inner == "" {
					return path{}, fmt.Errorf("source path %q: empty selector", s)
				}
				seg.sel, seg.name = selName, inner
			}
		}
		if seg.key == "" {
			return path{}, fmt.Errorf("source path %q: empty key", s)
		}
		if n, err := strconv.Atoi(seg.key); err == nil && n >= 0 {
			seg.index = n
		}
		p.segs = append(p.segs, seg)
	}
	return p, nil
}

// lookup follows the path from the record root. It reports false when the path is
// absent or leads to JSON null, so the caller tries the next source path.
func (p *path) lookup(root *value) (value, bool) {
	cur := *root
	for _, seg := range p.segs {
		// A container that arrived as a JSON-encoded string is looked into as well.
		if cur.kind == stringKind {
			inner, ok := cur.embedded()
			if !ok {
				return value{}, false
			}
			cur = inner
		}
		switch {
		case cur.kind == arrayKind && seg.index >= 0:
			if seg.index >= len(cur.arr) {
				return value{}, false
			}
			cur = cur.arr[seg.index]
		case cur.kind == objectKind:
			next, ok := cur.get(seg.key)
			if !ok {
				return value{}, false
			}
			cur = next
		default:
			return value{}, false
		}
		switch seg.sel {
		case selName:
			next, ok := pickByName(cur, seg.name)
			if !ok {
				return value{}, false
			}
			cur = next
		case selType:
			next, ok := pickByType(cur, seg.typ)
			if !ok {
				return value{}, false
			}
			cur = next
		}
	}
	if cur.kind == nullKind {
		return value{}, false
	}
	return cur, true
}

// listOf returns the elements of a list that may have arrived as a JSON-encoded string.
func listOf(v value) []value {
	if v.kind == stringKind {
		inner, ok := v.embedded()
		if !ok {
			return nil
		}
		v = inner
	}
	switch v.kind {
	case arrayKind:
		return v.arr
	case objectKind:
		return []value{v}
	}
	return nil
}

// pickByName returns the Value of the first element whose Name is name (exactly, else
// case-insensitively).
func pickByName(list value, name string) (value, bool) {
	elems := listOf(list)
	for _, fold := range []bool{false, true} {
		for i := range elems {
			n, ok := elems[i].get("Name")
			if !ok || n.kind != stringKind {
				continue
			}
			if n.s == name || (fold && strings.EqualFold(n.s, name)) {
				return elems[i].get("Value")
			}
		}
	}
	return value{}, false
}

// pickByType returns the ID of the first element whose Type is typ (a number or a
// numeric string).
func pickByType(list value, typ int64) (value, bool) {
	elems := listOf(list)
	for i := range elems {
		t, ok := elems[i].get("Type")
		if !ok {
			continue
		}
		if n, ok := intOf(t); ok && n == typ {
			return elems[i].get("ID")
		}
	}
	return value{}, false
}

// intOf reads an integer from a JSON number or a numeric string.
func intOf(v value) (int64, bool) {
	switch v.kind {
	case numberKind:
		n, err := strconv.ParseInt(v.s, 10, 64)
		return n, err == nil
	case stringKind:
		n, err := strconv.ParseInt(strings.TrimSpace(v.s), 10, 64)
		return n, err == nil
	}
	return 0, false
}
