package detect

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// Config configures the detections. The zero value is usable: every rule on, default
// thresholds, domains learned from the records, no webhooks. It decodes from YAML
// (snake_case keys); the command's config file holds it under the top-level detect: key.
//
//	detect:
//	  domains: [contoso.com]
//	  disabled: [anonymous_link]
//	  thresholds: {lookback_days: 30, spray_users: 10}
//	  allow:
//	    addresses: [192.0.2.0/24]
//	    recipients: [accountant@partner.example, "@subsidiary.example"]
//	  geoip_file: /var/lib/GeoIP/GeoLite2-Country.mmdb
//	  webhooks:
//	    - {name: soc, url: "https://hooks.slack.com/services/...", format: slack}
type Config struct {
	// Domains are the tenant's own mail domains (subdomains included). Domains learned
	// from the records are added to them (see the package doc).
	Domains []string `yaml:"domains" json:"domains,omitempty"`
	// Disabled names rules that do not run (see Rules).
	Disabled []string `yaml:"disabled" json:"disabled,omitempty"`
	// Thresholds tune the rules that count; zero fields take the defaults.
	Thresholds Thresholds `yaml:"thresholds" json:"thresholds"`
	// Allow lists what is known to be good.
	Allow AllowList `yaml:"allow" json:"allow"`
	// GeoIPFile is a MaxMind GeoLite2/GeoIP2 Country or City database (.mmdb). When set,
	// alerts carry the country of their address, and signin_new_country and
	// impossible_travel run (with a City database, impossible_travel uses distance).
	GeoIPFile string `yaml:"geoip_file" json:"geoip_file,omitempty"`
	// Webhooks receive each new alert once.
	Webhooks []Webhook `yaml:"webhooks" json:"webhooks,omitempty"`

	// Geo, when set, is used instead of opening GeoIPFile (tests, or a caller that
	// keeps the database open across runs).
	Geo Geo `yaml:"-" json:"-"`
}

// Thresholds tune the rules that count or compare with history. A zero field means
// its default (DefaultThresholds).
type Thresholds struct {
	// LookbackDays is how far back "not seen before" looks (signin_new_*). Default 30.
	LookbackDays int `yaml:"lookback_days" json:"lookback_days,omitempty"`
	// SigninMinHistory is how many earlier successful sign-ins a user needs before a
	// new address or country is worth an alert (no baseline, no alert). Default 5.
	SigninMinHistory int `yaml:"signin_min_history" json:"signin_min_history,omitempty"`
	// SharedNetworkUsers: a network (IPv4 /24, IPv6 /48) from which at least this many
	// other users signed in is the organization's (an office, a VPN), never new. Default 3.
	SharedNetworkUsers int `yaml:"shared_network_users" json:"shared_network_users,omitempty"`
	// SprayUsers distinct users failing to sign in from one address within
	// SprayWindowMinutes fire signin_spray. Defaults 5 and 60.
	SprayUsers         int `yaml:"spray_users" json:"spray_users,omitempty"`
	SprayWindowMinutes int `yaml:"spray_window_minutes" json:"spray_window_minutes,omitempty"`
	// DownloadBurst downloads by one user within DownloadWindowMinutes fire
	// download_burst. Defaults 50 and 10.
	DownloadBurst         int `yaml:"download_burst" json:"download_burst,omitempty"`
	DownloadWindowMinutes int `yaml:"download_window_minutes" json:"download_window_minutes,omitempty"`
	// AnonymousLinks anonymous links created by one user within
	// AnonymousLinkWindowMinutes fire anonymous_link. Set 1 to alert on every one.
	// Defaults 3 and 60.
	AnonymousLinks             int `yaml:"anonymous_links" json:"anonymous_links,omitempty"`
	AnonymousLinkWindowMinutes int `yaml:"anonymous_link_window_minutes" json:"anonymous_link_window_minutes,omitempty"`
	// BruteForceFailures failed sign-ins of one user within BruteForceWindowMinutes fire
	// signin_brute_force. Defaults 10 and 30.
	BruteForceFailures      int `yaml:"brute_force_failures" json:"brute_force_failures,omitempty"`
	BruteForceWindowMinutes int `yaml:"brute_force_window_minutes" json:"brute_force_window_minutes,omitempty"`
	// DeleteBurst files or mail items deleted by one user within DeleteWindowMinutes
	// fire mass_delete. Defaults 100 and 10.
	DeleteBurst         int `yaml:"delete_burst" json:"delete_burst,omitempty"`
	DeleteWindowMinutes int `yaml:"delete_window_minutes" json:"delete_window_minutes,omitempty"`
	// TravelWindowMinutes: with a Country (not City) GeoIP database, successful
	// sign-ins of one user from two countries within it fire impossible_travel.
	// Default 120.
	TravelWindowMinutes int `yaml:"travel_window_minutes" json:"travel_window_minutes,omitempty"`
}

