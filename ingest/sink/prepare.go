package sink

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/o365ingest/o365ingest/schema"
)

// ValueError reports a value that cannot be stored as given: wrong Go type, NULL in a NOT
// NULL column, longer than its Key column, invalid UTF-8 or invalid JSON. Load returns it
// before anything is written, so the caller can quarantine the record and retry the batch.
type ValueError struct {
	// RecordID is the record's id (for a quarantined record or a blob, its content id and
	// ordinal, see Table).
	RecordID string
	// Table and Column name where the value was going.
	Table, Column string
	// Reason says what is wrong with the value.
	Reason string
}

// Error implements error.
func (e *ValueError) Error() string {
	return fmt.Sprintf("record %s: %s.%s: %s", e.RecordID, e.Table, e.Column, e.Reason)
}

// blobError reports a ledger entry that cannot be stored.
func blobError(b schema.Blob, column, reason string) error {
	return &ValueError{RecordID: "blob " + b.TenantID + "/" + b.ContentID, Table: schema.ContentBlob.Name, Column: column, Reason: reason}
}

// lengthFunc measures a string the way a dialect measures its Key columns.
type lengthFunc func(string) int

// runeLen counts code points: PostgreSQL char_length, MySQL VARCHAR(n) in utf8mb4, SQLite.
func runeLen(s string) int { return utf8.RuneCountInString(s) }

// utf16Len counts UTF-16 code units: SQL Server NVARCHAR(n), where a character outside
// the Basic Multilingual Plane (an emoji) takes two of the n.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// prepared is a validated batch: records deduplicated (first occurrence wins) and sorted
// by id, so that concurrent loaders take row locks in the same order and cannot deadlock
// on each other's overlapping ids.
type prepared struct {
	recs        []schema.Record
	dups        int
	quarantined []quarantineRow
	blobs       []schema.Blob
	now         time.Time
}

// quarantineRow is a quarantined record with its key, in schema.Quarantine column order.
type quarantineRow struct {
	qkey string
	QuarantinedRecord
}

