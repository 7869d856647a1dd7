package faults_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// element is one hand-written thing a blob holds, and where it must end up.
type element struct {
	raw    string
	want   string // "load", "quarantine" or "either"
	id     string // the record id it is stored under, when it has one
	marker string // text its quarantined raw contains (default raw)
}

const when = `"CreationTime":"2026-11-20T10:00:00"`

// badElements are every malformed thing a blob can hold that still leaves the body a
// valid JSON array, each beside valid records.
func badElements() []element {
	big := strings.Repeat("x", 5<<20)
	return []element{
		{raw: `{"Id":"bad-input-valid-1",` + when + `,"Operation":"UserLoggedIn","RecordType":15,"UserId":"a@contoso.com","Workload":"AzureActiveDirectory"}`, want: "load", id: "bad-input-valid-1"},
		{raw: `42`, want: "quarantine"},
		{raw: `"just a string"`, want: "quarantine"},
		{raw: `null`, want: "quarantine"},
		{raw: `true`, want: "quarantine"},
		{raw: `[1,2,3]`, want: "quarantine"},
		{raw: `{}`, want: "quarantine"},
		{raw: `{"Id":"bad-input-no-time","Operation":"NoTime"}`, want: "quarantine", id: "bad-input-no-time", marker: "bad-input-no-time"},
		{raw: `{` + when + `,"Operation":"NoIdAtAll"}`, want: "quarantine", marker: "NoIdAtAll"},
		{raw: `{"Id":"bad-input-not-a-time","CreationTime":"the day before yesterday"}`, want: "quarantine", id: "bad-input-not-a-time", marker: "bad-input-not-a-time"},
		{raw: `{"Id":"` + strings.Repeat("L", 300) + `",` + when + `}`, want: "quarantine", marker: strings.Repeat("L", 300)},
		{raw: `{"Id":12345,` + when + `,"Operation":"NumericId"}`, want: "either", id: "12345", marker: "NumericId"},
		{raw: `{"Id":"bad-input-types",` + when + `,"RecordType":"fifteen","UserId":{"x":1},"ClientIP":12345,"Workload":["a"],"ResultStatus":true,"UserType":"x","Operation":7}`, want: "load", id: "bad-input-types"},
		{raw: `{"Id":"bad-input-nul",` + when + `,"Operation":"Nul\u0000Byte","UserId":"inv` + "\xff\xfe" + `utf8","ObjectId":"\u0000"}`, want: "load", id: "bad-input-nul"},
		{raw: `{"Id":"bad-input-5mb",` + when + `,"Operation":"Big","Big":"` + big + `"}`, want: "load", id: "bad-input-5mb"},
		{raw: `{"Id":"bad-input-deep-31",` + when + `,"Deep":` + strings.Repeat("[", 30) + strings.Repeat("]", 30) + `}`, want: "load", id: "bad-input-deep-31"},
		{raw: `{"Id":"bad-input-dup-1","Id":"bad-input-dup-2",` + when + `,` + when + `}`, want: "either", id: "bad-input-dup-1|bad-input-dup-2", marker: "bad-input-dup-1"},
	}
}

// hostileElements are valid JSON that MariaDB's JSON check on audit_record.raw refuses
// (nesting deeper than 31, a lone surrogate escape); the other databases store them.
func hostileElements() []element {
	deep := strings.Repeat("[", 300) + strings.Repeat("]", 300)
	return []element{
		{raw: `{"Id":"bad-input-deep",` + when + `,"Deep":` + deep + `}`, want: "load", id: "bad-input-deep"},
		{raw: `{"Id":"bad-input-surrogate",` + when + `,"ObjectId":"\ud800"}`, want: "load", id: "bad-input-surrogate"},
	}
}

