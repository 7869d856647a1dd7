package detect

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

var signinOps = []string{"UserLoggedIn", "UserLoginFailed"}

// notFailures are the AADSTS codes of a sign-in that stopped for an interrupt, not
// because the credentials were wrong: MFA prompts and enrolment (50074, 50076, 50072,
// 50079, 50158, 500121 after a correct password), keep me signed in (50140), password
// reset registration (50125), consent (65001, 90094, 90095), device and Conditional
// Access interrupts (50097, 50129, 53000-53004, 530032), expired flow or session tokens
// (50089, 50132, 50133, 70043, 70044, 81010, 81012), account selection (16000, 16001)
// and Seamless SSO (81016). Elastic and Sentinel leave the same out of their counts.
var notFailures = map[string]bool{
	"50074": true, "50076": true, "50072": true, "50079": true, "50158": true, "500121": true,
	"50140": true, "50125": true, "65001": true, "90094": true, "90095": true, "50097": true,
	"50129": true, "53000": true, "53001": true, "53002": true, "53003": true, "53004": true,
	"530032": true, "50089": true, "50132": true, "50133": true, "70043": true, "70044": true,
	"81010": true, "81012": true, "81016": true, "16000": true, "16001": true, "50199": true,
	"50203": true, "50173": true,
}

// notFailureErrors are the LogonError names of the same interrupts (Elastic's list).
var notFailureErrors = map[string]bool{
	"userstrongauthclientauthnrequiredinterrupt": true, "userstrongauthclientauthnrequired": true,
	"userstrongauthenrollmentrequiredinterrupt": true, "userstrongauthenrollmentrequired": true,
	"userstrongauthexpired": true, "kmsiinterrupt": true, "cmsiinterrupt": true,
	"passwordresetregistrationrequiredinterrupt": true, "entitlementgrantsnotfound": true,
	"invalidreplyto": true, "ssoartifactexpiredduetoconditionalaccess": true,
	"ssouseraccountnotfoundinresourcetenant": true, "flowtokenexpired": true,
	"deviceauthenticationrequired": true, "consentrequired": true,
}

// credentialFailure reports whether a sign-in record is a failure of the credentials
// (counted by the spraying and brute-force rules), not an interrupt.
func (r *record) credentialFailure() bool {
	if !r.signinFailed() {
		return false
	}
	if notFailures[strings.TrimSpace(r.ErrorNumber)] || notFailureErrors[strings.ToLower(strings.TrimSpace(r.LogonError))] {
		return false
	}
	return true
}

// lockedOut reports whether a sign-in failed because the account is locked (50053).
func (r *record) lockedOut() bool {
	return strings.TrimSpace(r.ErrorNumber) == "50053" || strings.EqualFold(r.LogonError, "IdsLocked")
}

// signedIn reports whether a sign-in record is a successful sign-in.
func (r *record) signedIn() bool { return !r.signinFailed() && r.UserID != "" }

// userHistory is what is known of one user's successful sign-ins so far.
type userHistory struct {
	signins   int
	networks  map[netip.Prefix]bool
	countries map[string]bool
}

// walkSignins replays successful sign-ins (the look-back and the range, in time order),
// building each user's history, and calls fn before adding each to it, with the number
// of other users seen on its network.
func (e *evaluation) walkSignins(recs []*record, fn func(r *record, h *userHistory, n netip.Prefix, others int)) {
	users := map[string]*userHistory{}
	netUsers := map[string]map[netip.Prefix]map[string]bool{}
	for _, r := range recs {
		if !r.signedIn() {
			continue
		}
		a, err := netip.ParseAddr(r.ClientIP)
		if err != nil {
			continue
		}
		a = a.Unmap()
		key := r.TenantID + "\x00" + strings.ToLower(r.UserID)
		h := users[key]
		if h == nil {
			h = &userHistory{networks: map[netip.Prefix]bool{}, countries: map[string]bool{}}
			users[key] = h
		}
		if netUsers[r.TenantID] == nil {
			netUsers[r.TenantID] = map[netip.Prefix]map[string]bool{}
		}
		n := network(a)
		others := len(netUsers[r.TenantID][n])
		if netUsers[r.TenantID][n][key] {
			others--
		}
		fn(r, h, n, others)
		h.signins++
		h.networks[n] = true
		if c := e.country(r.ClientIP); c != "" {
			h.countries[c] = true
		}
		if netUsers[r.TenantID][n] == nil {
			netUsers[r.TenantID][n] = map[string]bool{}
		}
		netUsers[r.TenantID][n][key] = true
	}
}

