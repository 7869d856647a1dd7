package emulator_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/emulator"
)

// clock is a settable clock for the emulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// rig is an emulator on a fake clock, talked to over raw HTTP.
type rig struct {
	t     *testing.T
	s     *emulator.Server
	base  string
	clk   *clock
	token string
}

func newRig(t *testing.T, o emulator.Options) *rig {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
	if o.Now == nil {
		o.Now = clk.Now
	}
	if o.RecordsPerDay == 0 {
		o.RecordsPerDay = 400
	}
	s, base := startEmu(t, o)
	r := &rig{t: t, s: s, base: base, clk: clk}
	r.token = r.getToken(s.ClientID(), s.ClientSecret())
	return r
}

func (r *rig) getToken(id, secret string) string {
	r.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {"https://manage.office.com/.default"}}
	resp, err := http.PostForm(r.base+"/"+r.s.TenantID()+"/oauth2/v2.0/token", form)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   any    `json:"expires_in"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	if resp.StatusCode != 200 || tr.AccessToken == "" {
		r.t.Fatalf("token: HTTP %d", resp.StatusCode)
	}
	if _, ok := tr.ExpiresIn.(float64); !ok {
		r.t.Errorf("v2 expires_in is %T, want a number", tr.ExpiresIn)
	}
	return tr.AccessToken
}

type answer struct {
	status int
	code   string
	msg    string
	body   []byte
	hdr    http.Header
}

func (r *rig) call(method, path, token string) answer {
	r.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = r.base + path
	}
	req, _ := http.NewRequest(method, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, body: body, hdr: resp.Header}
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(body, &e) == nil {
		a.code, a.msg = e.Error.Code, e.Error.Message
	}
	return a
}

func (r *rig) feed(rest string) string {
	return "/api/v1.0/" + r.s.TenantID() + "/activity/feed/" + rest
}

func (r *rig) start(ct string) {
	r.t.Helper()
	if a := r.call("POST", r.feed("subscriptions/start?contentType="+ct), r.token); a.status != 200 {
		r.t.Fatalf("start %s: %d %s", ct, a.status, a.body)
	}
}

type entry struct {
	ContentID      string `json:"contentId"`
	ContentURI     string `json:"contentUri"`
	ContentCreated string `json:"contentCreated"`
}

// listAll lists one window following NextPageUri; it returns entries and pages.
func (r *rig) listAll(ct string, start, end time.Time) ([]entry, int) {
	r.t.Helper()
	u := r.feed(fmt.Sprintf("subscriptions/content?contentType=%s&startTime=%s&endTime=%s", ct, start.Format("2006-01-02T15:04:05"), end.Format("2006-01-02T15:04:05")))
	var all []entry
	pages := 0
	for u != "" {
		a := r.call("GET", u, r.token)
		if a.status != 200 {
			r.t.Fatalf("list: %d %s", a.status, a.body)
		}
		var es []entry
		if err := json.Unmarshal(a.body, &es); err != nil {
			r.t.Fatal(err)
		}
		all = append(all, es...)
		pages++
		u = a.hdr.Get("NextPageUri")
	}
	return all, pages
}

func TestEmulatorErrorCodes(t *testing.T) {
	r := newRig(t, emulator.Options{Seed: 1})
	now := r.clk.Now()
	f := func(t time.Time) string { return t.Format("2006-01-02T15:04:05") }
	r.start("Audit.Exchange")
	other := "11111111-2222-4333-8444-555555555555"
	cases := []struct {
		name, method, path, token string
		status                    int
		code                      string
	}{
		{"a window over 24 hours is AF20055", "GET", r.feed("subscriptions/content?contentType=Audit.Exchange&startTime=" + f(now.Add(-30*time.Hour)) + "&endTime=" + f(now)), r.token, 400, "AF20055"},
		{"a reversed window is AF20055", "GET", r.feed("subscriptions/content?contentType=Audit.Exchange&startTime=" + f(now) + "&endTime=" + f(now.Add(-time.Hour))), r.token, 400, "AF20055"},
		{"a start older than 7 days is AF20055", "GET", r.feed("subscriptions/content?contentType=Audit.Exchange&startTime=" + f(now.Add(-7*24*time.Hour-time.Hour)) + "&endTime=" + f(now.Add(-7*24*time.Hour+time.Hour))), r.token, 400, "AF20055"},
		{"only one of the times is AF20055", "GET", r.feed("subscriptions/content?contentType=Audit.Exchange&startTime=" + f(now.Add(-time.Hour))), r.token, 400, "AF20055"},
		{"an unparseable time is AF20002", "GET", r.feed("subscriptions/content?contentType=Audit.Exchange&startTime=yesterday&endTime=" + f(now)), r.token, 400, "AF20002"},
		{"listing without a subscription is AF20022", "GET", r.feed("subscriptions/content?contentType=Audit.General"), r.token, 400, "AF20022"},
		{"a second start is 400 AF20024", "POST", r.feed("subscriptions/start?contentType=Audit.Exchange"), r.token, 400, "AF20024"},
		{"an unknown content type is AF20020", "POST", r.feed("subscriptions/start?contentType=Audit.Everything"), r.token, 400, "AF20020"},
		{"a missing content type is AF20001", "GET", r.feed("subscriptions/content"), r.token, 400, "AF20001"},
		{"a tenant that is not a GUID is AF20013", "GET", "/api/v1.0/contoso.example/activity/feed/subscriptions/list", r.token, 400, "AF20013"},
		{"a token for another tenant is AF20010", "GET", "/api/v1.0/" + other + "/activity/feed/subscriptions/list", r.token, 401, "AF20010"},
		{"no token is 401", "GET", r.feed("subscriptions/list"), "", 401, ""},
		{"a forged token is 401", "GET", r.feed("subscriptions/list"), r.token + "x", 401, ""},
		{"a bad nextPage is AF20031", "GET", r.feed("subscriptions/content?contentType=Audit.Exchange&startTime=" + f(now.Add(-time.Hour)) + "&endTime=" + f(now) + "&nextPage=garbage"), r.token, 400, "AF20031"},
		{"an unknown blob is AF20050", "GET", r.feed("audit/20260301000000000000001$20260301000000000000001$audit_exchange$Audit_Exchange$na0014"), r.token, 404, "AF20050"},
		{"a malformed blob id is AF20052", "GET", r.feed("audit/not-a-content-id"), r.token, 400, "AF20052"},
		{"stopping a missing subscription is AF20022", "POST", r.feed("subscriptions/stop?contentType=DLP.All"), r.token, 400, "AF20022"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := r.call(c.method, c.path, c.token)
			if a.status != c.status || a.code != c.code {
				t.Errorf("got HTTP %d %q (%s), want %d %q", a.status, a.code, a.body, c.status, c.code)
			}
		})
	}
	t.Run("an expired token is 401", func(t *testing.T) {
		r.clk.Add(2 * time.Hour)
		defer r.clk.Add(-2 * time.Hour)
		if a := r.call("GET", r.feed("subscriptions/list"), r.token); a.status != 401 {
			t.Errorf("got %d", a.status)
		}
	})
	t.Run("a client without ActivityFeed.Read gets AF10001", func(t *testing.T) {
		r2 := newRig(t, emulator.Options{Seed: 1, Clients: []emulator.Credential{{ClientID: "noperm", ClientSecret: "s", Roles: []string{"ServiceHealth.Read"}}}})
		tok := r2.getToken("noperm", "s")
		if a := r2.call("GET", r2.feed("subscriptions/list"), tok); a.code != "AF10001" {
			t.Errorf("got %d %s", a.status, a.body)
		}
	})
	t.Run("a wrong secret is AADSTS7000215 and an unknown tenant AADSTS90002", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {r.s.ClientID()}, "client_secret": {"wrong"}, "scope": {"https://manage.office.com/.default"}}
		resp, _ := http.PostForm(r.base+"/"+r.s.TenantID()+"/oauth2/v2.0/token", form)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(string(b), "AADSTS7000215") {
			t.Errorf("wrong secret: %d %s", resp.StatusCode, b)
		}
		resp, _ = http.PostForm(r.base+"/"+other+"/oauth2/token", form)
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "AADSTS90002") {
			t.Errorf("unknown tenant: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("the v1 token endpoint sends numbers as strings", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {r.s.ClientID()}, "client_secret": {r.s.ClientSecret()}, "resource": {"https://manage.office.com"}}
		resp, _ := http.PostForm(r.base+"/"+r.s.TenantID()+"/oauth2/token", form)
		var tr map[string]any
		json.NewDecoder(resp.Body).Decode(&tr)
		resp.Body.Close()
		if _, ok := tr["expires_in"].(string); !ok || tr["access_token"] == nil {
			t.Errorf("v1 answer %v", tr)
		}
	})
}

func TestEmulatorThrottlesWithAF429(t *testing.T) {
	for _, status := range []int{403, 429} {
		r := newRig(t, emulator.Options{Seed: 1, ThrottleRate: 1, ThrottleStatus: status, RetryAfter: true})
		a := r.call("GET", r.feed("subscriptions/list?PublisherIdentifier=abc"), r.token)
		if a.status != status || a.code != "AF429" || a.msg != "Too many requests. Method=ListSubscriptions, PublisherId=abc" || a.hdr.Get("Retry-After") == "" {
			t.Errorf("got %d %s %v", a.status, a.body, a.hdr)
		}
	}
	r := newRig(t, emulator.Options{Seed: 1, RateLimit: 3})
	var last answer
	for range 5 {
		last = r.call("GET", r.feed("subscriptions/list"), r.token)
	}
	if last.code != "AF429" || !strings.Contains(last.msg, "PublisherId=00000000-0000-0000-0000-000000000000") {
		t.Errorf("per-tenant quota: got %d %s", last.status, last.body)
	}
	r = newRig(t, emulator.Options{Seed: 1, ErrorRate: 1})
	if a := r.call("GET", r.feed("subscriptions/list"), r.token); a.status != 500 || a.code != "AF50000" {
		t.Errorf("error rate: got %d %s", a.status, a.body)
	}
}

func TestEmulatorPagingAndWindows(t *testing.T) {
	r := newRig(t, emulator.Options{Seed: 2, PageSize: 5, RecordsPerDay: 2000})
	r.start("Audit.SharePoint")
	now := r.clk.Now()
	start, end := now.Add(-24*time.Hour), now
	t.Run("NextPageUri has its exact casing on the wire", func(t *testing.T) {
		u, _ := url.Parse(r.base)
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		path := r.feed(fmt.Sprintf("subscriptions/content?contentType=Audit.SharePoint&startTime=%s&endTime=%s", start.Format("2006-01-02T15:04:05"), end.Format("2006-01-02T15:04:05")))
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", path, u.Host, r.token)
		br := bufio.NewReader(conn)
		found := false
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
			if strings.HasPrefix(line, "NextPageUri: "+r.base+"/api/v1.0/") && strings.Contains(line, "nextPage=") {
				found = true
			}
		}
		if !found {
			t.Error("no NextPageUri header with exact casing")
		}
	})
	es, pages := r.listAll("Audit.SharePoint", start, end)
	if pages < 3 {
		t.Errorf("%d pages for %d blobs, want several", pages, len(es))
	}
	seen := map[string]bool{}
	for _, e := range es {
		if seen[e.ContentID] {
			t.Errorf("blob %s listed twice across pages", e.ContentID)
		}
		seen[e.ContentID] = true
		if !strings.HasPrefix(e.ContentURI, r.base+"/api/v1.0/") {
			t.Errorf("contentUri %s does not use the request's host", e.ContentURI)
		}
	}
	t.Run("start is inclusive and end exclusive on contentCreated", func(t *testing.T) {
		c, err := time.Parse(time.RFC3339Nano, es[3].ContentCreated)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := r.listAll("Audit.SharePoint", c.Truncate(time.Second), c.Truncate(time.Second).Add(time.Second))
		before, _ := r.listAll("Audit.SharePoint", c.Truncate(time.Second).Add(-time.Hour), c.Truncate(time.Second))
		has := func(l []entry) bool {
			for _, e := range l {
				if e.ContentID == es[3].ContentID {
					return true
				}
			}
			return false
		}
		if !has(in) || has(before) {
			t.Errorf("blob created %s: in [%s,+1s)=%v, in [-1h,%s)=%v", c, c.Truncate(time.Second), has(in), c.Truncate(time.Second), has(before))
		}
	})
	t.Run("late publication makes an old window return more blobs", func(t *testing.T) {
		r.start("Audit.Exchange")
		r.start("Audit.AzureActiveDirectory")
		r.start("Audit.General")
		r.start("DLP.All")
		count := func() int {
			n := 0
			for _, ct := range emulator.ContentTypes {
				for d := 1; d <= 6; d++ {
					l, _ := r.listAll(ct, now.Add(-time.Duration(d)*24*time.Hour), now.Add(-time.Duration(d-1)*24*time.Hour))
					n += len(l)
				}
			}
			return n
		}
		before := count()
		truthBefore := len(r.s.Truth())
		resp, err := http.Post(r.base+"/_emulator/publish", "application/json", strings.NewReader(`{"records":200,"late":1}`))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("publish: %v %v", err, resp)
		}
		resp.Body.Close()
		after := count()
		if after <= before {
			t.Errorf("old windows list %d blobs after a late publication, %d before", after, before)
		}
		var truth []emulator.TruthRecord
		resp, _ = http.Get(r.base + "/_emulator/truth")
		json.NewDecoder(resp.Body).Decode(&truth)
		resp.Body.Close()
		if len(truth) != truthBefore+200 {
			t.Errorf("truth has %d records, want %d", len(truth), truthBefore+200)
		}
	})
	t.Run("an expired blob is AF20051", func(t *testing.T) {
		r2 := newRig(t, emulator.Options{Seed: 2, ExpireRate: 1})
		r2.start("Audit.Exchange")
		l, _ := r2.listAll("Audit.Exchange", now.Add(-24*time.Hour), now)
		if len(l) == 0 {
			t.Fatal("no blobs")
		}
		a := r2.call("GET", l[0].ContentURI, r2.token)
		if a.status != 400 || a.code != "AF20051" {
			t.Errorf("got %d %s", a.status, a.body)
		}
		// Time passing expires blobs too.
		r.clk.Add(8 * 24 * time.Hour)
		defer r.clk.Add(-8 * 24 * time.Hour)
		if a := r.call("GET", es[0].ContentURI, r.getToken(r.s.ClientID(), r.s.ClientSecret())); a.code != "AF20051" {
			t.Errorf("after 8 days: got %d %s", a.status, a.body)
		}
	})
}

func TestAttackStoryIsInTheData(t *testing.T) {
	r := newRig(t, emulator.Options{Seed: 9})
	st := r.s.AttackStory()
	if st.User != emulator.AttackUser || st.InboxRuleID == "" || st.SetMailboxID == "" || len(st.FailedSignInIDs) == 0 {
		t.Fatalf("story %+v", st)
	}
	r.start("Audit.Exchange")
	var ruleRaw string
	now := r.clk.Now()
	for d := 0; d < 7; d++ {
		l, _ := r.listAll("Audit.Exchange", now.Add(-time.Duration(d+1)*24*time.Hour), now.Add(-time.Duration(d)*24*time.Hour))
		for _, e := range l {
			a := r.call("GET", e.ContentURI, r.token)
			var recs []json.RawMessage
			json.Unmarshal(a.body, &recs)
			for _, rec := range recs {
				if strings.Contains(string(rec), st.InboxRuleID) {
					ruleRaw = string(rec)
				}
			}
		}
	}
	for _, want := range []string{`"Operation":"New-InboxRule"`, `"RecordType":1`, emulator.AttackForwardTo, `"Name":"DeleteMessage","Value":"True"`, emulator.AttackerIP + ":"} {
		if !strings.Contains(ruleRaw, want) {
			t.Errorf("inbox rule record lacks %s: %s", want, ruleRaw)
		}
	}
	// Same seed, same data.
	s2, err := emulator.New(emulator.Options{Seed: 9, Now: r.clk.Now, RecordsPerDay: 400})
	if err != nil {
		t.Fatal(err)
	}
	if s2.AttackStory().InboxRuleID != st.InboxRuleID || len(s2.Truth()) != len(r.s.Truth()) || s2.Truth()[10] != r.s.Truth()[10] {
		t.Error("same seed produced different data")
	}
}
