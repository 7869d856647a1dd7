package api

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// BenchmarkBlobScan shows the blob decoder is linear whatever the body holds: each
// body is 32 MiB, scanned as FetchBlob does (pass 1 validating into the spool's place,
// pass 2 capturing each element), and costs about the same per byte whether it is
// records, one whitespace run, elements nested 100,000 levels deep, or one long string.
// The bodies are read 32 KiB at a time, as from a connection; encoding/json's Decoder
// is quadratic on a whitespace run so read (24 s for 32 MiB in issue 11); its figure
// for 8 MiB is printed for comparison.
//
//	go test -run XXX -bench BlobScan -benchtime 5x ./ingest/api/
func BenchmarkBlobScan(b *testing.B) {
	const size = 32 << 20
	rec := `{"CreationTime":"2026-11-20T10:00:00","Id":"4a8a7e0e-1f2b-4c59-9d7a-1b2c3d4e5f60","Operation":"MailItemsAccessed","OrganizationId":"41463f53-8812-40f4-890f-865bf6e35190","RecordType":50,"ResultStatus":"Succeeded","UserKey":"10032001A2B3C4D5","UserType":0,"Version":1,"Workload":"Exchange","ClientIP":"203.0.113.7","UserId":"alice@contoso.com","Folders":[{"FolderItems":[{"InternetMessageId":"<a@b>","SizeInBytes":1234}],"Path":"\\Inbox"}]}`
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	bodies := []struct {
		name string
		body func() []byte
	}{
		{"records", func() []byte { return array(rec, size) }},
		{"whitespace run", func() []byte {
			return append(append([]byte("["), bytes.Repeat([]byte(" "), size-4)...), "{}]"...)
		}},
		{"100000 levels of nesting", func() []byte { return array(deep, size) }},
		{"one long string", func() []byte {
			return append(append([]byte(`["`), bytes.Repeat([]byte("x"), size-4)...), `"]`...)
		}},
	}
	for _, tc := range bodies {
		body := tc.body()
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := scanArray(newByteReader(chunked(body), nil), nil); err != nil {
					b.Fatal(err)
				}
				capt := &capture{max: DefaultMaxRecordBytes}
				n, err := scanArray(newByteReader(bytes.NewReader(body), capt), func(_, _ int64) error {
					capt.reset()
					return nil
				})
				if err != nil || n == 0 {
					b.Fatal(n, err)
				}
			}
		})
	}
	// For comparison, what the old decoder cost on a whitespace run a quarter the size
	// (it is quadratic: 4x the run, 16x the time).
	b.Run("encoding/json Decoder, 8 MiB whitespace run", func(b *testing.B) {
		body := append(append([]byte("["), bytes.Repeat([]byte(" "), 8<<20)...), "{}]"...)
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			dec := json.NewDecoder(chunked(body))
			dec.Token()
			for dec.More() {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// chunked reads body 32 KiB at a time, as a network connection hands it on.
func chunked(body []byte) io.Reader { return &chunkReader{body} }

type chunkReader struct{ b []byte }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 32<<10)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// array repeats el in a JSON array of about size bytes.
func array(el string, size int) []byte {
	var buf bytes.Buffer
	buf.Grow(size + len(el))
	buf.WriteByte('[')
	for buf.Len() < size-len(el)-1 {
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		buf.WriteString(el)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}
