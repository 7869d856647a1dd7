package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/o365ingest/o365ingest/ingest/config"
)

// command is one subcommand: its entry point and the line --help shows for it.
type command struct {
	run     func(ctx context.Context, env *Env, args []string) int
	summary string
}

func commands() map[string]command {
	return map[string]command{
		"run":           {cmdRun, "load everything new for every configured tenant and content type (the cron job)"},
		"backfill":      {cmdBackfill, "load an explicit time range (--since 7d, or --from T --to T)"},
		"import":        {cmdImport, "load records from files: API blobs, JSON Lines, audit-search CSV exports, archives"},
		"migrate":       {cmdMigrate, "migrate the database: up, down or status"},
		"status":        {cmdStatus, "coverage per tenant, content type and day; gaps, failures, last run"},
		"doctor":        {cmdDoctor, "check config, credentials, permissions, subscriptions, clock and database"},
		"subscriptions": {cmdSubscriptions, "list, start or stop the API subscriptions"},
		"demo":          {cmdDemo, "run the emulator in-process and backfill it into a local SQLite file"},
		"emulate":       {cmdEmulate, "serve an emulator of the Management Activity API"},
		"version":       {cmdVersion, "print the version (--json: with the VCS revision and time)"},
		"detect":        {cmdDetect, "evaluate the detection rules over records already loaded (--since 7d)"},
		"alerts":        {cmdAlerts, "list stored alerts (--since 7d, --format table|json)"},
		"timeline":      {cmdTimeline, "every record of one user in time order across workloads (--user UPN)"},
		"report":        {cmdReport, "write a self-contained HTML report (--out report.html)"},
		"bench":         {cmdBench, "benchmark the pipeline against the database's bulk-load limit and a row-at-a-time loader"},
		"remediate":     {cmdRemediate, "show, or with --action and --yes execute, the Microsoft Graph remediation of one alert (dry run by default)"},
		"remediations":  {cmdRemediations, "list the remediation actions executed or refused (--alert ID, --format table|json)"},
		"prune":         {cmdPrune, "delete records older than a retention period (--older-than 365d)"},
	}
}

// run parses the global flags (allowed before or after the command name), then runs the
// command. It returns the process exit code.
func run(ctx context.Context, args []string, env *Env) int {
	rest, err := takeGlobalFlags(args, env)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest:", err)
		return exitUsage
	}
	env.ConfigPath = config.ConfigPath(env.ConfigPath, env.Getenv)
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" || rest[0] == "-help" {
		if len(rest) > 1 {
			if c, ok := commands()[rest[1]]; ok {
				env.Logger = newLogger(env.Stderr, "warn", "text")
				return c.run(ctx, env, []string{"--help"})
			}
		}
		usage(env.Stdout)
		if len(rest) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands()[rest[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "o365ingest: unknown command %q\n\n", rest[0])
		usage(env.Stderr)
		return exitUsage
	}
	if env.Logger == nil {
		setLogger(env, env.LogLevel, env.LogFormat)
	}
	code := c.run(ctx, env, rest[1:])
	if ctx.Err() != nil && (code == exitFailure || code == exitIncomplete) {
		// A signal that lands while a command waits on the database or the API (a
		// migration, a lookup) surfaces as that step's failure: it is an interruption,
		// and nothing half-done was committed.
		return exitInterrupted
	}
	return code
}

// takeGlobalFlags removes --config, --log-level and --log-format (either "--x v" or
// "--x=v") from anywhere in args, so they work before or after the command name.
func takeGlobalFlags(args []string, env *Env) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			rest = append(rest, a)
			continue
		}
		var dst *string
		switch name {
		case "config":
			dst = &env.ConfigPath
		case "log-level":
			dst = &env.LogLevel
		case "log-format":
			dst = &env.LogFormat
		default:
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			val = args[i]
		}
		*dst = val
	}
	return rest, nil
}

func usage(w io.Writer) {
	fmt.Fprint(w, `o365ingest pulls Microsoft 365 unified audit logs from the Office 365 Management
Activity API and bulk-loads them into SQL (SQLite, PostgreSQL, MySQL/MariaDB, SQL Server).

Usage:
  o365ingest [--config FILE] [--log-level L] [--log-format F] COMMAND [flags]

Commands:
`)
	cs := commands()
	names := make([]string, 0, len(cs))
	for n := range cs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, cs[n].summary)
	}
	fmt.Fprint(w, `
Global flags (before or after the command):
  --config FILE      YAML config (default: $O365INGEST_CONFIG, else ./o365ingest.yaml if present)
  --log-level L      debug, info, warn or error (default: config, else info)
  --log-format F     json, text or auto: JSON when stderr is not a terminal (default: config, else auto)

Exit codes: 0 ok, 1 failure, 2 usage, 3 ran but some data is known to be missing,
4 interrupted (nothing half-done was committed).

Run "o365ingest COMMAND --help" for a command's flags.
`)
}
