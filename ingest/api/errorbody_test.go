package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/api"
)

// TestCutErrorBodyIsRetried: an error answer whose body is cut off (a 403 that would have
// said AF429, then a reset) is retried, not taken as a final refusal. Found by the fault
// soak: a throttled NextPageUri page failed a whole content type.
func TestCutErrorBodyIsRetried(t *testing.T) {
	var n atomic.Int32
	srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Content-Length", "200")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":{"code":"AF4`)
			return // the server closes the connection short of Content-Length
		}
		io.WriteString(w, `[{"Id":"a"}]`)
	})
	b := api.ContentBlob{ContentType: "Audit.General", ContentID: "c$1", ContentURI: srv.URL + "/api/v1.0/" + tenant + "/activity/feed/audit/c$1"}
	st, err := client(t, srv.URL, nil).FetchBlob(context.Background(), b, func(json.RawMessage, int) error { return nil })
	if err != nil || st.Records != 1 || n.Load() != 2 {
		t.Fatalf("after a cut 403: %d requests, %+v, err %v; want a retry that loads the blob", n.Load(), st, err)
	}
}
