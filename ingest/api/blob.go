package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
)

// BlobStats describes the body of a fetched blob.
type BlobStats struct {
	SHA256   string // hex SHA-256 of the body bytes as received
	Bytes    int64  // body length
	Records  int    // elements of the top-level array handed to fn
	Attempts int    // HTTP attempts it took (1 when nothing went wrong)
	// Malformed is set when the body was salvaged (see FetchOptions.Salvage): it says
	// why the body is not a valid JSON array.
	Malformed string
}

// FetchOptions are optional settings of FetchBlobWith.
type FetchOptions struct {
	// Archive, when set, receives the exact body bytes of the successful
	// attempt (never those of a failed one), before fn sees any record.
	Archive io.Writer
	// Salvage keeps a body that is still malformed after every retry, when it is what
	// the service stores rather than a transfer accident: it arrived whole (no transport
	// error) and byte-identical on the last two attempts. Then, instead of failing with
	// ErrMalformedBlob, FetchBlobWith hands fn what the body holds: each element of a
	// complete top-level array as it stands, valid JSON or not; or, when the body is
	// not such an array, the whole body as element 0. BlobStats.Malformed says why; the
	// caller quarantines what does not parse, so no byte the service served is dropped.
	// A body cut short is never salvaged: it is fetched again on a later pass.
	Salvage bool
}

// FetchBlob downloads b and hands each element of its top-level JSON array to
// fn, in order, with its 0-based index. See FetchBlobWith for the contract.
func (c *Client) FetchBlob(ctx context.Context, b ContentBlob, fn func(rec json.RawMessage, index int) error) (BlobStats, error) {
	return c.FetchBlobWith(ctx, b, FetchOptions{}, fn)
}

