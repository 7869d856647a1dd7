package api_test

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
)

// repeatReader streams n copies of b without holding them.
type repeatReader struct {
	b   []byte
	n   int64 // bytes left
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	i := 0
	for i < len(p) && r.n > 0 {
		c := copy(p[i:min(len(p), i+int(min(r.n, int64(len(r.b)-r.off))))], r.b[r.off:])
		i += c
		r.n -= int64(c)
		r.off = (r.off + c) % len(r.b)
	}
	return i, nil
}

func repeat(s string, n int64) io.Reader { return &repeatReader{b: []byte(s), n: n} }

func limitBlob(srv string) api.ContentBlob {
	return api.ContentBlob{ContentType: "Audit.General", ContentID: "c1",
		ContentURI: srv + "/api/v1.0/" + tenant + "/activity/feed/audit/c1"}
}

func TestBlobLimits(t *testing.T) {
	const recA, recB = `{"Id":"a"}`, `{"Id":"b"}`
	for _, tc := range []struct {
		name     string
		body     func() io.Reader
		gzip     bool
		attempts int32    // downloads the fetch must take
		want     []string // records handed on (nil: the fetch fails)
		wantErr  error
		over     int64 // size of the one oversized record expected
	}{
		{name: "a record over max_record_bytes is described, not handed on, and the others are",
			body: func() io.Reader {
				return io.MultiReader(strings.NewReader(`[`+recA+`,{"Id":"big","s":"`), repeat("x", 10000), strings.NewReader(`"},`+recB+`]`))
			},
			attempts: 1, want: []string{recA, recB}, over: int64(len(`{"Id":"big","s":""}`)) + 10000},
		{name: "a body over max_blob_bytes fails after one download",
			body: func() io.Reader {
				return io.MultiReader(strings.NewReader(`[{"s":"`), repeat("y", 1<<20), strings.NewReader(`"}]`))
			},
			attempts: 1, wantErr: api.ErrBlobTooLarge},
		{name: "a gzip body is counted as it inflates: a bomb of whitespace fails after one download",
			body: func() io.Reader {
				return io.MultiReader(strings.NewReader(`[`), repeat(" ", 8<<20), strings.NewReader(`]`))
			},
			gzip: true, attempts: 1, wantErr: api.ErrBlobTooLarge},
		{name: "an unterminated run of [ over the limit fails after one download",
			body:     func() io.Reader { return repeat("[", 4<<20) },
			attempts: 1, wantErr: api.ErrBlobTooLarge},
		{name: "an unterminated run of [ under the limit is salvaged after two identical downloads as one oversized element",
			body:     func() io.Reader { return repeat("[", 512<<10) },
			attempts: 2, want: nil, over: 512 << 10},
		{name: "deep nesting is one record, scanned without recursion",
			body: func() io.Reader {
				return io.MultiReader(strings.NewReader(`[`+recA+`,`), repeat("[", 1000), repeat("]", 1000), strings.NewReader(`,`+recB+`]`))
			},
			attempts: 1, want: []string{recA, "deep", recB}},
		{name: "100,000 levels of nesting are one oversized record",
			body: func() io.Reader {
				return io.MultiReader(strings.NewReader(`[`+recA+`,`), repeat("[", 100000), repeat("]", 100000), strings.NewReader(`,`+recB+`]`))
			},
			attempts: 1, want: []string{recA, recB}, over: 200000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				var out io.Writer = w
				if tc.gzip {
					w.Header().Set("Content-Encoding", "gzip")
					zw := gzip.NewWriter(w)
					defer zw.Close()
					out = zw
				}
				io.Copy(out, tc.body())
			})
			c := client(t, srv.URL, func(c *api.Config) {
				c.MaxBlobBytes, c.MaxRecordBytes, c.SpoolMemory = 1<<20, 4096, 64<<10
			})
			var got []string
			st, err := c.FetchBlobWith(context.Background(), limitBlob(srv.URL), api.FetchOptions{Salvage: true}, func(rec json.RawMessage, i int) error {
				s := string(rec)
				if strings.HasPrefix(s, "[[[") {
					s = "deep"
				}
				got = append(got, s)
				return nil
			})
			if n.Load() != tc.attempts {
				t.Errorf("%d downloads, want %d", n.Load(), tc.attempts)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("handed on %q, want %q", got, tc.want)
			}
			if tc.over > 0 {
				at := len(tc.want) / 2 // between the records handed on
				if len(st.Oversized) != 1 || st.Oversized[0].Bytes != tc.over || st.Oversized[0].Index != at {
					t.Fatalf("%d oversized, want one of %d bytes at index %d", len(st.Oversized), tc.over, at)
				}
				o := st.Oversized[0]
				full := `{"Id":"big","s":"` + strings.Repeat("x", 10000) + `"}`
				switch tc.over {
				case 200000:
					full = strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
				case 512 << 10:
					full = strings.Repeat("[", 512<<10)
				}
				sum := sha256.Sum256([]byte(full))
				if o.SHA256 != hex.EncodeToString(sum[:]) || string(o.Head) != full[:len(o.Head)] || len(o.Head) != min(len(full), 64<<10) {
					t.Errorf("oversized record: sha256 %s head %d bytes; want the sha256 of the record and its head", o.SHA256, len(o.Head))
				}
				if st.Records != len(tc.want)+1 {
					t.Errorf("Records %d, want %d", st.Records, len(tc.want)+1)
				}
				t.Logf("reason: %s", o.Reason())
			}
		})
	}
}

