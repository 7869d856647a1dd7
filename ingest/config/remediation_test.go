package config

import (
	"strings"
	"testing"
)

func TestRemediationBlock(t *testing.T) {
	const head = `tenants:
  - name: contoso
    tenant_id: 00000000-0000-0000-0000-000000000001
    client_id: 00000000-0000-0000-0000-000000000002
    client_secret: ingest-secret
`
	cases := []struct {
		name, yaml string
		want       []string // problems, by path and text
	}{
		{"a separate app with a secret loads", `    graph_url: http://127.0.0.1:8365
    remediation:
      client_id: 00000000-0000-0000-0000-000000000003
      client_secret: ${REMEDIATION_SECRET}
`, nil},
		{"the client id is required", `    remediation:
      client_secret: x
`, []string{"tenants[0].remediation.client_id: required"}},
		{"the ingest app itself is refused", `    remediation:
      client_id: 00000000-0000-0000-0000-000000000002
      client_secret: x
`, []string{"tenants[0].remediation.client_id: 00000000-0000-0000-0000-000000000002 is the ingest app itself"}},
		{"a credential is required", `    remediation:
      client_id: 00000000-0000-0000-0000-000000000003
`, []string{"tenants[0].remediation.client_secret: required"}},
		{"graph_url follows the api_url rules", `    graph_url: http://graph.example.com
`, []string{"tenants[0].graph_url:", "http is allowed only for a loopback host"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(head+c.yaml), func(k string) string {
				if k == "REMEDIATION_SECRET" {
					return "remediation-secret"
				}
				return ""
			})
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				cred := cfg.Tenants[0].RemediationCredential()
				if cred.ClientID != "00000000-0000-0000-0000-000000000003" || cred.ClientSecret.Reveal() != "remediation-secret" || cred.TenantID != cfg.Tenants[0].TenantID {
					t.Errorf("remediation credential %s/%v, want the remediation app's", cred.ClientID, cred.ClientSecret.IsSet())
				}
				if cfg.Tenants[0].GraphURL != "http://127.0.0.1:8365" {
					t.Errorf("graph_url %q", cfg.Tenants[0].GraphURL)
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded; want %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	t.Run("without the block remediation uses the tenant's own credential", func(t *testing.T) {
		cfg, err := Parse([]byte(head), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		if cred := cfg.Tenants[0].RemediationCredential(); cred.ClientID != "00000000-0000-0000-0000-000000000002" || cred.ClientSecret.Reveal() != "ingest-secret" {
			t.Errorf("got %s", cred.ClientID)
		}
	})
}
