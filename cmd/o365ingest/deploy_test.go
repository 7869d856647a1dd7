package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/config"
)

const deployDir = "../../deploy"

// unitFile is a parsed systemd unit: section -> key -> values, in order.
type unitFile map[string]map[string][]string

var unitKey = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)

// parseUnit parses a unit file strictly: comments, blank lines, [Section] headers and
// Key=Value lines only, in the sections a service or timer may have.
func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			switch section {
			case "Unit", "Service", "Timer", "Install":
			default:
				t.Errorf("%s:%d: unexpected section [%s]", path, n, section)
			}
			if u[section] != nil {
				t.Errorf("%s:%d: section [%s] twice", path, n, section)
			}
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || !unitKey.MatchString(k) || strings.HasSuffix(v, "\\") {
				t.Errorf("%s:%d: not a Key=Value line in a section: %q", path, n, line)
				continue
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// checkCommandLine runs an o365ingest command line from a unit or cron file far
// enough to parse its flags: it must fail only on the config file, which does not
// exist here, never on a flag.
func checkCommandLine(t *testing.T, where, cmdline string) {
	t.Helper()
	fields := strings.Fields(cmdline)
	if len(fields) < 2 || filepath.Base(fields[0]) != "o365ingest" {
		t.Errorf("%s: %q does not run o365ingest", where, cmdline)
		return
	}
	args := append([]string(nil), fields[1:]...)
	for i, a := range args {
		if a == "/etc/o365ingest/config.yaml" {
			args[i] = filepath.Join(t.TempDir(), "absent.yaml")
		}
	}
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	code := run(context.Background(), args, env)
	if code != exitUsage || !strings.Contains(out.String(), "reading config") {
		t.Errorf("%s: %q: exit %d, want it to reach reading the config:\n%s", where, cmdline, code, out.String())
	}
}

func TestDeployUnits(t *testing.T) {
	units, _ := filepath.Glob(filepath.Join(deployDir, "systemd", "*"))
	if len(units) != 3 {
		t.Fatalf("deploy/systemd holds %v, want the service, the timer and the service-mode unit", units)
	}
	parsed := map[string]unitFile{}
	for _, p := range units {
		parsed[filepath.Base(p)] = parseUnit(t, p)
	}
	for name, u := range parsed {
		if strings.HasSuffix(name, ".service") {
			for _, ex := range u["Service"]["ExecStart"] {
				checkCommandLine(t, name, ex)
			}
			for _, want := range [][2]string{{"User", "o365ingest"}, {"ProtectSystem", "strict"}, {"NoNewPrivileges", "yes"},
				{"StateDirectory", "o365ingest"}, {"LoadCredential", "client_secret:/etc/o365ingest/client_secret"}, {"ProtectHome", "yes"}} {
				if got := u["Service"][want[0]]; len(got) != 1 || got[0] != want[1] {
					t.Errorf("%s: %s=%v, want %s", name, want[0], got, want[1])
				}
			}
		}
	}
	if svc := parsed["o365ingest-service.service"]; !strings.Contains(strings.Join(svc["Service"]["ExecStart"], " "), "--interval") ||
		!strings.Contains(strings.Join(svc["Service"]["ExecStart"], " "), "--listen") || svc["Install"]["WantedBy"] == nil {
		t.Errorf("o365ingest-service.service is not the service mode with metrics: %v", svc)
	}
	if tm := parsed["o365ingest.timer"]; tm["Timer"]["OnCalendar"] == nil || tm["Install"]["WantedBy"][0] != "timers.target" {
		t.Errorf("o365ingest.timer: %v", tm)
	}

	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the units were parse-checked only")
		return
	}
	// verify wants ExecStart's binary to exist: the units are verified as shipped,
	// but for that path, which points at a freshly built binary.
	dir := t.TempDir()
	var files []string
	for _, p := range units {
		data, _ := os.ReadFile(p)
		data = bytes.ReplaceAll(data, []byte("/usr/local/bin/o365ingest"), []byte(binary(t)))
		dst := filepath.Join(dir, filepath.Base(p))
		os.WriteFile(dst, data, 0o644)
		files = append(files, dst)
	}
	out, err := exec.Command(sa, append([]string{"verify"}, files...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

var cronField = regexp.MustCompile(`^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$`)

func TestDeployCronFile(t *testing.T) {
	path := filepath.Join(deployDir, "cron", "o365ingest")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	jobs := 0
	limits := [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); ok && regexp.MustCompile(`^[A-Z_]+$`).MatchString(k) {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 7 {
			t.Errorf("%s:%d: want minute hour day month weekday user command: %q", path, n+1, line)
			continue
		}
		for i := 0; i < 5; i++ {
			if !cronField.MatchString(f[i]) {
				t.Errorf("%s:%d: field %d %q is not a cron field", path, n+1, i+1, f[i])
			}
			for _, num := range regexp.MustCompile(`\d+`).FindAllString(strings.Split(f[i], "/")[0], -1) {
				if v, _ := strconv.Atoi(num); v < limits[i][0] || v > limits[i][1] {
					t.Errorf("%s:%d: field %d value %d out of range", path, n+1, i+1, v)
				}
			}
		}
		if f[5] != "o365ingest" {
			t.Errorf("%s:%d: runs as %q, want the o365ingest user", path, n+1, f[5])
		}
		cmd := strings.Join(f[6:], " ")
		if strings.Contains(strings.ReplaceAll(cmd, `\%`, ""), "%") {
			t.Errorf("%s:%d: an unescaped %% (cron makes it a newline)", path, n+1)
		}
		// The o365ingest command itself, before its redirections.
		oc, _, _ := strings.Cut(cmd, ">")
		checkCommandLine(t, path, oc)
		if !strings.Contains(cmd, ">>") || !strings.Contains(cmd, "2>>") || strings.Contains(cmd, "2>&1") {
			t.Errorf("%s:%d: summaries (stdout) and logs (stderr) must go to separate files: %s", path, n+1, cmd)
		}
		jobs++
	}
	if jobs != 1 {
		t.Errorf("%s holds %d jobs, want 1", path, jobs)
	}
}

func TestDeployConfigLoads(t *testing.T) {
	creds := t.TempDir()
	os.WriteFile(filepath.Join(creds, "client_secret"), []byte("s3cret\n"), 0o600)
	state := t.TempDir()
	env := map[string]string{"CREDENTIALS_DIRECTORY": creds, "STATE_DIRECTORY": state}
	cfg, _, err := config.Load(filepath.Join(deployDir, "config.yaml"), func(k string) string { return env[k] })
	if err == nil {
		err = cfg.ValidateForIngest()
	}
	if err != nil {
		t.Fatalf("deploy/config.yaml: %v", err)
	}
	if cfg.Tenants[0].ClientSecret.Reveal() != "s3cret" || cfg.AlertStatePath() != "/var/lib/o365ingest/ingest-alerts.json" || cfg.Service.Listen == "" {
		t.Errorf("deploy/config.yaml: secret from the credentials directory, state under /var/lib/o365ingest, a listen address: %+v", cfg)
	}
}

// TestDockerImageDataVolumeBelongsToItsUser reads the Dockerfile (no Docker engine runs
// here): the final stage runs as a non-root user that owns /data, its working
// directory and declared volume, so a fresh named volume mounted there is writable.
func TestDockerImageDataVolumeBelongsToItsUser(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := strings.Split(string(data), "\nFROM ")
	final := stages[len(stages)-1]
	user := regexp.MustCompile(`(?m)^USER (\d+)(:\d+)?$`).FindStringSubmatch(final)
	if user == nil || user[1] == "0" {
		t.Fatalf("the final stage sets no non-root numeric USER:\n%s", final)
	}
	chown := regexp.MustCompile(`(?m)^COPY --from=\S+ --chown=` + user[1] + `:\d+ \S+ /data$`)
	for _, want := range []*regexp.Regexp{chown, regexp.MustCompile(`(?m)^VOLUME /data$`), regexp.MustCompile(`(?m)^WORKDIR /data$`)} {
		if !want.MatchString(final) {
			t.Errorf("the final stage lacks %s:\n%s", want, final)
		}
	}
	if strings.Contains(string(data), "main.version=${VERSION}") && !strings.Contains(string(data), "${VERSION:+") {
		t.Error("the Dockerfile overrides the build info's version unconditionally")
	}
}
