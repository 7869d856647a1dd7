package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect"
)

func cmdAlerts(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("alerts", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	rf := addRangeFlags(fs)
	format := fs.String("format", "table", "output: table or json (an array of alerts with rule, user_id, record_id, creation_time, client_ip, summary, evidence, remediation)")
	rule := fs.String("rule", "", "only this rule")
	user := fs.String("user", "", "only alerts about this user (case-insensitive)")
	if code, ok := parseFlags(fs, env, args, `alerts [--since 7d | --from T --to T] [--format table|json] [--rule R] [--user UPN]

Lists the stored alerts whose record lies in the range, oldest first.`); !ok {
		return code
	}
	from, to, err := rf.resolve(time.Now())
	if err != nil {
		return usageError(env, "alerts: %v", err)
	}
	if *format != "table" && *format != "json" {
		return usageError(env, "alerts: --format %q: want table or json", *format)
	}
	_, s, code := sf.setup(ctx, env, "alerts")
	if code != 0 {
		return code
	}
	defer s.Close()
	alerts, err := detect.List(ctx, s.Handle(), from, to)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: alerts:", err)
		return exitFailure
	}
	var out []detect.Alert
	for _, a := range alerts {
		if (*rule == "" || a.Rule == *rule) && (*user == "" || strings.EqualFold(a.UserID, *user)) {
			out = append(out, a)
		}
	}
	if err := writeAlerts(env.Stdout, *format, out, nil); err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: alerts:", err)
		return exitFailure
	}
	return exitOK
}
