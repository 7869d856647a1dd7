package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/auditquery"
	"github.com/o365ingest/o365ingest/ingest/config"
	"github.com/o365ingest/o365ingest/ingest/escape"
	"github.com/o365ingest/o365ingest/ingest/graph"
	"github.com/o365ingest/o365ingest/ingest/sink"
)

// checker prints doctor's verdict lines (what a server said, with control characters
// shown as escapes) and remembers whether any check failed.
type checker struct {
	w      io.Writer
	failed bool
}

func (c *checker) ok(what, format string, args ...any) {
	fmt.Fprintf(c.w, "ok    %s: %s\n", what, escape.Terminal(fmt.Sprintf(format, args...)))
}

func (c *checker) warn(what, format string, args ...any) {
	fmt.Fprintf(c.w, "warn  %s: %s\n", what, escape.Terminal(fmt.Sprintf(format, args...)))
}

func (c *checker) fail(what string, err error, hint string) {
	c.failed = true
	fmt.Fprintf(c.w, "FAIL  %s: %s\n", what, escape.Terminal(fmt.Sprint(err)))
	if hint != "" {
		fmt.Fprintf(c.w, "      likely cause: %s\n", hint)
	}
}

func cmdDoctor(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	var tenants listFlag
	fs.Var(&tenants, "tenant", "only these configured tenants")
	if code, ok := parseFlags(fs, env, args, "doctor [--tenant NAME] [--sink D --dsn X]"); !ok {
		return code
	}
	c := &checker{w: env.Stdout}
	cfg, err := loadConfig(env)
	if err != nil {
		c.fail("config", err, "fix the config file; every problem is listed with its path")
		return exitUsage
	}
	configBad := false
	if err := cfg.ValidateForIngest(); err != nil {
		c.fail("config", err, "")
		configBad = true
	} else {
		c.ok("config", "%d tenant(s)", len(cfg.Tenants))
	}

	driver, dsn := sf.resolve(env, cfg)
	s, err := sink.Open(ctx, driver, dsn)
	if err != nil {
		c.fail("database", fmt.Errorf("%s: %w", sink.Describe(driver, dsn), err), "check the DSN, that the server runs and that the user may connect")
	} else {
		defer s.Close()
		if err := s.Handle().DB.PingContext(ctx); err != nil {
			c.fail("database", fmt.Errorf("%s: %w", sink.Describe(driver, dsn), err), "the server is down or unreachable")
		} else if st, err := sink.MigrateStatus(ctx, s); err != nil {
			c.fail("database", err, "")
		} else {
			applied, pending := 0, 0
			for _, m := range st {
				if m.Applied {
					applied++
				} else {
					pending++
				}
			}
			if pending > 0 {
				c.warn("database", "%s reachable; %d migration(s) applied, %d pending (run `o365ingest migrate up`, or any load command, which migrates first)", sink.Describe(driver, dsn), applied, pending)
			} else {
				c.ok("database", "%s reachable; schema up to date (%d migrations)", sink.Describe(driver, dsn), applied)
			}
		}
	}

	for _, t := range cfg.Tenants {
		if len(tenants) > 0 && !contains(tenants, t.Name) {
			continue
		}
		doctorTenant(ctx, c, env, cfg, t)
		if t.AuditSearch {
			doctorAuditSearch(ctx, c, env, t)
		}
	}
	switch {
	case configBad:
		return exitUsage
	case c.failed:
		return exitFailure
	}
	return exitOK
}

// doctorTimeout bounds each of doctor's requests (the token, the subscriptions, one
// listing per content type): a failing endpoint is reported with its cause within it,
// not retried for minutes.
const doctorTimeout = 15 * time.Second

// doctorClient retries as a check should: a couple of quick attempts, so that the
// last answer (the cause) comes back before doctorTimeout.
func doctorClient(_ config.Tenant, c *api.Config) {
	c.MaxRetries = 2
	c.BackoffBase = 500 * time.Millisecond
	c.BackoffMax = 2 * time.Second
	c.RetryAfterMax = 3 * time.Second
}

// check runs one request of doctor with doctorTimeout; a timeout is reported as
// such, with whatever the last attempt said.
func check(ctx context.Context, f func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	err := f(cctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s (gave up): %w", doctorTimeout, err)
	}
	return err
}