func (e *evaluation) signinNewCountry(recs []*record) {
	if e.geo == nil {
		return
	}
	e.walkSignins(recs, func(r *record, h *userHistory, n netip.Prefix, others int) {
		country := e.country(r.ClientIP)
		if !e.inRange(r.Time) || h.signins < e.th.SigninMinHistory || country == "" || len(h.countries) == 0 || h.countries[country] {
			return
		}
		e.emit(r, RuleSigninNewCountry, fmt.Sprintf("%s signed in from %s (%s), a country not seen for this user in the previous %d days (%d earlier sign-ins from %s).",
			r.UserID, country, r.ClientIP, e.th.LookbackDays, h.signins, strings.Join(sortedKeys(h.countries), ", ")),
			map[string]string{"country": country, "known_countries": strings.Join(sortedKeys(h.countries), ", "), "earlier_signins": strconv.Itoa(h.signins), "network": n.String()},
			signinRemediation(r))
	})
}

func (e *evaluation) signinNewAddress(recs []*record) {
	e.walkSignins(recs, func(r *record, h *userHistory, n netip.Prefix, others int) {
		if !e.inRange(r.Time) || h.signins < e.th.SigninMinHistory || h.networks[n] || others >= e.th.SharedNetworkUsers {
			return
		}
		// A new country is the country rule's alert.
		if c := e.country(r.ClientIP); e.on(RuleSigninNewCountry) && c != "" && len(h.countries) > 0 && !h.countries[c] {
			return
		}
		known := make([]string, 0, len(h.networks))
		for p := range h.networks {
			known = append(known, p.String())
		}
		slices.Sort(known)
		e.emit(r, RuleSigninNewAddress, fmt.Sprintf("%s signed in from %s, a network not seen for this user in the previous %d days (%d earlier sign-ins from %d other networks).",
			r.UserID, r.ClientIP, e.th.LookbackDays, h.signins, len(known)),
			map[string]string{"network": n.String(), "known_networks": strings.Join(known, ", "), "earlier_signins": strconv.Itoa(h.signins), "other_users_on_network": strconv.Itoa(others)},
			signinRemediation(r))
	})
}

