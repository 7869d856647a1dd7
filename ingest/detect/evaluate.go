package detect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// evaluation is one Evaluate call's state.
type evaluation struct {
	cfg      Config
	th       Thresholds
	from, to time.Time
	learned  map[string]domainSet
	checkers map[string]*internalChecker
	allowIPs addrList
	geo      Geo
	alerts   []Alert
	seen     map[string]bool
}

// Evaluate runs the enabled rules over the records of [from, to) in db (a database of
// dialect postgres, mysql, sqlserver or sqlite, migrated), reading the look-back before
// from for the rules that compare with history and the windows before from for the
// rules that count. It returns the alerts whose record lies in [from, to), in time
// order, not yet stored (see Store). It writes nothing.
func Evaluate(ctx context.Context, h sink.Handle, from, to time.Time, cfg Config) ([]Alert, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("detect: empty time range %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if probs := cfg.Validate(); len(probs) > 0 {
		return nil, fmt.Errorf("detect: invalid config: %s", strings.Join(probs, "; "))
	}
	e := &evaluation{cfg: cfg, th: cfg.Thresholds.withDefaults(), from: from.UTC(), to: to.UTC(),
		checkers: map[string]*internalChecker{}, allowIPs: newAddrList(cfg.Allow.Addresses), seen: map[string]bool{}}
	e.geo = cfg.Geo
	if e.geo == nil && cfg.GeoIPFile != "" {
		g, err := OpenGeoIP(cfg.GeoIPFile)
		if err != nil {
			return nil, fmt.Errorf("detect: %w", err)
		}
		defer g.Close()
		e.geo = g
	}
	lookback := e.from.Add(-time.Duration(e.th.LookbackDays) * 24 * time.Hour)
	var err error
	if e.learned, err = learnDomains(ctx, h, lookback, e.to); err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}

	// Sign-ins: the whole look-back, for history.
	if e.on(RuleSigninNewAddress) || e.on(RuleSigninNewCountry) || e.on(RuleSigninSpray) {
		start := e.from.Add(-time.Duration(e.th.SprayWindowMinutes) * time.Minute)
		if e.on(RuleSigninNewAddress) || e.on(RuleSigninNewCountry) {
			start = lookback
		}
		recs, err := loadRecords(ctx, h, signinOps, start, e.to, false)
		if err != nil {
			return nil, fmt.Errorf("detect: sign-ins: %w", err)
		}
		e.signins(recs)
		e.spray(recs)
	}

	// Changes: only the range; they need their properties.
	var ops []string
	for _, o := range [][]string{inboxRuleOps, mailboxOps, transportRuleOps, roleOps, consentOps, mfaOps, permissionOps} {
		ops = append(ops, o...)
	}
	recs, err := loadRecords(ctx, h, ops, e.from, e.to, true)
	if err != nil {
		return nil, fmt.Errorf("detect: changes: %w", err)
	}
	e.inboxRules(recs)
	e.mailboxForwarding(recs)
	e.transportRules(recs)
	e.adminChanges(recs)

	// Files: the counting windows before the range too.
	window := max(e.th.DownloadWindowMinutes, e.th.AnonymousLinkWindowMinutes)
	if e.on(RuleAnonymousLink) || e.on(RuleDownloadBurst) {
		recs, err := loadRecords(ctx, h, slices.Concat(anonLinkOps, downloadOps), e.from.Add(-time.Duration(window)*time.Minute), e.to, false)
		if err != nil {
			return nil, fmt.Errorf("detect: file activity: %w", err)
		}
		e.files(recs)
	}
	if err := ctx.Err(); err != nil {
		return nil, errors.Join(errors.New("detect: interrupted"), err)
	}
	slices.SortStableFunc(e.alerts, func(a, b Alert) int {
		return cmp.Or(a.CreationTime.Compare(b.CreationTime), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.ID, b.ID))
	})
	return e.alerts, nil
}

// on reports whether rule runs.
func (e *evaluation) on(rule string) bool { return e.cfg.enabled(rule) }

func (e *evaluation) inRange(t time.Time) bool { return !t.Before(e.from) && t.Before(e.to) }

// checker returns the internal-recipient checker of a tenant.
func (e *evaluation) checker(tenant string) *internalChecker {
	if c := e.checkers[tenant]; c != nil {
		return c
	}
	c := &internalChecker{domains: domainSet{}, allowAddrs: map[string]bool{}, allowDomains: domainSet{}}
	for d := range e.learned[tenant] {
		c.domains.add(d)
	}
	for _, d := range e.cfg.Domains {
		c.domains.add(d)
	}
	for _, r := range e.cfg.Allow.Recipients {
		r = strings.ToLower(strings.TrimSpace(r))
		if strings.HasPrefix(r, "@") || !strings.Contains(r, "@") {
			c.allowDomains.add(r)
		} else {
			c.allowAddrs[r] = true
		}
	}
	e.checkers[tenant] = c
	return c
}

// Domains returns, per tenant id, the tenant's own domains Evaluate would use for the
// records of [from, to): those of cfg and those learned from the records of the
// look-back (see the package doc). Useful to check what "outside" means.
func Domains(ctx context.Context, h sink.Handle, from, to time.Time, cfg Config) (map[string][]string, error) {
	th := cfg.Thresholds.withDefaults()
	learned, err := learnDomains(ctx, h, from.Add(-time.Duration(th.LookbackDays)*24*time.Hour), to)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	out := map[string][]string{}
	for tenant, set := range learned {
		for _, d := range cfg.Domains {
			set.add(d)
		}
		out[tenant] = set.sorted()
	}
	return out, nil
}

func (e *evaluation) allowedRule(name string) bool {
	for _, a := range e.cfg.Allow.Rules {
		if strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(name)) {
			return true
		}
	}
	return false
}

// country returns the country code of ip, "" when unknown or without GeoIP.
func (e *evaluation) country(ip string) string {
	if e.geo == nil || ip == "" {
		return ""
	}
	return e.geo.Country(ip)
}

// emit raises an alert of rule on one record.
func (e *evaluation) emit(r *record, rule, summary string, evidence map[string]string, remediation []string) {
	e.emitMany(r, []string{r.ID}, rule, summary, evidence, remediation)
}

// emitMany raises an alert of rule resting on ids, r being the one that fired it,
// unless the allow-list drops it.
func (e *evaluation) emitMany(r *record, ids []string, rule, summary string, evidence map[string]string, remediation []string) {
	if !e.on(rule) || !e.inRange(r.Time) {
		return
	}
	for _, u := range e.cfg.Allow.Users {
		if strings.EqualFold(strings.TrimSpace(u), r.UserID) {
			return
		}
	}
	if e.allowIPs.contains(r.ClientIP) {
		return
	}
	id := AlertID(rule, ids...)
	if e.seen[id] {
		return
	}
	e.seen[id] = true
	for k, v := range evidence {
		if v == "" {
			delete(evidence, k)
		}
	}
	e.alerts = append(e.alerts, Alert{
		ID: id, Rule: rule, Severity: severityOf(rule), TenantID: r.TenantID, UserID: r.UserID,
		RecordID: r.ID, RecordIDs: slices.Clone(ids), ClientIP: r.ClientIP, Country: e.country(r.ClientIP),
		CreationTime: r.Time, Summary: summary, Evidence: evidence, Remediation: remediation,
	})
}
