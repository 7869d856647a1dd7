package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/o365ingest/o365ingest/ingest/status"
)

func cmdStatus(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	since := fs.String("since", "7d", "report on content published in the last `D`")
	by := fs.String("by", "day", "granularity: day or hour")
	format := fs.String("format", "table", "output: table or json")
	if code, ok := parseFlags(fs, env, args, "status [--since 7d] [--by day|hour] [--format table|json] [--sink D --dsn X]"); !ok {
		return code
	}
	d, err := parseSince(*since)
	if err != nil {
		return usageError(env, "--since: %v", err)
	}
	if *by != "day" && *by != "hour" {
		return usageError(env, "--by must be day or hour")
	}
	if *format != "table" && *format != "json" {
		return usageError(env, "--format must be table or json")
	}
	_, s, code := sf.setup(ctx, env, "status")
	if code != 0 {
		return code
	}
	defer s.Close()
	rep, err := status.Build(ctx, s.Handle(), time.Now().UTC().Add(-d), *by)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: status:", err)
		return exitFailure
	}
	if *format == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return exitFailure
		}
	} else {
		status.Print(env.Stdout, rep)
	}
	// A unit the last run could not list (a missing permission, the start limit) is
	// data known missing too.
	if len(rep.Missing) > 0 || (rep.LastRun != nil && rep.LastRun.Message != "") {
		return exitIncomplete
	}
	return exitOK
}
