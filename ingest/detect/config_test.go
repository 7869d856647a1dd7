package detect_test

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
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

// TestRulesAreDocumented keeps the registry complete: every rule has a severity, a
// description, a MITRE ATT&CK technique and the public rules it matches.
func TestRulesAreDocumented(t *testing.T) {
	rules := detect.Rules()
	if len(rules) < 29 {
		t.Errorf("%d rules, want at least 29", len(rules))
	}
	seen := map[string]bool{}
	for _, r := range rules {
		if r.Severity == "" || len(r.Description) < 20 || !regexp.MustCompile(`^T\d{4}(\.\d{3})? `).MatchString(r.Technique) || len(r.Anchors) == 0 {
			t.Errorf("rule %s lacks a severity, description, technique or anchors: %+v", r.Name, r)
		}
		if seen[r.Name] {
			t.Errorf("rule %s registered twice", r.Name)
		}
		seen[r.Name] = true
	}
}

var update = flag.Bool("update", false, "rewrite README.md's rule table from the registry")

// ruleTable renders the README's rule table from the registry.
func ruleTable() string {
	var b strings.Builder
	b.WriteString("| rule | severity | fires on | MITRE ATT&CK | matches (anchor rules) |\n|---|---|---|---|---|\n")
	for _, r := range detect.Rules() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.Name, r.Severity, strings.ReplaceAll(r.Description, "|", "\\|"), r.Technique, strings.Join(r.Anchors, "; "))
	}
	return b.String()
}

// TestReadmeRuleTable: README.md's rule table is the registry's (rendered by
// ruleTable; go test -run TestReadmeRuleTable -update rewrites it), so a rule is
// documented exactly when it is registered.
func TestReadmeRuleTable(t *testing.T) {
	const begin, end = "<!-- rules:begin (generated from the registry: go test ./ingest/detect -run TestReadmeRuleTable -update) -->\n", "<!-- rules:end -->"
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the rule table markers")
	}
	want := ruleTable()
	if got := s[i+len(begin) : j]; got != want {
		if *update {
			if err := os.WriteFile("README.md", []byte(s[:i+len(begin)]+want+s[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README.md's rule table differs from the registry; run go test ./ingest/detect -run TestReadmeRuleTable -update")
	}
}

// TestExampleConfigListsEveryRule: config.example.yaml's disabled comment names every
// registered rule and no other.
func TestExampleConfigListsEveryRule(t *testing.T) {
	b, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "# disabled: rules that do not run. Rules:")
	j := strings.Index(s[i:], "Default: [].")
	if i < 0 || j < 0 {
		t.Fatal("config.example.yaml lacks the detect.disabled comment")
	}
	listed := regexp.MustCompile(`[a-z]+(?:_[a-z]+)+`).FindAllString(strings.ReplaceAll(s[i:i+j], "#", " "), -1)
	var names []string
	for _, n := range listed {
		if n != "do_not" {
			names = append(names, n)
		}
	}
	if want := detect.RuleNames(); !slices.Equal(names, want) {
		t.Errorf("config.example.yaml lists %v,\nthe registry %v", names, want)
	}
}