// DefaultThresholds are the thresholds a zero field takes.
var DefaultThresholds = Thresholds{
	LookbackDays:               30,
	SigninMinHistory:           5,
	SharedNetworkUsers:         3,
	SprayUsers:                 5,
	SprayWindowMinutes:         60,
	DownloadBurst:              50,
	DownloadWindowMinutes:      10,
	AnonymousLinks:             3,
	AnonymousLinkWindowMinutes: 60,
	BruteForceFailures:         10,
	BruteForceWindowMinutes:    30,
	DeleteBurst:                100,
	DeleteWindowMinutes:        10,
	TravelWindowMinutes:        120,
}

// withDefaults fills zero fields from DefaultThresholds.
func (t Thresholds) withDefaults() Thresholds {
	d := DefaultThresholds
	set := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	set(&d.LookbackDays, t.LookbackDays)
	set(&d.SigninMinHistory, t.SigninMinHistory)
	set(&d.SharedNetworkUsers, t.SharedNetworkUsers)
	set(&d.SprayUsers, t.SprayUsers)
	set(&d.SprayWindowMinutes, t.SprayWindowMinutes)
	set(&d.DownloadBurst, t.DownloadBurst)
	set(&d.DownloadWindowMinutes, t.DownloadWindowMinutes)
	set(&d.AnonymousLinks, t.AnonymousLinks)
	set(&d.AnonymousLinkWindowMinutes, t.AnonymousLinkWindowMinutes)
	set(&d.BruteForceFailures, t.BruteForceFailures)
	set(&d.BruteForceWindowMinutes, t.BruteForceWindowMinutes)
	set(&d.DeleteBurst, t.DeleteBurst)
	set(&d.DeleteWindowMinutes, t.DeleteWindowMinutes)
	set(&d.TravelWindowMinutes, t.TravelWindowMinutes)
	return d
}

// AllowList is what is known to be good. Matching is case-insensitive.
type AllowList struct {
	// Addresses are client IPs or CIDR prefixes; an alert from one is dropped.
	Addresses []string `yaml:"addresses" json:"addresses,omitempty"`
	// Users are UPNs (or other user ids) whose alerts are dropped.
	Users []string `yaml:"users" json:"users,omitempty"`
	// Recipients are mail addresses ("accountant@partner.example") or domains
	// ("partner.example" or "@partner.example") that forwarding may go to.
	Recipients []string `yaml:"recipients" json:"recipients,omitempty"`
	// Rules are inbox-rule or transport-rule names that never alert.
	Rules []string `yaml:"rules" json:"rules,omitempty"`
	// Applications are application names or ids (service principal object ids or app
	// ids) whose consent, credentials, app role grants and mail sync never alert.
	Applications []string `yaml:"applications" json:"applications,omitempty"`
}

// Webhook formats.
const (
	FormatJSON  = "json"
	FormatTeams = "teams"
	FormatSlack = "slack"
)

// Webhook is one receiver of alerts.
type Webhook struct {
	// Name identifies the webhook in the alert_delivery table and in logs; default a
	// hash of the URL. Renaming it (or changing the URL of an unnamed one) sends every
	// stored alert to it again.
	Name string `yaml:"name" json:"name,omitempty"`
	// URL receives a POST per alert. It may hold a token: it is never logged or stored.
	URL string `yaml:"url" json:"-"`
	// Format is json (the alert as a JSON object), teams (an Adaptive Card message, as
	// Teams workflows and incoming webhooks take) or slack (a Block Kit message).
	// Default json.
	Format string `yaml:"format" json:"format,omitempty"`
	// MinSeverity drops alerts below it for this webhook: low (default), medium or high.
	MinSeverity string `yaml:"min_severity" json:"min_severity,omitempty"`
}

