package emulator_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/emulator"
)

func quirks(t *testing.T, list string) emulator.Quirks {
	t.Helper()
	q, err := emulator.ParseQuirks(list)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestParseQuirks(t *testing.T) {
	q := quirks(t, "all")
	if len(q) != len(emulator.AllQuirks) || len(emulator.AllQuirks) != 9 {
		t.Errorf("all: %v", q)
	}
	want := "af10001-401,blob-paging,dlp-permission,foreign-content-uri,python-repr-errors,redirect-login,start-throttle,strict-window,transient-404"
	if q.String() != want {
		t.Errorf("names %q, want %q", q.String(), want)
	}
	if q := quirks(t, "strict-window, blob-paging"); len(q) != 2 || !q[emulator.QuirkStrictWindow] || !q[emulator.QuirkBlobPaging] {
		t.Errorf("list: %v", q)
	}
	if _, err := emulator.ParseQuirks("strict-windows"); err == nil || !strings.Contains(err.Error(), "strict-window,") && !strings.Contains(err.Error(), "strict-window") {
		t.Errorf("unknown name: %v", err)
	}
}

// TestQuirksAnswerAsTheRealService checks each quirk's answer on the wire.
func TestQuirksAnswerAsTheRealService(t *testing.T) {
	day := func(r *rig) (time.Time, time.Time) {
		end := r.clk.Now().Add(-time.Hour).Truncate(time.Second)
		return end.Add(-24 * time.Hour), end
	}
	t.Run("dlp-permission: DLP.All start, listing and blobs answer 401 AF10001", func(t *testing.T) {
		r := newRig(t, emulator.Options{Quirks: quirks(t, "dlp-permission")})
		a := r.call("POST", r.feed("subscriptions/start?contentType=DLP.All"), r.token)
		if a.status != 401 || a.code != "AF10001" || !strings.Contains(a.msg, "The permission set (ActivityFeed.Read ServiceHealth.Read) sent in the request does not include the expected permission") {
			t.Errorf("start: %d %s", a.status, a.body)
		}
		s, e := day(r)
		a = r.call("GET", r.feed("subscriptions/content?contentType=DLP.All&startTime="+s.Format("2006-01-02T15:04:05")+"&endTime="+e.Format("2006-01-02T15:04:05")), r.token)
		if a.status != 401 || a.code != "AF10001" {
			t.Errorf("listing: %d %s", a.status, a.body)
		}
		r.start("Audit.General") // the other content types are untouched
	})
	t.Run("strict-window: exactly 24 h answers AF20055, 24 h minus a minute does not", func(t *testing.T) {
		r := newRig(t, emulator.Options{Quirks: quirks(t, "strict-window")})
		r.start("Audit.General")
		s, e := day(r)
		q := "subscriptions/content?contentType=Audit.General&startTime=" + s.Format("2006-01-02T15:04:05") + "&endTime="
		if a := r.call("GET", r.feed(q+e.Format("2006-01-02T15:04:05")), r.token); a.status != 400 || a.code != "AF20055" {
			t.Errorf("24 h: %d %s", a.status, a.body)
		}
		if a := r.call("GET", r.feed(q+e.Add(-time.Minute).Format("2006-01-02T15:04:05")), r.token); a.status != 200 {
			t.Errorf("24 h - 1 m: %d %s", a.status, a.body)
		}
	})
	t.Run("start-throttle: the first start per content type answers 429 with the wait", func(t *testing.T) {
		r := newRig(t, emulator.Options{Quirks: quirks(t, "start-throttle")})
		for _, ct := range []string{"Audit.General", "Audit.Exchange"} {
			a := r.call("POST", r.feed("subscriptions/start?contentType="+ct), r.token)
			if a.status != 429 || !strings.Contains(a.msg, "Too many frequent subscription start requests. Please retry again after 0m 5s") {
				t.Errorf("%s first start: %d %s", ct, a.status, a.body)
			}
			r.start(ct)
		}
	})
	t.Run("python-repr-errors: error bodies are single-quoted", func(t *testing.T) {
		r := newRig(t, emulator.Options{Quirks: quirks(t, "python-repr-errors")})
		a := r.call("GET", r.feed("subscriptions/content?contentType=Audit.General"), r.token)
		if a.status != 400 || string(a.body) != "{'error': {'code': 'AF20022', 'message': 'No subscription found for the specified content type.'}}" {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	t.Run("af10001-401: a token without ActivityFeed.Read gets 401", func(t *testing.T) {
		r := newRig(t, emulator.Options{Quirks: quirks(t, "af10001-401"),
			Clients: []emulator.Credential{{ClientID: "11111111-1111-1111-1111-111111111111", ClientSecret: "x", Roles: []string{"ServiceHealth.Read"}}}})
		tok := r.getToken("11111111-1111-1111-1111-111111111111", "x")
		if a := r.call("GET", r.feed("subscriptions/list"), tok); a.status != 401 || a.code != "AF10001" {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	t.Run("foreign-content-uri, transient-404, blob-paging: listed and served as the real service does", func(t *testing.T) {
		r := newRig(t, emulator.Options{Quirks: quirks(t, "foreign-content-uri,transient-404,blob-paging"), BlobInterval: time.Hour})
		r.start("Audit.General")
		s, e := day(r)
		entries, _ := r.listAll("Audit.General", s, e)
		foreign, bare404, paged, records := 0, 0, 0, 0
		for _, en := range entries {
			if strings.HasPrefix(en.ContentURI, "http://localhost/api/v1.0/"+r.s.TenantID()+"/activity/feed/audit/") {
				foreign++
			}
			u := r.feed("audit/" + en.ContentID)
			a := r.call("GET", u, r.token)
			if a.status == 404 {
				if a.code != "" {
					t.Errorf("transient 404 with a code: %s", a.body)
				}
				bare404++
				a = r.call("GET", u, r.token)
			}
			if a.status != 200 {
				t.Fatalf("blob %s: %d %s", en.ContentID, a.status, a.body)
			}
			var recs []json.RawMessage
			json.Unmarshal(a.body, &recs)
			records += len(recs)
			if next := a.hdr.Get("NextPageUri"); next != "" {
				paged++
				b := r.call("GET", next, r.token)
				var more []json.RawMessage
				if b.status != 200 || json.Unmarshal(b.body, &more) != nil || len(more) == 0 || b.hdr.Get("NextPageUri") != "" {
					t.Errorf("second page: %d %s", b.status, b.body)
				}
				records += len(more)
			}
		}
		var truth []emulator.TruthRecord
		a := r.call("GET", "/_emulator/truth?contentType=Audit.General", "")
		json.Unmarshal(a.body, &truth)
		if foreign == 0 || bare404 == 0 || paged == 0 || foreign == len(entries) || bare404 == len(entries) {
			t.Errorf("of %d blobs: %d foreign URIs, %d bare 404s, %d paged; want some of each, not all", len(entries), foreign, bare404, paged)
		}
		listed := map[string]bool{}
		for _, en := range entries {
			listed[en.ContentID] = true
		}
		inListed := 0
		for _, tr := range truth {
			if tr.ContentType != "Audit.General" {
				t.Fatalf("truth?contentType=Audit.General lists %+v", tr)
			}
			if listed[tr.ContentID] {
				inListed++
			}
		}
		if inListed == 0 || records < inListed {
			t.Errorf("the pages hold %d records, the truth has %d in these blobs", records, inListed)
		}
	})
	t.Run("redirect-login: the first token request answers 307 to another port", func(t *testing.T) {
		s, base := startEmu(t, emulator.Options{Quirks: quirks(t, "redirect-login"), RecordsPerDay: 10})
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID()}, "client_secret": {s.ClientSecret()}, "scope": {"https://manage.office.com/.default"}}
		u := base + "/" + s.TenantID() + "/oauth2/v2.0/token"
		resp, err := noFollow.PostForm(u, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		b, _ := url.Parse(base)
		if resp.StatusCode != 307 || loc == nil || loc.Hostname() != b.Hostname() || loc.Port() == b.Port() {
			t.Errorf("first: %d Location %q (base %s)", resp.StatusCode, resp.Header.Get("Location"), base)
		}
		resp, err = noFollow.PostForm(u, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("second: %d", resp.StatusCode)
		}
	})
}
