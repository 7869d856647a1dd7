package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/recfile"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/stop"
	"github.com/o365ingest/o365ingest/schema"
)

// ImportOptions configure an import of record files: files are a source of the
// pipeline like the API, each file a series of chunks of BatchRecords records that load
// as blobs do, each with its ledger entry, through the same load path (one transaction a
// chunk, a value the database refuses quarantined with its reason, retries over a
// dropped connection).
type ImportOptions struct {
	Sink   sink.Sink
	Logger *slog.Logger
	// Files are the record files (see ExpandImportArgs).
	Files []string
	// TenantID is stored with every record that names none (default: each record's
	// OrganizationId; chunks are ledgered under "import" then).
	TenantID string
	// TenantIDs maps configured tenant names to their ids, for archive paths
	// (<tenant>/<content type>/<day>/<contentId>.json.gz).
	TenantIDs map[string]string
	// BatchRecords is how many records one chunk (one transaction) holds (default 5000).
	BatchRecords int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// FileDone, when set, is called with each file's summary as it is done.
	FileDone func(FileSummary)
}

// FileSummary is what an import did with one file. It always adds up:
// Read = Loaded + Present + Quarantined + NotLoaded.
type FileSummary struct {
	File string
	// Read counts the records read (damaged ones too).
	Read int
	// Loaded were new; Present were stored already (a repeated import, or repeated in
	// the file); Quarantined are kept in quarantine with their reason (now or by an
	// earlier import of the same file).
	Loaded, Present, Quarantined int
	// NotLoaded counts the records of chunks the database did not take (Err says why).
	NotLoaded int
	// Chunks and Known count the file's chunks and those the ledger already had.
	Chunks, Known int
	Err           error
}

// ImportSummary is what an import did with all its files.
type ImportSummary struct {
	Files []FileSummary
	Total FileSummary
	// Interrupted is set when ctx was cancelled before every file was read.
	Interrupted bool
}

// Failed counts the files that did not load completely.
func (s *ImportSummary) Failed() int {
	n := 0
	for _, f := range s.Files {
		if f.Err != nil {
			n++
		}
	}
	return n
}

