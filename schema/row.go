package schema

import (
	"database/sql"
	"time"
)

// Record is one normalized audit record: its audit_record row and its audit_property rows.
// The normalizer builds it; sinks load it without looking inside values.
type Record struct {
	// ID is the record's Id (the audit_record primary key).
	ID string
	// CreationTime is the event time in UTC.
	CreationTime time.Time
	// Values holds one value per AuditRecord.Columns entry, in the same order; nil is
	// SQL NULL. Go types by logical type: Text, Key, JSON → string; Int → int64;
	// Bool → bool; Time → time.Time (UTC).
	Values []any
	// Props are the record's audit_property rows (record_id is ID).
	Props []Property
	// JSONChecked says that whoever built the record has checked that the value of
	// every JSON column is valid JSON (package normalize does: raw is the document it
	// parsed, the other JSON values are rendered from parsed values), so the sink does
	// not parse them again. A record built any other way leaves it false and the sink
	// checks.
	JSONChecked bool
}

// Value returns the value of the named audit_record column (nil when NULL or unknown).
func (r *Record) Value(column string) any {
	i := AuditRecord.ColumnIndex(column)
	if i < 0 || i >= len(r.Values) {
		return nil
	}
	return r.Values[i]
}

// Property is one element of a nested Name/Value list, as an audit_property row.
type Property struct {
	// List is the list the element came from: Parameters, ExtendedProperties,
	// ModifiedProperties, DeviceProperties, OperationProperties, ExtraProperties,
	// Actor, Target, ...
	List string
	// Ordinal is the element's position in its list, from 0.
	Ordinal int
	// Name is the element's Name (Actor/Target: the identity type; a list of bare
	// strings: the string itself). Empty when the list was a plain string.
	Name string
	// Value is the element's Value (ModifiedProperties: NewValue; Actor/Target: ID).
	Value sql.NullString
	// OldValue is ModifiedProperties' OldValue; NULL for other lists.
	OldValue sql.NullString
}

// Quarantined is a record that could not be normalized or loaded. It is stored with its
// raw text and the reason, in the same transaction as the blob it came from, and is
// never dropped silently.
type Quarantined struct {
	// Ordinal is the record's position in its blob or file.
	Ordinal int
	// RecordID is the record's Id when one could be read, else "".
	RecordID string
	// Reason says what is wrong, naming the field.
	Reason string
	// Raw is the record's text as received (made valid UTF-8 if it was not).
	Raw string
}

// Blob is one content blob (or one chunk of an imported file) and its ledger entry.
type Blob struct {
	TenantID    string
	ContentType string
	ContentID   string
	ContentURI  string
	// Created and Expiration are the listing's contentCreated and contentExpiration
	// (zero for imports).
	Created    time.Time
	Expiration time.Time
	// Status is BlobLoaded, BlobFailed or BlobExpired.
	Status string
	// Reason explains a failed or expired blob.
	Reason string
	// SHA256 and Bytes describe the body exactly as received.
	SHA256 string
	Bytes  int64
	// Records is how many records the body held; Quarantined how many of them were
	// quarantined.
	Records     int
	Quarantined int
	// LoadedAt is when the pipeline stored it (also each record's ingested_at).
	LoadedAt time.Time
	// Attempts counts fetch attempts recorded for a failed blob.
	Attempts int
}

// Ledger statuses of a content blob.
const (
	// BlobLoaded: every record of the blob is in audit_record or quarantine.
	BlobLoaded = "loaded"
	// BlobFailed: fetching or loading failed; the next run tries again.
	BlobFailed = "failed"
	// BlobExpired: the API no longer serves the blob (AF20051, AF20050, 404); its
	// records are known to be missing.
	BlobExpired = "expired"
)
