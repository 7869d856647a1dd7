// Package geoip looks up the country and autonomous system of a client address in
// MaxMind (GeoLite2/GeoIP2 Country, City, ASN) or DB-IP (IP to Country / ASN Lite)
// databases in the .mmdb format, for the client_country and client_asn columns filled at
// load (config ingest.geoip_db).
package geoip

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is one or more opened .mmdb files. Each address is looked up in every file, and the
// first file that knows a field gives it, so a Country file and an ASN file together fill
// both columns. A DB is safe for concurrent use.
type DB struct {
	readers []*maxminddb.Reader
	names   []string
}

// Open opens the .mmdb files at paths (a Country/City and/or an ASN database). It fails
// when a file cannot be read or holds neither countries nor autonomous systems.
func Open(paths ...string) (*DB, error) {
	if len(paths) == 0 {
		return nil, errors.New("geoip: no database file")
	}
	db := &DB{}
	for _, p := range paths {
		r, err := maxminddb.Open(p)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("geoip: opening %s: %w", p, err)
		}
		db.readers = append(db.readers, r)
		db.names = append(db.names, r.Metadata.DatabaseType)
		if !knownType(r.Metadata.DatabaseType) {
			db.Close()
			return nil, fmt.Errorf("geoip: %s is a %q database; want a Country, City or ASN database (MaxMind GeoLite2/GeoIP2 or DB-IP)", p, r.Metadata.DatabaseType)
		}
	}
	return db, nil
}

// knownType reports whether a database type holds a country or an ASN record.
func knownType(t string) bool {
	t = strings.ToLower(t)
	for _, k := range []string{"country", "city", "asn", "isp", "enterprise", "location"} {
		if strings.Contains(t, k) {
			return true
		}
	}
	return false
}

// Types names the opened databases' types, for logs (GeoLite2-Country, DBIP-ASN-Lite, ...).
func (db *DB) Types() []string { return db.names }

// record is the part of a Country, City or ASN record read.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	ASN uint32 `maxminddb:"autonomous_system_number"`
}

// Locate returns the ISO 3166 country code ("" when unknown) and the autonomous system
// number (0 when unknown) of ip, a normalized client address as in client_ip.
func (db *DB) Locate(ip string) (country string, asn int64) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", 0
	}
	a = a.Unmap()
	for _, r := range db.readers {
		var rec record
		res := r.Lookup(a)
		if !res.Found() {
			continue
		}
		if err := res.Decode(&rec); err != nil {
			continue
		}
		if country == "" {
			country = rec.Country.ISOCode
			if country == "" {
				country = rec.RegisteredCountry.ISOCode
			}
		}
		if asn == 0 {
			asn = int64(rec.ASN)
		}
		if country != "" && asn != 0 {
			break
		}
	}
	return country, asn
}

// Close releases the files.
func (db *DB) Close() error {
	var errs []error
	for _, r := range db.readers {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}
