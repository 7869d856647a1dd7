package sink_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

// TestConformance runs the same contract checks against every sink (see sinktest.Drivers).
func TestConformance(t *testing.T) {
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			for _, c := range conformanceCases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, driver)
				})
			}
		})
	}
}

var conformanceCases = []struct {
	name string
	run  func(t *testing.T, driver string)
}{
	{"the whole corpus loads once and a reload adds nothing", testCorpus},
	{"an injected failure leaves neither rows nor ledger", testAtomic},
	{"a value that cannot be stored fails before anything is written", testValueErrors},
	{"duplicates inside a batch keep the first", testInBatchDuplicates},
	{"unicode and long values round-trip exactly", testUnicodeAndLong},
	{"NULLs round-trip", testNulls},
	{"quarantined records are stored once", testQuarantine},
	{"Known and MarkBlob follow the ledger rules", testLedger},
	{"leases exclude a second holder until expiry or release", testLeases},
	{"migrated columns match schema", testColumns},
	{"migrate is idempotent and reversible", testMigrate},
	{"the dialect's SQL runs: insert-if-absent, limit, time literals and ranges", testDialect},
	{"the run log and the read handle agree", testRunLog},
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// quote quotes an identifier in the sink's dialect.
func quote(s sink.Sink, ident string) string { return s.Handle().Dialect.Quote(ident) }

func count(t *testing.T, s sink.Sink, table string) int {
	t.Helper()
	var n int
	if err := s.Handle().DB.QueryRowContext(ctxT(t), "SELECT COUNT(*) FROM "+quote(s, table)).Scan(&n); err != nil {
		t.Fatalf("counting %s: %v", table, err)
	}
	return n
}

func blob(id string, n int) schema.Blob {
	return schema.Blob{
		TenantID: "tenant-1", ContentType: "Audit.General", ContentID: id,
		ContentURI: "https://manage.office.com/api/v1.0/t/activity/feed/audit/" + id,
		Created:    time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Expiration: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		Status: schema.BlobLoaded, SHA256: strings.Repeat("ab", 32), Bytes: 1234, Records: n,
		LoadedAt: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC),
	}
}

// corpusBatches normalizes the corpus into one batch per file (one blob each), as the
// pipeline would, quarantining what normalize rejects.
func corpusBatches(t *testing.T) ([]sink.Batch, []sinktest.CorpusRecord) {
	t.Helper()
	recs := sinktest.Corpus(t)
	var batches []sink.Batch
	byFile := map[string]int{}
	ingested := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	var sources []sinktest.CorpusRecord
	for _, c := range recs {
		i, ok := byFile[c.File]
		if !ok {
			i = len(batches)
			byFile[c.File] = i
			batches = append(batches, sink.Batch{Blobs: []sink.Blob{{Entry: blob(c.File, 0)}}})
		}
		b := &batches[i].Blobs[0]
		b.Entry.Records++
		src := normalize.Source{TenantID: "tenant-1", ContentType: "Audit.General", ContentID: c.File, IngestedAt: ingested}
		r, err := normalize.Record(c.Raw, src)
		if err != nil {
			b.Entry.Quarantined++
			b.Quarantined = append(b.Quarantined, normalize.Quarantine(c.Raw, c.Line-1, err))
			continue
		}
		b.Records = append(b.Records, r)
		sources = append(sources, c)
	}
	return batches, sources
}

func testCorpus(t *testing.T, driver string) {
	s := sinktest.Open(t, driver)
	ctx := ctxT(t)
	batches, sources := corpusBatches(t)

	// Expected: the first occurrence of every id, in load order.
	first := map[string]schema.Record{}
	var total, quarantined int
	for _, bt := range batches {
		b := bt.Blobs[0]
		total += len(b.Records)
		quarantined += len(b.Quarantined)
		for _, r := range b.Records {
			if _, ok := first[r.ID]; !ok {
				first[r.ID] = r
			}
		}
	}
	props := 0
	for _, r := range first {
		props += len(r.Props)
	}
	if len(first) < 100 {
		t.Fatalf("only %d distinct ids normalized from the corpus; is it complete?", len(first))
	}

	var got sink.LoadResult
	for _, b := range batches {
		res, err := s.Load(ctx, b)
		if err != nil {
			t.Fatalf("loading %s: %v", b.Blobs[0].Entry.ContentID, err)
		}
		got.Inserted += res.Inserted
		got.Duplicates += res.Duplicates
		got.Quarantined += res.Quarantined
	}
	want := sink.LoadResult{Inserted: len(first), Duplicates: total - len(first), Quarantined: quarantined}
	if got != want {
		t.Errorf("first load: %+v, want %+v", got, want)
	}
	var rows, distinct int
	if err := s.Handle().DB.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*), COUNT(DISTINCT %s) FROM %s", quote(s, "id"), quote(s, "audit_record"))).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != len(first) || distinct != len(first) {
		t.Errorf("audit_record holds %d rows, %d distinct ids; want %d of each", rows, distinct, len(first))
	}
	if n := count(t, s, "audit_property"); n != props {
		t.Errorf("audit_property holds %d rows, want %d (the properties of the first occurrence of each id)", n, props)
	}

	// Every stored row equals the first occurrence: raw as JSON, every typed column.
	stored := readRecords(t, s)
	for id, want := range first {
		got, ok := stored[id]
		if !ok {
			t.Errorf("record %s missing", id)
			continue
		}
		compareRecord(t, s, want, got)
	}
	_ = sources

	// A replay adds nothing.
	var again sink.LoadResult
	for _, b := range batches {
		res, err := s.Load(ctx, b)
		if err != nil {
			t.Fatalf("reloading %s: %v", b.Blobs[0].Entry.ContentID, err)
		}
		again.Inserted += res.Inserted
		again.Duplicates += res.Duplicates
		again.Quarantined += res.Quarantined
	}
	if want := (sink.LoadResult{Duplicates: total}); again != want {
		t.Errorf("reload: %+v, want %+v", again, want)
	}
	if n := count(t, s, "audit_record"); n != len(first) {
		t.Errorf("after reload audit_record holds %d rows, want %d", n, len(first))
	}
	if n := count(t, s, "content_blob"); n != len(batches) {
		t.Errorf("content_blob holds %d rows, want %d (one per file)", n, len(batches))
	}
}

