package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/o365ingest/o365ingest/ingest/escape"
)

func cmdSubscriptions(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("subscriptions", flag.ContinueOnError)
	var tenants, types listFlag
	fs.Var(&tenants, "tenant", "only these configured tenants (default all)")
	fs.Var(&types, "content-type", "only these content types (default: each tenant's content_types)")
	if code, ok := parseFlags(fs, env, args, "subscriptions list|start|stop [--tenant NAME] [--content-type T]"); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return usageError(env, "subscriptions needs one of list, start, stop")
	}
	action := fs.Arg(0)
	if action != "list" && action != "start" && action != "stop" {
		return usageError(env, "unknown subscriptions action %q (want list, start or stop)", action)
	}
	cfg, err := loadConfig(env)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest:", err)
		return exitUsage
	}
	if err := cfg.ValidateForIngest(); err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest:", err)
		return exitUsage
	}
	code := exitOK
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	if action == "list" {
		fmt.Fprintln(tw, "TENANT\tCONTENT TYPE\tSTATUS\tWEBHOOK")
	}
	for _, t := range cfg.Tenants {
		if len(tenants) > 0 && !contains(tenants, t.Name) {
			continue
		}
		cl, err := clientFor(t, cfg, env.Logger)
		if err != nil {
			fmt.Fprintln(env.Stderr, "o365ingest:", err)
			return exitUsage
		}
		cts := t.ContentTypes
		if len(types) > 0 {
			cts = types
		}
		switch action {
		case "list":
			subs, err := cl.ListSubscriptions(ctx)
			if err != nil {
				fmt.Fprintf(env.Stderr, "o365ingest: tenant %s: %v\n", t.Name, err)
				code = exitFailure
				continue
			}
			for _, s := range subs {
				hook := "-"
				if s.Webhook != nil {
					hook = s.Webhook.Address
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, escape.TerminalCell(s.ContentType), escape.TerminalCell(s.Status), escape.TerminalCell(hook))
			}
		case "start", "stop":
			for _, ct := range cts {
				var err error
				if action == "start" {
					err = cl.StartSubscription(ctx, ct)
				} else {
					err = cl.StopSubscription(ctx, ct)
				}
				if err != nil {
					fmt.Fprintf(env.Stderr, "o365ingest: tenant %s: %s %s: %v\n", t.Name, action, ct, err)
					code = exitFailure
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%sed\n", t.Name, ct, map[string]string{"start": "start", "stop": "stopp"}[action])
			}
		}
	}
	return code
}