// maxTime is the upper bound every database can store (MySQL DATETIME, SQL Server
// DATETIME2); minTime is MySQL DATETIME's lower bound, the highest of the four.
var (
	minTime = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// prepare checks every value of the batch against schema/ and returns the records to
// store. It copies nothing it does not change: a record's Values are copied only when a
// conversion is needed (an int to int64, a time to UTC, id filled from Record.ID), and
// the caller's slice is never written.
func prepare(b Batch, length lengthFunc) (*prepared, error) {
	p := &prepared{now: time.Now().UTC()}
	cols := schema.AuditRecord.Columns
	idAt := schema.AuditRecord.ColumnIndex("id")
	timeAt := schema.AuditRecord.ColumnIndex("creation_time")
	n := b.Records()
	seen := make(map[string]bool, n)
	p.recs = make([]schema.Record, 0, n)
	i := -1
	for _, bl := range b.Blobs {
		for _, r := range bl.Records {
			i++
			if r.ID == "" {
				return nil, &ValueError{RecordID: "#" + strconv.Itoa(i), Table: schema.AuditRecord.Name, Column: "id", Reason: "empty (record " + strconv.Itoa(i) + " of the batch)"}
			}
			if len(r.Values) != len(cols) {
				return nil, &ValueError{RecordID: r.ID, Table: schema.AuditRecord.Name, Column: "*", Reason: fmt.Sprintf("%d values for %d columns", len(r.Values), len(cols))}
			}
			if seen[r.ID] {
				p.dups++
				continue
			}
			seen[r.ID] = true
			// The caller's Values are copied only when a value must change (most records
			// need no change: no copy, no garbage).
			vals := r.Values
			copied := false
			set := func(c int, v any) {
				if !copied {
					vals, copied = slices.Clone(vals), true
				}
				vals[c] = v
			}
			switch v := vals[idAt].(type) {
			case nil:
				set(idAt, r.ID)
			case string:
				if v != r.ID {
					return nil, &ValueError{RecordID: r.ID, Table: schema.AuditRecord.Name, Column: "id", Reason: fmt.Sprintf("value %q differs from Record.ID", v)}
				}
			}
			if vals[timeAt] == nil && !r.CreationTime.IsZero() {
				set(timeAt, r.CreationTime)
			}
			for c := range cols {
				v, err := checkValue(&cols[c], vals[c], length, r.JSONChecked)
				if err != nil {
					return nil, &ValueError{RecordID: r.ID, Table: schema.AuditRecord.Name, Column: cols[c].Name, Reason: err.Error()}
				}
				if !sameValue(v, vals[c]) {
					set(c, v)
				}
			}
			r.Values = vals
			if err := checkProps(r, length); err != nil {
				return nil, err
			}
			p.recs = append(p.recs, r)
		}
	}
	slices.SortFunc(p.recs, func(a, b schema.Record) int { return cmp.Compare(a.ID, b.ID) })

	for _, bl := range b.Blobs {
		e := bl.Entry
		for _, q := range bl.Quarantined {
			qr := QuarantinedRecord{Quarantined: q, TenantID: e.TenantID, ContentType: e.ContentType, ContentID: e.ContentID}
			if err := checkQuarantined(qr, length); err != nil {
				return nil, err
			}
			p.quarantined = append(p.quarantined, quarantineRow{qkey: QuarantineKey(qr), QuarantinedRecord: qr})
		}
		if e.ContentID == "" && e.TenantID == "" {
			continue // records stored without a ledger entry
		}
		if err := checkBlob(e, length); err != nil {
			return nil, err
		}
		p.blobs = append(p.blobs, e)
	}
	return p, nil
}

// sameValue reports whether checkValue returned its argument unchanged. Only the types
// it converts need a look: strings, bools and nil come back as given.
func sameValue(got, was any) bool {
	switch g := got.(type) {
	case int64:
		w, ok := was.(int64)
		return ok && w == g
	case time.Time:
		w, ok := was.(time.Time)
		return ok && w == g // same instant, same location, no monotonic reading
	}
	return true
}

// checkValue returns v as the Go type of c's logical type, or why it cannot be stored.
// jsonChecked (Record.JSONChecked) skips parsing a JSON value again.
func checkValue(c *schema.Column, v any, length lengthFunc, jsonChecked bool) (any, error) {
	if v == nil {
		if c.NotNull {
			return nil, fmt.Errorf("NULL in a NOT NULL column")
		}
		return nil, nil
	}
	switch c.Type {
	case schema.Key, schema.Text, schema.JSON:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("a %T, want a string", v)
		}
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("invalid UTF-8")
		}
		if c.Type == schema.Key && c.Size > 0 {
			if n := length(s); n > c.Size {
				return nil, fmt.Errorf("%d characters, longer than the column's %d", n, c.Size)
			}
		}
		if c.Type == schema.JSON && !jsonChecked && !json.Valid([]byte(s)) {
			return nil, fmt.Errorf("not valid JSON")
		}
		return v, nil // as given: boxing s again would allocate
	case schema.Int:
		switch n := v.(type) {
		case int64:
			return v, nil // as given: boxing n again would allocate
		case int:
			return int64(n), nil
		case int32:
			return int64(n), nil
		}
		return nil, fmt.Errorf("a %T, want an int64", v)
	case schema.Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("a %T, want a bool", v)
	case schema.Time:
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("a %T, want a time.Time", v)
		}
		// Every database keeps microseconds; MySQL would round the rest, the others truncate.
		u := t.UTC().Truncate(time.Microsecond)
		if u.Before(minTime) || u.After(maxTime) {
			return nil, fmt.Errorf("time %s outside 1000-01-01..9999-12-31, which not every database can store", u.Format(time.RFC3339Nano))
		}
		if u == t {
			return v, nil // as given (see sameValue): boxing u again would allocate
		}
		return u, nil
	}
	return nil, fmt.Errorf("unknown logical type %v", c.Type)
}

