package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/auditquery"
	"github.com/o365ingest/o365ingest/ingest/config"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/schema"
)

// ledgerOpenWindows makes every history source write a window whose query it created
// to the ledger (failed, reason "query open: …") until the window loads, so status
// names the windows a crash or a stop left open.
func ledgerOpenWindows(ts []pipeline.Tenant, s sink.Sink, log *slog.Logger) {
	for _, t := range ts {
		src, ok := t.Source.(*auditquery.Source)
		if !ok {
			continue
		}
		tenantID := t.TenantID
		src.OnOpen(func(ctx context.Context, w api.ContentBlob, reason string) {
			mark := schema.Blob{TenantID: tenantID, ContentType: w.ContentType, ContentID: w.ContentID, Created: w.Created,
				Status: schema.BlobFailed, Reason: reason, LoadedAt: time.Now().UTC()}
			var err error
			for i := 0; i < 3; i++ { // a deadlock beside the loads on MariaDB is retried
				if err = s.MarkBlob(context.WithoutCancel(ctx), mark); err == nil {
					return
				}
				time.Sleep(time.Duration(100<<i) * time.Millisecond)
			}
			if err != nil {
				log.Warn("recording an open audit log query window in the ledger", "window", w.ContentID, "err", err)
			}
		})
	}
}

// feedDays is how far back the Management Activity API serves content.
const feedDays = 7 * 24 * time.Hour

// historyTenants builds the history source (Graph's audit log query API) of every
// tenant with audit_search: true, optionally only those named. Tenants of a cloud
// without the API are skipped with a warning.
func historyTenants(cfg *config.Config, only []string, log *slog.Logger) ([]pipeline.Tenant, error) {
	var out []pipeline.Tenant
	for _, t := range cfg.Tenants {
		if !t.AuditSearch || (len(only) > 0 && !contains(only, t.Name)) {
			continue
		}
		if ok, why := auditquery.Available(api.Cloud(t.Cloud)); !ok {
			log.Warn("audit_search: "+why+"; the history of this tenant is not loaded", "tenant", t.Name)
			continue
		}
		src, err := historySource(t, log)
		if err != nil {
			return nil, err
		}
		out = append(out, pipeline.Tenant{Name: t.Name, TenantID: t.TenantID, ContentTypes: t.ContentTypes, Source: src})
	}
	return out, nil
}

// historySource is the audit log query source of a tenant, with the tenant's own
// credential (not the remediation app's) and a Graph token.
func historySource(t config.Tenant, log *slog.Logger) (*auditquery.Source, error) {
	own := t
	own.Remediation = nil
	gc, err := graphClientFor(own, log)
	if err != nil {
		return nil, fmt.Errorf("tenant %s: audit_search: %w", t.Name, err)
	}
	return auditquery.New(auditquery.Config{TenantID: t.TenantID, Graph: gc, Logger: log.With("tenant", t.Name, "source", "audit log query")})
}