func doctorTenant(ctx context.Context, c *checker, env *Env, cfg *config.Config, t config.Tenant) {
	what := "tenant " + t.Name
	cl, err := clientFor(t, cfg, env.Logger, doctorClient)
	if err != nil {
		c.fail(what, err, "")
		return
	}
	if err := check(ctx, cl.Token); err != nil {
		c.fail(what+": token", err, hintFor(err, t))
		return
	}
	c.ok(what+": token", "acquired for cloud %s", t.Cloud)
	var subs []api.Subscription
	err = check(ctx, func(ctx context.Context) (err error) {
		subs, err = cl.ListSubscriptions(ctx)
		return err
	})
	if err != nil {
		c.fail(what+": subscriptions", err, hintFor(err, t))
		return
	}
	state := map[string]string{}
	for _, s := range subs {
		state[s.ContentType] = s.Status
	}
	if skew, ok := cl.ClockSkew(); ok {
		if skew > time.Minute || skew < -time.Minute {
			c.warn(what+": clock", "local clock differs from the API's by %s; listing windows are computed from the API's clock", skew.Round(time.Second))
		} else {
			c.ok(what+": clock", "skew %s", skew.Round(time.Millisecond))
		}
	}
	now := cl.ServerTime()
	for _, ct := range t.ContentTypes {
		w := what + ": " + ct
		switch state[ct] {
		case "enabled":
		case "":
			// Doctor starts nothing (a start is rate-limited and has effects), but a
			// listing shows whether the app may read this content type at all: an app
			// without ActivityFeed.ReadDlp is refused DLP.All whatever its subscription.
			err := check(ctx, func(ctx context.Context) error {
				_, err := cl.ListContent(ctx, ct, now.Add(-time.Hour), now)
				return err
			})
			if perm, ok := api.MissingPermission(err, ct); ok {
				c.fail(w, fmt.Errorf("missing permission %s: %w", perm, err), hintFor(err, t))
				continue
			}
			c.warn(w, "no subscription; `o365ingest run` starts it (or `o365ingest subscriptions start`). The API serves no content for up to 12 hours after a start")
			continue
		default:
			c.fail(w, fmt.Errorf("subscription is %s", state[ct]), "a subscription disabled by an admin must be started again; content published meanwhile is lost")
			continue
		}
		// Two minutes short of 24 hours: the client allows 24 hours minus a minute, and
		// rounding to whole seconds must never make the window too wide.
		var blobs []api.ContentBlob
		err := check(ctx, func(ctx context.Context) (err error) {
			blobs, err = cl.ListContent(ctx, ct, now.Add(-24*time.Hour+2*time.Minute), now)
			return err
		})
		if perm, ok := api.MissingPermission(err, ct); ok {
			c.fail(w, fmt.Errorf("missing permission %s: %w", perm, err), hintFor(err, t))
			continue
		}
		if err != nil {
			c.fail(w, err, hintFor(err, t))
			continue
		}
		if len(blobs) == 0 {
			c.warn(w, "subscription enabled, but no content in the last 24 hours: normal for a quiet workload or a subscription started under 12 hours ago; otherwise check that unified audit logging is on")
			continue
		}
		c.ok(w, "subscription enabled; %d blob(s) published in the last 24 hours", len(blobs))
	}
}

// hintFor names the likely cause of an API or token failure.
func hintFor(err error, t config.Tenant) string {
	var ae *api.APIError
	if errors.As(err, &ae) && ae.Hint != "" {
		return ae.Hint
	}
	if t.APIURL == "" && t.Cloud == config.CloudCommercial {
		return "if the tenant is in a government cloud, set cloud: gcc, gcchigh or dod"
	}
	return ""
}

// doctorAuditSearch checks what backfill's history needs: a cloud that offers Graph's
// audit log query API, a Graph token, and the permission (listing the queries, which
// needs AuditLogsQuery.Read.All or a per-service AuditLogsQuery-*.Read.All).
func doctorAuditSearch(ctx context.Context, c *checker, env *Env, t config.Tenant) {
	what := "tenant " + t.Name + ": audit_search"
	if ok, why := auditquery.Available(api.Cloud(t.Cloud)); !ok {
		c.fail(what, errors.New(why), "set audit_search: false for this tenant; older records can be exported with Search-UnifiedAuditLog and loaded with `o365ingest import`")
		return
	}
	own := t
	own.Remediation = nil
	gc, err := graphClientFor(own, env.Logger)
	if err != nil {
		c.fail(what, err, "")
		return
	}
	err = check(ctx, func(ctx context.Context) error {
		_, err := gc.Do(ctx, http.MethodGet, "/security/auditLog/queries?$top=1", nil)
		return err
	})
	switch {
	case graph.IsForbidden(err):
		c.fail(what, fmt.Errorf("missing permission %s: %w", auditquery.Permission, err),
			"grant the app the Microsoft Graph application permission "+auditquery.Permission+" (or the per-service AuditLogsQuery-*.Read.All) and give admin consent")
	case err != nil:
		c.fail(what, err, "graph_url is "+orDefault(t.GraphURL, "the cloud's Graph"))
	default:
		c.ok(what, "Graph's audit log query API answers with %s", auditquery.Permission+" (or a per-service permission) granted")
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