// readRecords reads every audit_record row as the Go values prepare hands the sinks.
func readRecords(t *testing.T, s sink.Sink) map[string][]any {
	t.Helper()
	cols := schema.AuditRecord.ColumnNames()
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = quote(s, c)
	}
	rows, err := s.Handle().DB.QueryContext(ctxT(t), fmt.Sprintf("SELECT %s FROM %s", strings.Join(quoted, ", "), quote(s, "audit_record")))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]any{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, c := range schema.AuditRecord.Columns {
			vals[i] = logical(t, c, vals[i])
		}
		out[vals[0].(string)] = vals
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// logical converts what a driver scanned into the Go type of c's logical type.
func logical(t *testing.T, c schema.Column, v any) any {
	t.Helper()
	if v == nil {
		return nil
	}
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	switch c.Type {
	case schema.Key, schema.Text:
		if s, ok := v.(string); ok {
			return s
		}
	case schema.JSON:
		switch x := v.(type) {
		case string:
			return x
		default:
			b, err := json.Marshal(x)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			return string(b)
		}
	case schema.Int:
		switch x := v.(type) {
		case int64:
			return x
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err == nil {
				return n
			}
		}
	case schema.Bool:
		switch x := v.(type) {
		case bool:
			return x
		case int64:
			return x != 0
		case string:
			return x != "0"
		}
	case schema.Time:
		switch x := v.(type) {
		case time.Time:
			return x.UTC()
		case string:
			tm, err := time.Parse(sink.SQLiteTimeFormat, x)
			if err == nil {
				return tm
			}
		}
	}
	t.Fatalf("column %s (%s): cannot read a %T %v", c.Name, c.Type, v, v)
	return nil
}

// compareRecord checks every column of got against want.Values.
func compareRecord(t *testing.T, s sink.Sink, want schema.Record, got []any) {
	t.Helper()
	for i, c := range schema.AuditRecord.Columns {
		w, g := want.Values[i], got[i]
		switch {
		case c.Type == schema.JSON && w != nil && g != nil:
			wj := w.(string)
			if c.Name == "raw" && g.(string) != wj && s.Handle().Dialect.Name() != sink.DialectMySQL {
				// raw keeps the record byte for byte (PostgreSQL: json since version 9;
				// MySQL 8's binary JSON normalizes, MariaDB's does not).
				t.Errorf("record %s: raw is not byte for byte as received:\n got %.300s\nwant %.300s", want.ID, g, wj)
			}
			if !jsonEqual(t, wj, g.(string)) {
				t.Errorf("record %s: %s differs as JSON:\n got %.300s\nwant %.300s", want.ID, c.Name, g, wj)
			}
		case c.Type == schema.Time && w != nil && g != nil:
			if !w.(time.Time).Truncate(time.Microsecond).Equal(g.(time.Time)) {
				t.Errorf("record %s: %s = %v, want %v", want.ID, c.Name, g, w)
			}
		case c.Name == "parse_notes" && s.Handle().Dialect.Name() == sink.DialectPostgres && g != nil && strings.Contains(g.(string), "PostgreSQL"):
			// The PostgreSQL sink appends its own notes.
		default:
			if !reflect.DeepEqual(w, g) {
				t.Errorf("record %s: %s = %#.200v, want %#.200v", want.ID, c.Name, g, w)
			}
		}
	}
}

// jsonEqual compares two JSON documents by value (numbers as written).
func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	dec := func(s string) any {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("not JSON: %v: %.200s", err, s)
		}
		return normNumbers(v)
	}
	return reflect.DeepEqual(dec(a), dec(b))
}

