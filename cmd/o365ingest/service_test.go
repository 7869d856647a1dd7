package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// strictJSON parses one line as exactly one JSON object, refusing a key that
// appears twice in any object (what jq forgives and strict parsers refuse).
func strictJSON(line string) error {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key := k.(string)
				if seen[key] {
					return fmt.Errorf("duplicate key %q", key)
				}
				seen[key] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if !strings.HasPrefix(strings.TrimSpace(line), "{") {
		return errors.New("not a JSON object")
	}
	if err := walk(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the object")
	}
	return nil
}

func TestStrictJSONRefusesDuplicateKeys(t *testing.T) {
	for line, ok := range map[string]bool{
		`{"a":1,"b":{"c":[1,{"d":2}]}}`:            true,
		`{"tenant":"contoso","tenant":"42642b7a"}`: false,
		`{"a":{"x":1,"x":2}}`:                      false,
		`run: blobs listed=1`:                      false,
		`{"a":1} {"b":2}`:                          false,
		`{"msg":"x","tenant":"a","tenant_id":"b"}`: true,
	} {
		if err := strictJSON(line); (err == nil) != ok {
			t.Errorf("strictJSON(%s) = %v", line, err)
		}
	}
}

// checkJSONLines fails the test for any line of out that is not one strict JSON object.
func checkJSONLines(t *testing.T, what, out string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		n++
		if err := strictJSON(line); err != nil {
			t.Errorf("%s line is not strict JSON (%v): %s", what, err, line)
		}
	}
	return n
}

// switchProxy passes requests to one of two emulators of the same tenant, so a test
// can make a failing service recover: first one started with --quirks dlp-permission
// (DLP.All answers 401 AF10001, as the real service does when the app lacks
// ActivityFeed.ReadDlp), then the same tenant without the quirk.
type switchProxy struct {
	to atomic.Pointer[httputil.ReverseProxy]
}

func (p *switchProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.to.Load().ServeHTTP(w, r) }

func reverseProxy(t *testing.T, base string) *httputil.ReverseProxy {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return httputil.NewSingleHostReverseProxy(u)
}