func signinRemediation(r *record) []string {
	return []string{
		fmt.Sprintf("Get-MgAuditLogSignIn -Filter %s -Top 50 | Format-Table CreatedDateTime,IPAddress,AppDisplayName,Status", odataEq("userPrincipalName", r.UserID)),
		fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
		fmt.Sprintf("Get-InboxRule -Mailbox %s -IncludeHidden | Format-List Name,Enabled,ForwardTo,ForwardAsAttachmentTo,RedirectTo,DeleteMessage,MoveToFolder", psQuote(r.UserID)),
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// source is what spraying is grouped by: an IPv4 address, or the /64 of an IPv6 one
// (a client gets a whole /64 and can rotate through it).
func source(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// distinctUsers lists the users of recs, first seen first.
func distinctUsers(recs []*record) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range recs {
		if u := strings.ToLower(r.UserID); !seen[u] {
			seen[u] = true
			out = append(out, r.UserID)
		}
	}
	return out
}

// typos returns the failed sign-ins that the same user followed, from the same source
// within window, with a successful one: a mistyped password behind a shared address,
// not a spray's victim. (A sprayed account whose password was guessed also signs in
// afterwards; the other victims still make the spray, and the alert names the
// accounts that signed in, see signedInAfter.)
func typos(recs []*record, window time.Duration) map[*record]bool {
	out := map[*record]bool{}
	pending := map[string][]*record{}
	for _, r := range recs {
		if r.ClientIP == "" || r.UserID == "" {
			continue
		}
		k := r.TenantID + "\x00" + source(r.ClientIP) + "\x00" + strings.ToLower(r.UserID)
		switch {
		case r.credentialFailure():
			pending[k] = append(pending[k], r)
		case r.signedIn():
			for _, f := range pending[k] {
				if r.Time.Sub(f.Time) < window {
					out[f] = true
				}
			}
			delete(pending, k)
		}
	}
	return out
}

// signedInAfter lists the users of an episode's failures who then signed in
// successfully from the same source.
func signedInAfter(recs []*record, failures []*record) []string {
	if len(failures) == 0 {
		return nil
	}
	src, first := source(failures[0].ClientIP), failures[0].Time
	failed := map[string]bool{}
	for _, f := range failures {
		failed[strings.ToLower(f.UserID)] = true
	}
	var out []string
	for _, r := range recs {
		if r.signedIn() && !r.Time.Before(first) && source(r.ClientIP) == src && failed[strings.ToLower(r.UserID)] && !slices.Contains(out, r.UserID) {
			out = append(out, r.UserID)
		}
	}
	return out
}

func (e *evaluation) spray(recs []*record) {
	window := time.Duration(e.th.SprayWindowMinutes) * time.Minute
	typo := typos(recs, window)
	e.episodes(recs, RuleSigninSpray, window,
		func(r *record) string {
			if !r.credentialFailure() || r.ClientIP == "" || typo[r] {
				return ""
			}
			return r.TenantID + "\x00" + source(r.ClientIP)
		},
		func(hits []*record) bool { return len(distinctUsers(hits)) >= e.th.SprayUsers },
		func(r *record, all []*record) (string, map[string]string, []string) {
			users := distinctUsers(all)
			src := source(r.ClientIP)
			var ips []string
			for _, f := range all {
				if !slices.Contains(ips, f.ClientIP) {
					ips = append(ips, f.ClientIP)
				}
			}
			from := src
			if strings.Contains(src, "/") {
				from = src + " (" + plural(len(ips), "address", "addresses") + ")"
			}
			ev := map[string]string{"failures": strconv.Itoa(len(all)), "users": strings.Join(users, ", "), "user_count": strconv.Itoa(len(users)),
				"source": src, "addresses": strings.Join(ips, ", "), "error_numbers": errorNumbers(all),
				"signed_in_after_failing": strings.Join(signedInAfter(recs, all), ", ")}
			rem := []string{}
			for _, ip := range ips {
				rem = append(rem, fmt.Sprintf("Get-MgAuditLogSignIn -Filter %s -All | Group-Object UserPrincipalName | Sort-Object Count -Descending", odataEq("ipAddress", ip)))
			}
			rem = append(rem, fmt.Sprintf("# Block %s with a Conditional Access named location, and reset the password of any of these users who later signed in from it.", psQuote(src)))
			return fmt.Sprintf("%s of %s from %s within %s (password spraying or credential stuffing).",
				plural(len(all), "failed sign-in", "failed sign-ins"), plural(len(users), "different user", "different users"), from, humanDuration(spanOf(all))), ev, rem
		})
}

// knownSource reports whether a failed sign-in came from a network (IPv4 /24, IPv6
// /48) its user had signed in from successfully before, in the look-back: a device of
// theirs retrying an old password, not someone guessing it.
func (e *evaluation) knownSource(r *record) bool {
	if e.firstSuccess == nil {
		e.firstSuccess = map[string]time.Time{}
		for _, h := range e.signinHistory() {
			a, err := h.addr()
			if err != nil || !h.signedIn() {
				continue
			}
			k := h.TenantID + "\x00" + strings.ToLower(h.UserID) + "\x00" + network(a).String()
			if _, ok := e.firstSuccess[k]; !ok {
				e.firstSuccess[k] = h.Time
			}
		}
	}
	a, err := r.addr()
	if err != nil {
		return false
	}
	t, ok := e.firstSuccess[r.TenantID+"\x00"+strings.ToLower(r.UserID)+"\x00"+network(a).String()]
	return ok && t.Before(r.Time)
}

func (e *evaluation) bruteForce(recs []*record) {
	window := time.Duration(e.th.BruteForceWindowMinutes) * time.Minute
	e.episodes(recs, RuleSigninBruteForce, window,
		func(r *record) string {
			if !r.credentialFailure() || r.UserID == "" || e.knownSource(r) {
				return ""
			}
			return r.TenantID + "\x00" + strings.ToLower(r.UserID)
		},
		func(hits []*record) bool {
			return len(hits) >= e.th.BruteForceFailures || (len(hits) >= 3 && slices.ContainsFunc(hits, (*record).lockedOut))
		},
		func(r *record, all []*record) (string, map[string]string, []string) {
			var ips []string
			locked := false
			for _, f := range all {
				if !slices.Contains(ips, f.ClientIP) && f.ClientIP != "" {
					ips = append(ips, f.ClientIP)
				}
				locked = locked || f.lockedOut()
			}
			s := fmt.Sprintf("%s against %s from %s within %s", plural(len(all), "failed sign-in", "failed sign-ins"), r.UserID, plural(len(ips), "address", "addresses"), humanDuration(spanOf(all)))
			if locked {
				s += "; the account was locked out (50053)"
			}
			return s + ".", map[string]string{"failures": strconv.Itoa(len(all)), "addresses": strings.Join(ips, ", "), "locked_out": strconv.FormatBool(locked), "error_numbers": errorNumbers(all)},
				[]string{
					fmt.Sprintf("Get-MgAuditLogSignIn -Filter %s -Top 100 | Format-Table CreatedDateTime,IPAddress,Status", odataEq("userPrincipalName", r.UserID)),
					fmt.Sprintf("# If any attempt succeeded: reset the password of %s and Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID), psQuote(r.UserID)),
					"# Block the addresses with a Conditional Access named location; check Smart Lockout thresholds.",
				}
		})
}

func errorNumbers(recs []*record) string {
	count := map[string]int{}
	for _, r := range recs {
		count[firstNonEmpty(r.ErrorNumber, r.LogonError, "?")]++
	}
	var out []string
	for _, k := range sortedKeys(func() map[string]bool {
		m := map[string]bool{}
		for k := range count {
			m[k] = true
		}
		return m
	}()) {
		out = append(out, fmt.Sprintf("%s×%d", k, count[k]))
	}
	return strings.Join(out, ", ")
}

func spanOf(recs []*record) time.Duration {
	if len(recs) == 0 {
		return 0
	}
	return recs[len(recs)-1].Time.Sub(recs[0].Time)
}

// humanDuration prints a duration for a person: "1 hour", "10 minutes", "2 hours 5 minutes".
func humanDuration(d time.Duration) string {
	if d < time.Minute {
		return plural(max(int(d/time.Second), 1), "second", "seconds")
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return plural(m, "minute", "minutes")
	case m == 0:
		return plural(h, "hour", "hours")
	}
	return plural(h, "hour", "hours") + " " + plural(m, "minute", "minutes")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Locator is a Geo that also knows where an address is (a City database).
type Locator interface {
	Locate(ip string) (lat, lon float64, ok bool)
}

// distanceKm is the great-circle distance between two points.
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(a))
}

func (e *evaluation) impossibleTravel(recs []*record) {
	if e.geo == nil {
		return
	}
	loc, _ := e.geo.(Locator)
	type place struct {
		r        *record
		country  string
		lat, lon float64
		located  bool
	}
	last := map[string]place{}
	for _, r := range recs {
		if !r.signedIn() || r.ClientIP == "" {
			continue
		}
		p := place{r: r, country: e.country(r.ClientIP)}
		if loc != nil {
			p.lat, p.lon, p.located = loc.Locate(r.ClientIP)
		}
		if p.country == "" && !p.located {
			continue
		}
		key := r.TenantID + "\x00" + strings.ToLower(r.UserID)
		prev, ok := last[key]
		last[key] = p
		if !ok || !e.inRange(r.Time) {
			continue
		}
		dt := r.Time.Sub(prev.r.Time)
		ev := map[string]string{"previous_ip": prev.r.ClientIP, "previous_country": prev.country, "previous_time": prev.r.Time.Format(time.RFC3339),
			"country": p.country, "interval": humanDuration(dt)}
		var why string
		switch {
		case p.located && prev.located:
			km := distanceKm(prev.lat, prev.lon, p.lat, p.lon)
			hours := max(dt.Hours(), 1.0/60)
			if km < 500 || km/hours < 900 {
				continue
			}
			ev["distance_km"] = strconv.Itoa(int(km))
			ev["speed_kmh"] = strconv.Itoa(int(km / hours))
			why = fmt.Sprintf("%d km apart", int(km))
		case p.country != "" && prev.country != "" && p.country != prev.country && dt < time.Duration(e.th.TravelWindowMinutes)*time.Minute:
			why = "in different countries"
		default:
			continue
		}
		e.emitMany(r, []string{prev.r.ID, r.ID}, RuleImpossibleTravel,
			fmt.Sprintf("%s signed in from %s (%s) %s after signing in from %s (%s), %s.", r.UserID, r.ClientIP, firstNonEmpty(p.country, "?"), humanDuration(dt), prev.r.ClientIP, firstNonEmpty(prev.country, "?"), why),
			ev, signinRemediation(r))
	}
}

// episodes fires rule on the records of each key (key "" leaves a record out) once the
// records within window satisfy enough; the episode then takes every later record of
// the key that comes within window of the one before, so the alert counts them all.
// Its ID rests on the records that reached the threshold (stable as more arrive); its
// record ids and evidence list every record of the episode.
func (e *evaluation) episodes(recs []*record, rule string, window time.Duration, key func(*record) string, enough func([]*record) bool,
	describe func(trigger *record, all []*record) (string, map[string]string, []string)) {
	type state struct {
		hits, episode []*record
		trigger       *record
		triggerIDs    []string
	}
	byKey := map[string]*state{}
	var keys []string
	fire := func(s *state) {
		ids := make([]string, len(s.episode))
		for i, h := range s.episode {
			ids[i] = h.ID
		}
		summary, ev, rem := describe(s.trigger, s.episode)
		ev["count"] = strconv.Itoa(len(s.episode))
		ev["first"] = s.episode[0].Time.Format(time.RFC3339)
		ev["last"] = s.episode[len(s.episode)-1].Time.Format(time.RFC3339)
		ev["window"] = humanDuration(window)
		e.emitEpisode(s.trigger, s.triggerIDs, ids, rule, summary, ev, rem)
		s.episode, s.trigger, s.triggerIDs, s.hits = nil, nil, nil, nil
	}
	for _, r := range recs {
		k := key(r)
		if k == "" {
			continue
		}
		s := byKey[k]
		if s == nil {
			s = &state{}
			byKey[k] = s
			keys = append(keys, k)
		}
		if s.trigger != nil {
			if r.Time.Sub(s.episode[len(s.episode)-1].Time) < window {
				s.episode = append(s.episode, r)
				continue
			}
			fire(s)
		}
		s.hits = append(s.hits, r)
		for len(s.hits) > 0 && r.Time.Sub(s.hits[0].Time) >= window {
			s.hits = s.hits[1:]
		}
		if enough(s.hits) {
			s.trigger = r
			s.episode = slices.Clone(s.hits)
			for _, h := range s.hits {
				s.triggerIDs = append(s.triggerIDs, h.ID)
			}
		}
	}
	for _, k := range keys {
		if s := byKey[k]; s.trigger != nil {
			fire(s)
		}
	}
}
