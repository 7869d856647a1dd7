package api

import (
	"net/url"
	"testing"
)

func TestOriginComparison(t *testing.T) {
	cases := []struct {
		base, u string
		same    bool
	}{
		{"https://manage.office.com", "https://manage.office.com:443/api/v1.0/x", true},
		{"https://manage.office.com:443", "https://manage.office.com/api/v1.0/x", true},
		{"https://manage.office.com", "https://MANAGE.office.com/api", true},
		{"https://manage.office.com", "HTTPS://manage.office.com/api", true},
		{"http://127.0.0.1", "http://127.0.0.1:80/api", true},
		{"https://manage.office.com", "https://manage.office.com:8443/api", false},
		{"https://manage.office.com", "http://manage.office.com/api", false},
		{"https://manage.office.com", "http://manage.office.com:443/api", false},
		{"https://manage.office.com", "https://manage.office.com.evil.example/api", false},
		{"https://manage.office.com", "https://evil.example/manage.office.com", false},
		{"https://manage.office.com", "http://localhost/api/v1.0/x/activity/feed/audit/1", false},
		{"https://manage.office.com", "/relative/only", false},
		{"http://[::1]:8365", "http://[::1]:8365/api", true},
		{"http://[::1]:8365", "http://[::1]:8366/api", false},
	}
	for _, tc := range cases {
		base, _ := url.Parse(tc.base)
		c := &Client{apiBase: base}
		if err := c.sameOrigin(tc.u); (err == nil) != tc.same {
			t.Errorf("base %s, url %s: same origin = %v, want %v (%v)", tc.base, tc.u, err == nil, tc.same, err)
		}
	}
}
