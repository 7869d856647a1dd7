package normalize

import (
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/schema"
)

var testSrc = Source{TenantID: "t1", ContentType: "Audit.General", ContentID: "blob1", IngestedAt: goldenTime}

// rec builds a minimal valid record with extra members appended (or, for keys already
// in the base, replaced by removing them from the base first).
func rec(extra string) string {
	base := map[string]string{
		"Id":           `"11111111-2222-3333-4444-555555555555"`,
		"CreationTime": `"2020-02-17T17:12:03"`,
		"RecordType":   `1`,
	}
	var b strings.Builder
	b.WriteString("{")
	first := true
	for _, k := range []string{"Id", "CreationTime", "RecordType"} {
		if strings.Contains(extra, `"`+k+`":`) {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString(`"` + k + `":` + base[k])
	}
	if extra != "" {
		if !first {
			b.WriteString(",")
		}
		b.WriteString(extra)
	}
	b.WriteString("}")
	return b.String()
}

func mustRecord(t *testing.T, raw string) schema.Record {
	t.Helper()
	r, err := Record([]byte(raw), testSrc)
	if err != nil {
		t.Fatalf("Record(%s): %v", raw, err)
	}
	return r
}

func notes(r schema.Record) string {
	if n, ok := r.Value("parse_notes").(string); ok {
		return n
	}
	return ""
}

func TestCreationTime(t *testing.T) {
	cases := []struct {
		name, in string
		want     time.Time
	}{
		{"a zone-less time is UTC", "2020-02-17T17:12:03", time.Date(2020, 2, 17, 17, 12, 3, 0, time.UTC)},
		{"fractional seconds are kept to the microsecond", "2020-02-17T17:12:03.1234567", time.Date(2020, 2, 17, 17, 12, 3, 123456000, time.UTC)},
		{"a trailing Z is UTC", "2020-02-17T17:12:03Z", time.Date(2020, 2, 17, 17, 12, 3, 0, time.UTC)},
		{"a positive offset is converted to UTC", "2020-02-17T19:12:03+02:00", time.Date(2020, 2, 17, 17, 12, 3, 0, time.UTC)},
		{"a negative offset without a colon is converted to UTC", "2020-02-17T12:12:03.5-0500", time.Date(2020, 2, 17, 17, 12, 3, 500000000, time.UTC)},
		{"a space instead of T is accepted", "2020-02-17 17:12:03", time.Date(2020, 2, 17, 17, 12, 3, 0, time.UTC)},
		{"surrounding spaces are ignored", " 2020-02-17T17:12:03 ", time.Date(2020, 2, 17, 17, 12, 3, 0, time.UTC)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustRecord(t, rec(`"CreationTime":"`+c.in+`"`))
			if !r.CreationTime.Equal(c.want) || r.CreationTime.Location() != time.UTC {
				t.Errorf("CreationTime = %v, want %v", r.CreationTime, c.want)
			}
			if got := r.Value("creation_time"); got != r.CreationTime {
				t.Errorf("creation_time column = %v, want %v", got, r.CreationTime)
			}
		})
	}
}