// normNumbers rewrites json.Numbers that are equal as numbers into one spelling, since
// jsonb and MySQL's JSON may respell 1.50 as 1.5.
func normNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normNumbers(e)
		}
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
	}
	return v
}

func testAtomic(t *testing.T, driver string) {
	for _, stage := range []string{sink.StageRecords, sink.StageLedger, "context cancelled after the records"} {
		t.Run(stage, func(t *testing.T) {
			s := sinktest.Open(t, driver)
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			b := sink.Batch{Blobs: []sink.Blob{{
				Entry:       blob("blob-atomic", 3),
				Records:     []schema.Record{sinktest.Record("a-1", nil), sinktest.Record("a-2", nil), sinktest.Record("a-3", nil)},
				Quarantined: []schema.Quarantined{{Ordinal: 3, Reason: "Id: missing", Raw: `{"x":1}`}},
			}}}
			b.Blobs[0].Records[0].Props = []schema.Property{{List: "Parameters", Name: "Identity", Value: sql.NullString{String: "x", Valid: true}}}
			sink.InjectFailure(s, func(at string) error {
				switch {
				case at == stage:
					return sinktest.ErrInjected
				case stage == "context cancelled after the records" && at == sink.StageRecords:
					cancel()
				}
				return nil
			})
			_, err := s.Load(ctx, b)
			if err == nil {
				t.Fatal("Load succeeded despite the injected failure")
			}
			if stage != "context cancelled after the records" && !errors.Is(err, sinktest.ErrInjected) {
				t.Errorf("Load error %v does not wrap the injected one", err)
			}
			for _, table := range []string{"audit_record", "audit_property", "quarantine", "content_blob"} {
				if n := count(t, s, table); n != 0 {
					t.Errorf("%s holds %d rows after the failed load, want 0", table, n)
				}
			}
			known, err := s.Known(ctxT(t), "tenant-1", []string{"blob-atomic"})
			if err != nil {
				t.Fatal(err)
			}
			if known["blob-atomic"] {
				t.Error("the blob of a failed load is known")
			}
			// The sink is usable afterwards and the same batch now loads whole.
			sink.InjectFailure(s, nil)
			res, err := s.Load(ctxT(t), b)
			if err != nil {
				t.Fatalf("loading after the failure: %v", err)
			}
			if res.Inserted != 3 || res.Quarantined != 1 {
				t.Errorf("load after the failure: %+v, want 3 inserted and 1 quarantined", res)
			}
		})
	}
}

func testValueErrors(t *testing.T, driver string) {
	s := sinktest.Open(t, driver)
	long := strings.Repeat("x", 513)
	cases := []struct {
		name   string
		rec    schema.Record
		column string
	}{
		{"a Key longer than its column", sinktest.Record("v-long", map[string]any{"user_id": long}), "user_id"},
		{"NULL in a NOT NULL column", sinktest.Record("v-null", map[string]any{"tenant_id": nil}), "tenant_id"},
		{"a string in an Int column", sinktest.Record("v-type", map[string]any{"record_type": "15"}), "record_type"},
		{"raw that is not JSON", sinktest.Record("v-json", map[string]any{"raw": `{"Id":`}), "raw"},
		{"invalid UTF-8", sinktest.Record("v-utf8", map[string]any{"operation": "a\xffb"}), "operation"},
		{"a time no database holds", sinktest.Record("v-time", map[string]any{"creation_time": time.Time{}}), "creation_time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			good := sinktest.Record("v-good", nil)
			_, err := s.Load(ctxT(t), sink.Batch{Blobs: []sink.Blob{{Entry: blob("blob-v", 2), Records: []schema.Record{good, c.rec}}}})
			var ve *sink.ValueError
			if !errors.As(err, &ve) {
				t.Fatalf("Load error %v, want a *sink.ValueError", err)
			}
			if ve.RecordID != c.rec.ID || ve.Column != c.column {
				t.Errorf("error names record %q column %q, want %q and %q (%v)", ve.RecordID, ve.Column, c.rec.ID, c.column, err)
			}
			if !strings.Contains(err.Error(), c.rec.ID) || !strings.Contains(err.Error(), c.column) {
				t.Errorf("message %q does not name the record and column", err)
			}
			if n := count(t, s, "audit_record"); n != 0 {
				t.Errorf("audit_record holds %d rows", n)
			}
			if n := count(t, s, "content_blob"); n != 0 {
				t.Errorf("content_blob holds %d rows", n)
			}
		})
	}
}