// Validate reports every problem of the configuration, each starting with its dotted
// path under detect (for example "webhooks[0].url: must be an http or https URL").
// It does no I/O (the GeoIP file is opened by Evaluate).
func (c *Config) Validate() []string {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	for i, d := range c.Domains {
		if d = normDomain(d); d == "" || strings.ContainsAny(d, " @/") || !strings.Contains(d, ".") {
			add("domains[%d]: %q is not a domain name", i, c.Domains[i])
		}
	}
	for i, r := range c.Disabled {
		if _, ok := ruleByName(r); !ok {
			add("disabled[%d]: unknown rule %q (known: %s)", i, r, strings.Join(RuleNames(), ", "))
		}
	}
	t := c.Thresholds
	for _, f := range []struct {
		name string
		v    int
	}{
		{"lookback_days", t.LookbackDays}, {"signin_min_history", t.SigninMinHistory},
		{"shared_network_users", t.SharedNetworkUsers}, {"spray_users", t.SprayUsers},
		{"spray_window_minutes", t.SprayWindowMinutes}, {"download_burst", t.DownloadBurst},
		{"download_window_minutes", t.DownloadWindowMinutes}, {"anonymous_links", t.AnonymousLinks},
		{"anonymous_link_window_minutes", t.AnonymousLinkWindowMinutes},
		{"brute_force_failures", t.BruteForceFailures}, {"brute_force_window_minutes", t.BruteForceWindowMinutes},
		{"delete_burst", t.DeleteBurst}, {"delete_window_minutes", t.DeleteWindowMinutes},
		{"travel_window_minutes", t.TravelWindowMinutes},
	} {
		if f.v < 0 {
			add("thresholds.%s: must not be negative (0 means the default)", f.name)
		}
	}
	if t.LookbackDays > 366 {
		add("thresholds.lookback_days: %d is more than a year", t.LookbackDays)
	}
	for i, a := range c.Allow.Addresses {
		if _, ok := parseAddrOrPrefix(a); !ok {
			add("allow.addresses[%d]: %q is neither an IP address nor a CIDR prefix", i, a)
		}
	}
	for i, r := range c.Allow.Recipients {
		if strings.TrimSpace(strings.TrimPrefix(r, "@")) == "" {
			add("allow.recipients[%d]: empty", i)
		}
	}
	names := map[string]int{}
	for i, w := range c.Webhooks {
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("webhooks[%d].url: must be an http or https URL", i)
		}
		if f := w.format(); f != FormatJSON && f != FormatTeams && f != FormatSlack {
			add("webhooks[%d].format: %q is not json, teams or slack", i, w.Format)
		}
		if w.MinSeverity != "" && severityRank(w.MinSeverity) == 0 {
			add("webhooks[%d].min_severity: %q is not low, medium or high", i, w.MinSeverity)
		}
		if len(w.Name) > 64 {
			add("webhooks[%d].name: longer than 64 characters", i)
		}
		id := w.ID()
		if j, dup := names[id]; dup {
			add("webhooks[%d]: same name (or URL) as webhooks[%d]", i, j)
		}
		names[id] = i
	}
	return probs
}

func (w Webhook) format() string {
	if w.Format == "" {
		return FormatJSON
	}
	return strings.ToLower(w.Format)
}

// ID is the webhook's key in alert_delivery: its Name, else "url-" and the first 16
// hex digits of the sha256 of its URL.
func (w Webhook) ID() string {
	if w.Name != "" {
		return w.Name
	}
	return "url-" + hashHex(w.URL)[:16]
}

// enabled reports whether rule runs under c.
func (c *Config) enabled(rule string) bool {
	return !slices.ContainsFunc(c.Disabled, func(s string) bool { return strings.EqualFold(s, rule) })
}

func parseAddrOrPrefix(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}
