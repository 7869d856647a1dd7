package normalize

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// timeLayouts are the CreationTime shapes accepted, most common first. The API sends
// zone-less UTC ("2020-02-17T17:12:03"); exports and other collectors add fractions,
// a Z, an offset, or a space instead of the T. A fraction in the input is accepted by
// every layout ending in seconds, so ".999999999" is only spelled out where a zone follows.
var timeLayouts = []string{
	"2006-01-02T15:04:05",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999 Z07:00",
}

var (
	errNotTime   = errors.New("not a time")
	errTimeRange = errors.New("a time outside the years 1000 to 9999 that every database can store")
)

// parseTime reads a timestamp in one of timeLayouts; a zone-less one is UTC. The result
// is UTC, truncated to the microseconds every database stores, so that all sinks hold
// the same instant whatever their rounding rules.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) < len("2006-01-02 15:04:05") {
		return time.Time{}, errNotTime
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC().Truncate(time.Microsecond)
			if y := t.Year(); y < 1000 || y > 9999 {
				return time.Time{}, errTimeRange
			}
			return t, nil
		}
	}
	return time.Time{}, errNotTime
}

// normalizeIP returns an address without port, brackets or ::ffff: prefix. ok is false
// when the value is not an IP address after that; addr is then the trimmed input, kept
// as received. empty reports "no address" (empty, "null", "<null>").
func normalizeIP(s string) (addr string, ok, empty bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "null") || strings.EqualFold(s, "<null>") {
		return "", false, true
	}
	host := s
	if strings.HasPrefix(host, "[") {
		// [addr] or [addr]:port
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return s, false, false
		}
		rest := host[end+1:]
		if rest != "" && (rest[0] != ':' || !isPort(rest[1:])) {
			return s, false, false
		}
		host = host[1:end]
	} else if i := strings.IndexByte(host, ':'); i >= 0 && i == strings.LastIndexByte(host, ':') {
		// One colon: IPv4 (or a name) with a port. IPv6 has at least two.
		if !isPort(host[i+1:]) {
			return s, false, false
		}
		host = host[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return s, false, false
	}
	return a.Unmap().String(), true, false
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535 && s[0] != '+' && s[0] != '-'
}

// parseBool accepts JSON booleans, 0/1, and the strings the API and PowerShell exports use.
func parseBool(v value) (bool, bool) {
	switch v.kind {
	case boolKind:
		return v.s == "true", true
	case numberKind:
		switch v.s {
		case "0":
			return false, true
		case "1":
			return true, true
		}
	case stringKind:
		switch strings.ToLower(strings.TrimSpace(v.s)) {
		case "true", "1":
			return true, true
		case "false", "0":
			return false, true
		}
	}
	return false, false
}

// parseInt accepts integer JSON numbers and numeric strings that fit an int64.
func parseInt(v value) (int64, bool) {
	switch v.kind {
	case numberKind:
		n, err := strconv.ParseInt(v.s, 10, 64)
		return n, err == nil
	case stringKind:
		n, err := strconv.ParseInt(strings.TrimSpace(v.s), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// isBlank reports a string with nothing in it, which typed (Int, Bool, Time) columns
// store as NULL without a note: there is no value to lose.
func isBlank(v value) bool {
	return v.kind == stringKind && strings.TrimSpace(v.s) == ""
}

// excerpt shortens a value's JSON text for a note; the full value stays in raw.
func excerpt(v value) string {
	const limit = 120
	s := v.jsonText()
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return string(r[:limit]) + "…"
}