// FetchBlobWith downloads b and hands each element of its top-level JSON
// array to fn.
//
// Contract: fn sees every element exactly once, and only after the whole
// body arrived and parsed as one complete JSON array. The body is first
// streamed through a validating decoder into a spool (memory up to
// Config.SpoolMemory, then a temp file), hashing it on the way; a body that
// is cut short, is not a JSON array, or has trailing garbage is fetched again
// as a whole (with back-off, up to MaxRetries) before fn is called at all. So
// a caller never has to discard records, memory stays flat (one element at a
// time plus the spool threshold) and the archive gets the exact bytes once.
// Elements are handed on as raw bytes, unchanged, whatever their JSON type
// (an element that is not an object is still handed on). Each rec is a fresh
// slice fn may keep.
//
// A contentUri off the API origin is never called: the URI is rebuilt from the
// API base, tenant and contentId (see contentURL). A NextPageUri on a blob
// answer is followed (same origin only) and its pages' elements are handed on
// in order after all of them arrived.
//
// Errors: IsExpired (AF20051) and IsNotFound (AF20050) are returned at once,
// not retried; a 404 without an AF code is retried like a transient error; a body still malformed after every retry returns an
// error wrapping ErrMalformedBlob; an error from fn stops the iteration and
// is returned wrapped; the stats then count the records handed on so far.
func (c *Client) FetchBlobWith(ctx context.Context, b ContentBlob, opts FetchOptions, fn func(rec json.RawMessage, index int) error) (BlobStats, error) {
	var st BlobStats
	uri, err := c.contentURL(b)
	if err != nil {
		return st, fmt.Errorf("api: fetching blob %s: %w", b.ContentID, err)
	}
	// A blob answer may carry a NextPageUri (undocumented; Elastic follows it too):
	// every page is fetched, each checked whole, before fn sees any record.
	var pages []*blobPage
	defer func() {
		for _, p := range pages {
			p.sp.Close()
		}
	}()
	seen := map[string]bool{}
	for next := uri; next != ""; {
		if seen[next] || len(pages) >= maxBlobPages {
			return st, fmt.Errorf("api: fetching blob %s (%s): its NextPageUri pages loop or exceed %d", b.ContentID, b.ContentType, maxBlobPages)
		}
		seen[next] = true
		u, err := c.withPublisher(next)
		if err != nil {
			return st, fmt.Errorf("api: fetching blob %s: %w", b.ContentID, err)
		}
		p, err := c.fetchPage(ctx, b, u, opts, &st)
		if p != nil {
			pages = append(pages, p)
		}
		if err != nil {
			return st, fmt.Errorf("api: fetching blob %s (%s): %w", b.ContentID, b.ContentType, err)
		}
		next = ""
		if p.next != "" {
			if err := c.sameOrigin(p.next); err != nil {
				return st, fmt.Errorf("api: fetching blob %s (%s): NextPageUri: %w", b.ContentID, b.ContentType, err)
			}
			next = p.next
		}
	}
	if len(pages) == 1 {
		st.Bytes = pages[0].sp.n
		st.SHA256 = hex.EncodeToString(pages[0].sp.hash.Sum(nil))
	} else {
		// Several pages: the hash and length are those of the pages in order.
		h := sha256.New()
		for _, p := range pages {
			r, err := p.sp.reader()
			if err != nil {
				return st, err
			}
			n, err := io.Copy(h, r)
			if err != nil {
				return st, fmt.Errorf("api: reading spooled blob %s: %w", b.ContentID, err)
			}
			st.Bytes += n
		}
		st.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	if opts.Archive != nil {
		if err := archivePages(opts.Archive, pages); err != nil {
			return st, fmt.Errorf("api: archiving blob %s: %w", b.ContentID, err)
		}
	}
	for _, p := range pages {
		r, err := p.sp.reader()
		if err != nil {
			return st, err
		}
		var pos int64
		for i := 0; i+1 < len(p.offsets); i += 2 {
			start, end := p.offsets[i], p.offsets[i+1]
			if _, err := io.CopyN(io.Discard, r, start-pos); err != nil {
				return st, fmt.Errorf("api: reading spooled blob %s: %w", b.ContentID, err)
			}
			rec := make([]byte, end-start)
			if _, err := io.ReadFull(r, rec); err != nil {
				return st, fmt.Errorf("api: reading spooled blob %s: %w", b.ContentID, err)
			}
			pos = end
			if err := fn(rec, st.Records); err != nil {
				return st, fmt.Errorf("api: blob %s record %d: %w", b.ContentID, st.Records, err)
			}
			st.Records++
		}
	}
	return st, nil
}

// maxBlobPages bounds the NextPageUri chain of one blob.
const maxBlobPages = 1000

// blobPage is one fetched page of a blob: its body in a spool, its elements'
// offsets, and the NextPageUri it named.
type blobPage struct {
	sp      *spool
	offsets []int64
	next    string
}

// contentURL is where b is fetched from: its contentUri when that is on the API
// origin, else (a contentUri naming http://localhost/... has been seen from the
// real service) the URI rebuilt from the configured API base, the tenant and
// the contentId, as Elastic does. The token never goes to the listed host.
func (c *Client) contentURL(b ContentBlob) (string, error) {
	if b.ContentURI != "" && c.sameOrigin(b.ContentURI) == nil {
		return b.ContentURI, nil
	}
	if b.ContentID == "" {
		return "", fmt.Errorf("contentUri %q is not on the API origin and there is no contentId to rebuild it from", redactURL(b.ContentURI))
	}
	rebuilt := c.feedRoot + "/audit/" + url.PathEscape(b.ContentID)
	c.log.Warn("contentUri is not on the API origin; fetching the blob from the URI rebuilt from the API base",
		"content_type", b.ContentType, "blob", b.ContentID, "listed", redactURL(b.ContentURI), "fetching", rebuilt)
	return rebuilt, nil
}

// redactURL drops a URL's query string (for logs and errors).
func redactURL(s string) string { return stripQuery(s) }

// fetchPage downloads one page of b at u (PublisherIdentifier included) into a
// spool, retrying a body cut short or malformed; st.Attempts counts the tries.
func (c *Client) fetchPage(ctx context.Context, b ContentBlob, u string, opts FetchOptions, st *BlobStats) (*blobPage, error) {
	var sp *spool
	var offsets []int64
	var next string
	// Hashes of the last two whole bodies that were malformed, for Salvage.
	var malformedSums [2]string
	err := c.do(ctx, request{method: http.MethodGet, url: u, what: "fetching blob", contentType: b.ContentType, retryNotFound: true,
		attrs: []slog.Attr{slog.String("content_type", b.ContentType), slog.String("blob", b.ContentID)}},
		func(resp *http.Response) error {
			st.Attempts++
			if sp != nil {
				sp.Close()
			}
			sp = &spool{limit: c.cfg.SpoolMemory, dir: c.cfg.SpoolDir, hash: sha256.New()}
			next = strings.TrimSpace(resp.Header.Get("NextPageUri"))
			if next == "" {
				next = strings.TrimSpace(resp.Header.Get("NextPageUrl"))
			}
			var err error
			offsets, err = scanArray(resp.Body, sp)
			var rb *retryBody
			if err != nil && opts.Salvage && errors.As(err, &rb) {
				// Read the rest so the spool holds the whole body, and learn
				// whether it arrived whole.
				_, rerr := io.Copy(sp, resp.Body)
				sum := ""
				if rerr == nil && sp.err == nil {
					sum = hex.EncodeToString(sp.hash.Sum(nil))
				}
				malformedSums = [2]string{malformedSums[1], sum}
			} else {
				malformedSums = [2]string{}
			}
			return err
		})
	if err != nil && opts.Salvage && errors.Is(err, ErrMalformedBlob) && ctx.Err() == nil &&
		malformedSums[1] != "" && malformedSums[0] == malformedSums[1] {
		reason := err.Error()
		if rb := (*retryBody)(nil); errors.As(err, &rb) {
			reason = rb.Error()
		}
		offsets, err = salvage(sp)
		if err == nil {
			st.Malformed = reason
			c.log.Warn("blob body still malformed after every retry, identical each time: handing on what it holds",
				"content_type", b.ContentType, "blob", b.ContentID, "bytes", sp.n, "elements", len(offsets)/2, "reason", reason)
		}
	}
	if sp == nil {
		return nil, err
	}
	return &blobPage{sp: sp, offsets: offsets, next: next}, err
}

// archivePages writes the body as received: a one-page blob byte for byte, a
// blob of several pages as one JSON array of their elements in order (each
// element's bytes unchanged).
func archivePages(w io.Writer, pages []*blobPage) error {
	if len(pages) == 1 {
		r, err := pages[0].sp.reader()
		if err != nil {
			return err
		}
		_, err = io.Copy(w, r)
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteByte('[')
	first := true
	for _, p := range pages {
		r, err := p.sp.reader()
		if err != nil {
			return err
		}
		var pos int64
		for i := 0; i+1 < len(p.offsets); i += 2 {
			if _, err := io.CopyN(io.Discard, r, p.offsets[i]-pos); err != nil {
				return err
			}
			if !first {
				bw.WriteByte(',')
			}
			first = false
			if _, err := io.CopyN(bw, r, p.offsets[i+1]-p.offsets[i]); err != nil {
				return err
			}
			pos = p.offsets[i+1]
		}
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// scanArray copies body into sp while checking it is exactly one JSON array
// (whitespace around allowed), and returns the [start,end) byte offsets of
// each element. A malformed or truncated body is a *retryBody wrapping
// ErrMalformedBlob.
func scanArray(body io.Reader, sp *spool) ([]int64, error) {
	bad := func(format string, a ...any) error {
		return &retryBody{fmt.Errorf("%w: %s", ErrMalformedBlob, fmt.Sprintf(format, a...))}
	}
	tee := io.TeeReader(body, sp)
	dec := json.NewDecoder(tee)
	tok, err := dec.Token()
	if err != nil {
		return nil, bad("reading start of body: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, bad("body starts with %v, not an array", tok)
	}
	var offsets []int64
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, bad("element %d: %v", len(offsets)/2, err)
		}
		end := dec.InputOffset()
		offsets = append(offsets, end-int64(len(raw)), end)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return nil, bad("after element %d: unterminated array (%v)", len(offsets)/2, err)
	}
	// The rest must be whitespace; reading it through tee also detects a
	// body cut short of its Content-Length.
	rest := io.MultiReader(dec.Buffered(), tee)
	buf := make([]byte, 4096)
	for {
		n, err := rest.Read(buf)
		if len(bytes.TrimSpace(buf[:n])) > 0 {
			return nil, bad("data after the array")
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bad("reading body: %v", err)
		}
	}
	if sp.err != nil {
		return nil, fmt.Errorf("api: spooling blob: %w", sp.err)
	}
	return offsets, nil
}

// salvage returns the element offsets of a malformed body kept in sp: those of a
// complete top-level array split loosely (see looseArray), else the whole body as
// one element.
func salvage(sp *spool) ([]int64, error) {
	if sp.err != nil {
		return nil, fmt.Errorf("api: spooling blob: %w", sp.err)
	}
	r, err := sp.reader()
	if err != nil {
		return nil, err
	}
	if offsets, ok := looseArray(r); ok {
		return offsets, nil
	}
	return []int64{0, sp.n}, nil
}

// looseArray splits a body that is a top-level JSON array into its elements without
// requiring them to be valid JSON: it only tracks strings (with escapes) and bracket
// depth, so an element with a syntax error still ends at the next comma or bracket at
// depth 0. It returns the [start,end) offsets of each non-empty element, and false
// when the body is not one complete array (with only whitespace around it).
func looseArray(r io.Reader) ([]int64, bool) {
	br := bufio.NewReaderSize(r, 64<<10)
	var offsets []int64
	pos, start, last := int64(-1), int64(-1), int64(-1)
	depth := 0
	opened, closed, inString, escaped := false, false, false, false
	for {
		c, err := br.ReadByte()
		if err != nil {
			break
		}
		pos++
		space := c == ' ' || c == '\t' || c == '\n' || c == '\r'
		switch {
		case closed:
			if !space {
				return nil, false
			}
			continue
		case !opened:
			if space {
				continue
			}
			if c != '[' {
				return nil, false
			}
			opened = true
			continue
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			last = pos
			continue
		case space:
			continue
		case depth == 0 && (c == ',' || c == ']'):
			if start >= 0 {
				offsets = append(offsets, start, last+1)
				start = -1
			}
			closed = c == ']'
			continue
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth < 0 {
				return nil, false
			}
		}
		if start < 0 {
			start = pos
		}
		last = pos
	}
	return offsets, closed
}

// spool keeps a body in memory up to limit bytes, then in a temp file.
type spool struct {
	limit int
	dir   string
	mem   bytes.Buffer
	f     *os.File
	n     int64
	hash  hash.Hash
	err   error
}

func (s *spool) Write(p []byte) (int, error) {
	s.hash.Write(p)
	s.n += int64(len(p))
	if s.err != nil {
		return len(p), nil // reported by scanArray
	}
	if s.f == nil && s.mem.Len()+len(p) > s.limit {
		f, err := os.CreateTemp(s.dir, "o365blob-*.json")
		if err != nil {
			s.err = err
			return len(p), nil
		}
		os.Remove(f.Name()) // unlinked: vanishes when closed, even on a crash (on Unix)
		s.f = f
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			s.err = err
		}
		s.mem = bytes.Buffer{}
	}
	if s.f != nil {
		if _, err := s.f.Write(p); err != nil {
			s.err = err
		}
		return len(p), nil
	}
	return s.mem.Write(p)
}

func (s *spool) reader() (io.Reader, error) {
	if s.f == nil {
		return bytes.NewReader(s.mem.Bytes()), nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return bufio.NewReaderSize(s.f, 256<<10), nil
}

func (s *spool) Close() {
	if s.f != nil {
		name := s.f.Name()
		s.f.Close()
		os.Remove(name)
		s.f = nil
	}
}

// FetchAll calls fn for every blob with at most Config.Concurrency calls in
// flight (fn typically calls FetchBlob). The first error of fn cancels the
// context given to the others and is returned; fn decides what to do with
// expired or missing blobs (e.g. report and return nil).
func (c *Client) FetchAll(ctx context.Context, blobs []ContentBlob, fn func(ctx context.Context, b ContentBlob) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, b := range blobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, b); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}
