package main

import (
	"runtime/debug"

	"github.com/o365ingest/o365ingest/ingest/config"
)

// applyMemory sets the Go runtime's memory limit from ingest.memory_limit for a process
// loading into driver, unless $GOMEMLIMIT is set (the runtime applied that one, and it
// wins), and returns the settings (the pipeline's record budget, SQLite's bounds).
func applyMemory(env *Env, cfg *config.Config, driver string) config.Memory {
	in := config.Default().Ingest
	if cfg != nil {
		in = cfg.Ingest
	}
	m := in.MemoryFor(driver, env.Getenv)
	if m.RuntimeLimit > 0 {
		debug.SetMemoryLimit(m.RuntimeLimit)
		env.Logger.Debug("memory limit set from ingest.memory_limit", "memory_limit", config.Size(m.Limit).String(),
			"go_limit", config.Size(m.RuntimeLimit).String(), "budget_records", m.Records)
	} else {
		env.Logger.Debug("GOMEMLIMIT is set and wins over ingest.memory_limit for the Go runtime's limit",
			"GOMEMLIMIT", m.GoMemLimit, "budget_records", m.Records)
	}
	return m
}
