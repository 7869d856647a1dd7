// Package normalize turns one raw Management Activity API audit record into its
// audit_record row and audit_property rows (schema.Record), or explains why it cannot.
//
// It is a pure function of the record's bytes and its Source: no I/O, no clock. The
// typed columns are driven by schema.AuditRecord: every column with source paths
// (Column.From) is filled from the first path present in the record and converted to
// the column's type tolerantly. What does not fit a typed column is left NULL and
// described in parse_notes; the value itself always stays in raw, so nothing is lost.
// Only what would corrupt the table — no Id, no CreationTime, no tenant, a value longer
// than its Key column, a document that is not a JSON object — fails the record with an
// *Error, and the caller quarantines it (see Quarantine).
package normalize

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/o365ingest/o365ingest/schema"
)

// Source says where a record came from; the pipeline fills it.
type Source struct {
	// TenantID is the configured tenant the record was fetched for. Empty for imports:
	// the record's OrganizationId is used instead.
	TenantID string
	// ContentType is the content type the blob was listed under ("import" for files).
	ContentType string
	// ContentID is the blob (or imported file chunk) the record arrived in.
	ContentID string
	// IngestedAt is when the pipeline stores the record.
	IngestedAt time.Time
	// Geo, when set, fills client_country and client_asn from client_ip (a GeoIP
	// database, config ingest.geoip_db); without it they stay NULL.
	Geo Locator
}

// Locator maps a normalized client address to its ISO 3166 country code ("" when
// unknown) and autonomous system number (0 when unknown). *geoip.DB is one.
type Locator interface {
	Locate(ip string) (country string, asn int64)
}

// Error explains why a record cannot be stored; Reason names the field.
type Error struct {
	// RecordID is the record's Id when it could be read (and fits the column), else "".
	RecordID string
	// Reason says what is wrong, starting with the field: `CreationTime: missing`.
	Reason string
}

// Error implements error.
func (e *Error) Error() string {
	if e.RecordID == "" {
		return "normalizing record: " + e.Reason
	}
	return "normalizing record " + e.RecordID + ": " + e.Reason
}

// Quarantine builds the quarantine entry for a record that failed (raw made valid UTF-8).
// ordinal is the record's position in its blob or file. err is normally the *Error from
// Record; any other error is kept as the reason verbatim.
func Quarantine(raw []byte, ordinal int, err error) schema.Quarantined {
	q := schema.Quarantined{Ordinal: ordinal, Raw: string(bytes.ToValidUTF8(raw, []byte("\uFFFD")))}
	var e *Error
	switch {
	case errors.As(err, &e):
		q.RecordID, q.Reason = e.RecordID, e.Reason
	case err != nil:
		q.Reason = err.Error()
	default:
		q.Reason = "quarantined without a reason"
	}
	return q
}

// colKind says how a column gets its value.
type colKind uint8

const (
	fromPaths colKind = iota
	ipFromPaths
	idCol
	tenantCol
	contentTypeCol
	contentIDCol
	creationTimeCol
	notesCol
	ingestedAtCol
	rawCol
	unknownCol
)

type plan struct {
	col   schema.Column
	kind  colKind
	paths []path
}

// idLimit is the size of audit_record.id (and quarantine.record_id).
var idLimit = func() int {
	c, _ := schema.AuditRecord.Column("id")
	return c.Size
}()

// plans is schema.AuditRecord compiled once: source paths parsed, computed columns
// named; index finds where each path starts in a record.
var plans, index = compilePlans(schema.AuditRecord.Columns)

func compilePlans(cols []schema.Column) ([]plan, *rootIndex) {
	ix := &rootIndex{}
	out := make([]plan, len(cols))
	for i, c := range cols {
		p := plan{col: c}
		switch c.Name {
		case "id":
			p.kind = idCol
		case "tenant_id":
			p.kind = tenantCol
		case "content_type":
			p.kind = contentTypeCol
		case "content_id":
			p.kind = contentIDCol
		case "creation_time":
			p.kind = creationTimeCol
		case "parse_notes":
			p.kind = notesCol
		case "ingested_at":
			p.kind = ingestedAtCol
		case "raw":
			p.kind = rawCol
		case "client_ip", "client_ip_address", "actor_ip_address":
			p.kind = ipFromPaths
		default:
			if len(c.From) == 0 {
				// A computed column this package does not know yet stays NULL.
				p.kind = unknownCol
			}
		}
		for _, f := range c.From {
			cp, err := compilePath(f)
			if err != nil {
				panic(fmt.Sprintf("normalize: schema column %s: %v", c.Name, err))
			}
			p.paths = append(p.paths, cp)
		}
		for j := range p.paths {
			ix.add(&p.paths[j])
		}
		out[i] = p
	}
	return out, ix
}

