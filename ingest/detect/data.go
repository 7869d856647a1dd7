package detect

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// record is what the rules see of one audit record.
type record struct {
	ID, TenantID, Operation, UserID, ClientIP, ResultStatus string
	ObjectID, TargetUPN, MailboxOwner, ErrorNumber          string
	LogonError, AppID, ClientAppID, SiteURL                 string
	RecordType, UserType, LogonType                         int64
	Time                                                    time.Time
	props                                                   []prop
	// raw is the record as received, read only for the rules that need it (see
	// loadRaw).
	raw string
}

// loadRaw reads the raw JSON of recs that lack it, in chunks.
func loadRaw(ctx context.Context, h sink.Handle, recs []*record) error {
	byID := map[string]*record{}
	var ids []any
	for _, r := range recs {
		if r.raw == "" && byID[r.ID] == nil {
			byID[r.ID] = r
			ids = append(ids, r.ID)
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), 500)
		rows, err := h.DB.QueryContext(ctx, h.Dialect.Rebind(`SELECT id, raw FROM audit_record WHERE id IN (`+sink.Placeholders(n)+`)`), ids[:n]...)
		if err != nil {
			return fmt.Errorf("reading raw records: %w", err)
		}
		for rows.Next() {
			var id string
			var raw sql.NullString
			if err := rows.Scan(&id, &raw); err != nil {
				rows.Close()
				return fmt.Errorf("reading raw records: %w", err)
			}
			if r := byID[id]; r != nil {
				r.raw = raw.String
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading raw records: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

type prop struct {
	List, Name      string
	Value, OldValue string
	HasValue        bool
}

// get returns the first value of the named element of a list (names compare
// case-insensitively: cmdlet parameters are not case-sensitive).
func (r *record) get(list, name string) (string, bool) {
	for _, p := range r.props {
		if p.List == list && strings.EqualFold(p.Name, name) {
			return p.Value, p.HasValue
		}
	}
	return "", false
}

// succeeded reports whether the record's ResultStatus does not say it failed
// (Exchange admin: True/False; Entra: Success/Failure; others: Succeeded/Failed).
func (r *record) succeeded() bool {
	switch strings.ToLower(r.ResultStatus) {
	case "false", "failed", "failure", "partiallysucceeded":
		return false
	}
	return true
}

// signinFailed reports whether a sign-in record is a failure.
func (r *record) signinFailed() bool {
	return r.Operation == "UserLoginFailed" || (r.ErrorNumber != "" && r.ErrorNumber != "0")
}

// scanTime converts what a driver returns for a Time column into a UTC time.
func scanTime(v any) (time.Time, error) { return sink.ScanTime(v) }

// recordColumns are the audit_record columns the rules read, in scan order.
const recordColumns = `r.id, r.tenant_id, r.creation_time, r.operation, r.user_id, r.client_ip, r.result_status,
	r.object_id, r.target_upn, r.mailbox_owner_upn, r.error_number, r.record_type, r.user_type,
	r.logon_error, r.app_id, r.client_app_id, r.site_url, r.logon_type`

func scanRecord(rows *sql.Rows, withRaw bool) (*record, error) {
	var (
		r                                               record
		t                                               any
		op, user, ip, status, obj, target, owner, errNo sql.NullString
		logonErr, appID, clientApp, site, raw           sql.NullString
		rt, ut, lt                                      sql.NullInt64
	)
	dst := []any{&r.ID, &r.TenantID, &t, &op, &user, &ip, &status, &obj, &target, &owner, &errNo, &rt, &ut,
		&logonErr, &appID, &clientApp, &site, &lt}
	if withRaw {
		dst = append(dst, &raw)
	}
	if err := rows.Scan(dst...); err != nil {
		return nil, err
	}
	r.LogonError, r.AppID, r.ClientAppID, r.SiteURL, r.raw = logonErr.String, appID.String, clientApp.String, site.String, raw.String
	r.LogonType = -1
	if lt.Valid {
		r.LogonType = lt.Int64
	}
	var err error
	if r.Time, err = scanTime(t); err != nil {
		return nil, fmt.Errorf("record %s: creation_time: %w", r.ID, err)
	}
	r.Operation, r.UserID, r.ClientIP, r.ResultStatus = op.String, user.String, ip.String, status.String
	r.ObjectID, r.TargetUPN, r.MailboxOwner, r.ErrorNumber = obj.String, target.String, owner.String, errNo.String
	r.RecordType, r.UserType = rt.Int64, ut.Int64
	if !ut.Valid {
		r.UserType = -1
	}
	return &r, nil
}

// propEq keeps only the records with a property: list, name and value.
type propEq struct{ list, name, value string }

// loadRecords reads the records of the given operations with from <= creation_time < to,
// in time order, with their audit_property rows when withProps and their raw JSON
// when withRaw; with only set, just those having that property (MailItemsAccessed of
// MailAccessType Sync, not every message read).
func loadRecords(ctx context.Context, h sink.Handle, ops []string, from, to time.Time, withProps, withRaw bool, only ...propEq) ([]*record, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(ops)+2)
	for _, o := range ops {
		args = append(args, o)
	}
	args = append(args, h.Dialect.Time(from), h.Dialect.Time(to))
	where := `r.operation IN (` + sink.Placeholders(len(ops)) + `) AND r.creation_time >= ? AND r.creation_time < ?`
	for _, o := range only {
		q := h.Dialect.Quote
		where += ` AND EXISTS (SELECT 1 FROM audit_property f WHERE f.record_id = r.id AND f.` + q("list") + ` = ? AND f.` + q("name") + ` = ? AND f.` + q("value") + ` = ?)`
		args = append(args, o.list, o.name, o.value)
	}
	cols := recordColumns
	if withRaw {
		cols += ", r.raw"
	}
	rows, err := h.DB.QueryContext(ctx, h.Dialect.Rebind(`SELECT `+cols+` FROM audit_record r WHERE `+where+` ORDER BY r.creation_time, r.id`), args...)
	if err != nil {
		return nil, fmt.Errorf("reading records: %w", err)
	}
	var recs []*record
	byID := map[string]*record{}
	for rows.Next() {
		r, err := scanRecord(rows, withRaw)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading records: %w", err)
		}
		recs = append(recs, r)
		byID[r.ID] = r
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("reading records: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading records: %w", err)
	}
	if !withProps || len(recs) == 0 {
		return recs, nil
	}
	q := func(s string) string { return "p." + h.Dialect.Quote(s) }
	prows, err := h.DB.QueryContext(ctx, h.Dialect.Rebind(`SELECT p.record_id, `+q("list")+`, `+q("name")+`, `+q("value")+`, p.old_value
		FROM audit_property p JOIN audit_record r ON r.id = p.record_id
		WHERE `+where+` ORDER BY p.record_id, `+q("list")+`, `+q("ordinal")), args...)
	if err != nil {
		return nil, fmt.Errorf("reading record properties: %w", err)
	}
	defer prows.Close()
	for prows.Next() {
		var id string
		var p prop
		var v, old sql.NullString
		if err := prows.Scan(&id, &p.List, &p.Name, &v, &old); err != nil {
			return nil, fmt.Errorf("reading record properties: %w", err)
		}
		p.Value, p.HasValue, p.OldValue = v.String, v.Valid, old.String
		if r := byID[id]; r != nil {
			r.props = append(r.props, p)
		}
	}
	if err := prows.Err(); err != nil {
		return nil, fmt.Errorf("reading record properties: %w", err)
	}
	return recs, nil
}

// epoch is earlier than any audit record and within every database's time range.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// learnDomains returns, per tenant, the domains learned from the records of
// [from, to) (see the package doc): the domain of at least a fifth of the tenant's
// member user ids (and of at least two of them, unless the tenant has only one), never
// a consumer mail domain, never a guest's; and the OrganizationName of Exchange
// records. Accepted domains added in the records are not learned: adding one is an
// alert (domain_added), and an attacker who adds one must not make forwarding to it
// internal.
func learnDomains(ctx context.Context, h sink.Handle, from, to time.Time) (map[string]domainSet, error) {
	out := map[string]domainSet{}
	set := func(tenant string) domainSet {
		if out[tenant] == nil {
			out[tenant] = domainSet{}
		}
		return out[tenant]
	}
	tf, tt := h.Dialect.Time(from), h.Dialect.Time(to)
	rows, err := h.DB.QueryContext(ctx, h.Dialect.Rebind(`SELECT tenant_id, user_id FROM audit_record
		WHERE creation_time >= ? AND creation_time < ? AND user_id LIKE ? GROUP BY tenant_id, user_id`), tf, tt, "%@%")
	if err != nil {
		return nil, fmt.Errorf("learning domains: %w", err)
	}
	users := map[string]int{}
	perDomain := map[[2]string]map[string]bool{}
	for rows.Next() {
		var tenant, user string
		if err := rows.Scan(&tenant, &user); err != nil {
			rows.Close()
			return nil, fmt.Errorf("learning domains: %w", err)
		}
		user = strings.ToLower(strings.TrimSpace(user))
		if d := domainOf(user); guestID(user) || !strings.Contains(d, ".") || consumerDomain(d) {
			continue // a guest, a service (app@sharepoint) or a consumer address: no vote
		}
		k := [2]string{tenant, domainOf(user)}
		if perDomain[k] == nil {
			perDomain[k] = map[string]bool{}
		}
		if !perDomain[k][user] {
			perDomain[k][user] = true
			users[tenant]++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("learning domains: %w", err)
	}
	for k, us := range perDomain {
		n, total := len(us), users[k[0]]
		if n*100 < total*minDomainSharePercent || (n < 2 && total > 1) {
			continue
		}
		set(k[0]).add(k[1])
	}
	orgs, err := h.DB.QueryContext(ctx, h.Dialect.Rebind(`SELECT DISTINCT tenant_id, organization_name FROM audit_record
		WHERE creation_time >= ? AND creation_time < ? AND organization_name IS NOT NULL`), tf, tt)
	if err != nil {
		return nil, fmt.Errorf("learning domains: %w", err)
	}
	for orgs.Next() {
		var tenant, org string
		if err := orgs.Scan(&tenant, &org); err != nil {
			orgs.Close()
			return nil, fmt.Errorf("learning domains: %w", err)
		}
		if strings.Contains(org, ".") && !consumerDomain(org) {
			set(tenant).add(org)
		}
	}
	orgs.Close()
	if err := orgs.Err(); err != nil {
		return nil, fmt.Errorf("learning domains: %w", err)
	}
	return out, nil
}

// minDomainSharePercent is the share of a tenant's member user ids a domain needs to
// be learned as the tenant's own.
const minDomainSharePercent = 20

// guestID reports whether a user id is a guest's or an external user's: a guest UPN
// (x_fabrikam.com#EXT#@contoso.com), a SharePoint guest claim (urn:spo:guest#x@gmail.com)
// or another claims string.
func guestID(user string) bool {
	u := strings.ToLower(user)
	return strings.Contains(u, "#ext#") || strings.HasPrefix(u, "urn:") || strings.Contains(u, "|") || strings.Contains(u, "#")
}

// consumerDomains are mail domains anyone can get an address at: never a tenant's own.
var consumerDomains = []string{
	"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "passport.com",
	"yahoo.com", "ymail.com", "rocketmail.com", "aol.com", "aim.com", "icloud.com", "me.com", "mac.com",
	"protonmail.com", "protonmail.ch", "proton.me", "pm.me", "tutanota.com", "tuta.io", "gmx.com", "gmx.net",
	"gmx.de", "web.de", "mail.com", "email.com", "yandex.com", "yandex.ru", "mail.ru", "inbox.ru", "bk.ru",
	"list.ru", "rambler.ru", "zoho.com", "zohomail.com", "qq.com", "163.com", "126.com", "sina.com", "naver.com",
	"daum.net", "hanmail.net", "fastmail.com", "hey.com", "comcast.net", "att.net", "verizon.net", "sbcglobal.net",
	"btinternet.com", "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "libero.it", "t-online.de",
	"freenet.de", "seznam.cz", "wp.pl", "o2.pl", "interia.pl", "rediffmail.com", "mailinator.com",
	"guerrillamail.com", "temp-mail.org",
}

// consumerDomain reports whether d is a consumer mail domain: one of consumerDomains,
// a country variant of a big provider (hotmail.co.uk, yahoo.fr, outlook.de, live.ca),
// or a subdomain of one.
func consumerDomain(d string) bool {
	d = normDomain(d)
	for _, c := range consumerDomains {
		if d == c || strings.HasSuffix(d, "."+c) {
			return true
		}
	}
	labels := strings.Split(d, ".")
	if len(labels) == 2 || (len(labels) == 3 && (labels[1] == "co" || labels[1] == "com")) {
		switch labels[0] {
		case "gmail", "googlemail", "hotmail", "outlook", "live", "msn", "yahoo", "ymail", "aol", "gmx", "yandex", "icloud":
			return true
		}
	}
	return false
}
