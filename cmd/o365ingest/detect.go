package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/escape"
)

func cmdDetect(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("detect", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	rf := addRangeFlags(fs)
	format := fs.String("format", "table", "output: table or json (the alerts found, new or not)")
	noDeliver := fs.Bool("no-deliver", false, "store the alerts but do not send them to the configured webhooks")
	if code, ok := parseFlags(fs, env, args, `detect [--since 7d | --from T --to T] [--format table|json] [--no-deliver]

Evaluates the detection rules (listed in ingest/detect/README.md)
on records already loaded, fetched or imported, over the range; stores the alerts (each once,
however often it runs) and sends the new ones, and any whose delivery failed before, to the
webhooks configured under detect.webhooks.`); !ok {
		return code
	}
	from, to, err := rf.resolve(time.Now())
	if err != nil {
		return usageError(env, "detect: %v", err)
	}
	cfg, s, code := sf.setup(ctx, env, "detect")
	if code != 0 {
		return code
	}
	defer s.Close()
	dcfg := cfg.Detect
	alerts, fresh, err := detect.Run(ctx, s.Handle(), dcfg, from, to, !*noDeliver, nil, env.Logger)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: detect:", err)
		return exitFailure
	}
	isNew := map[string]bool{}
	for _, a := range fresh {
		isNew[a.ID] = true
	}
	if err := writeAlerts(env.Stdout, *format, alerts, isNew); err != nil {
		return usageError(env, "detect: %v", err)
	}
	if *format != "json" {
		fmt.Fprintf(env.Stdout, "\n%d alerts from %s to %s, %d new.\n", len(alerts), from.Format(time.RFC3339), to.Format(time.RFC3339), len(fresh))
	}
	return exitOK
}

// writeAlerts prints alerts as a table (record text with control characters shown as
// escapes) or a JSON array; isNew marks the rows of a table that were not stored
// before (nil: no marks).
func writeAlerts(w io.Writer, format string, alerts []detect.Alert, isNew map[string]bool) error {
	switch format {
	case "json":
		if alerts == nil {
			alerts = []detect.Alert{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(alerts)
	case "table", "":
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTIME\tSEVERITY\tRULE\tUSER\tADDRESS\tSUMMARY")
		for _, a := range alerts {
			mark := ""
			if isNew[a.ID] {
				mark = "NEW "
			}
			ip := a.ClientIP
			if a.Country != "" {
				ip += " (" + a.Country + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s%s\n", a.ID[:min(12, len(a.ID))], a.CreationTime.UTC().Format("2006-01-02 15:04:05"), a.Severity, a.Rule,
				escape.TerminalCell(a.UserID), escape.TerminalCell(ip), mark, escape.TerminalCell(a.Summary))
		}
		if len(alerts) == 0 {
			fmt.Fprintln(tw, "(none)")
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown format %q (want table or json)", format)
}

// rangeFlags are --since, --from and --to of the commands that read a time range.
type rangeFlags struct{ since, from, to string }

func addRangeFlags(fs *flag.FlagSet) *rangeFlags {
	rf := &rangeFlags{}
	fs.StringVar(&rf.since, "since", "7d", "how far back from now (7d, 36h, 90m); ignored with --from")
	fs.StringVar(&rf.from, "from", "", "start of the range, inclusive (RFC 3339 or 2026-11-20), UTC")
	fs.StringVar(&rf.to, "to", "", "end of the range, exclusive (default now)")
	return rf
}

// resolve returns the range [from, to).
func (rf *rangeFlags) resolve(now time.Time) (from, to time.Time, err error) {
	to = now.UTC()
	if rf.to != "" {
		if to, err = parseTime(rf.to); err != nil {
			return
		}
	}
	if rf.from != "" {
		from, err = parseTime(rf.from)
	} else {
		var d time.Duration
		d, err = parseSince(rf.since)
		from = to.Add(-d)
	}
	if err == nil && !to.After(from) {
		err = fmt.Errorf("--from %s is not before --to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return
}
