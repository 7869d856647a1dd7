package detect_test

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/o365ingest/o365ingest/ingest/detect"
)

// TestConfigDecodesStrictlyAndValidates decodes the documented example with unknown
// keys rejected, and checks that Validate names each problem by its path.
func TestConfigDecodesStrictlyAndValidates(t *testing.T) {
	good := `
domains: [contoso.com, "@contoso.co.uk"]
disabled: [anonymous_link]
thresholds: {lookback_days: 14, spray_users: 8, download_burst: 100}
allow:
  addresses: [192.0.2.0/24, 2001:db8::1]
  users: [svc-backup@contoso.com]
  recipients: [books@accountant.example, "@subsidiary.example"]
  rules: [Forward to accountant]
  applications: [Contoso CRM]
geoip_file: /var/lib/GeoIP/GeoLite2-Country.mmdb
webhooks:
  - {name: soc, url: "https://hooks.slack.com/services/T/B/x", format: slack, min_severity: medium}
  - {url: "https://example.webhook.office.com/x", format: teams}
  - {url: "http://127.0.0.1:9000/alerts"}
`
	var c detect.Config
	dec := yaml.NewDecoder(strings.NewReader(good))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if probs := c.Validate(); len(probs) > 0 {
		t.Fatalf("valid config reported %v", probs)
	}
	if c.Thresholds.SprayUsers != 8 || c.Webhooks[0].Format != "slack" || c.Allow.Recipients[1] != "@subsidiary.example" {
		t.Errorf("decoded %+v", c)
	}

	dec = yaml.NewDecoder(strings.NewReader("thresholds: {spray_user: 3}\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&detect.Config{}); err == nil {
		t.Error("a misspelled key decoded without error")
	}

	bad := detect.Config{
		Domains:    []string{"not a domain"},
		Disabled:   []string{"no_such_rule"},
		Thresholds: detect.Thresholds{SprayUsers: -1},
		Allow:      detect.AllowList{Addresses: []string{"10.0.0.300"}},
		Webhooks:   []detect.Webhook{{URL: "ftp://x", Format: "xml"}, {Name: "a", URL: "https://a.example"}, {Name: "a", URL: "https://b.example", MinSeverity: "urgent"}},
	}
	probs := strings.Join(bad.Validate(), "\n")
	for _, want := range []string{"domains[0]", "disabled[0]: unknown rule", "thresholds.spray_users", "allow.addresses[0]",
		"webhooks[0].url", "webhooks[0].format", "webhooks[2]: same name", "webhooks[2].min_severity"} {
		if !strings.Contains(probs, want) {
			t.Errorf("Validate did not report %q:\n%s", want, probs)
		}
	}
}

// TestRulesAreDocumented keeps the rule table complete: every rule has a severity and
// a description.
func TestRulesAreDocumented(t *testing.T) {
	rules := detect.Rules()
	if len(rules) != 13 {
		t.Errorf("%d rules, want 13", len(rules))
	}
	for _, r := range rules {
		if r.Severity == "" || len(r.Description) < 20 {
			t.Errorf("rule %s lacks a severity or description", r.Name)
		}
	}
}
