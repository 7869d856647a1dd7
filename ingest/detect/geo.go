package detect

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Geo maps a client address to the ISO 3166 code of its country ("" when unknown).
type Geo interface {
	Country(ip string) string
}

// GeoIP is a MaxMind GeoLite2/GeoIP2 Country or City database opened from a file.
type GeoIP struct {
	r *maxminddb.Reader
}

// OpenGeoIP opens a MaxMind database (.mmdb) of Country or City type.
func OpenGeoIP(path string) (*GeoIP, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening GeoIP database %s: %w", path, err)
	}
	return &GeoIP{r: r}, nil
}

// geoRecord is the part of a Country or City record read: the country, else the
// registered country (anycast and satellite addresses have only that).
type geoRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

// Country implements Geo.
func (g *GeoIP) Country(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	var rec geoRecord
	if err := g.r.Lookup(a.Unmap()).Decode(&rec); err != nil {
		return ""
	}
	if rec.Country.ISOCode != "" {
		return rec.Country.ISOCode
	}
	return rec.RegisteredCountry.ISOCode
}

// Close releases the database.
func (g *GeoIP) Close() error { return g.r.Close() }

// geoLocation is the location part of a City record.
type geoLocation struct {
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// Locate implements Locator: the coordinates of ip, from a City database (a Country
// database has none, and ok is false).
func (g *GeoIP) Locate(ip string) (lat, lon float64, ok bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return 0, 0, false
	}
	var rec geoLocation
	if err := g.r.Lookup(a.Unmap()).Decode(&rec); err != nil || rec.Location.Latitude == nil || rec.Location.Longitude == nil {
		return 0, 0, false
	}
	return *rec.Location.Latitude, *rec.Location.Longitude, true
}