// Record normalizes one raw record. On failure it returns *Error, and the caller quarantines the record.
//
// The record keeps raw: its raw column (and the text columns and properties taken from
// it) share raw's bytes rather than copy them, so the caller must not modify raw while
// the record is in use (every source hands on a fresh slice per record).
func Record(raw []byte, src Source) (schema.Record, error) {
	var notes []string
	text := raw
	if !utf8.Valid(raw) {
		text = bytes.ToValidUTF8(raw, []byte("\uFFFD"))
		notes = append(notes, "raw: invalid UTF-8 replaced with U+FFFD")
	}
	if len(bytes.TrimSpace(text)) == 0 {
		return schema.Record{}, &Error{Reason: "record: empty"}
	}
	// The document shares text's bytes: raw's (see above), or the valid UTF-8 copy.
	doc := unsafe.String(unsafe.SliceData(text), len(text))
	ar := arenas.Get().(*arena)
	defer ar.release()
	root, dups, err := parseJSON(doc, ar)
	if err != nil {
		return schema.Record{}, &Error{Reason: "record: " + err.Error()}
	}
	if root.kind != objectKind {
		return schema.Record{}, &Error{Reason: fmt.Sprintf("record: a JSON %s, not an object", root.kind)}
	}
	for _, d := range dups {
		notes = append(notes, fmt.Sprintf("%s: duplicate key, the first occurrence is used", d))
	}

	id, err := recordID(&root)
	if err != nil {
		return schema.Record{}, err
	}
	errID := id
	if utf8.RuneCountInString(id) > idLimit {
		errID = "" // it would not fit quarantine.record_id either; it stays in raw
	}
	fail := func(reason string) (schema.Record, error) {
		return schema.Record{}, &Error{RecordID: errID, Reason: reason}
	}

	mbuf := memberBufs.Get().(*[]int)
	defer memberBufs.Put(mbuf)
	members := index.members(&root, *mbuf)
	*mbuf = members[:0]
	// Every JSON value below is the parsed document or rendered from parsed values.
	rec := schema.Record{ID: id, Values: make([]any, len(plans)), JSONChecked: true}
	notesAt := -1
	for i := range plans {
		p := &plans[i]
		var v any
		field := "" // the source path the value came from, for messages
		switch p.kind {
		case idCol:
			v, field = id, "Id"
		case tenantCol:
			t := src.TenantID
			if t == "" {
				if org, ok := root.get("OrganizationId"); ok && org.kind != nullKind {
					t, field = strings.TrimSpace(org.text()), "OrganizationId"
				}
			}
			if t == "" {
				return fail("OrganizationId: missing, and no tenant was given")
			}
			v = t
		case contentTypeCol:
			if src.ContentType != "" {
				v = src.ContentType
			}
		case contentIDCol:
			if src.ContentID != "" {
				v = src.ContentID
			}
		case creationTimeCol:
			ct, ok := root.get("CreationTime")
			if !ok || ct.kind == nullKind || isBlank(ct) {
				return fail("CreationTime: missing")
			}
			if ct.kind != stringKind {
				return fail("CreationTime: not a time: " + excerpt(ct))
			}
			t, err := parseTime(ct.s)
			if err != nil {
				return fail("CreationTime: " + err.Error() + ": " + excerpt(ct))
			}
			rec.CreationTime = t
			v = t
		case notesCol:
			notesAt = i
			continue
		case ingestedAtCol:
			// As every sink stores it (and without a monotonic clock reading), so that
			// the sink has nothing to convert.
			v = src.IngestedAt.UTC().Truncate(time.Microsecond)
		case rawCol:
			v = doc
		case ipFromPaths, fromPaths:
			var note string
			if p.kind == ipFromPaths {
				v, field, note = ipColumn(p, &root, members)
			} else {
				v, field, note = dataColumn(p, &root, members)
			}
			if note != "" {
				notes = append(notes, note)
			}
		}
		if s, ok := v.(string); ok && p.col.Type == schema.Key && p.col.Size > 0 {
			if n := utf8.RuneCountInString(s); n > p.col.Size {
				if field == "" {
					field = p.col.Name
				}
				return fail(fmt.Sprintf("%s: %d characters, longer than the %d that column %s holds", field, n, p.col.Size, p.col.Name))
			}
		}
		rec.Values[i] = v
	}

	rec.Props, err = properties(&root, errID)
	if err != nil {
		return schema.Record{}, err
	}
	if notesAt >= 0 && len(notes) > 0 {
		rec.Values[notesAt] = strings.Join(notes, "; ")
	}
	if src.Geo != nil {
		if ip, ok := rec.Values[clientIPAt].(string); ok && ip != "" {
			country, asn := src.Geo.Locate(ip)
			if country != "" && countryAt >= 0 {
				rec.Values[countryAt] = country
			}
			if asn != 0 && asnAt >= 0 {
				rec.Values[asnAt] = asn
			}
		}
	}
	return rec, nil
}