func TestStalledAnswers(t *testing.T) {
	t.Run("a body that sends no byte for the idle timeout is cut and fetched again", func(t *testing.T) {
		var n atomic.Int32
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				io.WriteString(w, `[{"Id":"a"},`)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
				return
			}
			io.WriteString(w, `[{"Id":"a"},{"Id":"b"}]`)
		})
		c := client(t, srv.URL, func(c *api.Config) { c.IdleTimeout = 200 * time.Millisecond })
		start := time.Now()
		st, err := c.FetchBlob(context.Background(), limitBlob(srv.URL), func(json.RawMessage, int) error { return nil })
		if err != nil || st.Records != 2 || n.Load() != 2 {
			t.Fatalf("err %v, %d records, %d downloads; want 2 records in 2 downloads", err, st.Records, n.Load())
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %s", d)
		}
	})
	t.Run("a trickled listing page is cut at blob_timeout too", func(t *testing.T) {
		var n atomic.Int32
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			io.WriteString(w, `[`)
			for {
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
					io.WriteString(w, ` `)
				}
			}
		})
		c := client(t, srv.URL, func(c *api.Config) { c.BlobTimeout, c.MaxRetries = 300*time.Millisecond, 8 })
		_, err := c.ListContent(context.Background(), "Audit.General", time.Now().Add(-time.Hour), time.Now())
		if !api.IsTimeout(err) || n.Load() != 2 {
			t.Fatalf("err %v after %d requests; want a timeout after 2", err, n.Load())
		}
	})
	t.Run("a trickled body is cut at blob_timeout and given two tries in all", func(t *testing.T) {
		var n atomic.Int32
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			io.WriteString(w, `[`)
			for {
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
					io.WriteString(w, ` `)
				}
			}
		})
		c := client(t, srv.URL, func(c *api.Config) {
			c.IdleTimeout, c.BlobTimeout, c.MaxRetries = time.Second, 300*time.Millisecond, 8
		})
		_, err := c.FetchBlob(context.Background(), limitBlob(srv.URL), func(json.RawMessage, int) error { return nil })
		if !api.IsTimeout(err) || n.Load() != 2 {
			t.Fatalf("err %v after %d downloads; want a timeout after 2", err, n.Load())
		}
		t.Logf("refused: %v", err)
	})
}

// TestHandedOnRecordsAreTheirOwn: the records of a blob held in memory are slices of
// its body, capped at their end, so a caller that keeps them and appends to one
// changes no other, and each holds exactly its element's bytes.
func TestHandedOnRecordsAreTheirOwn(t *testing.T) {
	for _, spool := range []int{64 << 10, 8} { // in memory, and in a temp file
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "[ {\"Id\":\"a\"} ,\n{\"Id\":\"b\",\"x\":[1, 2]},{\"Id\":\"c\"}]")
		})
		c := client(t, srv.URL, func(c *api.Config) { c.SpoolMemory = spool })
		var kept []json.RawMessage
		_, err := c.FetchBlob(context.Background(), limitBlob(srv.URL), func(rec json.RawMessage, i int) error {
			kept = append(kept, rec)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		kept[0] = append(kept[0], "XXXXXXXX"...)
		kept[1] = append(kept[1], "YYYYYYYY"...)
		want := []string{`{"Id":"a"}XXXXXXXX`, `{"Id":"b","x":[1, 2]}YYYYYYYY`, `{"Id":"c"}`}
		for i, w := range want {
			if string(kept[i]) != w {
				t.Errorf("spool %d: record %d = %q, want %q", spool, i, kept[i], w)
			}
		}
	}
}