var (
	propList     = mustColumn(&schema.AuditProperty, "list")
	propName     = mustColumn(&schema.AuditProperty, "name")
	propRecordID = mustColumn(&schema.AuditProperty, "record_id")
)

func mustColumn(t *schema.Table, name string) schema.Column {
	c, ok := t.Column(name)
	if !ok {
		panic("sink: schema has no column " + t.Name + "." + name)
	}
	return c
}

func checkProps(r schema.Record, length lengthFunc) error {
	fail := func(col, reason string) error {
		return &ValueError{RecordID: r.ID, Table: schema.AuditProperty.Name, Column: col, Reason: reason}
	}
	if len(r.Props) == 0 {
		return nil
	}
	if n := length(r.ID); n > propRecordID.Size {
		return fail("record_id", fmt.Sprintf("%d characters, longer than the column's %d", n, propRecordID.Size))
	}
	type key struct {
		list    string
		ordinal int
	}
	// A record's few properties are checked for a repeated (list, ordinal) pairwise;
	// only a long list takes a map.
	var seen map[key]bool
	if len(r.Props) > 32 {
		seen = make(map[key]bool, len(r.Props))
	}
	for i, p := range r.Props {
		where := func() string { return fmt.Sprintf(" (%s[%d])", p.List, p.Ordinal) }
		for _, f := range [...]struct {
			col *schema.Column
			s   string
		}{{&propList, p.List}, {&propName, p.Name}} {
			if !utf8.ValidString(f.s) {
				return fail(f.col.Name, "invalid UTF-8"+where())
			}
			if n := length(f.s); n > f.col.Size {
				return fail(f.col.Name, fmt.Sprintf("%d characters, longer than the column's %d%s", n, f.col.Size, where()))
			}
		}
		if p.List == "" {
			return fail("list", "empty")
		}
		if (p.Value.Valid && !utf8.ValidString(p.Value.String)) || (p.OldValue.Valid && !utf8.ValidString(p.OldValue.String)) {
			return fail("value", "invalid UTF-8"+where())
		}
		repeated := false
		if seen != nil {
			k := key{p.List, p.Ordinal}
			repeated = seen[k]
			seen[k] = true
		} else {
			for _, q := range r.Props[:i] {
				if q.Ordinal == p.Ordinal && q.List == p.List {
					repeated = true
					break
				}
			}
		}
		if repeated {
			return fail("ordinal", "two properties at"+where())
		}
	}
	return nil
}

func checkQuarantined(q QuarantinedRecord, length lengthFunc) error {
	id := fmt.Sprintf("quarantined %s/%s#%d", q.TenantID, q.ContentID, q.Ordinal)
	for _, f := range []struct{ col, s string }{
		{"tenant_id", q.TenantID}, {"content_type", q.ContentType}, {"content_id", q.ContentID}, {"record_id", q.RecordID},
		{"reason", q.Reason}, {"raw", q.Raw},
	} {
		c := mustColumn(&schema.Quarantine, f.col)
		if !utf8.ValidString(f.s) {
			return &ValueError{RecordID: id, Table: schema.Quarantine.Name, Column: f.col, Reason: "invalid UTF-8"}
		}
		if c.Type == schema.Key && length(f.s) > c.Size {
			return &ValueError{RecordID: id, Table: schema.Quarantine.Name, Column: f.col, Reason: fmt.Sprintf("%d characters, longer than the column's %d", length(f.s), c.Size)}
		}
	}
	if q.TenantID == "" {
		return &ValueError{RecordID: id, Table: schema.Quarantine.Name, Column: "tenant_id", Reason: "empty"}
	}
	if q.Reason == "" {
		return &ValueError{RecordID: id, Table: schema.Quarantine.Name, Column: "reason", Reason: "empty: a quarantined record must say why"}
	}
	return nil
}

