package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/config"
	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/recfile"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/schema"
)

// importCounts are what import reports per file and in total.
type importCounts struct{ read, loaded, present, quarantined int }

func (c *importCounts) add(o importCounts) {
	c.read += o.read
	c.loaded += o.loaded
	c.present += o.present
	c.quarantined += o.quarantined
}

func cmdImport(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	tenantID := fs.String("tenant-id", "", "tenant id to store with the records (default: each record's OrganizationId)")
	batch := fs.Int("batch", 5000, "records per database transaction")
	if code, ok := parseFlags(fs, env, args, `import [--tenant-id GUID] [--sink D --dsn X] FILE|DIR...

Loads audit records from files into the database, skipping records already present:
  - a JSON array of records (a blob as the API serves it),
  - JSON Lines (one record per line),
  - the audit-log search CSV export of the compliance portal or Search-UnifiedAuditLog
    (columns CreationDate, UserIds, Operations, AuditData),
  - any of these gzip-compressed, and whole folders, such as the evidence archive that
    'run' keeps with ingest.archive_dir (<tenant>/<content type>/<day>/<contentId>.json.gz).
Records that cannot be normalized are quarantined with the reason, never dropped.`); !ok {
		return code
	}
	if fs.NArg() == 0 {
		return usageError(env, "import needs at least one FILE or DIR")
	}
	if *batch <= 0 {
		return usageError(env, "--batch must be positive")
	}
	files, err := expandImportArgs(fs.Args())
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest:", err)
		return exitUsage
	}
	cfg, s, code := sf.setup(ctx, env, "import")
	if code != 0 {
		return code
	}
	defer s.Close()

	var total importCounts
	failed := 0
	for _, f := range files {
		c, err := importFile(ctx, s, cfg, f, *tenantID, *batch)
		total.add(c)
		fmt.Fprintf(env.Stdout, "import: %s: read=%d loaded=%d already_present=%d quarantined=%d\n",
			f, c.read, c.loaded, c.present, c.quarantined)
		if err != nil {
			failed++
			fmt.Fprintf(env.Stderr, "o365ingest: import %s: %v\n", f, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	fmt.Fprintf(env.Stdout, "import: total files=%d read=%d loaded=%d already_present=%d quarantined=%d\n",
		len(files), total.read, total.loaded, total.present, total.quarantined)
	switch {
	case ctx.Err() != nil:
		return exitInterrupted
	case failed > 0:
		return exitFailure
	}
	return exitOK
}

// expandImportArgs turns folders into the record files below them.
func expandImportArgs(args []string) ([]string, error) {
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
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
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
func archiveOrigin(path string, cfg *config.Config) (tenantID, contentType, contentID string, ok bool) {
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
	for _, t := range cfg.Tenants {
		if t.Name == tenant {
			tenant = t.TenantID
		}
	}
	return tenant, ct, base, true
}

// importFile loads one file in transactions of batch records.
func importFile(ctx context.Context, s sink.Sink, cfg *config.Config, path, tenantID string, batch int) (importCounts, error) {
	var c importCounts
	r, closer, err := recfile.Open(path)
	if err != nil {
		return c, err
	}
	defer closer.Close()
	contentType := "import"
	archTenant, archCT, archID, fromArchive := archiveOrigin(path, cfg)
	if fromArchive {
		contentType = archCT
		if tenantID == "" {
			tenantID = archTenant
		}
	}
	now := time.Now().UTC()
	src := normalize.Source{TenantID: tenantID, ContentType: contentType, IngestedAt: now}

	var b sink.Batch
	h := sha256.New()
	var bytes int64
	ordinal, chunk := 0, 0
	flush := func() error {
		if len(b.Records) == 0 && len(b.Quarantined) == 0 {
			return nil
		}
		sum := hex.EncodeToString(h.Sum(nil))
		id := "import:" + sum[:32]
		if fromArchive {
			id = archID
			if chunk > 0 {
				id = fmt.Sprintf("%s#%d", archID, chunk)
			}
		}
		blobTenant := tenantID
		if blobTenant == "" {
			blobTenant = "import"
		}
		b.Blobs = []schema.Blob{{TenantID: blobTenant, ContentType: contentType, ContentID: id, Status: schema.BlobLoaded,
			SHA256: sum, Bytes: bytes, Records: len(b.Records) + len(b.Quarantined), Quarantined: len(b.Quarantined), LoadedAt: now}}
		setContentID(b.Records, id)
		for i := range b.Quarantined {
			b.Quarantined[i].ContentID = id
			if b.Quarantined[i].TenantID == "" {
				b.Quarantined[i].TenantID = blobTenant
			}
		}
		res, err := s.Load(ctx, b)
		if err != nil {
			return fmt.Errorf("loading records %d-%d: %w", ordinal-len(b.Records)-len(b.Quarantined), ordinal-1, err)
		}
		c.loaded += res.Inserted
		c.present += res.Duplicates
		c.quarantined += res.Quarantined
		b = sink.Batch{}
		h.Reset()
		bytes = 0
		chunk++
		return nil
	}
	for {
		raw, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return c, ferr
			}
			return c, err
		}
		c.read++
		h.Write(raw)
		bytes += int64(len(raw))
		rec, nerr := normalize.Record(raw, src)
		if nerr != nil {
			q := normalize.Quarantine(raw, ordinal, nerr)
			b.Quarantined = append(b.Quarantined, sink.QuarantinedRecord{Quarantined: q, TenantID: tenantID, ContentType: contentType})
		} else {
			b.Records = append(b.Records, rec)
		}
		ordinal++
		if len(b.Records)+len(b.Quarantined) >= batch {
			if err := flush(); err != nil {
				return c, err
			}
		}
		if ctx.Err() != nil {
			return c, ctx.Err()
		}
	}
	return c, flush()
}

// setContentID stores the chunk's ledger id in each record's content_id column.
func setContentID(recs []schema.Record, id string) {
	i := schema.AuditRecord.ColumnIndex("content_id")
	for r := range recs {
		recs[r].Values[i] = id
	}
}
