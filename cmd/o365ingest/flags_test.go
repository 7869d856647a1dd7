package main

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFlagsStandAnywhere(t *testing.T) {
	for _, c := range []struct {
		name       string
		args       []string
		sink, dsn  string
		yes        bool
		positional []string
	}{
		{"flags before the arguments", []string{"--sink", "postgres", "--dsn", "D", "a.json"}, "postgres", "D", false, []string{"a.json"}},
		{"flags after the arguments", []string{"a.json", "--sink", "postgres", "--dsn=D"}, "postgres", "D", false, []string{"a.json"}},
		{"flags between the arguments", []string{"a.json", "--yes", "b.json", "-sink", "mysql"}, "mysql", "", true, []string{"a.json", "b.json"}},
		{"-- ends the flags", []string{"--sink", "sqlite", "--", "--dsn", "-x.json"}, "sqlite", "", false, []string{"--dsn", "-x.json"}},
		{"-- after an argument ends the flags", []string{"a.json", "--", "--yes"}, "", "", false, []string{"a.json", "--yes"}},
		{"a flag's value -- is a value, not the end", []string{"--dsn", "--", "a.json", "--yes"}, "", "--", true, []string{"a.json"}},
		{"a boolean flag takes no value", []string{"--yes", "a.json"}, "", "", true, []string{"a.json"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			sinkName := fs.String("sink", "", "")
			dsn := fs.String("dsn", "", "")
			yes := fs.Bool("yes", false, "")
			if err := parseInterspersed(fs, c.args); err != nil {
				t.Fatal(err)
			}
			if *sinkName != c.sink || *dsn != c.dsn || *yes != c.yes || !slices.Equal(fs.Args(), c.positional) {
				t.Errorf("sink %q dsn %q yes %v args %q; want %q %q %v %q", *sinkName, *dsn, *yes, fs.Args(), c.sink, c.dsn, c.yes, c.positional)
			}
		})
	}
}

func TestCommandsTakeFlagsAfterTheirArguments(t *testing.T) {
	t.Run("subscriptions stop --content-type DLP.All stops only that content type", func(t *testing.T) {
		cfg, _ := emulatedTenant(t, "")
		if code, out := runCLI(t, "--config", cfg, "subscriptions", "start"); code != exitOK {
			t.Fatalf("subscriptions start exited %d:\n%s", code, out)
		}
		code, out := runCLI(t, "--config", cfg, "subscriptions", "stop", "--content-type", "DLP.All")
		if code != exitOK {
			t.Fatalf("subscriptions stop --content-type DLP.All exited %d:\n%s", code, out)
		}
		code, out = runCLI(t, "--config", cfg, "subscriptions", "list")
		if code != exitOK || strings.Count(out, "enabled") != 4 || !strings.Contains(out, "DLP.All") {
			t.Fatalf("after stopping DLP.All, subscriptions list exited %d, want 4 enabled:\n%s", code, out)
		}
	})
	t.Run("import FILE --sink S --dsn D loads into D", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "records.jsonl")
		if err := os.WriteFile(file, []byte(`{"Id":"6f1c1a52-0000-4000-8000-000000000001","CreationTime":"2026-11-20T10:00:00","Operation":"FileAccessed","OrganizationId":"7b1f4c2e-3a9d-4e61-b0c8-2f5d9a6e1c47","RecordType":6,"UserType":0,"Workload":"SharePoint","UserId":"a@contoso.example"}`+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		db := filepath.Join(dir, "elsewhere.db")
		code, out := runCLI(t, "import", file, "--sink", "sqlite", "--dsn", db)
		if code != exitOK {
			t.Fatalf("import FILE --sink sqlite --dsn D exited %d:\n%s", code, out)
		}
		if got := countRows(t, "sqlite", db, "audit_record"); got != 1 {
			t.Fatalf("%s holds %d records, want 1:\n%s", db, got, out)
		}
	})
	t.Run("migrate takes its action before, between or after the flags", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "m.db")
		for _, args := range [][]string{
			{"migrate", "up", "--sink", "sqlite", "--dsn", db},
			{"migrate", "--sink", "sqlite", "status", "--dsn", db},
			{"migrate", "--sink", "sqlite", "--dsn", db, "status"},
		} {
			if code, out := runCLI(t, args...); code != exitOK {
				t.Fatalf("%q exited %d:\n%s", args, code, out)
			}
		}
	})
}
