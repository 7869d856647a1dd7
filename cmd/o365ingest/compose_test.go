package main

import (
	"os"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeOrdersSQLServer: compose's sqlserver has a healthcheck, and sqlserver-init
// and ingest-sqlserver wait for it (SQL Server takes tens of seconds to accept logins).
func TestComposeOrdersSQLServer(t *testing.T) {
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Healthcheck *struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
			DependsOn map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if h := c.Services["sqlserver"].Healthcheck; h == nil || len(h.Test) == 0 {
		t.Error("sqlserver has no healthcheck")
	}
	for svc, want := range map[string]map[string]string{
		"sqlserver-init":   {"sqlserver": "service_healthy"},
		"ingest-sqlserver": {"sqlserver": "service_healthy", "sqlserver-init": "service_completed_successfully"},
	} {
		for dep, cond := range want {
			if got := c.Services[svc].DependsOn[dep].Condition; got != cond {
				t.Errorf("%s depends on %s with %q, want %q", svc, dep, got, cond)
			}
		}
	}
}
