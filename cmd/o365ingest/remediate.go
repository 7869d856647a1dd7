package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/config"
	"github.com/o365ingest/o365ingest/ingest/escape"
	"github.com/o365ingest/o365ingest/ingest/graph"
	"github.com/o365ingest/o365ingest/ingest/remediate"
)

// confirmInput returns where a confirmation is read from and whether the command runs
// on a terminal (stdin and stderr both). Tests replace it.
var confirmInput = func(env *Env) (io.Reader, bool) {
	return os.Stdin, isTerminal(env.Stderr) && term.IsTerminal(int(os.Stdin.Fd()))
}

// osUser names who runs o365ingest, for remediation_action.os_user.
var osUser = func() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

func cmdRemediate(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("remediate", flag.ContinueOnError)
	sf := addSinkFlags(fs)
	alertID := fs.String("alert", "", "the alert to remediate: its id as o365ingest alerts shows it (at least 8 hex digits); one alert per call")
	var actions listFlag
	fs.Var(&actions, "action", "actions to execute, comma-separated or repeated: "+strings.Join(remediate.ActionNames(), ", "))
	yes := fs.Bool("yes", false, "execute the --action(s) without asking (required when not on a terminal)")
	again := fs.Bool("again", false, "run an action even if it already succeeded for this alert")
	tenantName := fs.String("tenant", "", "the configured tenant to act in (default: the one whose tenant_id is the alert's)")
	format := fs.String("format", "text", "output: text, or json ({plan, executed, note, results: [{action, skipped, result, http_status, error, remediation_id}]})")
	if code, ok := parseFlags(fs, env, args, `remediate --alert ID [--action NAME[,NAME]] [--yes] [--again] [--tenant NAME] [--format text|json]

Shows the remediation actions that fit a stored alert and exactly what each would send to
Microsoft Graph (method, URL, body), and sends nothing. With --action and --yes it executes
those actions; on a terminal, --action without --yes asks for confirmation naming the
account. Targets are always taken from the stored alert and its records. Every executed or
refused action is recorded in remediation_action (see o365ingest remediations). An action
that already succeeded for the alert is not run again unless --again.
What Graph cannot do (mailbox forwarding, transport rules, mailbox permissions) is printed
as an Exchange Online PowerShell command marked manual.

Actions: `+strings.Join(remediate.ActionNames(), ", ")+`.
Graph permissions needed: see README "Least privileges".`); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(env, "remediate: unexpected arguments %q (one alert per call: --alert ID)", fs.Args())
	}
	if *alertID == "" {
		return usageError(env, "remediate: --alert ID is required (o365ingest alerts lists them)")
	}
	if strings.ContainsAny(*alertID, ", ") {
		return usageError(env, "remediate: --alert %q: one alert per call", *alertID)
	}
	for _, a := range actions {
		if _, ok := remediate.ActionByName(a); !ok {
			return usageError(env, "remediate: --action %q: unknown action (want %s)", a, strings.Join(remediate.ActionNames(), ", "))
		}
	}
	if *format != "text" && *format != "json" {
		return usageError(env, "remediate: --format %q: want text or json", *format)
	}
	if *yes && len(actions) == 0 {
		return usageError(env, "remediate: --yes needs --action NAME[,NAME]: name the actions to execute")
	}
	cfg, s, code := sf.setup(ctx, env, "remediate")
	if code != 0 {
		return code
	}
	defer s.Close()
	h := s.Handle()

	// The alert's tenant first (without credentials a dry run still shows the calls).
	probe, _, err := remediate.Load(ctx, h, *alertID, "")
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: remediate:", err)
		if errors.Is(err, remediate.ErrNoAlert) {
			return exitUsage
		}
		return exitFailure
	}
	tenant, terr := remediationTenant(cfg, probe.TenantID, *tenantName)
	base, _ := graph.CloudURL(api.CloudCommercial)
	if tenant != nil {
		if base, err = graphBase(*tenant); err != nil {
			fmt.Fprintln(env.Stderr, "o365ingest: remediate:", err)
			return exitUsage
		}
	}
	p, _, err := remediate.Load(ctx, h, *alertID, strings.TrimRight(base, "/")+"/"+graph.Version)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: remediate:", err)
		return exitFailure
	}
	// With --format json the text goes nowhere and one document is written at the end.
	w := env.Stdout
	var doc remediationDoc
	if *format == "json" {
		w = io.Discard
		doc.Plan = p
		defer func() {
			if doc.Results == nil {
				doc.Results = []remediationResult{}
			}
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			enc.Encode(doc)
		}()
	}
	var steps []remediate.Step
	for _, name := range actions {
		st, ok := p.Step(name)
		if !ok {
			why := p.Unavailable[name]
			if why == "" {
				why = "it does not fit a " + p.Rule + " alert"
			}
			return usageError(env, "remediate: --action %s: not possible for alert %s: %s", name, p.AlertID[:12], why)
		}
		if !slices.ContainsFunc(steps, func(x remediate.Step) bool { return x.Action == name }) {
			steps = append(steps, st)
		}
	}
	tenantLabel := ""
	if tenant != nil {
		tenantLabel = tenant.Name
	}
	if len(steps) == 0 {
		printPlan(w, p, nil, tenantLabel)
		if terr != nil {
			doc.Note = fmt.Sprintf("%v; the URLs are the commercial cloud's", terr)
			fmt.Fprintf(w, "\nNote: %s.\n", doc.Note)
		}
		fmt.Fprintf(w, "\nDry run: nothing was sent. To execute: o365ingest remediate --alert %s --action NAME[,NAME] --yes\n", p.AlertID[:12])
		return exitOK
	}
	if terr != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: remediate:", terr)
		return exitUsage
	}
	printPlan(w, p, steps, tenantLabel)
	if !*yes {
		in, tty := confirmInput(env)
		if !tty {
			doc.Note = "not on a terminal: add --yes to execute"
			fmt.Fprintf(w, "\nDry run: nothing was sent. Not on a terminal: add --yes to execute.\n")
			return exitUsage
		}
		var accounts []string
		for _, st := range steps {
			if !slices.Contains(accounts, st.Account) {
				accounts = append(accounts, st.Account)
			}
		}
		names := make([]string, len(steps))
		for i, st := range steps {
			names[i] = st.Action
		}
		fmt.Fprintf(env.Stderr, "\nExecute %s on the account %s in tenant %s? Type yes to confirm: ",
			strings.Join(names, ", "), escape.Terminal(strings.Join(accounts, ", ")), tenant.Name)
		line, _ := bufio.NewReader(in).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "yes" && a != "y" {
			doc.Note = "not confirmed"
			fmt.Fprintln(w, "Not confirmed: nothing was sent.")
			return exitOK
		}
	}
	g, err := graphClientFor(*tenant, env.Logger)
	if err != nil {
		fmt.Fprintln(env.Stderr, "o365ingest: remediate:", err)
		return exitUsage
	}
	who := osUser()
	failed := false
	doc.Executed = true
	fmt.Fprintln(w)
	for _, st := range steps {
		res, err := remediate.Apply(ctx, h, g, p.AlertID, st, *again, who)
		if err != nil {
			fmt.Fprintln(env.Stderr, "o365ingest: remediate:", err)
			return exitFailure
		}
		r := remediationResult{Action: st.Action, Skipped: res.Skipped, Result: res.Outcome.Result, HTTPStatus: res.Outcome.HTTPStatus, RemediationID: res.Row.ID}
		if res.Outcome.Err != nil {
			r.Error = res.Outcome.Err.Error()
		}
		if res.Skipped {
			r.Result, r.RemediationID = res.Previous.Result, res.Previous.ID
		}
		doc.Results = append(doc.Results, r)
		if res.Skipped {
			fmt.Fprintf(w, "%s: already remediated for this alert (%s at %s by %s); nothing sent. --again runs it again.\n",
				st.Action, res.Previous.Result, res.Previous.RunAt.Format(time.RFC3339), escape.Terminal(res.Previous.OSUser))
			continue
		}
		o := res.Outcome
		line := fmt.Sprintf("%s: %s", st.Action, o.Result)
		if o.HTTPStatus != 0 {
			line += fmt.Sprintf(" (HTTP %d)", o.HTTPStatus)
		}
		if o.Err != nil {
			line += ": " + o.Err.Error()
		}
		fmt.Fprintf(w, "%s [remediation %s]\n", escape.Terminal(line), res.Row.ID)
		if o.Result == remediate.ResultRefused || o.Result == remediate.ResultFailed {
			failed = true
		}
		if ctx.Err() != nil {
			return exitInterrupted
		}
	}
	if failed {
		return exitFailure
	}
	return exitOK
}

