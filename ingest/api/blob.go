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
	Records  int    // elements of the top-level array (handed to fn or in Oversized)
	Attempts int    // HTTP attempts it took (1 when nothing went wrong)
	// Malformed is set when the body was salvaged (see FetchOptions.Salvage): it says
	// why the body is not a valid JSON array.
	Malformed string
	// Oversized are the elements larger than Config.MaxRecordBytes, in order: not
	// handed to fn, so the caller must keep them some other way (quarantine).
	Oversized []OversizedRecord
}

// OversizedRecord is an element of a blob over Config.MaxRecordBytes.
type OversizedRecord struct {
	Index  int    // its 0-based position among the elements
	Bytes  int64  // its size
	SHA256 string // hex sha256 of all its bytes
	Head   []byte // its first 64 KiB
	Limit  int    // the limit it is over
}

// Reason says why the record was not handed on.
func (o OversizedRecord) Reason() string {
	return fmt.Sprintf("record of %d bytes is over max_record_bytes (%s); sha256 %s; raw holds its first %d bytes",
		o.Bytes, byteSize(int64(o.Limit)), o.SHA256, len(o.Head))
}

// FetchOptions are optional settings of FetchBlobWith.
type FetchOptions struct {
	// Archive, when set, receives the exact body bytes of the successful
	// attempt (never those of a failed one), before fn sees any record.
	Archive io.Writer
	// Salvage keeps a body that is still malformed after a retry, when it is what
	// the service stores rather than a transfer accident: it arrived whole (no transport
	// error) and byte-identical on two attempts in a row. Then, instead of failing with
	// ErrMalformedBlob, FetchBlobWith hands fn what the body holds: each element of a
	// complete top-level array as it stands, valid JSON or not; or, when the body is
	// not such an array, the whole body as element 0 (over Config.MaxRecordBytes, in
	// BlobStats.Oversized). BlobStats.Malformed says why; the caller quarantines what
	// does not parse, so no byte the service served is dropped. A body cut short is
	// never salvaged: it is fetched again on a later pass.
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
// streamed through a validating scanner (linear in the body whatever its
// whitespace or nesting; see scan.go) into a spool, never more than
// Config.MaxBlobBytes in all (memory up to
// Config.SpoolMemory, then a temp file), hashing it on the way; a body that
// is cut short, is not a JSON array, or has trailing garbage is fetched again
// as a whole (with back-off, up to MaxRetries) before fn is called at all. So
// a caller never has to discard records, memory stays flat (one element at a
// time, at most Config.MaxRecordBytes, plus the spool threshold) and the
// archive gets the exact bytes once. Elements are handed on as raw bytes,
// unchanged, whatever their JSON type (an element that is not an object is
// still handed on); an element over Config.MaxRecordBytes is described in
// BlobStats.Oversized instead. Each rec is fn's to keep: nothing writes it again (it may
// share its array with the blob's other records, capped at its end, so that an append
// to it cannot reach them).
//
// A contentUri off the API origin is never called: the URI is rebuilt from the
// API base, tenant and contentId (see contentURL). A NextPageUri on a blob
// answer is followed (same origin only) and its pages' elements are handed on
// in order after all of them arrived.
//
// Errors: IsExpired (AF20051) and IsNotFound (AF20050) are returned at once,
// not retried; a 404 without an AF code is retried like a transient error; a
// body over Config.MaxBlobBytes returns ErrBlobTooLarge after that one attempt;
// a download that timed out on both its tries returns ErrTimeout; a body still
// malformed after every retry returns an error wrapping ErrMalformedBlob; an
// error from fn stops the iteration and is returned wrapped; the stats then
// count the records handed on so far.
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
	var total int64
	for next := uri; next != ""; {
		if seen[next] || len(pages) >= maxBlobPages {
			return st, fmt.Errorf("api: fetching blob %s (%s): its NextPageUri pages loop or exceed %d", b.ContentID, b.ContentType, maxBlobPages)
		}
		seen[next] = true
		u, err := c.withPublisher(next)
		if err != nil {
			return st, fmt.Errorf("api: fetching blob %s: %w", b.ContentID, err)
		}
		p, err := c.fetchPage(ctx, b, u, opts, c.cfg.MaxBlobBytes-total, &st)
		if p != nil {
			pages = append(pages, p)
		}
		if err != nil {
			return st, fmt.Errorf("api: fetching blob %s (%s): %w", b.ContentID, b.ContentType, err)
		}
		total += p.sp.n
		if p.malformed != "" && st.Malformed == "" {
			st.Malformed = p.malformed
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
		if err := c.handOn(b, p, &st, fn); err != nil {
			return st, err
		}
	}
	return st, nil
}

// maxBlobPages bounds the NextPageUri chain of one blob.
const maxBlobPages = 1000

// blobPage is one fetched page of a blob: its body in a spool, the NextPageUri it
// named, and why it is malformed when it was salvaged.
type blobPage struct {
	sp        *spool
	next      string
	malformed string
	// offsets are the [start, end) pairs of the elements of a body that scanned
	// strictly (nil otherwise), found as it arrived.
	offsets []int64
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

// salvageNow stops the retries of a malformed body that arrived identical twice. It
// does not unwrap, so that do sees no *retryBody in it.
type salvageNow struct{ err error }

func (s *salvageNow) Error() string { return s.err.Error() }

// fetchPage downloads one page of b at u (PublisherIdentifier included) into a
// spool of at most limit bytes, retrying a body cut short or malformed;
// st.Attempts counts the tries.
func (c *Client) fetchPage(ctx context.Context, b ContentBlob, u string, opts FetchOptions, limit int64, st *BlobStats) (*blobPage, error) {
	var sp *spool
	var next string
	var offsets []int64 // [start, end) of each element of the last body
	lastMalformed := "" // hash of the last whole body that was malformed, for Salvage
	err := c.do(ctx, request{method: http.MethodGet, url: u, what: "fetching blob", contentType: b.ContentType, retryNotFound: true,
		timeout: c.cfg.BlobTimeout,
		attrs:   []slog.Attr{slog.String("content_type", b.ContentType), slog.String("blob", b.ContentID)}},
		func(resp *http.Response) error {
			st.Attempts++
			if sp != nil {
				sp.Close()
			}
			sp = &spool{limit: c.cfg.SpoolMemory, dir: c.cfg.SpoolDir, hash: sha256.New()}
			if n := resp.ContentLength; n > 0 && n <= int64(sp.limit) && n <= limit {
				// The body's size is known: one allocation instead of a doubling series.
				sp.mem.Grow(int(n))
			}
			next = strings.TrimSpace(resp.Header.Get("NextPageUri"))
			if next == "" {
				next = strings.TrimSpace(resp.Header.Get("NextPageUrl"))
			}
			body := &capReader{r: resp.Body, limit: limit}
			offsets = offsets[:0]
			_, err := scanArray(newByteReader(io.TeeReader(body, sp), nil), func(start, end int64) error {
				offsets = append(offsets, start, end)
				return nil
			})
			if err == nil && sp.err != nil {
				err = fmt.Errorf("api: spooling blob: %w", sp.err)
			}
			var rb *retryBody
			if err == nil || !opts.Salvage || !errors.As(err, &rb) {
				lastMalformed = ""
				return err
			}
			// Read the rest so the spool holds the whole body, and learn whether it
			// arrived whole.
			if _, rerr := io.Copy(sp, body); rerr != nil || sp.err != nil {
				lastMalformed = ""
				if errors.Is(rerr, ErrBlobTooLarge) {
					return rerr
				}
				return err
			}
			sum := hex.EncodeToString(sp.hash.Sum(nil))
			if sum == lastMalformed {
				return &salvageNow{err}
			}
			lastMalformed = sum
			return err
		})
	malformed := ""
	if sn := (*salvageNow)(nil); errors.As(err, &sn) && ctx.Err() == nil {
		malformed = sn.err.Error()
		if rb := (*retryBody)(nil); errors.As(sn.err, &rb) {
			malformed = rb.Error()
		}
		err = nil
		c.log.Warn("blob body malformed twice, identical each time: handing on what it holds",
			"content_type", b.ContentType, "blob", b.ContentID, "bytes", sp.n, "reason", malformed)
	}
	if sp == nil {
		return nil, err
	}
	page := &blobPage{sp: sp, next: next, malformed: malformed}
	if err == nil && malformed == "" {
		page.offsets = offsets
	}
	return page, err
}

// elements calls emit with the [start,end) offsets of each element of a page, read
// through br: split strictly, or loosely when the page was salvaged. whole says a
// salvaged page is not one array: its whole body is its one element.
func (p *blobPage) elements(br *byteReader, emit func(start, end int64) error) (whole bool, err error) {
	if p.malformed == "" {
		_, err := scanArray(br, emit)
		if errors.Is(err, ErrMalformedBlob) {
			err = fmt.Errorf("reading the spooled body: %w", err)
		}
		return false, err
	}
	// A first loose pass without capture says whether the body is one array.
	r, err := p.sp.reader()
	if err != nil {
		return false, err
	}
	if complete, _ := looseArray(newByteReader(r, nil), func(_, _ int64) error { return nil }); complete {
		_, err := looseArray(br, emit)
		return false, err
	}
	br.begin()
	br.skipAll()
	br.end()
	return true, emit(0, p.sp.n)
}

// handOn reads a page's spooled body again and hands each element to fn, or to
// st.Oversized when it is over the record limit.
func (c *Client) handOn(b ContentBlob, p *blobPage, st *BlobStats, fn func(rec json.RawMessage, index int) error) error {
	r, err := p.sp.reader()
	if err != nil {
		return fmt.Errorf("api: reading spooled blob %s: %w", b.ContentID, err)
	}
	// A page held in memory and split strictly hands on slices of its body, capped at
	// their end (a caller appending to one cannot touch the next): no copy per record,
	// and the scan captures nothing. The body stays in memory as long as its records.
	var body []byte
	capt := &capture{max: c.cfg.MaxRecordBytes}
	br := newByteReader(r, capt)
	if p.malformed == "" && p.sp.f == nil {
		body = p.sp.mem.Bytes()
		br = newByteReader(r, nil)
	}
	var fnErr error
	emit := func(start, end int64) error {
		i := st.Records
		st.Records++
		if body != nil {
			rec := body[start:end:end]
			if len(rec) > c.cfg.MaxRecordBytes {
				sum := sha256.Sum256(rec)
				st.Oversized = append(st.Oversized, OversizedRecord{Index: i, Bytes: int64(len(rec)), SHA256: hex.EncodeToString(sum[:]),
					Head: bytes.Clone(rec[:min(len(rec), headBytes)]), Limit: c.cfg.MaxRecordBytes})
				c.log.Warn("record over max_record_bytes not handed on", "content_type", b.ContentType, "blob", b.ContentID,
					"ordinal", i, "bytes", len(rec))
				return nil
			}
			if err := fn(rec, i); err != nil {
				fnErr = fmt.Errorf("api: blob %s record %d: %w", b.ContentID, i, err)
				return fnErr
			}
			return nil
		}
		if capt.oversized() {
			st.Oversized = append(st.Oversized, OversizedRecord{Index: i, Bytes: capt.size, SHA256: capt.sum(),
				Head: capt.buf, Limit: c.cfg.MaxRecordBytes})
			c.log.Warn("record over max_record_bytes not handed on", "content_type", b.ContentType, "blob", b.ContentID,
				"ordinal", i, "bytes", capt.size)
			capt.reset()
			return nil
		}
		rec := capt.buf
		if p.malformed != "" {
			rec = bytes.TrimRight(rec, " \t\r\n")
		}
		if rec == nil {
			rec = []byte{}
		}
		capt.reset()
		if err := fn(rec, i); err != nil {
			fnErr = fmt.Errorf("api: blob %s record %d: %w", b.ContentID, i, err)
			return fnErr
		}
		return nil
	}
	if body != nil && p.offsets != nil {
		// Its elements were found as it arrived: no second scan.
		for k := 0; k+1 < len(p.offsets); k += 2 {
			if err := emit(p.offsets[k], p.offsets[k+1]); err != nil {
				return err
			}
		}
		return nil
	}
	_, err = p.elements(br, emit)
	if err != nil && fnErr == nil {
		return fmt.Errorf("api: reading spooled blob %s: %w", b.ContentID, err)
	}
	return err
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
		// One reader finds the elements, another copies their bytes.
		scan, err := p.sp.reader()
		if err != nil {
			return err
		}
		r, err := p.sp.reader()
		if err != nil {
			return err
		}
		var pos int64
		_, err = p.elements(newByteReader(scan, nil), func(start, end int64) error {
			if _, err := io.CopyN(io.Discard, r, start-pos); err != nil {
				return err
			}
			if !first {
				bw.WriteByte(',')
			}
			first = false
			pos = end
			_, err := io.CopyN(bw, r, end-start)
			return err
		})
		if err != nil {
			return err
		}
	}
	bw.WriteString("]\n")
	return bw.Flush()
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
	// A section reader per call: readers of one spool are independent.
	return bufio.NewReaderSize(io.NewSectionReader(s.f, 0, s.n), 256<<10), nil
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
