package detect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
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
	// contacts: per tenant, the mail contacts and mail users created in the records,
	// by every name they can be given by (see contactsOf).
	contacts map[string]map[string]string

	// For the rules that read more than their own records (signinHistory).
	ctx      context.Context
	h        sink.Handle
	lookback time.Time
	history  []*record
	loaded   bool
	err      error
	// firstSuccess: per tenant, user and network, the user's first successful sign-in
	// from it (see knownSource).
	firstSuccess map[string]time.Time
}

// signinHistory returns the sign-ins of the look-back and the range (no properties),
// read once.
func (e *evaluation) signinHistory() []*record {
	if !e.loaded {
		e.loaded = true
		recs, err := loadRecords(e.ctx, e.h, signinOps, e.lookback, e.to, false, false)
		if err != nil {
			e.err = fmt.Errorf("sign-in history: %w", err)
		}
		e.history = recs
	}
	return e.history
}

// addr parses the record's client address.
func (r *record) addr() (netip.Addr, error) {
	a, err := netip.ParseAddr(r.ClientIP)
	return a.Unmap(), err
}

// opVariants returns the spellings an operation is read under: as registered, and
// for Entra's activities (those with a space) with and without the trailing period
// and space the unified audit log and the Entra audit log differ by ("Set domain
// authentication." and "Set domain authentication", "Update application – Certificates
// and secrets management " with its trailing space).
func opVariants(op string) []string {
	if !strings.Contains(op, " ") {
		return []string{op}
	}
	base := strings.TrimRight(op, ". ")
	out := []string{op}
	for _, v := range []string{base, base + ".", base + " "} {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// window returns the counting window of a rule that reads one (spanWindow).
func (e *evaluation) window(rule string) time.Duration {
	m := 60
	switch rule {
	case RuleSigninSpray:
		m = e.th.SprayWindowMinutes
	case RuleSigninBruteForce:
		m = e.th.BruteForceWindowMinutes
	case RuleDownloadBurst:
		m = e.th.DownloadWindowMinutes
	case RuleAnonymousLink:
		m = e.th.AnonymousLinkWindowMinutes
	case RuleMassDelete:
		m = e.th.DeleteWindowMinutes
	}
	return time.Duration(m) * time.Minute
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
	e.ctx, e.h, e.lookback = ctx, h, lookback
	var err error
	if e.learned, err = learnDomains(ctx, h, lookback, e.to); err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	if e.on(RuleInboxForwardExternal) || e.on(RuleInboxHide) || e.on(RuleMailboxForwardExternal) || e.on(RuleTransportCopyExternal) {
		if e.contacts, err = loadContacts(ctx, h, e.to); err != nil {
			return nil, fmt.Errorf("detect: %w", err)
		}
	}

	// One read per distinct (start, props, raw) of the enabled rules, then each rule
	// gets the records of its operations, in time order.
	type load struct {
		start      time.Time
		props, raw bool
		only       propEq
	}
	ops := map[load][]string{}
	// canonical maps each spelling of an operation read (Entra's activities come with
	// and without their trailing period, see opVariants) to the registry's.
	canonical := map[string]string{}
	var order []load
	keyOf := func(r Rule) load {
		k := load{start: e.from, props: r.props, raw: r.raw, only: r.only}
		switch r.from {
		case spanWindow:
			k.start = e.from.Add(-e.window(r.Name))
		case spanLookback:
			k.start = lookback
		case spanEver:
			k.start = epoch
		}
		return k
	}
	for _, r := range rules {
		if !e.on(r.Name) {
			continue
		}
		k := keyOf(r)
		if _, ok := ops[k]; !ok {
			order = append(order, k)
		}
		for _, o := range r.ops {
			for _, v := range opVariants(o) {
				if !slices.Contains(ops[k], v) {
					ops[k] = append(ops[k], v)
				}
				if _, dup := canonical[v]; !dup {
					canonical[v] = o
				}
			}
		}
	}
	loaded := map[load][]*record{}
	for _, k := range order {
		var only []propEq
		if k.only != (propEq{}) {
			only = append(only, k.only)
		}
		recs, err := loadRecords(ctx, h, ops[k], k.start, e.to, k.props, k.raw, only...)
		if err != nil {
			return nil, fmt.Errorf("detect: %w", err)
		}
		for _, rec := range recs {
			if c, ok := canonical[rec.Operation]; ok {
				rec.Operation = c
			}
		}
		loaded[k] = recs
	}
	for _, r := range rules {
		if !e.on(r.Name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, errors.Join(errors.New("detect: interrupted"), err)
		}
		var recs []*record
		for _, rec := range loaded[keyOf(r)] {
			if slices.Contains(r.ops, rec.Operation) {
				recs = append(recs, rec)
			}
		}
		r.run(e, recs)
		if e.err != nil {
			return nil, fmt.Errorf("detect: %s: %w", r.Name, e.err)
		}
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
	e.emitEpisode(r, []string{r.ID}, []string{r.ID}, rule, summary, evidence, remediation)
}

// emitMany raises an alert of rule resting on ids, r being the one that fired it.
func (e *evaluation) emitMany(r *record, ids []string, rule, summary string, evidence map[string]string, remediation []string) {
	e.emitEpisode(r, ids, ids, rule, summary, evidence, remediation)
}

// emitEpisode raises an alert of rule, r being the record that fired it, its ID resting
// on idIDs (the records that fired it) and its RecordIDs listing all, unless the
// allow-list drops it or it lies outside the range.
func (e *evaluation) emitEpisode(r *record, idIDs, all []string, rule, summary string, evidence map[string]string, remediation []string) {
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
	id := AlertID(rule, idIDs...)
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
		RecordID: r.ID, RecordIDs: slices.Clone(all), ClientIP: r.ClientIP, Country: e.country(r.ClientIP),
		CreationTime: r.Time, Summary: summary, Evidence: evidence, Remediation: remediation,
	})
}