func testInBatchDuplicates(t *testing.T, driver string) {
	s := sinktest.Open(t, driver)
	a := sinktest.Record("dup-1", map[string]any{"raw": `{"Id":"dup-1","n":1}`, "operation": "First"})
	a.Props = []schema.Property{{List: "Parameters", Ordinal: 0, Name: "A", Value: sql.NullString{String: "1", Valid: true}}}
	b := sinktest.Record("dup-1", map[string]any{"raw": `{"Id":"dup-1","n":2}`, "operation": "Second"})
	b.Props = []schema.Property{{List: "Parameters", Ordinal: 0, Name: "B"}, {List: "Parameters", Ordinal: 1, Name: "C"}}
	c := sinktest.Record("dup-2", nil)
	res, err := s.Load(ctxT(t), sink.RecordsOnly(a, b, c))
	if err != nil {
		t.Fatal(err)
	}
	if want := (sink.LoadResult{Inserted: 2, Duplicates: 1}); res != want {
		t.Errorf("Load: %+v, want %+v", res, want)
	}
	got := readRecords(t, s)["dup-1"]
	compareRecord(t, s, a, got)
	if n := count(t, s, "audit_property"); n != 1 {
		t.Errorf("audit_property holds %d rows, want the first occurrence's 1", n)
	}
}

