package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// seedBlobBodies adds blob-shaped inputs from ../shared/corpus (when present): each record
// file as one array, the recorded API bodies, and hand-written malformed bodies.
func seedBlobBodies(f *testing.F) {
	corpus := filepath.Join("..", "..", "..", "shared", "corpus")
	files, _ := filepath.Glob(filepath.Join(corpus, "records", "*.jsonl"))
	files = append(files, filepath.Join(corpus, "synthetic", "beats-ip-formats.jsonl"))
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var lines [][]byte
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
				lines = append(lines, bytes.Clone(l))
			}
		}
		for i := 0; i < len(lines); i += 20 {
			f.Add(append(append([]byte("["), bytes.Join(lines[i:min(i+20, len(lines))], []byte(",\n"))...), ']'))
		}
	}
	bodies, _ := filepath.Glob(filepath.Join(corpus, "api", "*"))
	bodies = append(bodies, filepath.Join(corpus, "synthetic", "msdocs-AipFileDeleted.invalid-json.txt"))
	for _, path := range bodies {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if _, body, ok := bytes.Cut(data, []byte("\r\n\r\n")); ok {
			data = body
		} else if _, body, ok := bytes.Cut(data, []byte("\n\n")); ok && bytes.HasPrefix(data, []byte("HTTP/")) {
			data = body
		}
		f.Add(data)
	}
	for _, s := range []string{
		``, `[]`, ` [ ] `, `[1,2,3]`, `[{"Id":"a"},42,"s",null,[1]]`, `{"Id":"a"}`, `"x"`, `null`,
		`[{"Id":"a"}`, `[{"Id":"a"},]`, `[,]`, `[{"Id":"a"}]]`, `[{"Id":"a"}] x`, `[{"Id":"a\"]"}]`,
		`[{"Id":"a"},{"Id":bad},{"Id":"c"}]`, "[{\"Id\":\"\x00\xff\"}]", `[{"a":"\u0000"}]`,
		`[` + strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200) + `]`, `[{"Id":"a","Id":"b"}]`,
		"\ufeff[]", `[{"x":"\`, `[{}}]`, `[{"x":"}"}, {"y":"\\"}]`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzBlobDecoder feeds arbitrary bodies to the blob decoder (scanArray) and to the
// salvage splitter (looseArray), through a reader that hands out a few bytes at a time
// so every chunk boundary is crossed. Neither may panic; scanArray either accepts a
// body whose elements are exactly those encoding/json finds (offsets and captured
// bytes), or refuses it with ErrMalformedBlob; looseArray agrees with scanArray on
// every body scanArray accepts.
func FuzzBlobDecoder(f *testing.F) {
	seedBlobBodies(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var offsets []int64
		var got [][]byte
		capt := &capture{max: 1 << 20}
		br := newByteReader(iotest.HalfReader(bytes.NewReader(body)), capt)
		br.buf = make([]byte, 7)
		n, err := scanArray(br, func(start, end int64) error {
			offsets = append(offsets, start, end)
			got = append(got, capt.buf)
			return nil
		})
		var loose [][]byte
		lc := &capture{max: 1 << 20}
		lr := newByteReader(bytes.NewReader(body), lc)
		lr.buf = make([]byte, 5)
		complete, _ := looseArray(lr, func(_, _ int64) error {
			loose = append(loose, bytes.TrimRight(lc.buf, " \t\r\n"))
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrMalformedBlob) {
				t.Fatalf("error %v does not wrap ErrMalformedBlob", err)
			}
			return
		}
		checkOffsets(t, offsets, len(body))
		var want []json.RawMessage
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("scanArray accepted a body encoding/json refuses: %v", err)
		}
		if len(want) != n || len(want) != len(got) {
			t.Fatalf("scanArray found %d elements (%d captured), encoding/json %d", n, len(got), len(want))
		}
		for i := range want {
			at := body[offsets[2*i]:offsets[2*i+1]]
			if !bytes.Equal(at, bytes.TrimSpace(want[i])) || !bytes.Equal(got[i], at) {
				t.Fatalf("element %d: %q (captured %q), encoding/json has %q", i, at, got[i], want[i])
			}
		}
		if !complete || len(loose) != n {
			t.Fatalf("looseArray (complete=%v, %d elements) disagrees with scanArray (%d) on a valid body", complete, len(loose), n)
		}
		for i := range loose {
			if !bytes.Equal(loose[i], got[i]) {
				t.Fatalf("looseArray element %d is %q, scanArray's %q", i, loose[i], got[i])
			}
		}
	})
}

func checkOffsets(t *testing.T, offsets []int64, n int) {
	t.Helper()
	if len(offsets)%2 != 0 {
		t.Fatalf("odd number of offsets: %v", offsets)
	}
	prev := int64(0)
	for i := 0; i < len(offsets); i += 2 {
		s, e := offsets[i], offsets[i+1]
		if s < prev || e <= s || e > int64(n) {
			t.Fatalf("element %d at [%d,%d) in a body of %d bytes (after %d)", i/2, s, e, n, prev)
		}
		prev = e
	}
}
