package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/api"
)

// TestSalvageMalformedBlobs: a blob body the service keeps serving malformed, identical on
// every attempt, is handed on element by element (or whole) with Salvage set, so the
// caller can quarantine the bad parts and load the rest; a body cut short, or different on
// each attempt, never is.
func TestSalvageMalformedBlobs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		serve    func(w http.ResponseWriter, attempt int)
		want     []string // elements handed on; nil: ErrMalformedBlob even with Salvage
		malforms string   // substring of BlobStats.Malformed
	}{
		{name: "an array with an element that is not JSON is split into its elements",
			serve: body(`[{"Id":"a"}, {"Id":bad,"x":"],}"} ,42,"s\"]",{"Id":"c"}]`),
			want:  []string{`{"Id":"a"}`, `{"Id":bad,"x":"],}"}`, `42`, `"s\"]"`, `{"Id":"c"}`}, malforms: "element 1"},
		{name: "a raw NUL byte in a string breaks only its element",
			serve: body("[{\"Id\":\"a\x00b\"},{\"Id\":\"c\"}]"),
			want:  []string{"{\"Id\":\"a\x00b\"}", `{"Id":"c"}`}, malforms: "element 0"},
		{name: "a body that is not an array is handed on whole",
			serve: body(`{"error":{"code":"AF50000","message":"x"}}`),
			want:  []string{`{"error":{"code":"AF50000","message":"x"}}`}, malforms: "not an array"},
		{name: "an array with data after it is handed on whole",
			serve: body(`[{"Id":"a"}] trailing`),
			want:  []string{`[{"Id":"a"}] trailing`}, malforms: "after the array"},
		{name: "a body cut short of its Content-Length is never salvaged",
			serve: func(w http.ResponseWriter, _ int) {
				w.Header().Set("Content-Length", "100")
				io.WriteString(w, `[{"Id":"a"},{"Id":`)
			}},
		{name: "a malformed body that differs on every attempt is never salvaged",
			serve: func(w http.ResponseWriter, attempt int) {
				fmt.Fprintf(w, `[{"Id":"a"},{"n":%d,`, attempt)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var attempts atomic.Int32
			srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
				tc.serve(w, int(attempts.Add(1)))
			})
			c := client(t, srv.URL, nil)
			b := api.ContentBlob{ContentType: "Audit.General", ContentID: "c$1", ContentURI: srv.URL + "/api/v1.0/" + tenant + "/activity/feed/audit/c$1"}
			fetch := func(salvage bool) ([]string, api.BlobStats, error) {
				var got []string
				st, err := c.FetchBlobWith(context.Background(), b, api.FetchOptions{Salvage: salvage}, func(rec json.RawMessage, i int) error {
					if i != len(got) {
						t.Errorf("element %d handed on as %d", len(got), i)
					}
					got = append(got, string(rec))
					return nil
				})
				return got, st, err
			}
			if got, _, err := fetch(false); !errors.Is(err, api.ErrMalformedBlob) || len(got) > 0 {
				t.Fatalf("without Salvage: %d elements, err %v; want ErrMalformedBlob and none", len(got), err)
			}
			got, st, err := fetch(true)
			if tc.want == nil {
				if !errors.Is(err, api.ErrMalformedBlob) || len(got) > 0 {
					t.Fatalf("salvaged what must not be: %q, %+v, err %v", got, st, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("handed on\n%q\nwant\n%q", got, tc.want)
			}
			if !strings.Contains(st.Malformed, tc.malforms) || st.Records != len(tc.want) || st.Attempts != 2 || len(st.SHA256) != 64 {
				// Two identical downloads show the body is what the service stores.
				t.Fatalf("stats %+v; want Malformed containing %q", st, tc.malforms)
			}
		})
	}
}

func body(s string) func(http.ResponseWriter, int) {
	return func(w http.ResponseWriter, _ int) {
		w.Header().Set("Content-Length", strconv.Itoa(len(s)))
		io.WriteString(w, s)
	}
}
