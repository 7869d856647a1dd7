package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
)

// runSplit runs the CLI in-process with stdout and stderr kept apart.
func runSplit(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	code = run(context.Background(), args, env)
	return code, out.String(), errOut.String()
}

// TestJSONLogsAreStrict parses every line a run writes with --log-format json,
// refusing duplicate keys: the summary on stdout is one JSON object, every stderr
// line a log object naming the tenant by name (tenant) and GUID (tenant_id).
func TestJSONLogsAreStrict(t *testing.T) {
	cfg, _ := emulatedTenant(t, "")
	for _, args := range [][]string{
		{"--config", cfg, "--log-format", "json", "--log-level", "debug", "run"},
		{"--config", cfg, "--log-format", "json", "--log-level", "debug", "backfill", "--since", "2d"},
	} {
		code, stdout, stderr := runSplit(t, args...)
		if code != exitOK {
			t.Fatalf("%v exited %d:\n%s\n%s", args, code, stdout, stderr)
		}
		if n := checkJSONLines(t, "stdout", stdout); n != 1 {
			t.Errorf("%v: stdout holds %d lines, want the one summary object:\n%s", args, n, stdout)
		}
		var sum summaryJSON
		if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Summary != args[len(args)-1] && sum.Summary != "backfill" || sum.Outcome != "ok" || sum.AlertsNew == nil {
			t.Errorf("summary %s: %+v %v", stdout, sum, err)
		}
		if n := checkJSONLines(t, "stderr", stderr); n == 0 {
			t.Errorf("%v: no log lines at debug level", args)
		}
		if !strings.Contains(stderr, `"tenant":"contoso"`) || !strings.Contains(stderr, `"tenant_id":"`) {
			t.Errorf("%v: the logs do not name the tenant by name and GUID:\n%s", args, stderr)
		}
	}
}

// TestAuthenticationFailureIsReportedOnce checks that a refused secret is printed once
// with its hint, the summary says nothing was loaded and why, and the exit is 1, not
// the "some data is known to be missing" 3; in text and in JSON.
func TestAuthenticationFailureIsReportedOnce(t *testing.T) {
	cfg, _ := emulatedTenant(t, "wrong-secret")
	code, stdout, stderr := runSplit(t, "--config", cfg, "--log-format", "text", "run")
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	if n := strings.Count(stderr, "hint:"); n != 1 || !strings.Contains(stderr, "error: contoso") {
		t.Errorf("the error with its hint is printed %d times, want once:\n%s", n, stderr)
	}
	if !strings.Contains(stdout, "run: nothing was loaded: authentication failed") || strings.Contains(stdout, "known to be missing") {
		t.Errorf("summary:\n%s", stdout)
	}
	code, stdout, stderr = runSplit(t, "--config", cfg, "--log-format", "json", "run")
	checkJSONLines(t, "stderr", stderr)
	checkJSONLines(t, "stdout", stdout)
	var sum summaryJSON
	json.Unmarshal([]byte(stdout), &sum)
	if code != exitFailure || sum.NothingLoaded == "" || sum.Missing || strings.Count(stderr, "hint:") != 1 {
		t.Errorf("json: exit %d, summary %s, stderr:\n%s", code, stdout, stderr)
	}
}

func TestConfigErrorsAreJSONWithJSONLogs(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.yaml"
	if err := os.WriteFile(bad, []byte("tenants:\n  - name: contoso\n    tenant_id: not-a-guid\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runSplit(t, "--config", bad, "--log-format", "json", "run")
	if code != exitUsage || stdout != "" || checkJSONLines(t, "stderr", stderr) != 1 || !strings.Contains(stderr, "tenant_id") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}

func TestOneCausePrintedOnceForEveryUnitItFailed(t *testing.T) {
	var errs []error
	for i, ct := range []string{"Audit.Exchange", "Audit.General", "DLP.All"} {
		e := &api.APIError{Status: 401, Code: "AADSTS7000215", Method: "POST", URL: "https://login.microsoftonline.com/x/oauth2/v2.0/token",
			Message: fmt.Sprintf("AADSTS7000215: Invalid client secret provided. Trace ID: %d", i), Hint: "the client secret is wrong or expired"}
		errs = append(errs, &pipeline.UnitError{Tenant: "contoso", ContentType: ct, Step: "starting the subscription", Cause: e.Hint, Err: e})
	}
	errs = append(errs, errors.New("contoso/Audit.SharePoint: reading the ledger: database is locked"))
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &out}
	printErrors(env, errs)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || strings.Count(out.String(), "AADSTS7000215: Invalid") != 1 ||
		!strings.HasPrefix(lines[0], "error: contoso/Audit.Exchange, contoso/Audit.General, contoso/DLP.All: starting the subscription: api: POST") ||
		lines[1] != "error: contoso/Audit.SharePoint: reading the ledger: database is locked" {
		t.Errorf("printed:\n%s", out.String())
	}
}