// syncBuffer is a bytes.Buffer safe for a process writing and a test reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServiceModeMetricsHealthAndIngestAlerts runs `run --interval --listen` against
// `emulate --quirks dlp-permission`, then (through a proxy) the same tenant with the
// permission, scrapes /metrics,
// watches /healthz turn 503 with the failing unit and its cause and 200 again after
// it recovers, checks the ingest events the webhook received, that every line of
// stdout and stderr is strict JSON, and that SIGTERM while idle exits 0.
func TestServiceModeMetricsHealthAndIngestAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// The same seed gives the same tenant, app and secret.
	e := startEmulator(t, "--seed", "5", "--records-per-day", "200", "--days", "2", "--quirks", "dlp-permission")
	fixed := startEmulator(t, "--seed", "5", "--records-per-day", "200", "--days", "2")
	if fixed.tenantID != e.tenantID || fixed.secret != e.secret {
		t.Fatal("two emulators with one seed serve different tenants")
	}
	sp := &switchProxy{}
	sp.to.Store(reverseProxy(t, e.base))
	proxy := httptest.NewServer(sp)
	defer proxy.Close()

	var hookMu sync.Mutex
	var events []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		json.NewDecoder(r.Body).Decode(&ev)
		if ev["event"] == "ingest" {
			hookMu.Lock()
			events = append(events, ev)
			hookMu.Unlock()
		}
	}))
	defer hook.Close()
	ingestEvents := func() []map[string]any {
		hookMu.Lock()
		defer hookMu.Unlock()
		return append([]map[string]any(nil), events...)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`tenants:
  - name: contoso
    tenant_id: %s
    client_id: %s
    client_secret: ${E2E_SECRET}
    api_url: %s
    login_url: %s
sink:
  driver: sqlite
  dsn: %s
ingest:
  lookback: 2d
  rate_limit: 1000000
  alert_state_file: %s
detect:
  webhooks:
    - name: soc
      url: %s
`, e.tenantID, e.clientID, proxy.URL, proxy.URL, filepath.Join(dir, "o365.db"), filepath.Join(dir, "state.json"), hook.URL)), 0o600)

	cmd := exec.Command(binary(t), "--config", cfg, "--log-format", "json", "run", "--interval", "2s", "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "E2E_SECRET="+e.secret, "O365INGEST_SINK_DRIVER=", "O365INGEST_SINK_DSN=")
	var stdout, stderr syncBuffer
	cmd.Stdout = &stdout
	errPipe, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}()
	addrCh := make(chan string, 1)
	var idle atomic.Int64 // count of "next pass" lines
	go func() {
		sc := bufio.NewScanner(errPipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			stderr.Write([]byte(line + "\n"))
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil {
				if a, ok := m["addr"].(string); ok && strings.Contains(m["msg"].(string), "/metrics") {
					addrCh <- a
				}
				if m["msg"] == "next pass" {
					idle.Add(1)
				}
			}
		}
		cmd.Wait()
		close(exited)
	}()
	var base string
	select {
	case a := <-addrCh:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("no listen address logged:\n%s", stderr.String())
	}
	fetch := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; stderr:\n%s", what, stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	var health string
	waitFor("/healthz to fail for DLP.All", func() bool {
		code, body := fetch("/healthz")
		health = body
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"content_type":"DLP.All"`) && strings.Contains(body, "failing")
	})
	var h struct {
		Status  string `json:"status"`
		Failing []struct {
			Tenant, ContentType, Cause string
		} `json:"failing"`
	}
	if err := json.Unmarshal([]byte(health), &h); err != nil || h.Status != "failing" || len(h.Failing) != 1 ||
		h.Failing[0].Tenant != "contoso" || !strings.Contains(h.Failing[0].Cause, "AF10001") || !strings.Contains(h.Failing[0].Cause, "ActivityFeed.ReadDlp") {
		t.Fatalf("/healthz while DLP.All is denied: %v %s", err, health)
	}

	var metrics string
	waitFor("a finished pass of every other unit", func() bool {
		_, metrics = fetch("/metrics")
		return regexp.MustCompile(`(?m)^o365ingest_passes_total\{content_type="Audit.Exchange",outcome="ok",tenant="contoso"\} [1-9]`).MatchString(metrics)
	})
	series := func(name string, labels string) (float64, bool) {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+"{"+labels+"}") + ` (\S+)$`)
		m := re.FindStringSubmatch(metrics)
		if m == nil {
			return 0, false
		}
		var v float64
		fmt.Sscan(m[1], &v)
		return v, true
	}
	ex := `content_type="Audit.Exchange",tenant="contoso"`
	for _, c := range []struct {
		name, labels string
		positive     bool
	}{
		{"o365ingest_records_loaded_total", ex, true},
		{"o365ingest_records_duplicates_total", ex, false},
		{"o365ingest_records_quarantined_total", ex, false},
		{"o365ingest_blobs_loaded_total", ex, true},
		{"o365ingest_blobs_failed_total", ex, false},
		{"o365ingest_blobs_expired_total", ex, false},
		{"o365ingest_last_success_timestamp_seconds", ex, true},
		{"o365ingest_lag_seconds", ex, true},
		{"o365ingest_pass_duration_seconds_count", ex, true},
		{"o365ingest_passes_total", `content_type="DLP.All",outcome="failed",tenant="contoso"`, true},
		{"o365ingest_unit_healthy", `content_type="DLP.All",tenant="contoso"`, false},
		{"o365ingest_unit_healthy", ex, true},
		{"o365ingest_api_requests_total", `code="200",tenant="contoso"`, true},
		{"o365ingest_api_requests_total", `code="401",tenant="contoso"`, true},
		{"o365ingest_api_throttled_total", `tenant="contoso"`, false},
	} {
		v, ok := series(c.name, c.labels)
		if !ok || (c.positive && v <= 0) {
			t.Errorf("/metrics: %s{%s} = %v (present %v)", c.name, c.labels, v, ok)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "o365ingest_pass_duration_seconds_bucket"} {
		if !strings.Contains(metrics, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}

	sp.to.Store(reverseProxy(t, fixed.base)) // the permission granted
	waitFor("/healthz to recover", func() bool { code, _ := fetch("/healthz"); return code == http.StatusOK })

	waitFor("the resolved event", func() bool {
		for _, ev := range ingestEvents() {
			if ev["status"] == "resolved" {
				return true
			}
		}
		return false
	})
	var opened int
	for _, ev := range ingestEvents() {
		if ev["status"] == "open" {
			opened++
			if ev["cause"] != "permission_missing" || ev["tenant"] != "contoso" || ev["content_type"] != "DLP.All" {
				t.Errorf("ingest event %v", ev)
			}
		}
	}
	if opened != 1 {
		t.Errorf("%d open ingest events over several failing passes, want exactly one: %v", opened, ingestEvents())
	}

	// SIGTERM while idle between passes is a clean stop.
	n := idle.Load()
	waitFor("an idle wait", func() bool { return idle.Load() > n })
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15s after SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != exitOK {
		t.Errorf("SIGTERM while idle exited %d, want 0:\n%s", code, stderr.String())
	}
	if n := checkJSONLines(t, "stdout", stdout.String()); n < 2 {
		t.Errorf("stdout holds %d summaries, want one per pass:\n%s", n, stdout.String())
	}
	checkJSONLines(t, "stderr", stderr.String())
}