// memberBufs are the rootIndex.members slices of records being normalized, reused.
var memberBufs = sync.Pool{New: func() any { return new([]int) }}

// Where the geo columns are in schema.AuditRecord.
var (
	clientIPAt = schema.AuditRecord.ColumnIndex("client_ip")
	countryAt  = schema.AuditRecord.ColumnIndex("client_country")
	asnAt      = schema.AuditRecord.ColumnIndex("client_asn")
)

// recordID reads Id: a non-empty string, or a number rendered as its literal digits.
func recordID(root *value) (string, error) {
	v, ok := root.get("Id")
	if !ok || v.kind == nullKind {
		return "", &Error{Reason: "Id: missing"}
	}
	switch v.kind {
	case stringKind:
		if strings.TrimSpace(v.s) == "" {
			return "", &Error{Reason: "Id: missing (empty)"}
		}
		return v.s, nil
	case numberKind:
		return v.s, nil
	}
	return "", &Error{Reason: fmt.Sprintf("Id: missing (a JSON %s, want a string)", v.kind)}
}

// dataColumn fills a column from the first of its source paths that is present. It
// returns the value (nil for NULL), the path it came from, and a note when a present
// value did not convert.
func dataColumn(p *plan, root *value, members []int) (v any, field, note string) {
	for i := range p.paths {
		jv, ok := p.paths[i].lookupFrom(root, members[p.paths[i].id])
		if !ok {
			continue
		}
		v, note = convert(p.col.Type, p.paths[i].text, jv)
		return v, p.paths[i].text, note
	}
	return nil, "", ""
}

// convert turns a JSON value into the Go value of a column type. field names the source
// path for the note.
func convert(t schema.Type, field string, v value) (any, string) {
	switch t {
	case schema.Text, schema.Key:
		return v.text(), ""
	case schema.JSON:
		return v.jsonText(), ""
	case schema.Int:
		if isBlank(v) {
			return nil, ""
		}
		if n, ok := parseInt(v); ok {
			return n, ""
		}
		return nil, field + ": not an integer: " + excerpt(v)
	case schema.Bool:
		if isBlank(v) {
			return nil, ""
		}
		if b, ok := parseBool(v); ok {
			return b, ""
		}
		return nil, field + ": not a boolean: " + excerpt(v)
	case schema.Time:
		if isBlank(v) {
			return nil, ""
		}
		if v.kind == stringKind {
			tm, err := parseTime(v.s)
			if err == nil {
				return tm, ""
			}
			return nil, field + ": " + err.Error() + ": " + excerpt(v)
		}
		return nil, field + ": not a time: " + excerpt(v)
	}
	return nil, field + ": no conversion to " + t.String()
}

// ipColumn fills an IP address column: the first source path holding an address wins,
// so an empty ClientIP falls back to ClientIPAddress and ActorIpAddress as the column
// documents. A value that is not an address is kept as received, with a note.
func ipColumn(p *plan, root *value, members []int) (v any, field, note string) {
	for i := range p.paths {
		jv, ok := p.paths[i].lookupFrom(root, members[p.paths[i].id])
		if !ok {
			continue
		}
		field = p.paths[i].text
		if jv.kind != stringKind {
			return jv.text(), field, field + ": not an IP address: " + excerpt(jv)
		}
		addr, ok, empty := normalizeIP(jv.s)
		if empty {
			continue
		}
		if !ok {
			return addr, field, field + ": not an IP address: " + excerpt(jv)
		}
		return addr, field, ""
	}
	return nil, "", ""
}
