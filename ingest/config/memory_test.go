package config

import (
	"strings"
	"testing"
)

// TestMemoryLimit: ingest.memory_limit defaults to 256 MiB, reads a size, is bounded,
// and sets the runtime limit, the record budget and SQLite's cache and mmap; $GOMEMLIMIT
// wins for the runtime's limit.
func TestMemoryLimit(t *testing.T) {
	if got := Default().Ingest.MemoryLimit; got != 256<<20 {
		t.Errorf("default memory_limit %s, want 256MiB", got)
	}
	cfg, err := Parse([]byte("ingest:\n  memory_limit: 1GiB\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ingest.MemoryLimit != 1<<30 {
		t.Errorf("memory_limit %s, want 1GiB", cfg.Ingest.MemoryLimit)
	}
	_, err = Parse([]byte("ingest:\n  memory_limit: 1MiB\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "ingest.memory_limit") {
		t.Errorf("memory_limit 1MiB: %v, want an out-of-range error naming ingest.memory_limit", err)
	}

	in := Default().Ingest
	m := in.MemoryFor("sqlite3", func(string) string { return "" })
	want := Memory{Limit: 256 << 20, RuntimeLimit: 160 << 20, Records: 8192, SQLiteCache: 16 << 20, SQLiteMmap: 16 << 20}
	if m != want {
		t.Errorf("sqlite: %+v, want %+v", m, want)
	}
	m = in.MemoryFor("postgres", nil)
	want = Memory{Limit: 256 << 20, RuntimeLimit: 160 << 20, Records: 8192}
	if m != want {
		t.Errorf("postgres: %+v, want %+v", m, want)
	}
	m = in.MemoryFor("mysql", func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	})
	if m.RuntimeLimit != 0 || m.GoMemLimit != "1GiB" || m.Records != 8192 {
		t.Errorf("with GOMEMLIMIT: %+v, want no runtime limit of ours, GOMEMLIMIT kept, the budget from memory_limit", m)
	}
	in.MemoryLimit = 64 << 20
	if m := in.MemoryFor("postgres", nil); m.Records != 2048 {
		t.Errorf("64MiB: budget %d records, want 2048", m.Records)
	}
}