func TestRefusedRecords(t *testing.T) {
	cases := []struct {
		name, raw string
		// reason is a prefix of the expected Error.Reason; id the expected RecordID.
		reason, id string
	}{
		{"a record without Id is refused", `{"CreationTime":"2020-02-17T17:12:03"}`, "Id: missing", ""},
		{"an empty Id is refused", rec(`"Id":""`), "Id: missing", ""},
		{"an object Id is refused", rec(`"Id":{"a":1}`), "Id: missing", ""},
		{"a record without CreationTime is refused", `{"Id":"x"}`, "CreationTime: missing", "x"},
		{"a null CreationTime is refused", rec(`"CreationTime":null`), "CreationTime: missing", "11111111-2222-3333-4444-555555555555"},
		{"an unparseable CreationTime is refused with its value", rec(`"CreationTime":"17/02/2020"`), `CreationTime: not a time: "17/02/2020"`, "11111111-2222-3333-4444-555555555555"},
		{"a numeric CreationTime is refused", rec(`"CreationTime":1581959523`), "CreationTime: not a time: 1581959523", "11111111-2222-3333-4444-555555555555"},
		{"a JSON array is not a record", `[{"Id":"x"}]`, "record: a JSON array, not an object", ""},
		{"a JSON string is not a record", `"x"`, "record: a JSON string, not an object", ""},
		{"a JSON number is not a record", `42`, "record: a JSON number, not an object", ""},
		{"invalid JSON is refused", `{"Id":"x",}`, "record: invalid JSON at byte 10", ""},
		{"truncated JSON is refused", `{"Id":"x","CreationTime":"2020`, "record: invalid JSON", ""},
		{"trailing garbage is refused", rec("") + "x", "record: invalid JSON", ""},
		{"empty input is refused", "", "record: empty", ""},
		{"blank input is refused", " \n ", "record: empty", ""},
		{"an Operation longer than its column is refused, not truncated", rec(`"Operation":"` + strings.Repeat("é", 257) + `"`),
			"Operation: 257 characters, longer than the 256 that column operation holds", "11111111-2222-3333-4444-555555555555"},
		{"an Id longer than its column is refused without a record id", rec(`"Id":"` + strings.Repeat("x", 129) + `"`), "Id: 129 characters", ""},
		{"a property name longer than 256 characters is refused", rec(`"Parameters":[{"Name":"` + strings.Repeat("n", 257) + `","Value":"v"}]`),
			"Parameters.0: name is 257 characters", "11111111-2222-3333-4444-555555555555"},
		{"a fallback source path is named in the reason", rec(`"ErrorCode":"` + strings.Repeat("9", 33) + `"`), "ErrorCode: 33 characters", "11111111-2222-3333-4444-555555555555"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Record([]byte(c.raw), testSrc)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error = %v, want a *Error", err)
			}
			if !strings.HasPrefix(e.Reason, c.reason) {
				t.Errorf("Reason = %q, want it to start with %q", e.Reason, c.reason)
			}
			if e.RecordID != c.id {
				t.Errorf("RecordID = %q, want %q", e.RecordID, c.id)
			}
			if !strings.Contains(e.Error(), e.Reason) {
				t.Errorf("Error() = %q does not carry the reason", e.Error())
			}
		})
	}
}

func TestTenant(t *testing.T) {
	t.Run("the configured tenant wins over OrganizationId", func(t *testing.T) {
		r := mustRecord(t, rec(`"OrganizationId":"org"`))
		if got := r.Value("tenant_id"); got != "t1" {
			t.Errorf("tenant_id = %v, want t1", got)
		}
	})
	t.Run("an import takes the tenant from OrganizationId", func(t *testing.T) {
		r, err := Record([]byte(rec(`"OrganizationId":"org"`)), Source{})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Value("tenant_id"); got != "org" {
			t.Errorf("tenant_id = %v, want org", got)
		}
		if r.Value("content_type") != nil || r.Value("content_id") != nil {
			t.Errorf("content_type/content_id = %v/%v, want NULL for an empty Source", r.Value("content_type"), r.Value("content_id"))
		}
	})
	t.Run("no tenant at all is refused", func(t *testing.T) {
		_, err := Record([]byte(rec("")), Source{})
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(e.Reason, "OrganizationId: missing") {
			t.Errorf("error = %v, want OrganizationId: missing", err)
		}
	})
}

func TestID(t *testing.T) {
	t.Run("a numeric Id is kept as its literal digits", func(t *testing.T) {
		r := mustRecord(t, rec(`"Id":12345678901234567890`))
		if r.ID != "12345678901234567890" || r.Value("id") != r.ID {
			t.Errorf("ID = %q, id column = %v", r.ID, r.Value("id"))
		}
	})
}

