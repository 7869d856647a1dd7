package detect

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

var signinOps = []string{"UserLoggedIn", "UserLoginFailed"}

// userHistory is what is known of one user's successful sign-ins so far.
type userHistory struct {
	signins   int
	networks  map[netip.Prefix]bool
	countries map[string]bool
}

// signins runs the sign-in rules over recs (every sign-in of the look-back and the
// range, in time order): history is built as it goes, and only sign-ins inside the
// range can alert.
func (e *evaluation) signins(recs []*record) {
	newAddr, newCountry := e.on(RuleSigninNewAddress), e.on(RuleSigninNewCountry) && e.geo != nil
	users := map[string]*userHistory{}
	// netUsers: per tenant and network, the users who signed in from it.
	netUsers := map[string]map[netip.Prefix]map[string]bool{}
	for _, r := range recs {
		if r.signinFailed() || r.UserID == "" {
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
		country := e.country(r.ClientIP)
		baseline := h.signins >= e.th.SigninMinHistory
		switch {
		case !e.inRange(r.Time) || !baseline:
		case newCountry && country != "" && len(h.countries) > 0 && !h.countries[country]:
			e.emit(r, RuleSigninNewCountry, fmt.Sprintf("%s signed in from %s (%s), a country not seen for this user in the previous %d days (%d earlier sign-ins from %s).",
				r.UserID, country, r.ClientIP, e.th.LookbackDays, h.signins, strings.Join(sortedKeys(h.countries), ", ")),
				map[string]string{"country": country, "known_countries": strings.Join(sortedKeys(h.countries), ", "), "earlier_signins": strconv.Itoa(h.signins), "network": n.String()},
				signinRemediation(r))
		case newAddr && !h.networks[n] && others < e.th.SharedNetworkUsers:
			known := make([]string, 0, len(h.networks))
			for p := range h.networks {
				known = append(known, p.String())
			}
			slices.Sort(known)
			if len(known) > 5 {
				known = append(known[:5], fmt.Sprintf("and %d more", len(known)-5))
			}
			e.emit(r, RuleSigninNewAddress, fmt.Sprintf("%s signed in from %s, a network not seen for this user in the previous %d days (%d earlier sign-ins from %s).",
				r.UserID, r.ClientIP, e.th.LookbackDays, h.signins, strings.Join(known, ", ")),
				map[string]string{"network": n.String(), "known_networks": strings.Join(known, ", "), "earlier_signins": strconv.Itoa(h.signins), "other_users_on_network": strconv.Itoa(others)},
				signinRemediation(r))
		}
		h.signins++
		h.networks[n] = true
		if country != "" {
			h.countries[country] = true
		}
		if netUsers[r.TenantID][n] == nil {
			netUsers[r.TenantID][n] = map[string]bool{}
		}
		netUsers[r.TenantID][n][key] = true
	}
}

func signinRemediation(r *record) []string {
	return []string{
		fmt.Sprintf("Get-MgAuditLogSignIn -Filter \"userPrincipalName eq '%s'\" -Top 50 | Format-Table CreatedDateTime,IPAddress,AppDisplayName,Status", strings.ReplaceAll(r.UserID, "'", "''")),
		fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
		fmt.Sprintf("Get-InboxRule -Mailbox %s", psQuote(r.UserID)),
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

// spray fires when failures of many users come from one address within the window.
// After an alert the address is quiet for one window, then counting starts afresh.
func (e *evaluation) spray(recs []*record) {
	if !e.on(RuleSigninSpray) {
		return
	}
	window := time.Duration(e.th.SprayWindowMinutes) * time.Minute
	type state struct {
		fails []*record
		quiet time.Time
	}
	byIP := map[string]*state{}
	for _, r := range recs {
		if !r.signinFailed() || r.ClientIP == "" {
			continue
		}
		key := r.TenantID + "\x00" + r.ClientIP
		s := byIP[key]
		if s == nil {
			s = &state{}
			byIP[key] = s
		}
		if r.Time.Before(s.quiet) {
			continue
		}
		s.fails = append(s.fails, r)
		for len(s.fails) > 0 && r.Time.Sub(s.fails[0].Time) >= window {
			s.fails = s.fails[1:]
		}
		users := map[string]bool{}
		var names []string
		for _, f := range s.fails {
			u := strings.ToLower(f.UserID)
			if !users[u] {
				users[u] = true
				names = append(names, f.UserID)
			}
		}
		if len(users) < e.th.SprayUsers {
			continue
		}
		ids := make([]string, len(s.fails))
		for i, f := range s.fails {
			ids[i] = f.ID
		}
		shown := names
		if len(shown) > 20 {
			shown = append(slices.Clone(shown[:20]), fmt.Sprintf("and %d more", len(names)-20))
		}
		if e.inRange(r.Time) {
			e.emitMany(r, ids, RuleSigninSpray, fmt.Sprintf("%d failed sign-ins of %d different users from %s within %s (password spraying or credential stuffing).",
				len(s.fails), len(users), r.ClientIP, window),
				map[string]string{"failures": strconv.Itoa(len(s.fails)), "users": strings.Join(shown, ", "), "user_count": strconv.Itoa(len(users)),
					"first": s.fails[0].Time.Format(time.RFC3339), "last": r.Time.Format(time.RFC3339)},
				[]string{
					fmt.Sprintf("Get-MgAuditLogSignIn -Filter \"ipAddress eq '%s'\" -All | Group-Object UserPrincipalName | Sort-Object Count -Descending", r.ClientIP),
					fmt.Sprintf("# Block %s with a Conditional Access named location, and reset the password of any user who later signed in from it.", r.ClientIP),
				})
		}
		s.fails = nil
		s.quiet = r.Time.Add(window)
	}
}
