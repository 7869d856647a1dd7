package report_test

import (
	"bytes"
	"context"
	"flag"
	"html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/detect/detecttest"
	"github.com/o365ingest/o365ingest/ingest/report"
	"github.com/o365ingest/o365ingest/schema"
)

var screenshot = flag.String("screenshot", "", "also save the demo report's screenshot to this file (docs/report-screenshot.png)")

var (
	from = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	to   = time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
)

// TestRenderOnEveryDatabase renders a small data set on each database and checks the
// page is self-contained, shows the numbers, and escapes what records say.
func TestRenderOnEveryDatabase(t *testing.T) {
	raws := []string{
		`{"Id":"r1","CreationTime":"2026-03-02T09:00:00","Operation":"New-InboxRule","RecordType":1,"Workload":"Exchange","UserId":"megan.bowen@contoso.example","ClientIP":"203.0.113.66","ResultStatus":"True","Parameters":[{"Name":"Name","Value":"<script>alert(1)</script>"},{"Name":"ForwardTo","Value":"collect@exfil-mail.example"}]}`,
		`{"Id":"r2","CreationTime":"2026-03-02T08:50:00","Operation":"UserLoginFailed","RecordType":15,"Workload":"AzureActiveDirectory","UserId":"megan.bowen@contoso.example","ClientIP":"203.0.113.66","ErrorNumber":"50126","LogonError":"InvalidUserNameOrPassword"}`,
		`{"Id":"r3","CreationTime":"2026-03-02T08:55:00","Operation":"UserLoggedIn","RecordType":15,"Workload":"AzureActiveDirectory","UserId":"megan.bowen@contoso.example","ClientIP":"203.0.113.66","ErrorNumber":"0"}`,
		`{"Id":"r4","CreationTime":"2026-03-01T10:00:00","Operation":"FileDownloaded","RecordType":6,"Workload":"SharePoint","UserId":"alex.wilber@contoso.example","ClientIP":"192.0.2.10"}`,
	}
	for _, d := range detecttest.Drivers(t) {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			db := detecttest.Open(t, d)
			var recs []schema.Record
			for _, r := range raws {
				recs = append(recs, detecttest.Record(t, r))
			}
			detecttest.Load(t, db, d, recs)
			alerts, err := detect.Evaluate(ctx, detecttest.Handle(db, d), from, to, detect.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if len(alerts) != 1 {
				t.Fatalf("%d alerts, want the forwarding rule", len(alerts))
			}
			page, err := report.Render(ctx, detecttest.Handle(db, d), from, to, alerts)
			if err != nil {
				t.Fatal(err)
			}
			s := string(page)
			for _, want := range []string{`id="alerts"`, "inbox_rule_forward_external", "collect@exfil-mail.example", "&lt;script&gt;alert(1)&lt;/script&gt;",
				"<b>4</b><span>records</span>", "InvalidUserNameOrPassword", "<svg", "AzureActiveDirectory (2)"} {
				if !strings.Contains(s, want) {
					t.Errorf("report lacks %q", want)
				}
			}
			if strings.Contains(s, "<script>") || regexp.MustCompile(`(src|href)=`).MatchString(s) {
				t.Error("report has a script or loads something: it must be self-contained")
			}
		})
	}
}

// TestReportInChromium renders the report of the emulator's attack story, opens it in
// headless Chromium as a person would, and checks the screenshot and the text of the
// alerts section. Skipped when /usr/bin/chromium is absent (apt-get install chromium).
func TestReportInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install -y chromium)")
	}
	if testing.Short() {
		t.Skip("loads a week of synthetic records")
	}
	ctx := context.Background()
	db := detecttest.Open(t, "sqlite")
	story := detecttest.LoadEmulator(t, db, "sqlite")
	now := time.Now().UTC()
	rFrom, rTo := now.Add(-7*24*time.Hour).Truncate(time.Hour), now.Truncate(time.Hour).Add(time.Hour)
	alerts, err := detect.Evaluate(ctx, detecttest.Handle(db, "sqlite"), rFrom, rTo, detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := report.Render(ctx, detecttest.Handle(db, "sqlite"), rFrom, rTo, alerts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update",
			"--disable-sync", "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1280,2000"}
		cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, chromium, append(base, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
		}
		return out.Bytes()
	}
	shot := filepath.Join(dir, "report.png")
	run("--screenshot="+shot, "file://"+file)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// A page that rendered has the dark header band at the top and coloured bars.
	if r, g, b, _ := img.At(20, 20).RGBA(); r > 0x4000 || g > 0x4000 || b > 0x6000 {
		t.Errorf("top-left pixel is %x %x %x, not the header's dark blue: the page did not render", r, g, b)
	}
	colours := map[uint32]bool{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 7 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 7 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[(r>>12)<<8|(g>>12)<<4|b>>12] = true
		}
	}
	if len(colours) < 12 {
		t.Errorf("screenshot has %d colours: looks blank", len(colours))
	}
	if *screenshot != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(*screenshot, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	dom := string(run("--dump-dom", "file://"+file))
	i := strings.Index(dom, `<section id="alerts"`)
	if i < 0 {
		t.Fatal("the rendered page has no alerts section")
	}
	section := dom[i:]
	section = section[:strings.Index(section, "</section>")]
	text := html.UnescapeString(regexp.MustCompile(`\s+`).ReplaceAllString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(section, " "), " "))
	for _, want := range []string{
		"inbox_rule_forward_external", "mailbox_forward_external", story.User, story.AttackerIP, story.ForwardTo,
		"Remove-InboxRule -Mailbox '" + story.User + "' -Identity '" + story.RuleName + "'",
		"Set-Mailbox -Identity 'megan.bowen' -ForwardingSmtpAddress $null",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("alerts section as shown lacks %q:\n%s", want, text)
		}
	}
}
