package detect

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// mailRE finds mail addresses in the many shapes recipient parameters take:
// "x@y.example", "smtp:x@y.example", "\"Display\" [SMTP:x@y.example]",
// "a@b.example;c@d.example", JSON text.
var mailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-'#&$!*=?^{|}~/]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+`)

// recipients splits a recipient parameter into mail addresses (lower-cased) and the
// entries without one (directory names such as "Megan Bowen", which resolve inside the
// tenant and so are not evidence of mail leaving it).
func recipients(v string) (addrs, names []string) {
	v = strings.TrimSpace(v)
	if v == "" || strings.EqualFold(v, "$null") || strings.EqualFold(v, "null") {
		return nil, nil
	}
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' || r == '\n' }) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		found := mailRE.FindAllString(part, -1)
		if len(found) == 0 {
			names = append(names, strings.Trim(part, `"' []`))
			continue
		}
		for _, a := range found {
			a = strings.ToLower(strings.TrimLeft(a, "'/"))
			if !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
	}
	return addrs, names
}

// normDomain lower-cases a domain and strips a leading @ or dot and spaces.
func normDomain(d string) string {
	return strings.TrimLeft(strings.ToLower(strings.TrimSpace(d)), "@.")
}

// domainOf returns the domain of a mail address, lower-cased ("" when none).
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return normDomain(addr[i+1:])
}

// domainSet is a set of domains that also matches their subdomains.
type domainSet map[string]bool

func (s domainSet) add(d string) {
	if d = normDomain(d); d != "" {
		s[d] = true
	}
}

func (s domainSet) has(d string) bool {
	d = normDomain(d)
	for d != "" {
		if s[d] {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return false
		}
		d = d[i+1:]
	}
	return false
}

// sorted lists the set.
func (s domainSet) sorted() []string {
	out := make([]string, 0, len(s))
	for d := range s {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// internalChecker decides whether a recipient is inside the tenant.
type internalChecker struct {
	domains domainSet
	// allowAddrs and allowDomains come from AllowList.Recipients.
	allowAddrs   map[string]bool
	allowDomains domainSet
}

// internal reports whether mail to addr stays with the tenant or an allowed recipient.
// A guest's #EXT# address is external: mail to it reaches the guest's own mailbox.
func (c *internalChecker) internal(addr string) bool {
	addr = strings.ToLower(addr)
	if c.allowAddrs[addr] || c.allowDomains.has(domainOf(addr)) {
		return true
	}
	if strings.Contains(addr, "#ext#") {
		return false
	}
	return c.domains.has(domainOf(addr))
}

// external returns the addresses among addrs that leave the tenant.
func (c *internalChecker) external(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		if !c.internal(a) {
			out = append(out, a)
		}
	}
	return out
}

// network returns the network an address is judged by: its IPv4 /24 or IPv6 /48 (an
// ISP or office rarely changes these between a user's sign-ins).
func network(a netip.Addr) netip.Prefix {
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, _ := a.Prefix(bits)
	return p
}

// addrList matches client addresses against the allow-listed IPs and prefixes.
type addrList []netip.Prefix

func newAddrList(ss []string) addrList {
	var l addrList
	for _, s := range ss {
		if p, ok := parseAddrOrPrefix(s); ok {
			l = append(l, p)
		}
	}
	return l
}

func (l addrList) contains(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range l {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