func TestTypedColumns(t *testing.T) {
	cases := []struct {
		name, extra, column string
		want                any
		note                string
	}{
		{"an integer from a JSON number", `"LogonType":2`, "logon_type", int64(2), ""},
		{"an integer from a numeric string", `"LogonType":"15"`, "logon_type", int64(15), ""},
		{"an integer from a padded numeric string", `"LogonType":" 3 "`, "logon_type", int64(3), ""},
		{"a non-numeric string is NULL with a note", `"LogonType":"abc"`, "logon_type", nil, `LogonType: not an integer: "abc"`},
		{"a float in an integer column is NULL with a note", `"LogonType":1.5`, "logon_type", nil, "LogonType: not an integer: 1.5"},
		{"an integer beyond int64 is NULL with a note", `"OperationCount":99999999999999999999`, "operation_count", nil, "OperationCount: not an integer: 99999999999999999999"},
		{"a boolean in an integer column is NULL with a note", `"LogonType":true`, "logon_type", nil, "LogonType: not an integer: true"},
		{"an empty string in an integer column is NULL without a note", `"LogonType":""`, "logon_type", nil, ""},
		{"a JSON null falls through to NULL", `"LogonType":null`, "logon_type", nil, ""},
		{"a boolean from true", `"ExternalAccess":true`, "external_access", true, ""},
		{"a boolean from the string True", `"ExternalAccess":"True"`, "external_access", true, ""},
		{"a boolean from the string FALSE", `"ExternalAccess":"FALSE"`, "external_access", false, ""},
		{"a boolean from the string 1", `"ExternalAccess":"1"`, "external_access", true, ""},
		{"a boolean from the string 0", `"ExternalAccess":"0"`, "external_access", false, ""},
		{"a non-boolean is NULL with a note", `"ExternalAccess":"maybe"`, "external_access", nil, `ExternalAccess: not a boolean: "maybe"`},
		{"the second spelling of a field is used when the first is absent", `"CrossMailboxOperation":true`, "cross_mailbox_operation", true, ""},
		{"text from a string is kept as-is", `"Operation":"  Set-Mailbox "`, "operation", "  Set-Mailbox ", ""},
		{"text from a number keeps its literal", `"ErrorNumber":50126`, "error_number", "50126", ""},
		{"text from a big integer keeps its digits", `"UserKey":1234567890123456789012`, "user_key", "1234567890123456789012", ""},
		{"text from a boolean", `"ObjectId":false`, "object_id", "false", ""},
		{"text from an object is compact JSON", `"ObjectId":{ "a" : [1, 2] }`, "object_id", `{"a":[1,2]}`, ""},
		{"a nested path", `"Item":{"ParentFolder":{"Path":"\\Inbox"}}`, "item_folder", `\Inbox`, ""},
		{"a nested path falls back to the second source", `"Folder":{"Path":"\\Sent"}`, "item_folder", `\Sent`, ""},
		{"an array index in a path", `"PolicyDetails":[{"PolicyName":"P","Rules":[{"RuleName":"R","Severity":"High"}]}]`, "rule_name", "R", ""},
		{"a key is matched case-insensitively when the exact key is absent", `"operation":"x"`, "operation", "x", ""},
		{"the exact key wins over a case-insensitive one", `"operation":"x","Operation":"y"`, "operation", "y", ""},
		{"a Name/Value selector", `"ExtendedProperties":[{"Name":"RequestType","Value":"OAuth2:Token"}]`, "request_type", "OAuth2:Token", ""},
		{"a Name/Value selector on a list sent as a JSON string", `"ExtendedProperties":"[{\"Name\":\"UserAgent\",\"Value\":\"curl\"}]"`, "user_agent", "curl", ""},
		{"a Type selector", `"Actor":[{"ID":"guid","Type":0},{"ID":"a@b.c","Type":5}]`, "actor_upn", "a@b.c", ""},
		{"a Type selector matches a numeric string Type", `"Target":[{"ID":"t@b.c","Type":"5"}]`, "target_upn", "t@b.c", ""},
		{"an unknown RecordType is stored", `"RecordType":9999`, "record_type", int64(9999), ""},
		{"a RecordType sent as a string is stored", `"RecordType":"25"`, "record_type", int64(25), ""},
		{"a key with a space does not disturb anything", `"Data State":"Use","Workload":"Aip"`, "workload", "Aip", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustRecord(t, rec(c.extra))
			if got := r.Value(c.column); got != c.want {
				t.Errorf("%s = %#v, want %#v", c.column, got, c.want)
			}
			if got := notes(r); got != c.note {
				t.Errorf("parse_notes = %q, want %q", got, c.note)
			}
		})
	}
}

