package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/config"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
)

// clientHook adjusts a tenant's client config before the client is built.
type clientHook func(config.Tenant, *api.Config)

// clientFor builds the API client of one configured tenant.
func clientFor(t config.Tenant, cfg *config.Config, log *slog.Logger, hooks ...clientHook) (*api.Client, error) {
	c := api.Config{
		TenantID:     t.TenantID,
		ClientID:     t.ClientID,
		ClientSecret: t.ClientSecret.Reveal(),
		Cloud:        api.Cloud(t.Cloud),
		APIURL:       t.APIURL,
		LoginURL:     t.LoginURL,
		PublisherID:  t.PublisherID,
		RateLimit:    cfg.Ingest.RateLimit,

		MaxBlobBytes:    cfg.Ingest.MaxBlobBytes.Bytes(),
		MaxRecordBytes:  int(cfg.Ingest.MaxRecordBytes.Bytes()),
		IdleTimeout:     cfg.Ingest.IdleTimeout.Std(),
		BlobTimeout:     cfg.Ingest.BlobTimeout.Std(),
		MaxListingPages: cfg.Ingest.MaxListingPages,
		Logger:          log.With("tenant", t.Name),
	}
	if t.CertificateFile != "" {
		cert, err := api.LoadCertificate(t.CertificateFile, t.PrivateKeyFile, t.CertificatePassword.Reveal())
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %w", t.Name, err)
		}
		c.Certificate = cert
	}
	for _, h := range hooks {
		h(t, &c)
	}
	return api.New(c)
}

// pipelineTenants builds the pipeline's tenants, optionally only those named.
func pipelineTenants(cfg *config.Config, only []string, log *slog.Logger, hooks ...clientHook) ([]pipeline.Tenant, error) {
	var out []pipeline.Tenant
	for _, t := range cfg.Tenants {
		if len(only) > 0 && !contains(only, t.Name) {
			continue
		}
		c, err := clientFor(t, cfg, log, hooks...)
		if err != nil {
			return nil, err
		}
		out = append(out, pipeline.Tenant{Name: t.Name, TenantID: t.TenantID, ContentTypes: t.ContentTypes, Source: pipeline.APISource{Client: c}})
	}
	if len(only) > 0 && len(out) != len(only) {
		return nil, fmt.Errorf("--tenant %s: not every name is a configured tenant", strings.Join(only, ","))
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