// Import loads record files into the sink (see ImportOptions) and writes the run to the
// run log (command import). A chunk the ledger already has is read, not written again;
// its records count as present or quarantined, so a repeated import adds up as the first
// did. The error is for problems that stop the whole import (the run log unreachable);
// a file that cannot be read completely is in its FileSummary.
func Import(ctx context.Context, o ImportOptions) (ImportSummary, error) {
	if o.BatchRecords <= 0 {
		o.BatchRecords = 5000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var sum ImportSummary
	start := o.Now()
	var runID string
	err := retryDB(ctx, func() (err error) {
		runID, err = startRun(ctx, o.Sink, "import", start)
		return err
	})
	if err != nil {
		return sum, fmt.Errorf("import: recording the run: %w", err)
	}
	for _, f := range o.Files {
		if ctx.Err() != nil {
			sum.Interrupted = true
			break
		}
		fs := importFile(ctx, o, f)
		sum.Files = append(sum.Files, fs)
		t := &sum.Total
		t.Read, t.Loaded, t.Present, t.Quarantined, t.NotLoaded = t.Read+fs.Read, t.Loaded+fs.Loaded, t.Present+fs.Present, t.Quarantined+fs.Quarantined, t.NotLoaded+fs.NotLoaded
		t.Chunks, t.Known = t.Chunks+fs.Chunks, t.Known+fs.Known
		if o.FileDone != nil {
			o.FileDone(fs)
		}
		if ctx.Err() != nil {
			sum.Interrupted = true
		}
	}
	run := Summary{BlobsListed: sum.Total.Chunks, BlobsSkipped: sum.Total.Known, RecordsLoaded: sum.Total.Loaded,
		RecordsDuplicate: sum.Total.Present, RecordsQuarantined: sum.Total.Quarantined, Interrupted: sum.Interrupted}
	for _, f := range sum.Files {
		if f.Err != nil {
			run.Errors = append(run.Errors, fmt.Errorf("%s: %w", f.File, f.Err))
			run.BlobsFailed++
		}
	}
	run.BlobsLoaded = sum.Total.Chunks - sum.Total.Known - run.BlobsFailed
	fctx, stopFinishing := stop.Finishing(ctx)
	defer stopFinishing()
	if err := retryDB(fctx, func() error { return finishRun(fctx, o.Sink, runID, o.Now(), &run) }); err != nil {
		return sum, fmt.Errorf("import: recording the end of the run: %w", err)
	}
	return sum, nil
}

// importFile reads one file chunk by chunk and loads each chunk.
func importFile(ctx context.Context, o ImportOptions, path string) FileSummary {
	fs := FileSummary{File: path}
	hash, err := fileHash(path)
	if err != nil {
		fs.Err = err
		return fs
	}
	r, closer, err := recfile.Open(path)
	if err != nil {
		fs.Err = err
		return fs
	}
	defer closer.Close()
	c := chunker{o: o, r: r, path: path, contentType: "import", tenantID: o.TenantID,
		idBase: "import:" + hash[:32] + "@", now: o.Now().UTC()}
	if tenant, ct, id, ok := archiveOrigin(path, o.TenantIDs); ok {
		c.contentType, c.archiveID = ct, id
		if c.tenantID == "" {
			c.tenantID = tenant
		}
	}
	c.blobTenant = c.tenantID
	if c.blobTenant == "" {
		c.blobTenant = "import"
	}
	log := o.Logger.With("file", path)
	for {
		chunk, n, done, err := c.next()
		fs.Read += n
		if len(chunk.Records)+len(chunk.Quarantined) > 0 {
			fs.Chunks++
			loadErr := loadChunk(ctx, o.Sink, chunk, &fs, log)
			if loadErr != nil {
				fs.NotLoaded += len(chunk.Records) + len(chunk.Quarantined)
				if fs.Err == nil {
					fs.Err = loadErr
				}
				return fs
			}
		}
		if err != nil {
			fs.Err = err
			return fs
		}
		if done {
			return fs
		}
		if ctx.Err() != nil {
			fs.Err = ctx.Err()
			return fs
		}
	}
}

// chunker cuts a file's records into chunks of BatchRecords, each a blob with its ledger
// entry: content id import:<file sha256>@<position of its first record> (an archived blob
// keeps its contentId), so a repeated import of the file finds its chunks in the ledger.
type chunker struct {
	o                      ImportOptions
	r                      recfile.Reader
	path                   string
	contentType, archiveID string
	tenantID, blobTenant   string
	idBase                 string
	now                    time.Time
	ordinal, chunks        int
}

// next reads the next chunk. n counts the records read; done reports the end of the
// file; err a failure that ends the file (after the chunk, which loads).
func (c *chunker) next() (chunk fetched, n int, done bool, err error) {
	id := c.idBase + fmt.Sprint(c.ordinal)
	if c.archiveID != "" {
		id = c.archiveID
		if c.chunks > 0 {
			id = fmt.Sprintf("%s#%d", c.archiveID, c.chunks)
		}
	}
	c.chunks++
	chunk.Entry = schema.Blob{TenantID: c.blobTenant, ContentType: c.contentType, ContentID: id, Status: schema.BlobLoaded, LoadedAt: c.now}
	src := normalize.Source{TenantID: c.tenantID, ContentType: c.contentType, ContentID: id, IngestedAt: c.now}
	h := sha256.New()
	for n < c.o.BatchRecords {
		raw, rerr := c.r.Next()
		if errors.Is(rerr, io.EOF) {
			done = true
			break
		}
		var damaged *recfile.DamagedError
		if rerr != nil && !errors.As(rerr, &damaged) {
			err = rerr
			break
		}
		if raw == nil && damaged != nil {
			// Damage with no record (an array never closed): nothing to keep, but say so.
			c.o.Logger.Warn("file damaged after its last record", "file", c.path, "reason", damaged.Error())
			continue
		}
		n++
		h.Write(raw)
		chunk.Entry.Bytes += int64(len(raw))
		if damaged != nil {
			chunk.Quarantined = append(chunk.Quarantined, normalize.Quarantine(raw, c.ordinal, errors.New(damaged.Position+": "+damaged.Err.Error())))
		} else if rec, nerr := normalize.Record(raw, src); nerr != nil {
			q := normalize.Quarantine(raw, c.ordinal, nerr)
			q.Reason = c.r.Position() + ": " + q.Reason
			chunk.Quarantined = append(chunk.Quarantined, q)
		} else {
			chunk.Records = append(chunk.Records, rec)
		}
		c.ordinal++
	}
	chunk.Entry.SHA256 = hex.EncodeToString(h.Sum(nil))
	chunk.Entry.Records = len(chunk.Records) + len(chunk.Quarantined)
	chunk.Entry.Quarantined = len(chunk.Quarantined)
	return chunk, n, done, err
}

// loadChunk loads one chunk, unless the ledger has it already, and counts it.
func loadChunk(ctx context.Context, s sink.Sink, chunk fetched, fs *FileSummary, log *slog.Logger) error {
	e := chunk.Entry
	var known map[string]bool
	err := retryDB(ctx, func() (err error) {
		known, err = s.Known(ctx, e.TenantID, []string{e.ContentID})
		return err
	})
	if err != nil {
		return fmt.Errorf("reading the ledger: %w", err)
	}
	if known[e.ContentID] {
		fs.Known++
		fs.Present += len(chunk.Records)
		fs.Quarantined += len(chunk.Quarantined)
		return nil
	}
	// A chunk read is committed even when a signal arrives (one transaction either way).
	fctx, stopFinishing := stop.Finishing(ctx)
	defer stopFinishing()
	lctx, cancel := context.WithTimeout(fctx, 5*time.Minute)
	defer cancel()
	res, final, err := loadRetrying(lctx, s, sink.Batch{Blobs: []sink.Blob{chunk}}, log)
	if err != nil && stop.Hard(ctx) {
		log.Error("hard stop: a chunk in flight was abandoned and rolled back; import the file again", "chunk", e.ContentID, "records", len(chunk.Records)+len(chunk.Quarantined))
		return fmt.Errorf("loading records %s: %w", e.ContentID, err)
	}
	if err != nil {
		e.Status, e.Reason = schema.BlobFailed, "loading: "+err.Error()
		mctx := fctx
		if merr := retryDB(mctx, func() error { return s.MarkBlob(mctx, e) }); merr != nil {
			log.Error("recording the chunk in the ledger", "chunk", e.ContentID, "err", merr)
		}
		return fmt.Errorf("loading records %s: %w", e.ContentID, err)
	}
	fs.Loaded += res.Inserted
	fs.Present += res.Duplicates
	for _, b := range final.Blobs {
		fs.Quarantined += len(b.Quarantined)
	}
	return nil
}

// fileHash returns the sha256 of a file's bytes, hex.
func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ExpandImportArgs turns folders into the record files below them.
func ExpandImportArgs(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := strings.ToLower(d.Name())
			if d.IsDir() || strings.HasPrefix(name, ".") {
				return nil
			}
			for _, ext := range []string{".json", ".jsonl", ".ndjson", ".csv", ".json.gz", ".jsonl.gz", ".csv.gz", ".log"} {
				if strings.HasSuffix(name, ext) {
					files = append(files, p)
					break
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// archiveOrigin recognises a file of the evidence archive
// (<tenant>/<content type>/<yyyy-mm-dd>/<contentId>.json.gz) so its ledger entry gets
// the original content type and id back.
func archiveOrigin(path string, tenantIDs map[string]string) (tenantID, contentType, contentID string, ok bool) {
	base, found := strings.CutSuffix(filepath.Base(path), ".json.gz")
	if !found {
		return "", "", "", false
	}
	day := filepath.Dir(path)
	if _, err := time.Parse("2006-01-02", filepath.Base(day)); err != nil {
		return "", "", "", false
	}
	ctDir := filepath.Dir(day)
	ct := filepath.Base(ctDir)
	if _, known := schema.LookupContentType(ct); !known {
		return "", "", "", false
	}
	tenant := filepath.Base(filepath.Dir(ctDir))
	if id, ok := tenantIDs[tenant]; ok {
		tenant = id
	}
	return tenant, ct, base, true
}
