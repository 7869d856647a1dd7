package pipeline

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/internal/private"
)

// archiveFile writes one blob body, gzip-compressed, to a temporary file that becomes
// <dir>/<tenant>/<content type>/<yyyy-mm-dd>/<contentId>.json.gz only when the whole
// body arrived, so the archive never holds a partial blob under its final name.
type archiveFile struct {
	final string
	f     *os.File
	gz    *gzip.Writer
	done  bool
}

// ArchivePath returns where a blob is archived under dir. The date is the blob's
// contentCreated day (UTC). contentIds are opaque; characters unsafe in file names
// are replaced.
func ArchivePath(dir, tenant, contentType string, b api.ContentBlob) string {
	return filepath.Join(dir, safeName(tenant), safeName(contentType), b.Created.UTC().Format("2006-01-02"), safeName(b.ContentID)+".json.gz")
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', '\\', ':', '*', '?', '"', '<', '>', '|', 0:
			return '_'
		}
		return r
	}, s)
}

func createArchive(dir, tenant, contentType string, b api.ContentBlob) (*archiveFile, error) {
	final := ArchivePath(dir, tenant, contentType, b)
	// Owner-only folders (0700); CreateTemp makes the file 0600.
	if err := private.MkdirAll(filepath.Dir(final)); err != nil {
		return nil, fmt.Errorf("creating the archive folder: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(final), ".partial-*")
	if err != nil {
		return nil, fmt.Errorf("creating an archive file: %w", err)
	}
	return &archiveFile{final: final, f: f, gz: gzip.NewWriter(f)}, nil
}

func (a *archiveFile) Write(p []byte) (int, error) { return a.gz.Write(p) }

func (a *archiveFile) commit() error {
	if err := a.gz.Close(); err != nil {
		return err
	}
	if err := a.f.Sync(); err != nil {
		return err
	}
	if err := a.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(a.f.Name(), a.final); err != nil {
		return err
	}
	a.done = true
	return nil
}

// abort removes the temporary file of an archive that was not committed.
func (a *archiveFile) abort() {
	if a.done {
		return
	}
	a.f.Close()
	os.Remove(a.f.Name())
}