func TestIPColumns(t *testing.T) {
	cases := []struct {
		name, extra string
		want        any
		note        string
	}{
		{"an IPv4 address is kept", `"ClientIP":"10.1.2.3"`, "10.1.2.3", ""},
		{"the port of IPv4:port is stripped", `"ClientIP":"10.1.2.3:4567"`, "10.1.2.3", ""},
		{"brackets and port of [IPv6]:port are stripped", `"ClientIP":"[2001:db8::1]:443"`, "2001:db8::1", ""},
		{"brackets of [IPv6] are stripped", `"ClientIP":"[2001:db8::1]"`, "2001:db8::1", ""},
		{"a bare IPv6 address is kept", `"ClientIP":"2001:db8::1"`, "2001:db8::1", ""},
		{"the ::ffff: prefix of a v4-mapped address is stripped", `"ClientIP":"::ffff:10.1.2.3"`, "10.1.2.3", ""},
		{"[::ffff:v4]:port becomes the IPv4 address", `"ClientIP":"[::ffff:10.1.2.3]:80"`, "10.1.2.3", ""},
		{"surrounding spaces are trimmed", `"ClientIP":" 52.159.112.221"`, "52.159.112.221", ""},
		{"an empty ClientIP is NULL", `"ClientIP":""`, nil, ""},
		{"a <null> ClientIP is NULL", `"ClientIP":"<null>"`, nil, ""},
		{"a null string ClientIP is NULL", `"ClientIP":"null"`, nil, ""},
		{"an empty ClientIP falls back to ClientIPAddress", `"ClientIP":"","ClientIPAddress":"::1"`, "::1", ""},
		{"a missing ClientIP falls back to ActorIpAddress", `"ActorIpAddress":"1.2.3.4:5"`, "1.2.3.4", ""},
		{"a host name is kept as received with a note", `"ClientIP":"host.local:80"`, "host.local:80", `ClientIP: not an IP address: "host.local:80"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustRecord(t, rec(c.extra))
			if got := r.Value("client_ip"); got != c.want {
				t.Errorf("client_ip = %#v, want %#v", got, c.want)
			}
			if got := notes(r); got != c.note {
				t.Errorf("parse_notes = %q, want %q", got, c.note)
			}
		})
	}
	t.Run("client_ip_address and actor_ip_address are normalized like client_ip", func(t *testing.T) {
		r := mustRecord(t, rec(`"ClientIPAddress":"[::1]:80","ActorIpAddress":"::FFFF:1.2.3.4"`))
		if got := r.Value("client_ip_address"); got != "::1" {
			t.Errorf("client_ip_address = %v", got)
		}
		if got := r.Value("actor_ip_address"); got != "1.2.3.4" {
			t.Errorf("actor_ip_address = %v", got)
		}
	})
}

func str(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }

func TestProperties(t *testing.T) {
	cases := []struct {
		name, extra string
		want        []schema.Property
	}{
		{"Parameters are expanded in order", `"Parameters":[{"Name":"Identity","Value":"x"},{"Name":"ForwardTo","Value":"a@evil.example"}]`,
			[]schema.Property{{List: "Parameters", Ordinal: 0, Name: "Identity", Value: str("x")}, {List: "Parameters", Ordinal: 1, Name: "ForwardTo", Value: str("a@evil.example")}}},
		{"Parameters as a command line make one nameless row", `"Parameters":"-Identity \"x\" -Force"`,
			[]schema.Property{{List: "Parameters", Name: "", Value: str(`-Identity "x" -Force`)}}},
		{"OperationProperties sent as a JSON string are expanded", `"OperationProperties":"[{\"Name\":\"MailAccessType\",\"Value\":\"Bind\"}]"`,
			[]schema.Property{{List: "OperationProperties", Name: "MailAccessType", Value: str("Bind")}}},
		{"ExtendedProperties sent as a plain string make one row", `"ExtendedProperties":"-Name \"foo\""`,
			[]schema.Property{{List: "ExtendedProperties", Value: str(`-Name "foo"`)}}},
		{"ModifiedProperties carry the new and old values", `"ModifiedProperties":[{"Name":"AccountEnabled","NewValue":"[true]","OldValue":"[]"}]`,
			[]schema.Property{{List: "ModifiedProperties", Name: "AccountEnabled", Value: str("[true]"), OldValue: str("[]")}}},
		{"mailbox ModifiedProperties as bare strings are names without values", `"ModifiedProperties":["Subject","Body"]`,
			[]schema.Property{{List: "ModifiedProperties", Ordinal: 0, Name: "Subject"}, {List: "ModifiedProperties", Ordinal: 1, Name: "Body"}}},
		{"a non-string Value is compact JSON text", `"DeviceProperties":[{"Name":"IsCompliant","Value":true},{"Name":"N","Value":{"a": 1}}]`,
			[]schema.Property{{List: "DeviceProperties", Name: "IsCompliant", Value: str("true")}, {List: "DeviceProperties", Ordinal: 1, Name: "N", Value: str(`{"a":1}`)}}},
		{"a missing Name is empty and a missing Value is NULL", `"Parameters":[{"Value":"v"},{"Name":"n"}]`,
			[]schema.Property{{List: "Parameters", Value: str("v")}, {List: "Parameters", Ordinal: 1, Name: "n"}}},
		{"ExtraProperties use Key for the name", `"ExtraProperties":[{"Key":"TimeZone","Value":"UTC"}]`,
			[]schema.Property{{List: "ExtraProperties", Name: "TimeZone", Value: str("UTC")}}},
		{"Actor and Target are named by identity type", `"Actor":[{"ID":"a@b.c","Type":5},{"ID":"x","Type":42}],"Target":[{"ID":"g","Type":"2"}]`,
			[]schema.Property{{List: "Actor", Name: "UPN", Value: str("a@b.c")}, {List: "Actor", Ordinal: 1, Name: "42", Value: str("x")}, {List: "Target", Name: "Other", Value: str("g")}}},
		{"empty lists make no rows", `"Parameters":[],"ModifiedProperties":"","ExtendedProperties":null`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustRecord(t, rec(c.extra))
			if !reflect.DeepEqual(r.Props, c.want) {
				t.Errorf("props =\n%+v\nwant\n%+v", r.Props, c.want)
			}
		})
	}
}

func TestDamagedInput(t *testing.T) {
	t.Run("invalid UTF-8 is replaced in raw and values and noted", func(t *testing.T) {
		r := mustRecord(t, rec("\"Operation\":\"a\xffb\""))
		if got := r.Value("operation"); got != "a\uFFFDb" {
			t.Errorf("operation = %q", got)
		}
		if raw := r.Value("raw").(string); !strings.Contains(raw, "a\uFFFDb") {
			t.Errorf("raw = %q, want the replacement character", raw)
		}
		if !strings.Contains(notes(r), "invalid UTF-8") {
			t.Errorf("parse_notes = %q, want a note on invalid UTF-8", notes(r))
		}
	})
	t.Run("the first of duplicated keys wins, with a note, and raw is kept as received", func(t *testing.T) {
		raw := rec(`"UserId":"first@x","UserId":"second@x"`)
		r := mustRecord(t, raw)
		if got := r.Value("user_id"); got != "first@x" {
			t.Errorf("user_id = %v, want first@x", got)
		}
		if got := notes(r); got != "UserId: duplicate key, the first occurrence is used" {
			t.Errorf("parse_notes = %q", got)
		}
		if r.Value("raw") != raw {
			t.Errorf("raw was changed")
		}
	})
	t.Run("unknown fields are kept in raw only", func(t *testing.T) {
		raw := rec(`"SomethingNew":{"x":[1,2,3]}`)
		r := mustRecord(t, raw)
		if r.Value("raw") != raw || notes(r) != "" {
			t.Errorf("raw = %v, notes = %q", r.Value("raw"), notes(r))
		}
	})
	t.Run("escaped strings are decoded, including surrogate pairs", func(t *testing.T) {
		r := mustRecord(t, rec(`"Operation":"a\"b\\c\u00e9\ud83d\ude00\n"`))
		if got := r.Value("operation"); got != "a\"b\\cé😀\n" {
			t.Errorf("operation = %q", got)
		}
	})
	t.Run("several notes are joined in column order", func(t *testing.T) {
		r := mustRecord(t, rec(`"LogonType":"x","UserType":"y"`))
		if got := notes(r); got != `UserType: not an integer: "y"; LogonType: not an integer: "x"` {
			t.Errorf("parse_notes = %q", got)
		}
	})
}

func TestQuarantine(t *testing.T) {
	t.Run("a normalizer error keeps its record id and reason", func(t *testing.T) {
		raw := []byte("{\"Id\":\"abc\",\"x\":\"\xff\"}")
		_, err := Record(raw, testSrc)
		q := Quarantine(raw, 7, err)
		if q.Ordinal != 7 || q.RecordID != "abc" || q.Reason != "CreationTime: missing" {
			t.Errorf("quarantine = %+v", q)
		}
		if q.Raw != "{\"Id\":\"abc\",\"x\":\"\uFFFD\"}" {
			t.Errorf("raw = %q, want valid UTF-8", q.Raw)
		}
	})
	t.Run("another error is kept verbatim", func(t *testing.T) {
		q := Quarantine([]byte("x"), 0, errors.New("sink: value too long"))
		if q.Reason != "sink: value too long" || q.RecordID != "" {
			t.Errorf("quarantine = %+v", q)
		}
	})
}

func BenchmarkRecord(b *testing.B) {
	raw := []byte(`{"CreationTime":"2020-02-07T16:43:23","Id":"b5f59a43-00cf-42c4-8685-a7166fd20e38","Operation":"UserLoggedIn","OrganizationId":"b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd","RecordType":15,"ResultStatus":"Succeeded","UserKey":"1003200096971F55@testsiem.onmicrosoft.com","UserType":0,"Version":1,"Workload":"AzureActiveDirectory","ClientIP":"213.97.47.133","ObjectId":"5f09333a-842c-47da-a157-57da27fcbca5","UserId":"asr@testsiem.onmicrosoft.com","AzureActiveDirectoryEventType":1,"ExtendedProperties":[{"Name":"UserAgent","Value":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.14; rv:72.0) Gecko/20100101 Firefox/72.0"},{"Name":"UserAuthenticationMethod","Value":"9"},{"Name":"RequestType","Value":"OAuth2:Authorize"},{"Name":"ResultStatusDetail","Value":"Redirect"},{"Name":"KeepMeSignedIn","Value":"True"}],"ModifiedProperties":[],"Actor":[{"ID":"755e500a-6c03-46b0-b53b-282f23374e3b","Type":0},{"ID":"asr@testsiem.onmicrosoft.com","Type":5},{"ID":"1003200096971F55","Type":3}],"ActorContextId":"b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd","ActorIpAddress":"213.97.47.133","InterSystemsId":"172703f7-324e-415a-a846-c39ca97eb1c8","IntraSystemId":"d66cd29f-596e-4878-b756-92b545d25f00","Target":[{"ID":"5f09333a-842c-47da-a157-57da27fcbca5","Type":0}],"TargetContextId":"b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd","ApplicationId":"89bee1f7-5e6e-4d8a-9f3d-ecd601259da7"}`)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Record(raw, testSrc); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTimesEveryDatabaseCannotStoreAreRefused(t *testing.T) {
	src := Source{TenantID: "t", IngestedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, err := Record([]byte(`{"Id":"a","CreationTime":"0999-12-31T23:59:59"}`), src)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Reason, "CreationTime") || !strings.Contains(e.Reason, "1000") {
		t.Fatalf("a CreationTime in year 999 gave %v, want a quarantine reason naming CreationTime and the range", err)
	}
}

// BenchmarkCorpus normalizes every record of the corpus (../shared/corpus/records), the
// mix of record types the product meets, and reports the cost per record:
//
//	go test ./ingest/normalize -run '^$' -bench Corpus -benchmem
func BenchmarkCorpus(b *testing.B) {
	files, err := filepath.Glob(filepath.Join(corpusDir(b), "records", "*.jsonl"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no corpus records found (%v)", err)
	}
	var ins []input
	size := 0
	for _, path := range files {
		for _, in := range corpusLines(b, path) {
			ins = append(ins, in)
			size += len(in.raw)
		}
	}
	src := Source{ContentType: "import", ContentID: "bench", IngestedAt: goldenTime}
	b.SetBytes(int64(size / len(ins)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		in := ins[n%len(ins)]
		n++
		Record(in.raw, src)
	}
}
