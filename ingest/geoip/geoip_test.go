package geoip_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/geoip"
	"github.com/o365ingest/o365ingest/ingest/geoip/geoiptest"
	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
	"github.com/o365ingest/o365ingest/schema"
)

func testDB(t *testing.T) *geoip.DB {
	t.Helper()
	country := geoiptest.Write(t, "GeoLite2-Country",
		geoiptest.Network{CIDR: "203.0.113.0/24", Country: "NL"},
		geoiptest.Network{CIDR: "198.51.100.0/24", Country: "BR"},
		geoiptest.Network{CIDR: "2001:db8::/32", Country: "DE"})
	asn := geoiptest.Write(t, "GeoLite2-ASN",
		geoiptest.Network{CIDR: "203.0.113.0/24", ASN: 64500},
		geoiptest.Network{CIDR: "2001:db8::/32", ASN: 64501})
	db, err := geoip.Open(country, asn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestLocate(t *testing.T) {
	db := testDB(t)
	for _, tc := range []struct {
		ip      string
		country string
		asn     int64
	}{
		{"203.0.113.7", "NL", 64500},
		{"::ffff:203.0.113.7", "NL", 64500},
		{"198.51.100.1", "BR", 0},
		{"2001:db8::1", "DE", 64501},
		{"192.0.2.1", "", 0},
		{"not an address", "", 0},
		{"", "", 0},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			c, a := db.Locate(tc.ip)
			if c != tc.country || a != tc.asn {
				t.Errorf("Locate(%q) = %q, %d; want %q, %d", tc.ip, c, a, tc.country, tc.asn)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	if _, err := geoip.Open(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil || !strings.Contains(err.Error(), "missing.mmdb") {
		t.Errorf("a missing file: %v, want an error naming it", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.mmdb")
	os.WriteFile(bad, []byte("not a database"), 0o600)
	if _, err := geoip.Open(bad); err == nil {
		t.Error("a file that is no .mmdb opened")
	}
	other := geoiptest.Write(t, "Example-Anonymous-IP")
	if _, err := geoip.Open(other); err == nil || !strings.Contains(err.Error(), "Country, City or ASN") {
		t.Errorf("an anonymous-IP database: %v, want it refused", err)
	}
	if _, err := geoip.Open(); err == nil {
		t.Error("no file opened")
	}
}

// signIn is a raw sign-in record from addr.
func signIn(id, addr string) []byte {
	return []byte(fmt.Sprintf(`{"Id":%q,"RecordType":15,"CreationTime":"2026-11-20T10:00:00","Operation":"UserLoggedIn","OrganizationId":"tenant-1","UserType":0,"Workload":"AzureActiveDirectory","UserId":"megan.bowen@contoso.com","ClientIP":%q,"ResultStatus":"Success"}`, id, addr))
}

// TestCountryAtLoad: with a GeoIP database each record's client_country and client_asn
// are filled at normalization, stored, and answered by v_signin through the country
// index; without one they stay NULL. On every database.
func TestCountryAtLoad(t *testing.T) {
	geo := testDB(t)
	for _, driver := range sinktest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s := sinktest.Open(t, driver)
			src := normalize.Source{TenantID: "tenant-1", ContentType: "Audit.AzureActiveDirectory", ContentID: "c1", IngestedAt: time.Now().UTC(), Geo: geo}
			bare := src
			bare.Geo = nil
			var recs []schema.Record
			for i, addr := range []string{"203.0.113.7", "203.0.113.8", "198.51.100.1", "2001:db8::5", "192.0.2.9", "[2001:db8::6]:443"} {
				r, err := normalize.Record(signIn(fmt.Sprintf("geo-%d", i), addr), src)
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			r, err := normalize.Record(signIn("no-geo", "203.0.113.9"), bare)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
			if _, err := s.Load(ctx, sink.RecordsOnly(recs...)); err != nil {
				t.Fatal(err)
			}
			h := s.Handle()
			rows, err := h.DB.QueryContext(ctx, `SELECT record_id, client_ip, client_country, client_asn FROM v_signin ORDER BY record_id`)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for rows.Next() {
				var id, ip string
				var country *string
				var asn *int64
				if err := rows.Scan(&id, &ip, &country, &asn); err != nil {
					t.Fatal(err)
				}
				c, a := "NULL", "NULL"
				if country != nil {
					c = *country
				}
				if asn != nil {
					a = fmt.Sprint(*asn)
				}
				got[id] = ip + " " + c + " " + a
			}
			rows.Close()
			want := map[string]string{
				"geo-0":  "203.0.113.7 NL 64500",
				"geo-1":  "203.0.113.8 NL 64500",
				"geo-2":  "198.51.100.1 BR NULL",
				"geo-3":  "2001:db8::5 DE 64501",
				"geo-4":  "192.0.2.9 NULL NULL",
				"geo-5":  "2001:db8::6 DE 64501",
				"no-geo": "203.0.113.9 NULL NULL",
			}
			for id, w := range want {
				if got[id] != w {
					t.Errorf("%s: v_signin has %q, want %q", id, got[id], w)
				}
			}
			var n int
			if err := h.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM v_signin WHERE client_country = 'NL'`).Scan(&n); err != nil || n != 2 {
				t.Errorf("sign-ins from NL: %d (%v), want 2", n, err)
			}
			if err := h.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM v_signin WHERE client_asn = 64501`).Scan(&n); err != nil || n != 2 {
				t.Errorf("sign-ins from AS64501: %d (%v), want 2", n, err)
			}
		})
	}
}
