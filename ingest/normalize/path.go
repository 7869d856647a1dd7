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
	// id numbers the path in its rootIndex.
	id int
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

// lookupFrom follows the path from the record root, given the index in root.obj of the
// member its first segment names (-1 when absent; see rootIndex). It reports false when
// the path is absent or leads to JSON null, so the caller tries the next source path.
func (p *path) lookupFrom(root *value, member int) (value, bool) {
	if member < 0 {
		return value{}, false
	}
	cur, ok := p.segs[0].selectIn(root.obj[member].val)
	if !ok {
		return value{}, false
	}
	return p.walk(cur, 1)
}

// walk follows segs[from:] from cur.
func (p *path) walk(cur value, from int) (value, bool) {
	for _, seg := range p.segs[from:] {
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
		var ok bool
		if cur, ok = seg.selectIn(cur); !ok {
			return value{}, false
		}
	}
	if cur.kind == nullKind {
		return value{}, false
	}
	return cur, true
}

// selectIn applies the segment's [Name] or [Type=n] selector, if any, to cur.
func (seg *segment) selectIn(cur value) (value, bool) {
	switch seg.sel {
	case selName:
		return pickByName(cur, seg.name)
	case selType:
		return pickByType(cur, seg.typ)
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
		if n, ok := parseInt(t); ok && n == typ {
			return elems[i].get("ID")
		}
	}
	return value{}, false
}

// rootIndex finds, in one pass over a record's top-level keys, the member each compiled
// path starts at: the first exact match, else the first case-insensitive one. It
// replaces a scan of every key for every column (most columns are absent from any
// given record, and an absent key costs a full scan twice).
type rootIndex struct {
	// byKey maps an ASCII-lowercased first key to the paths starting with it.
	byKey  map[string][]pathRef
	paths  int
	maxKey int
}

type pathRef struct {
	id  int
	key string
}

func (ix *rootIndex) add(p *path) {
	if ix.byKey == nil {
		ix.byKey = map[string][]pathRef{}
	}
	p.id = ix.paths
	ix.paths++
	k := p.segs[0].key
	ix.byKey[strings.ToLower(k)] = append(ix.byKey[strings.ToLower(k)], pathRef{id: p.id, key: k})
	ix.maxKey = max(ix.maxKey, len(k))
}

// members returns, per path id, the index of its root member, or -1.
func (ix *rootIndex) members(root *value, reuse []int) []int {
	// reuse is a slice of an earlier record (see memberBufs), cleared here.
	if cap(reuse) < 2*ix.paths {
		reuse = make([]int, 2*ix.paths)
	}
	exact := reuse[:2*ix.paths]
	clear(exact)
	fold := exact[ix.paths:]
	exact = exact[:ix.paths]
	var buf [64]byte
	for i := range root.obj {
		k := root.obj[i].key
		if len(k) > ix.maxKey || len(k) > len(buf) {
			continue
		}
		for j := 0; j < len(k); j++ {
			c := k[j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[j] = c
		}
		for _, ref := range ix.byKey[string(buf[:len(k)])] {
			if k == ref.key {
				if exact[ref.id] == 0 {
					exact[ref.id] = i + 1
				}
			} else if fold[ref.id] == 0 {
				fold[ref.id] = i + 1
			}
		}
	}
	for id := range exact {
		if exact[id] == 0 {
			exact[id] = fold[id]
		}
		exact[id]--
	}
	return exact
}
