package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/o365ingest/o365ingest/ingest/pipeline"
)

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
	files, err := pipeline.ExpandImportArgs(fs.Args())
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest:", err)
		return exitUsage
	}
	cfg, s, code := sf.setup(ctx, env, "import")
	if code != 0 {
		return code
	}
	defer s.Close()
	tenants := map[string]string{}
	for _, t := range cfg.Tenants {
		tenants[t.Name] = t.TenantID
	}
	sum, err := pipeline.Import(ctx, pipeline.ImportOptions{
		Sink: s, Logger: env.Logger, Files: files, TenantID: *tenantID, TenantIDs: tenants, BatchRecords: *batch,
		FileDone: func(f pipeline.FileSummary) {
			fmt.Fprintf(env.Stdout, "import: %s: %s\n", f.File, importCounts(f))
			if f.Err != nil {
				fmt.Fprintf(env.Stderr, "o365ingest: import %s: %v\n", f.File, f.Err)
			}
		},
	})
	fmt.Fprintf(env.Stdout, "import: total files=%d %s\n", len(files), importCounts(sum.Total))
	switch {
	case err != nil:
		fmt.Fprintln(env.Stderr, "o365ingest:", err)
		return exitFailure
	case sum.Interrupted || ctx.Err() != nil:
		return exitInterrupted
	case sum.Failed() > 0:
		return exitFailure
	}
	return exitOK
}

// importCounts renders a file's or the total's counts; not_loaded appears only when a
// chunk could not be loaded, so the line always adds up.
func importCounts(f pipeline.FileSummary) string {
	s := fmt.Sprintf("read=%d loaded=%d already_present=%d quarantined=%d", f.Read, f.Loaded, f.Present, f.Quarantined)
	if f.NotLoaded > 0 {
		s += fmt.Sprintf(" not_loaded=%d", f.NotLoaded)
	}
	return s
}