// remediationDoc is remediate's --format json output.
type remediationDoc struct {
	Plan     *remediate.Plan     `json:"plan"`
	Executed bool                `json:"executed"`
	Note     string              `json:"note,omitempty"`
	Results  []remediationResult `json:"results"`
}

// remediationResult is one action's result; a skipped one (already done) names the
// earlier run's row.
type remediationResult struct {
	Action        string `json:"action"`
	Skipped       bool   `json:"skipped"`
	Result        string `json:"result"`
	HTTPStatus    int    `json:"http_status,omitempty"`
	Error         string `json:"error,omitempty"`
	RemediationID string `json:"remediation_id,omitempty"`
}

// remediationTenant picks the configured tenant an alert of tenantID is remediated in.
func remediationTenant(cfg *config.Config, tenantID, name string) (*config.Tenant, error) {
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		if name != "" && t.Name != name {
			continue
		}
		if tenantID == "" || strings.EqualFold(t.TenantID, tenantID) {
			return t, nil
		}
		if name != "" {
			return nil, fmt.Errorf("--tenant %s has tenant_id %s, but the alert is of tenant %s", name, t.TenantID, tenantID)
		}
	}
	if name != "" {
		return nil, fmt.Errorf("--tenant %s: no configured tenant of that name", name)
	}
	return nil, fmt.Errorf("no configured tenant has tenant_id %s (the alert's tenant)", tenantID)
}