// invalidElements break the JSON of the body itself: the blob is salvaged element by
// element, so the records beside them still load.
func invalidElements() []element {
	return []element{
		{raw: `{"Id":"bad-input-json-valid",` + when + `}`, want: "load", id: "bad-input-json-valid"},
		{raw: `{"Id":oops,"Marker":"invalid-json"}`, want: "quarantine", marker: "invalid-json"},
		{raw: "{\"Id\":\"raw-nul\x00\",\"Marker\":\"raw-nul-byte\"}", want: "quarantine", marker: "raw-nul-byte"},
		{raw: `{"Marker":"too-deep","D":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, want: "quarantine", marker: "too-deep"},
		{raw: `{'Id': 'single quotes', "Marker":"single-quotes"}`, want: "quarantine", marker: "single-quotes"},
	}
}

// handWritten rewrites the bodies of the first blobs fetched: body i of bodies goes to
// the i-th distinct blob, on every attempt.
type handWritten struct {
	mu     sync.Mutex
	bodies []func(orig []byte) []byte
	given  map[string]int // blob id -> body index
}

func (h *handWritten) fault() fault {
	h.given = map[string]int{}
	return func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, _ int) bool {
		if kind != "blob" {
			return false
		}
		id := blobID(r)
		h.mu.Lock()
		i, ok := h.given[id]
		if !ok && len(h.given) < len(h.bodies) {
			i, ok = len(h.given), true
			h.given[id] = i
		}
		h.mu.Unlock()
		if !ok {
			return false
		}
		rewrite(p, w, r, h.bodies[i])
		return true
	}
}

func appendElements(els []element) func([]byte) []byte {
	return func(orig []byte) []byte {
		orig = bytes.TrimSpace(orig)
		var b bytes.Buffer
		b.Write(orig[:len(orig)-1])
		for _, e := range els {
			b.WriteString(",\n")
			b.WriteString(e.raw)
		}
		b.WriteString("]")
		return b.Bytes()
	}
}

func replaceWith(s string) func([]byte) []byte { return func([]byte) []byte { return []byte(s) } }

func TestBadInput(t *testing.T) {
	for _, driver := range drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			testBadInput(t, sinktest.Open(t, driver))
		})
	}
}

func testBadInput(t *testing.T, s sink.Sink) {
	e := newEnv(t, s, emulator.Options{Seed: 21})
	bad, invalid, hostile := badElements(), invalidElements(), hostileElements()
	// MariaDB's JSON check on audit_record.raw refuses valid JSON nested deeper than 31
	// levels or holding a lone surrogate: the sink names such a record and the pipeline
	// quarantines it with the database's reason; everywhere else it loads.
	if s.Handle().Dialect.Name() == "mysql" {
		for i := range hostile {
			hostile[i].want, hostile[i].marker = "quarantine", hostile[i].id
		}
	}
	hw := &handWritten{bodies: []func([]byte) []byte{
		appendElements(bad),
		appendElements(invalid),
		replaceWith(`[]`),
		replaceWith(` [ ] `),
		replaceWith(`"not an array"`),
		replaceWith(`{"error":{"code":"AF50000","message":"an error object served with 200"}}`),
		appendElements(hostile),
	}}
	e.proxy.set(hw.fault())
	sum := e.run(context.Background())

	// Whose body was which; the records a replaced body stood for were never served.
	hw.mu.Lock()
	byIndex := map[int]string{}
	for id, i := range hw.given {
		byIndex[i] = id
	}
	hw.mu.Unlock()
	if len(byIndex) != len(hw.bodies) {
		t.Fatalf("only %d hand-written bodies were served", len(byIndex))
	}
	replaced := map[string]bool{byIndex[2]: true, byIndex[3]: true, byIndex[4]: true, byIndex[5]: true}
	e.dropServedBy(replaced)
	for _, el := range append(append(bad, invalid...), hostile...) {
		if el.want == "load" || el.want == "quarantine" && el.id != "" {
			e.extra = append(e.extra, el.id)
		}
		if el.want == "either" {
			e.optional = append(e.optional, strings.Split(el.id, "|")...)
		}
	}
	e.complete(sum)

	q := quarantined(t, s)
	wantQ := 0
	for _, g := range []struct {
		els  []element
		body int
	}{{bad, 0}, {invalid, 1}, {hostile, 6}} {
		blob := byIndex[g.body]
		for _, el := range g.els {
			marker := el.marker
			if marker == "" {
				marker = el.raw
			}
			inQ := false
			for _, row := range q[blob] {
				if strings.Contains(row.raw, marker) {
					inQ = true
					if row.reason == "" {
						t.Errorf("quarantined %.60q without a reason", el.raw)
					}
				}
			}
			loaded := el.id != "" && storedIn(t, s, "audit_record", "id", strings.Split(el.id, "|")...)
			switch {
			case el.want == "load" && !loaded:
				t.Errorf("%.80q was not loaded (quarantined: %v)", el.raw, inQ)
			case el.want == "quarantine" && !inQ:
				t.Errorf("%.80q was not quarantined (loaded: %v)", el.raw, loaded)
			case !loaded && !inQ:
				t.Errorf("%.80q is neither loaded nor quarantined", el.raw)
			case loaded && inQ:
				t.Errorf("%.80q is both loaded and quarantined", el.raw)
			}
			if inQ {
				wantQ++
			}
		}
	}
	for _, i := range []int{4, 5} {
		rows := q[byIndex[i]]
		if len(rows) != 1 || !strings.Contains(rows[0].reason, "not an array") {
			t.Errorf("body %d (not an array) should be one quarantine row saying so: %+v", i, rows)
		}
		wantQ++
	}
	for _, i := range []int{2, 3} {
		if st := ledger(t, s)[byIndex[i]]; st[0] != "loaded" || len(q[byIndex[i]]) > 0 {
			t.Errorf("an empty array should be a loaded blob with nothing quarantined: %v, %d quarantined", st, len(q[byIndex[i]]))
		}
	}
	if sum.RecordsQuarantined != wantQ {
		t.Errorf("the pass says %d quarantined, the quarantine holds %d of ours", sum.RecordsQuarantined, wantQ)
	}
	for _, r := range q[byIndex[1]] {
		if !strings.Contains(r.reason, "malformed blob body") {
			t.Errorf("a record quarantined from a malformed body should say so: %q", r.reason)
		}
	}
	// A second pass has nothing to do: malformed blobs are not fetched again and again.
	again := e.run(context.Background())
	if again.BlobsLoaded != 0 || again.BlobsFailed != 0 || again.Missing() {
		t.Fatalf("second pass: %+v", again)
	}
}

type qrow struct{ reason, raw string }

func quarantined(t *testing.T, s sink.Sink) map[string][]qrow {
	t.Helper()
	rows, err := s.Handle().DB.Query(`SELECT content_id, reason, raw FROM quarantine`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]qrow{}
	for rows.Next() {
		var id string
		var r qrow
		if err := rows.Scan(&id, &r.reason, &r.raw); err != nil {
			t.Fatal(err)
		}
		out[id] = append(out[id], r)
	}
	return out
}

func storedIn(t *testing.T, s sink.Sink, table, col string, ids ...string) bool {
	t.Helper()
	for _, id := range ids {
		var n int
		if err := s.Handle().DB.QueryRow(fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE %s = `, table, col)+placeholder(s), id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return true
		}
	}
	return false
}

func placeholder(s sink.Sink) string {
	if s.Handle().Dialect.Name() == "postgres" {
		return "$1"
	}
	return "?"
}