func testUnicodeAndLong(t *testing.T, driver string) {
	s := sinktest.Open(t, driver)
	unicode := "emoji 😀🔐👩‍💻, CJK 監査ログ, RTL עברית العربية, combining e\u0301 a\u0308, zero-width \u200b, NUL-free \t\n\r tab/newline, quotes ' \" \\ backslash"
	url := "https://contoso.sharepoint.com/sites/" + strings.Repeat("a", 260) + "/Shared%20Documents/x.docx"
	if len(url) < 300 {
		t.Fatalf("url is %d characters", len(url))
	}
	params := strings.Repeat("0123456789abcdef", 20*1024/16)
	huge := strings.Repeat("Large value ✓ ", 5*1024*1024/len("Large value ✓ "))
	maxKey := strings.Repeat("監", 512) // exactly user_id's 512 characters
	rawDoc, _ := json.Marshal(map[string]any{"Id": "u-1", "Operation": unicode, "ObjectId": url})
	r := sinktest.Record("u-1", map[string]any{
		"operation":    "Set-Mailbox " + "监查 😀",
		"user_id":      maxKey,
		"object_id":    url,
		"item_subject": unicode,
		"event_data":   huge,
		"raw":          string(rawDoc),
	})
	r.Props = []schema.Property{
		{List: "Parameters", Ordinal: 0, Name: "Identity", Value: sql.NullString{String: unicode, Valid: true}},
		{List: "Parameters", Ordinal: 1, Name: "Big", Value: sql.NullString{String: params, Valid: true}, OldValue: sql.NullString{String: "ολд", Valid: true}},
	}
	res, err := s.Load(ctxT(t), sink.Batch{Blobs: []sink.Blob{{Entry: blob("blob-unicode-😀", 1), Records: []schema.Record{r}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 1 {
		t.Fatalf("Load: %+v", res)
	}
	compareRecord(t, s, r, readRecords(t, s)["u-1"])
	got := readProps(t, s, "u-1")
	if !reflect.DeepEqual(got, r.Props) {
		t.Errorf("properties differ:\n got %.300v\nwant %.300v", got, r.Props)
	}
	// The indexed columns find the values again (a prefix index on MySQL, hash on PostgreSQL).
	var n int
	if err := s.Handle().DB.QueryRowContext(ctxT(t), s.Handle().Dialect.Rebind(fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s = ? AND %s = ?",
		quote(s, "audit_record"), quote(s, "object_id"), quote(s, "user_id"))), url, maxKey).Scan(&n); err != nil || n != 1 {
		t.Errorf("looking the record up by object_id and user_id: %d rows, %v", n, err)
	}
	known, err := s.Known(ctxT(t), "tenant-1", []string{"blob-unicode-😀"})
	if err != nil || !known["blob-unicode-😀"] {
		t.Errorf("Known(unicode content id) = %v, %v", known, err)
	}
}

func readProps(t *testing.T, s sink.Sink, id string) []schema.Property {
	t.Helper()
	q := func(c string) string { return quote(s, c) }
	rows, err := s.Handle().DB.QueryContext(ctxT(t), s.Handle().Dialect.Rebind(fmt.Sprintf("SELECT %s, %s, %s, %s, %s FROM %s WHERE %s = ? ORDER BY %s, %s",
		q("list"), q("ordinal"), q("name"), q("value"), q("old_value"), q("audit_property"), q("record_id"), q("list"), q("ordinal"))), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []schema.Property
	for rows.Next() {
		var p schema.Property
		var ord int64
		if err := rows.Scan(&p.List, &ord, &p.Name, &p.Value, &p.OldValue); err != nil {
			t.Fatal(err)
		}
		p.Ordinal = int(ord)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func testNulls(t *testing.T, driver string) {
	s := sinktest.Open(t, driver)
	r := sinktest.Record("n-1", nil) // every nullable column NULL
	r.Props = []schema.Property{{List: "Target", Ordinal: 0, Name: ""}}
	full := sinktest.Record("n-2", map[string]any{
		"record_type": int64(0), "user_type": int64(-1), "external_access": false, "cross_mailbox_operation": true,
		"operation": "", "item_size": int64(1) << 40,
	})
	if _, err := s.Load(ctxT(t), sink.RecordsOnly(r, full)); err != nil {
		t.Fatal(err)
	}
	stored := readRecords(t, s)
	compareRecord(t, s, r, stored["n-1"])
	compareRecord(t, s, full, stored["n-2"])
	if got := readProps(t, s, "n-1"); !reflect.DeepEqual(got, r.Props) {
		t.Errorf("properties: got %+v, want %+v", got, r.Props)
	}
}

func testQuarantine(t *testing.T, driver string) {
	s := sinktest.Open(t, driver)
	qr := func(ord int, raw string) schema.Quarantined {
		return schema.Quarantined{Ordinal: ord, Reason: "CreationTime: missing", Raw: raw}
	}
	b := sink.Batch{Blobs: []sink.Blob{{
		Entry:       blob("blob-q", 3),
		Records:     []schema.Record{sinktest.Record("q-ok", nil)},
		Quarantined: []schema.Quarantined{qr(1, `{"Id":"x"}`), qr(2, "not json at all \x01 😀")},
	}}}
	for i, want := range []sink.LoadResult{{Inserted: 1, Quarantined: 2}, {Duplicates: 1}} {
		res, err := s.Load(ctxT(t), b)
		if err != nil {
			t.Fatal(err)
		}
		if res != want {
			t.Errorf("load %d: %+v, want %+v", i+1, res, want)
		}
	}
	if n := count(t, s, "quarantine"); n != 2 {
		t.Errorf("quarantine holds %d rows, want 2", n)
	}
	var raw string
	if err := s.Handle().DB.QueryRowContext(ctxT(t), s.Handle().Dialect.Rebind(fmt.Sprintf("SELECT %s FROM %s WHERE %s = ?",
		quote(s, "raw"), quote(s, "quarantine"), quote(s, "ordinal"))), 2).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != "not json at all \x01 😀" {
		t.Errorf("quarantined raw = %q", raw)
	}
}

// blobRow reads a ledger row's status and attempts.
func blobRow(t *testing.T, s sink.Sink, id string) (status string, attempts int64) {
	t.Helper()
	var a sql.NullInt64
	err := s.Handle().DB.QueryRowContext(ctxT(t), s.Handle().Dialect.Rebind(fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s = ? AND %s = ?",
		quote(s, "status"), quote(s, "attempts"), quote(s, "content_blob"), quote(s, "tenant_id"), quote(s, "content_id"))), "tenant-1", id).Scan(&status, &a)
	if err != nil {
		t.Fatalf("reading blob %s: %v", id, err)
	}
	return status, a.Int64
}

func testLedger(t *testing.T, driver string) {
	s := sinktest.Open(t, driver)
	ctx := ctxT(t)
	mark := func(id, status string) {
		t.Helper()
		b := blob(id, 0)
		b.Status, b.Reason = status, "AF20051: content expired"
		if err := s.MarkBlob(ctx, b); err != nil {
			t.Fatalf("MarkBlob(%s, %s): %v", id, status, err)
		}
	}
	load := func(id string) {
		t.Helper()
		if _, err := s.Load(ctx, sink.Batch{Blobs: []sink.Blob{{Entry: blob(id, 0)}}}); err != nil {
			t.Fatalf("Load(%s): %v", id, err)
		}
	}
	mark("failed", schema.BlobFailed)
	mark("failed", schema.BlobFailed)
	mark("expired", schema.BlobExpired)
	load("loaded")
	mark("loaded", schema.BlobFailed) // never downgrades
	mark("loaded", schema.BlobExpired)
	mark("expired-then-failed", schema.BlobExpired)
	mark("expired-then-failed", schema.BlobFailed)
	mark("failed-then-loaded", schema.BlobFailed)
	load("failed-then-loaded")

	known, err := s.Known(ctx, "tenant-1", []string{"failed", "expired", "loaded", "expired-then-failed", "failed-then-loaded", "never-seen"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"expired": true, "loaded": true, "expired-then-failed": true, "failed-then-loaded": true}
	if !reflect.DeepEqual(known, want) {
		t.Errorf("Known = %v, want %v", known, want)
	}
	if other, err := s.Known(ctx, "tenant-2", []string{"loaded"}); err != nil || len(other) != 0 {
		t.Errorf("Known for another tenant = %v, %v; want nothing", other, err)
	}
	for id, w := range map[string]struct {
		status   string
		attempts int64
	}{
		"failed":              {schema.BlobFailed, 2},
		"loaded":              {schema.BlobLoaded, 0},
		"expired-then-failed": {schema.BlobExpired, 0},
		"failed-then-loaded":  {schema.BlobLoaded, 1},
	} {
		if st, a := blobRow(t, s, id); st != w.status || a != w.attempts {
			t.Errorf("blob %s: status %s attempts %d, want %s and %d", id, st, a, w.status, w.attempts)
		}
	}
	b := blob("x", 0)
	b.Status = schema.BlobLoaded
	if err := s.MarkBlob(ctx, b); err == nil {
		t.Error("MarkBlob(status loaded) succeeded; only Load may mark a blob loaded")
	}
	// Known over more ids than one IN list holds.
	ids := make([]string, 1203)
	for i := range ids {
		ids[i] = fmt.Sprintf("many-%d", i)
	}
	ids[1202] = "loaded"
	if k, err := s.Known(ctx, "tenant-1", ids); err != nil || len(k) != 1 || !k["loaded"] {
		t.Errorf("Known over %d ids = %v, %v", len(ids), k, err)
	}
}

func testLeases(t *testing.T, driver string) {
	s := sinktest.Open(t, driver)
	l, ok := s.(sink.Leaser)
	if !ok {
		t.Fatalf("%T does not implement sink.Leaser", s)
	}
	ctx := ctxT(t)
	acquire := func(name, holder string, ttl time.Duration, want bool) {
		t.Helper()
		got, err := l.Acquire(ctx, name, holder, ttl)
		if err != nil {
			t.Fatalf("Acquire(%s, %s): %v", name, holder, err)
		}
		if got != want {
			t.Errorf("Acquire(%s, %s) = %v, want %v", name, holder, got, want)
		}
	}
	acquire("contoso/Audit.Exchange", "h1", time.Minute, true)
	acquire("contoso/Audit.Exchange", "h2", time.Minute, false)
	acquire("contoso/Audit.Exchange", "h1", time.Minute, true) // renew
	acquire("contoso/Audit.SharePoint", "h2", time.Minute, true)
	if err := l.Release(ctx, "contoso/Audit.Exchange", "h2"); err != nil { // not h2's: no effect
		t.Fatal(err)
	}
	acquire("contoso/Audit.Exchange", "h2", time.Minute, false)
	if err := l.Release(ctx, "contoso/Audit.Exchange", "h1"); err != nil {
		t.Fatal(err)
	}
	acquire("contoso/Audit.Exchange", "h2", time.Minute, true)

	acquire("short", "h1", 100*time.Millisecond, true)
	acquire("short", "h2", time.Minute, false)
	time.Sleep(300 * time.Millisecond) // let the lease lapse on the database's clock
	acquire("short", "h2", time.Minute, true)

	// Racing holders: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := l.Acquire(ctx, "race", fmt.Sprintf("racer-%d", i), time.Minute)
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
			}
			if ok {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Errorf("%d racers acquired the lease, want exactly 1", winners)
	}
}

// typeClass maps a physical type name, as information_schema or pragma_table_info shows
// it, to the logical types it can hold.
func typeClass(dialect, physical string) []schema.Type {
	p := strings.ToLower(physical)
	switch {
	case strings.Contains(p, "json"):
		return []schema.Type{schema.JSON}
	case p == "text" && dialect == sink.DialectSQLite:
		return []schema.Type{schema.Key, schema.Text, schema.Time, schema.JSON}
	case p == "integer" && dialect == sink.DialectSQLite:
		return []schema.Type{schema.Int, schema.Bool}
	case p == "longtext" && dialect == sink.DialectMySQL:
		return []schema.Type{schema.Text, schema.JSON} // MariaDB's JSON is LONGTEXT
	case p == "nvarchar" && dialect == sink.DialectSQLServer:
		return []schema.Type{schema.Key, schema.Text, schema.JSON}
	case p == "text", p == "citext", strings.Contains(p, "varchar"):
		return []schema.Type{schema.Key, schema.Text}
	case p == "bigint":
		return []schema.Type{schema.Int}
	case p == "boolean", p == "tinyint", p == "bit":
		return []schema.Type{schema.Bool}
	case strings.Contains(p, "timestamp"), strings.Contains(p, "datetime"):
		return []schema.Type{schema.Time}
	}
	return nil
}

func testColumns(t *testing.T, driver string) {
	s := sinktest.Open(t, driver)
	ctx := ctxT(t)
	for _, table := range schema.Migrated() {
		var query string
		var args []any
		switch s.Handle().Dialect.Name() {
		case sink.DialectPostgres:
			// citext (the identity columns since 00005) is a user-defined type.
			query = "SELECT column_name, CASE WHEN data_type = 'USER-DEFINED' THEN udt_name ELSE data_type END FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1"
		case sink.DialectMySQL:
			query = "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
		case sink.DialectSQLServer:
			query = "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = SCHEMA_NAME() AND TABLE_NAME = @p1"
		case sink.DialectSQLite:
			query = "SELECT name, type FROM pragma_table_info(?)"
		}
		args = append(args, table.Name)
		rows, err := s.Handle().DB.QueryContext(ctx, query, args...)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				t.Fatal(err)
			}
			got[name] = typ
		}
		rows.Close()
		for _, c := range table.Columns {
			typ, ok := got[c.Name]
			if !ok {
				t.Errorf("%s.%s: missing from the migrated database", table.Name, c.Name)
				continue
			}
			delete(got, c.Name)
			classes := typeClass(s.Handle().Dialect.Name(), typ)
			found := false
			for _, cl := range classes {
				found = found || cl == c.Type
			}
			if !found {
				t.Errorf("%s.%s: physical type %s cannot hold logical type %s", table.Name, c.Name, typ, c.Type)
			}
		}
		for name := range got {
			// The surrogate clustered key, SQL Server's indexed prefixes and MySQL's derived
			// columns (schema.Table.Derived, computed for the views' indexes) are allowed extras.
			if _, derived := table.DerivedColumn(name); name == "seq" || strings.HasSuffix(name, "_prefix") || derived {
				continue
			}
			t.Errorf("%s.%s: in the database but not in schema/", table.Name, name)
		}
	}
}

func testMigrate(t *testing.T, driver string) {
	s := sinktest.OpenUnmigrated(t, driver)
	ctx := ctxT(t)
	status := func() (applied, pending int) {
		t.Helper()
		st, err := sink.MigrateStatus(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range st {
			if m.Applied {
				applied++
				if m.AppliedAt.IsZero() {
					t.Errorf("migration %d applied at zero time", m.Version)
				}
			} else {
				pending++
			}
			if m.Name == "" || m.Version == 0 {
				t.Errorf("migration status without name or version: %+v", m)
			}
		}
		return applied, pending
	}
	if a, p := status(); a != 0 || p == 0 {
		t.Fatalf("fresh database: %d applied, %d pending", a, p)
	}
	for i := 0; i < 2; i++ {
		if err := sink.Migrate(ctx, s); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	if a, p := status(); a == 0 || p != 0 {
		t.Fatalf("after Migrate: %d applied, %d pending", a, p)
	}
	if n := count(t, s, "record_type"); n != len(schema.RecordTypes) {
		t.Errorf("record_type holds %d rows, want %d", n, len(schema.RecordTypes))
	}
	if n := count(t, s, "user_type"); n != len(schema.UserTypes) {
		t.Errorf("user_type holds %d rows, want %d", n, len(schema.UserTypes))
	}
	// A renamed type is corrected by the next Migrate.
	if _, err := s.Handle().DB.ExecContext(ctx, s.Handle().Dialect.Rebind(fmt.Sprintf("UPDATE %s SET %s = ? WHERE %s = ?",
		quote(s, "record_type"), quote(s, "name"), quote(s, "record_type"))), "Stale", 15); err != nil {
		t.Fatal(err)
	}
	if err := sink.Migrate(ctx, s); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := s.Handle().DB.QueryRowContext(ctx, s.Handle().Dialect.Rebind(fmt.Sprintf("SELECT %s FROM %s WHERE %s = ?",
		quote(s, "name"), quote(s, "record_type"), quote(s, "record_type"))), 15).Scan(&name); err != nil || name != schema.RecordTypes[15] {
		t.Errorf("record_type 15 = %q, %v; want %q", name, err, schema.RecordTypes[15])
	}

	// MigrateDown takes one step; stepping down through every migration drops the tables.
	total, _ := status()
	for want := total - 1; want >= 0; want-- {
		if err := sink.MigrateDown(ctx, s); err != nil {
			t.Fatalf("MigrateDown to %d applied: %v", want, err)
		}
		if a, _ := status(); a != want {
			t.Fatalf("after MigrateDown: %d applied, want %d", a, want)
		}
	}
	if err := s.Handle().DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quote(s, "audit_record")).Scan(new(int)); err == nil {
		t.Error("audit_record still exists after migrating all the way down")
	}
	if err := sink.MigrateDown(ctx, s); err == nil {
		t.Error("MigrateDown with nothing applied succeeded")
	}
	if err := sink.Migrate(ctx, s); err != nil {
		t.Fatalf("Migrate after MigrateDown: %v", err)
	}
	if res, err := s.Load(ctx, sink.RecordsOnly(sinktest.Record("m-1", nil))); err != nil || res.Inserted != 1 {
		t.Errorf("Load after down and up: %+v, %v", res, err)
	}
}

// TestCorpusNormalizes guards the corpus test itself: if normalize quarantined most of
// the corpus, "loads once" would prove little.
func TestCorpusNormalizes(t *testing.T) {
	batches, _ := corpusBatches(t)
	var recs, quarantined int
	for _, bt := range batches {
		b := bt.Blobs[0]
		recs += len(b.Records)
		quarantined += len(b.Quarantined)
		for _, r := range b.Records {
			if !bytes.Contains([]byte(r.Value("raw").(string)), []byte(r.ID)) {
				t.Errorf("record %s: raw does not contain its id", r.ID)
			}
		}
	}
	if recs < 300 {
		t.Errorf("%d records normalized, %d quarantined; want at least 300 of the corpus's 321", recs, quarantined)
	}
}

func testDialect(t *testing.T, driver string) {
	s := sinktest.Open(t, driver)
	h := s.Handle()
	d := h.Dialect
	ctx := ctxT(t)
	cols := []string{"name", "holder", "expires_at"}
	at := time.Date(2026, 11, 20, 10, 30, 0, 123456000, time.UTC)
	q, order := d.InsertIfAbsent("ingest_lease", cols, 1, nil)
	for i, want := range []int64{1, 0} {
		res, err := h.DB.ExecContext(ctx, q, order([]any{"lease-a", fmt.Sprintf("holder-%d", i), d.Time(at)})...)
		if err != nil {
			t.Fatalf("insert-if-absent #%d: %v\n%s", i+1, err, q)
		}
		if n, err := res.RowsAffected(); err != nil || n != want {
			t.Errorf("insert-if-absent #%d: %d rows (%v), want %d", i+1, n, err, want)
		}
	}
	if _, err := h.DB.ExecContext(ctx, d.Rebind(fmt.Sprintf("INSERT INTO %s (%s) VALUES (?, ?, %s)",
		d.Quote("ingest_lease"), d.QuoteList(cols), d.TimeLiteral(at.Add(time.Hour)))), "lease-b", "holder-b"); err != nil {
		t.Fatalf("a time literal: %v", err)
	}
	cond, args := d.TimeRange(d.Quote("expires_at"), at, at.Add(time.Hour))
	var n int
	if err := h.DB.QueryRowContext(ctx, d.Rebind("SELECT COUNT(*) FROM "+d.Quote("ingest_lease")+" WHERE "+cond), args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("[at, at+1h) holds %d leases, want 1 (lease-a at the start, lease-b at the excluded end)", n)
	}
	var first string
	if err := h.DB.QueryRowContext(ctx, d.Limit("SELECT "+d.Quote("holder")+" FROM "+d.Quote("ingest_lease")+" ORDER BY "+d.Quote("expires_at")+" DESC", 1)).Scan(&first); err != nil {
		t.Fatal(err)
	}
	if first != "holder-b" {
		t.Errorf("the newest lease is held by %q, want holder-b (the time literal)", first)
	}
	if holder, err := s.(sink.Leaser).Holder(ctx, "lease-a"); err != nil || holder != "holder-0" {
		t.Errorf("Holder(lease-a) = %q, %v; want holder-0 (the second insert did nothing)", holder, err)
	}
	if _, err := h.DB.ExecContext(ctx, d.EmptyTable("ingest_lease")); err != nil {
		t.Fatal(err)
	}
	if holder, err := s.(sink.Leaser).Holder(ctx, "lease-a"); err != nil || holder != "" {
		t.Errorf("after emptying: Holder(lease-a) = %q, %v; want none", holder, err)
	}
}

func testRunLog(t *testing.T, driver string) {
	s := sinktest.Open(t, driver)
	ctx := ctxT(t)
	h := s.Handle()
	if r, err := h.LastRun(ctx); err != nil || r != nil {
		t.Fatalf("LastRun of an empty run log = %+v, %v; want none", r, err)
	}
	start := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for i, id := range []string{"run-1", "run-2"} {
		if err := s.StartRun(ctx, sink.Run{ID: id, Command: "run", Host: "h", Started: start.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := h.LastRun(ctx)
	if err != nil || r == nil || r.ID != "run-2" || r.Outcome != "" || !r.Finished.IsZero() {
		t.Fatalf("LastRun while running = %+v, %v; want run-2 unfinished", r, err)
	}
	want := sink.Run{ID: "run-2", Command: "run", Host: "h", Started: start.Add(time.Minute), Finished: start.Add(2 * time.Minute),
		Outcome: "incomplete", BlobsListed: 9, BlobsSkipped: 1, BlobsLoaded: 5, BlobsFailed: 2, BlobsExpired: 1,
		RecordsLoaded: 40, RecordsDuplicate: 3, RecordsQuarantined: 2, Message: "a\nb"}
	if err := s.FinishRun(ctx, want); err != nil {
		t.Fatal(err)
	}
	if r, err = h.LastRun(ctx); err != nil || r == nil || !reflect.DeepEqual(*r, want) {
		t.Errorf("LastRun = %+v, %v\nwant %+v", r, err, want)
	}
	if n, err := h.CountRecords(ctx); err != nil || n != 0 {
		t.Errorf("CountRecords = %d, %v; want 0", n, err)
	}
}
