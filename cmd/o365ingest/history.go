package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/auditquery"
	"github.com/o365ingest/o365ingest/ingest/config"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
)

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
