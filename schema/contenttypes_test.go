package schema

import "testing"

func TestContentTypeOf(t *testing.T) {
	for _, c := range []struct {
		workload   string
		recordType int
		want       string
	}{
		{"Exchange", 2, AuditExchange},
		{"Exchange", 50, AuditExchange},
		{"Exchange", 28, AuditGeneral}, // ThreatIntelligence: Exchange workload, not Audit.Exchange
		{"Exchange", 13, DLPAll},
		{"SharePoint", 6, AuditSharePoint},
		{"OneDrive", 6, AuditSharePoint},
		{"SharePoint", 11, DLPAll},
		{"AzureActiveDirectory", 15, AuditAzureActiveDirectory},
		{"MicrosoftTeams", 25, AuditGeneral},
		{"", 0, AuditGeneral},
	} {
		if got := ContentTypeOf(c.workload, c.recordType); got != c.want {
			t.Errorf("ContentTypeOf(%q, %d) = %s, want %s", c.workload, c.recordType, got, c.want)
		}
	}
	seen := map[string]bool{}
	catchAll := 0
	for _, c := range ContentTypes {
		if seen[c.Name] {
			t.Errorf("%s listed twice", c.Name)
		}
		seen[c.Name] = true
		if c.CatchAll {
			catchAll++
		}
		if got, ok := LookupContentType(c.Name); !ok || got.Name != c.Name {
			t.Errorf("LookupContentType(%s) = %v, %v", c.Name, got, ok)
		}
	}
	if catchAll != 1 {
		t.Errorf("%d catch-all content types, want 1", catchAll)
	}
}
