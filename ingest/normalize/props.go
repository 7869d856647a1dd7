package normalize

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/o365ingest/o365ingest/schema"
)

// listShape says which keys of a list's elements hold the name and the value(s).
type listShape uint8

const (
	nameValue listShape = iota // {Name, Value}
	modified                   // {Name, NewValue, OldValue}
	keyValue                   // {Key, Value}
	identity                   // {ID, Type}
)

// propLists are the lists expanded into audit_property rows, in row order.
var propLists = [...]struct {
	name  string
	shape listShape
}{
	{"Parameters", nameValue},
	{"ExtendedProperties", nameValue},
	{"ModifiedProperties", modified},
	{"DeviceProperties", nameValue},
	{"OperationProperties", nameValue},
	{"ExtraProperties", keyValue},
	{"Actor", identity},
	{"Target", identity},
}

// identityTypes names Actor/Target Type numbers (reference §6.8; numbering inferred from
// the documented order and every observed value).
var identityTypes = map[int64]string{0: "Claim", 1: "Name", 2: "Other", 3: "PUID", 4: "SPN", 5: "UPN"}

// nameLimit is audit_property.name's size.
var nameLimit = func() int {
	c, _ := schema.AuditProperty.Column("name")
	return c.Size
}()

// properties expands the record's Name/Value lists into audit_property rows.
func properties(root *value, id string) ([]schema.Property, error) {
	// The lists are looked up first, so that the rows are allocated once, at the size
	// they will have (a list sent as JSON text may add some).
	var lists [len(propLists)]value
	var found [len(propLists)]bool
	n := 0
	for i, l := range propLists {
		v, ok := root.get(l.name)
		if !ok {
			continue
		}
		lists[i], found[i] = v, true
		n++
		if v.kind == arrayKind {
			n += len(v.arr) - 1
		}
	}
	if n == 0 {
		return nil, nil
	}
	props := make([]schema.Property, 0, n)
	for li, l := range propLists {
		if !found[li] {
			continue
		}
		v := lists[li]
		var elems []value
		switch v.kind {
		case nullKind:
			continue
		case arrayKind:
			elems = v.arr
		case objectKind:
			elems = []value{v}
		case stringKind:
			if inner, ok := v.embedded(); ok {
				// A list sent as JSON text: "[{\"Name\":...}]".
				elems = listOf(inner)
				break
			}
			if strings.TrimSpace(v.s) == "" {
				continue
			}
			// A plain string, e.g. Parameters as a command line: one row, no name.
			props = append(props, schema.Property{List: l.name, Value: sql.NullString{String: v.s, Valid: true}})
			continue
		default:
			props = append(props, schema.Property{List: l.name, Value: nullable(v, true)})
			continue
		}
		for i, e := range elems {
			p := element(e, l.shape)
			p.List, p.Ordinal = l.name, i
			if n := utf8.RuneCountInString(p.Name); n > nameLimit {
				return nil, &Error{RecordID: id, Reason: fmt.Sprintf("%s.%d: name is %d characters, longer than the %d audit_property.name holds", l.name, i, n, nameLimit)}
			}
			props = append(props, p)
		}
	}
	if len(props) == 0 {
		return nil, nil // only empty lists
	}
	return props, nil
}

// element reads one list element. A bare string (Exchange mailbox ModifiedProperties)
// is a name without a value; any other non-object is a value without a name.
func element(e value, shape listShape) schema.Property {
	switch e.kind {
	case objectKind:
	case stringKind:
		return schema.Property{Name: e.s}
	default:
		return schema.Property{Value: nullable(e, true)}
	}
	var p schema.Property
	switch shape {
	case nameValue:
		p.Name = nameOf(e, "Name")
		p.Value = nullable(e.get("Value"))
	case modified:
		p.Name = nameOf(e, "Name")
		p.Value = nullable(e.get("NewValue"))
		p.OldValue = nullable(e.get("OldValue"))
	case keyValue:
		p.Name = nameOf(e, "Key")
		if _, ok := e.get("Key"); !ok {
			p.Name = nameOf(e, "Name")
		}
		p.Value = nullable(e.get("Value"))
	case identity:
		if t, ok := e.get("Type"); ok && t.kind != nullKind {
			if n, ok := parseInt(t); ok {
				p.Name = identityTypes[n]
				if p.Name == "" {
					p.Name = strconv.FormatInt(n, 10)
				}
			} else {
				p.Name = t.text()
			}
		}
		p.Value = nullable(e.get("ID"))
	}
	return p
}

// nameOf returns an element's key as text, "" when absent or null.
func nameOf(e value, key string) string {
	v, ok := e.get(key)
	if !ok || v.kind == nullKind {
		return ""
	}
	return v.text()
}

// nullable turns a looked-up value into a property value: NULL when absent or null,
// strings as they are, anything else as compact JSON text.
func nullable(v value, ok bool) sql.NullString {
	if !ok || v.kind == nullKind {
		return sql.NullString{}
	}
	return sql.NullString{String: v.text(), Valid: true}
}