func checkBlob(b schema.Blob, length lengthFunc) error {
	if b.TenantID == "" {
		return blobError(b, "tenant_id", "empty")
	}
	if b.ContentID == "" {
		return blobError(b, "content_id", "empty")
	}
	for _, f := range []struct{ col, s string }{
		{"tenant_id", b.TenantID}, {"content_id", b.ContentID}, {"content_type", b.ContentType},
		{"content_uri", b.ContentURI}, {"reason", b.Reason}, {"sha256", b.SHA256},
	} {
		c := mustColumn(&schema.ContentBlob, f.col)
		if !utf8.ValidString(f.s) {
			return blobError(b, f.col, "invalid UTF-8")
		}
		if c.Type == schema.Key && length(f.s) > c.Size {
			return blobError(b, f.col, fmt.Sprintf("%d characters, longer than the column's %d", length(f.s), c.Size))
		}
	}
	for _, t := range []struct {
		col string
		t   time.Time
	}{{"content_created", b.Created}, {"content_expiration", b.Expiration}} {
		if !t.t.IsZero() && (t.t.Before(minTime) || t.t.After(maxTime)) {
			return blobError(b, t.col, "time outside 1000-01-01..9999-12-31")
		}
	}
	return nil
}

// QuarantineKey is the quarantine table's primary key for q: the sha256 of its tenant,
// content id, ordinal and raw text, so storing the same quarantined record twice (a
// replayed blob) keeps one row.
func QuarantineKey(q QuarantinedRecord) string {
	h := sha256.New()
	for _, s := range []string{q.TenantID, q.ContentID, strconv.Itoa(q.Ordinal), q.Raw} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// nullString turns "" into NULL, for optional columns.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// quarantineValues returns the row of schema.Quarantine for q, in column order.
func quarantineValues(q quarantineRow, now time.Time) []any {
	return []any{q.qkey, q.TenantID, nullString(q.ContentType), nullString(q.ContentID), int64(q.Ordinal),
		nullString(q.RecordID), q.Reason, q.Raw, now}
}

// blobValues returns the row of schema.ContentBlob for b with status, in column order.
func blobValues(b schema.Blob, status string, now time.Time) []any {
	var created, expiration any
	if !b.Created.IsZero() {
		created = b.Created.UTC()
	}
	if !b.Expiration.IsZero() {
		expiration = b.Expiration.UTC()
	}
	return []any{b.TenantID, b.ContentID, b.ContentType, nullString(b.ContentURI), created, expiration,
		status, nullString(b.Reason), nullString(b.SHA256), b.Bytes, int64(b.Records), int64(b.Quarantined),
		int64(b.Attempts), now}
}

// propValues returns the row of schema.AuditProperty for p of record id, in column order.
func propValues(id string, p schema.Property) []any {
	var v, old any
	if p.Value.Valid {
		v = p.Value.String
	}
	if p.OldValue.Valid {
		old = p.OldValue.String
	}
	return []any{id, p.List, int64(p.Ordinal), p.Name, v, old}
}

// hooks lets tests inject a failure at a named point inside Load's transaction.
type hooks struct {
	hook func(stage string) error
}

// at runs the test hook for stage, if one is set.
func (h *hooks) at(stage string) error {
	if h.hook == nil {
		return nil
	}
	if err := h.hook(stage); err != nil {
		return fmt.Errorf("test hook at %s: %w", stage, err)
	}
	return nil
}

// setHook installs the hook; export_test.go exposes it.
func (h *hooks) setHook(f func(stage string) error) { h.hook = f }

// The stages at which Load calls its hook.
const (
	stageRecords = "records" // records (and properties) written, before quarantine and ledger
	stageLedger  = "ledger"  // everything written, before commit
)