// graphBase is a tenant's Graph service root: graph_url, else its cloud's.
func graphBase(t config.Tenant) (string, error) {
	if t.GraphURL != "" {
		return strings.TrimRight(t.GraphURL, "/"), nil
	}
	return graph.CloudURL(api.Cloud(t.Cloud))
}

// graphClientFor builds the Graph client of a tenant: its remediation app (or its own
// credential), a token for the cloud's Graph resource from the api package's
// client-credentials code, and that client's HTTP client and redirect policy.
func graphClientFor(t config.Tenant, log *slog.Logger) (*graph.Client, error) {
	cred := t.RemediationCredential()
	base, err := graphBase(t)
	if err != nil {
		return nil, err
	}
	resource, err := graph.CloudURL(api.Cloud(t.Cloud))
	if err != nil {
		return nil, err
	}
	c := api.Config{
		TenantID:     t.TenantID,
		ClientID:     cred.ClientID,
		ClientSecret: cred.ClientSecret.Reveal(),
		Cloud:        api.Cloud(t.Cloud),
		APIURL:       base,
		LoginURL:     t.LoginURL,
		Resource:     resource,
		RateLimit:    -1,
		Logger:       log.With("tenant", t.Name),
	}
	if cred.CertificateFile != "" {
		cert, err := api.LoadCertificate(cred.CertificateFile, cred.PrivateKeyFile, cred.CertificatePassword.Reveal())
		if err != nil {
			return nil, fmt.Errorf("tenant %s: remediation credential: %w", t.Name, err)
		}
		c.Certificate = cert
	}
	tokens, err := api.New(c)
	if err != nil {
		return nil, fmt.Errorf("tenant %s: %w", t.Name, err)
	}
	return graph.New(graph.Config{BaseURL: base, Tokens: tokens, HTTPClient: tokens.HTTPClient(), Logger: log})
}

// printPlan shows what remediation can do for an alert; with only set, only those steps.
func printPlan(w io.Writer, p *remediate.Plan, only []remediate.Step, tenant string) {
	t := escape.Terminal
	in := ""
	if tenant != "" {
		in = ", tenant " + tenant
	}
	fmt.Fprintf(w, "Alert %s (%s) on %s%s:\n  %s\n", p.AlertID[:12], p.Rule, t(p.User), in, t(p.Summary))
	steps := p.Steps
	if only != nil {
		steps = only
		fmt.Fprintf(w, "\nActions to execute:\n")
	} else if len(steps) > 0 {
		fmt.Fprintf(w, "\nActions that fit (o365ingest remediate --alert %s --action NAME[,NAME] --yes):\n", p.AlertID[:12])
	} else {
		fmt.Fprintf(w, "\nNo Microsoft Graph action fits this alert.\n")
	}
	for _, s := range steps {
		fmt.Fprintf(w, "\n  %s: %s\n    %s\n    needs the Graph application permission %s\n", s.Action, t(s.Target), t(s.What), strings.Join(s.Permissions, " and "))
		for _, r := range s.Requests {
			line := "    " + r.String()
			if r.Note != "" {
				line += "    (" + r.Note + ")"
			}
			fmt.Fprintln(w, t(line))
		}
	}
	if only != nil {
		return
	}
	if len(p.Manual) > 0 {
		fmt.Fprintf(w, "\nManual (Exchange Online PowerShell, not run by o365ingest):\n")
		for _, m := range p.Manual {
			fmt.Fprintf(w, "  # MANUAL: %s\n  %s\n", t(m.What), t(m.Command))
		}
	}
	if len(p.Unavailable) > 0 {
		fmt.Fprintf(w, "\nNot possible for this alert:\n")
		for _, name := range remediate.ActionNames() {
			if why, ok := p.Unavailable[name]; ok {
				fmt.Fprintf(w, "  %s: %s\n", name, t(why))
			}
		}
	}
}
