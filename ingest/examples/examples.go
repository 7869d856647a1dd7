// Package examples holds every example query the documentation gives analysts (README.md
// and ingest/detect/README.md), each with its text per dialect and the indexes that
// should serve it, and reads EXPLAIN to tell whether a database used an index. The
// documents show these texts verbatim (a test checks it), the tests run each on SQLite,
// PostgreSQL and MariaDB, and `o365ingest bench --queries` times them.
package examples

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/o365ingest/o365ingest/schema"
)

// The documents the queries appear in, relative to the module root.
const (
	Readme       = "README.md"
	DetectReadme = "ingest/detect/README.md"
)

// Query is one documented example.
type Query struct {
	// Name identifies it in bench output.
	Name string
	// Question is what it answers, as the document's heading says.
	Question string
	// Doc is the document that shows it.
	Doc string
	// SQL is the text for every dialect without an entry in Dialect.
	SQL string
	// Dialect holds the texts of the dialects that need their own.
	Dialect map[string]string
	// Indexes, when set, are the indexes that should serve the query (one of them
	// appears in EXPLAIN); a query without serves a report or scans by nature.
	Indexes []string
	// IndexedOn, when set, limits Indexes to these dialects: elsewhere the query is
	// timed but its plan is the planner's choice (e.g. a scan of the sign-ins).
	IndexedOn []string
}

// Indexed returns the indexes that should serve the query on dialect (none: no index
// is expected there).
func (q Query) Indexed(dialect string) []string {
	if len(q.IndexedOn) > 0 && !slices.Contains(q.IndexedOn, dialect) {
		return nil
	}
	return q.Indexes
}

// For returns the query's text for dialect.
func (q Query) For(dialect string) string {
	if s, ok := q.Dialect[dialect]; ok {
		return s
	}
	return q.SQL
}

// Texts returns the query's distinct texts with the dialects that use each, in the
// order postgres, mysql, sqlite, sqlserver.
func (q Query) Texts() []Text {
	var out []Text
	for _, d := range []string{"postgres", "mysql", "sqlite", "sqlserver"} {
		s := q.For(d)
		i := slices.IndexFunc(out, func(t Text) bool { return t.SQL == s })
		if i < 0 {
			out = append(out, Text{SQL: s})
			i = len(out) - 1
		}
		out[i].Dialects = append(out[i].Dialects, d)
	}
	return out
}

// Text is one text of a query and the dialects it is for.
type Text struct {
	SQL      string
	Dialects []string
}

// Queries are the documented examples: first the analyst questions of README.md, each
// index-served, then the views' examples of ingest/detect/README.md.
var Queries = []Query{
	{
		Name:     "user_activity",
		Question: "Everything one user did in a time range",
		Doc:      Readme,
		SQL: `SELECT creation_time, workload, operation, client_ip, object_id
  FROM audit_record
 WHERE user_id = 'Megan.Bowen@contoso.com'
   AND creation_time >= '2026-11-01' AND creation_time < '2026-12-01'
 ORDER BY creation_time;`,
		Indexes: []string{"ix_audit_record_user_time"},
	},
	{
		Name:     "site_files",
		Question: "Who downloaded or shared files from a site",
		Doc:      Readme,
		SQL: `SELECT creation_time, user_id, operation, object_id, client_ip
  FROM audit_record
 WHERE site_url = 'https://contoso.sharepoint.com/sites/Finance/'
   AND operation IN ('FileDownloaded', 'FileSyncDownloadedFull', 'FileCopied', 'SharingSet', 'SharingInvitationCreated',
                     'AnonymousLinkCreated', 'SecureLinkCreated', 'AddedToSecureLink', 'CompanyLinkCreated')
 ORDER BY creation_time;`,
		Dialect: map[string]string{"sqlserver": `SELECT creation_time, user_id, operation, object_id, client_ip
  FROM audit_record
 WHERE site_url_prefix = LEFT('https://contoso.sharepoint.com/sites/Finance/', 400)
   AND site_url = 'https://contoso.sharepoint.com/sites/Finance/'
   AND operation IN ('FileDownloaded', 'FileSyncDownloadedFull', 'FileCopied', 'SharingSet', 'SharingInvitationCreated',
                     'AnonymousLinkCreated', 'SecureLinkCreated', 'AddedToSecureLink', 'CompanyLinkCreated')
 ORDER BY creation_time;`},
		// ix_audit_record_site_operation on MySQL/MariaDB (the rows of the operations
		// asked for only), ix_audit_record_site elsewhere.
		Indexes: []string{"ix_audit_record_site", "ix_audit_record_site_operation"},
	},
	{
		Name:     "signins_country",
		Question: "Sign-ins from a country",
		Doc:      Readme,
		SQL: `SELECT creation_time, user_id, client_ip, client_asn, succeeded, application_id
  FROM v_signin
 WHERE client_country = 'NG'
   AND creation_time >= '2026-11-01'
 ORDER BY creation_time;`,
		Indexes: []string{"ix_audit_record_country_time"},
	},
	{
		Name:     "signins_asn",
		Question: "Sign-ins from an autonomous system (an ASN database)",
		Doc:      Readme,
		SQL: `SELECT creation_time, user_id, client_ip, client_country, succeeded
  FROM v_signin
 WHERE client_asn = 64496
 ORDER BY creation_time;`,
		Indexes: []string{"ix_audit_record_asn_time"},
	},
	{
		Name:     "ip_activity",
		Question: "Everything from one IP address",
		Doc:      Readme,
		SQL: `SELECT creation_time, user_id, workload, operation, object_id
  FROM audit_record
 WHERE client_ip = '203.0.113.66'
 ORDER BY creation_time;`,
		Indexes: []string{"ix_audit_record_ip"},
	},
	{
		Name:     "network_activity",
		Question: "Everything from one network (here 203.0.113.0/24)",
		Doc:      Readme,
		SQL: `SELECT creation_time, user_id, client_ip, workload, operation
  FROM audit_record
 WHERE client_ip LIKE '203.0.113.%'
 ORDER BY creation_time;`,
		Dialect: map[string]string{"sqlite": `SELECT creation_time, user_id, client_ip, workload, operation
  FROM audit_record
 WHERE client_ip GLOB '203.0.113.*'
 ORDER BY creation_time;`},
		Indexes: []string{"ix_audit_record_ip", "ix_audit_record_ip_prefix"},
	},
	{
		Name:     "mailbox_access",
		Question: "Who accessed a mailbox (MailItemsAccessed, and anyone but its owner)",
		Doc:      Readme,
		SQL: `SELECT creation_time, user_id, operation, logon_type, client_ip, client_info_string
  FROM audit_record
 WHERE mailbox_owner_upn = 'Alex.Wilber@contoso.com'
   AND (operation = 'MailItemsAccessed' OR logon_type <> 0 OR user_id <> mailbox_owner_upn)
 ORDER BY creation_time;`,
		Indexes: []string{"ix_audit_record_mailbox_owner"},
	},
	{
		Name:     "admin_changes",
		Question: "What an admin changed",
		Doc:      Readme,
		SQL: `SELECT creation_time, category, operation, target, detail, grantee, result_status
  FROM v_admin_change
 WHERE user_id = 'Admin@contoso.com'
   AND creation_time >= '2026-11-01'
 ORDER BY creation_time;`,
		Indexes: []string{"ix_audit_record_user_time"},
	},
	{
		Name:     "failures_by_address",
		Question: "Sign-in failures by address in the last day",
		Doc:      Readme,
		SQL: `SELECT client_ip, COUNT(*) AS failures, COUNT(DISTINCT user_id) AS users
  FROM audit_record
 WHERE operation = 'UserLoginFailed' AND creation_time >= now() - interval '1 day'
 GROUP BY client_ip ORDER BY failures DESC LIMIT 20;`,
		Dialect: map[string]string{
			"mysql": `SELECT client_ip, COUNT(*) AS failures, COUNT(DISTINCT user_id) AS users
  FROM audit_record
 WHERE operation = 'UserLoginFailed' AND creation_time >= UTC_TIMESTAMP() - INTERVAL 1 DAY
 GROUP BY client_ip ORDER BY failures DESC LIMIT 20;`,
			"sqlite": `SELECT client_ip, COUNT(*) AS failures, COUNT(DISTINCT user_id) AS users
  FROM audit_record
 WHERE operation = 'UserLoginFailed' AND creation_time >= datetime('now', '-1 day')
 GROUP BY client_ip ORDER BY failures DESC LIMIT 20;`,
			"sqlserver": `SELECT TOP 20 client_ip, COUNT(*) AS failures, COUNT(DISTINCT user_id) AS users
  FROM audit_record
 WHERE operation = 'UserLoginFailed' AND creation_time >= DATEADD(day, -1, SYSUTCDATETIME())
 GROUP BY client_ip ORDER BY failures DESC;`,
		},
		// A report over the last day: on PostgreSQL the day's month partition is the
		// cut, the indexes serve the other databases.
	},
	{
		Name:     "readme_inbox_rule_forward",
		Question: "Every New-InboxRule whose ForwardTo is outside our domain",
		Doc:      Readme,
		SQL: `SELECT r.creation_time, r.user_id, r.client_ip, p.value AS forward_to
FROM audit_record r
JOIN audit_property p ON p.record_id = r.id AND p.list = 'Parameters'
WHERE r.operation = 'New-InboxRule'
  AND p.name IN ('ForwardTo', 'RedirectTo', 'ForwardAsAttachmentTo')
  AND p.value NOT LIKE '%@contoso.com%'
ORDER BY r.creation_time;`,
		// From the records by operation, or from the properties by name
		// (ix_audit_property_lookup on PostgreSQL and SQLite since version 9, which
		// dropped ix_audit_property_name there: PostgreSQL takes it at 1,000,000 records).
		Indexes: []string{"ix_audit_record_operation_time", "ix_audit_property_name", "ix_audit_property_lookup"},
	},
	{
		Name:     "detect_forwarding_rules",
		Question: "Inbox rules that forward or redirect outside the organization",
		Doc:      DetectReadme,
		SQL: `SELECT creation_time, user_id, client_ip, source, rule_name, forward_to, redirect_to, forward_as_attachment_to, delete_message
  FROM v_mailbox_rule
 WHERE record_id IN (SELECT record_id FROM audit_property
                      WHERE list = 'Parameters' AND name IN ('ForwardTo', 'RedirectTo', 'ForwardAsAttachmentTo'))
   AND (forward_to IS NOT NULL OR redirect_to IS NOT NULL OR forward_as_attachment_to IS NOT NULL)
   AND LOWER(COALESCE(forward_to, redirect_to, forward_as_attachment_to)) NOT LIKE '%@contoso.com%'
 ORDER BY creation_time;`,
		// The rules that have such a parameter, found by name, rather than every rule's
		// parameters read one rule at a time (PostgreSQL takes the same path at 1,000,000
		// records; on a handful of rows it may read the rules first).
		Indexes:   []string{"ix_audit_property_name"},
		IndexedOn: []string{"mysql"},
	},
	{
		Name:     "detect_mailbox_forwarding",
		Question: "Mailbox forwarding to an outside address (the last change per mailbox wins)",
		Doc:      DetectReadme,
		SQL: `SELECT creation_time, user_id, client_ip, target, forwarding_smtp_address, deliver_to_mailbox_and_forward
  FROM v_mailbox_forwarding
 WHERE record_id IN (SELECT record_id FROM audit_property
                      WHERE list = 'Parameters' AND name = 'ForwardingSmtpAddress')
   AND kind = 'mailbox'
   AND forwarding_smtp_address IS NOT NULL
   AND LOWER(forwarding_smtp_address) NOT LIKE '%@contoso.com'
 ORDER BY target, creation_time;`,
		Indexes:   []string{"ix_audit_property_name"},
		IndexedOn: []string{"mysql"},
	},
	{
		Name:     "detect_password_spraying",
		Question: "Addresses with failed sign-ins of several users (password spraying)",
		Doc:      DetectReadme,
		SQL: `SELECT client_ip, COUNT(*) AS failures, COUNT(DISTINCT user_id) AS users,
       MIN(creation_time) AS first_seen, MAX(creation_time) AS last_seen
  FROM v_signin
 WHERE succeeded = 0
 GROUP BY client_ip
HAVING COUNT(DISTINCT user_id) >= 3
 ORDER BY users DESC, failures DESC;`,
		// MySQL/MariaDB: from ix_audit_record_signin alone (v_signin's succeeded is the
		// derived column it starts with); PostgreSQL and SQLite scan the sign-ins.
		Indexes:   []string{"ix_audit_record_signin"},
		IndexedOn: []string{"mysql"},
	},
	{
		Name:     "detect_one_address",
		Question: "Everything one address did, across workloads (pivot on an attacker's IP)",
		Doc:      DetectReadme,
		SQL: `SELECT r.creation_time, r.workload, r.operation, r.user_id, r.object_id
  FROM audit_record r
 WHERE r.client_ip = '203.0.113.66'
 ORDER BY r.creation_time;`,
	},
	{
		Name:     "detect_anonymous_links",
		Question: "Anonymous links and shares to guests",
		Doc:      DetectReadme,
		SQL: `SELECT creation_time, user_id, operation, url, shared_with
  FROM v_sharing
 WHERE external = 1
 ORDER BY creation_time;`,
		// external covers anonymous links too. MySQL/MariaDB: v_sharing's external is the
		// derived column that index starts with; elsewhere the sharing records by type.
		Indexes: []string{"ix_audit_record_sharing_external", "ix_audit_record_type_time"},
	},
	{
		Name:     "detect_admin_by_category",
		Question: "Admin changes by category",
		Doc:      DetectReadme,
		SQL: `SELECT category, operation, COUNT(*) AS changes
  FROM v_admin_change
 GROUP BY category, operation
 ORDER BY category, changes DESC;`,
		// MySQL/MariaDB from ix_audit_record_operation_id alone; elsewhere the records of
		// the operations by ix_audit_record_operation_time.
		Indexes: []string{"ix_audit_record_operation_id", "ix_audit_record_operation_time"},
	},
}

// Explain runs the dialect's EXPLAIN of q on db and returns the plan as text and the
// names of the indexes it uses (PostgreSQL names a partition's copy of an index after
// the partition and its columns: audit_record_2026_11_user_id_creation_time_idx).
func Explain(ctx context.Context, db *sql.DB, dialect, q string) (plan string, indexes []string, err error) {
	q = strings.TrimSuffix(strings.TrimSpace(q), ";")
	var explain string
	switch dialect {
	case "sqlite":
		explain = "EXPLAIN QUERY PLAN " + q
	case "postgres", "mysql":
		explain = "EXPLAIN " + q
	default:
		return "", nil, fmt.Errorf("%s: no EXPLAIN reader (SQL Server's plans are read in SSMS)", dialect)
	}
	rows, err := db.QueryContext(ctx, explain)
	if err != nil {
		return "", nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", nil, err
	}
	var lines []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", nil, err
		}
		var fields []string
		for i, v := range vals {
			if dialect == "mysql" && cols[i] == "key" && v.Valid {
				indexes = append(indexes, strings.Split(v.String, ",")...)
			}
			fields = append(fields, cols[i]+"="+v.String)
		}
		if dialect == "postgres" {
			fields = []string{vals[0].String}
		}
		lines = append(lines, strings.Join(fields, " "))
	}
	if err := rows.Err(); err != nil {
		return "", nil, err
	}
	plan = strings.Join(lines, "\n")
	var re *regexp.Regexp
	switch dialect {
	case "sqlite":
		re = regexp.MustCompile(`USING (?:COVERING )?INDEX (\S+)`)
	case "postgres":
		re = regexp.MustCompile(`Index (?:Only )?Scan (?:Backward )?(?:using|on) (\S+)`)
	}
	if re != nil {
		for _, m := range re.FindAllStringSubmatch(plan, -1) {
			indexes = append(indexes, m[1])
		}
	}
	return plan, indexes, nil
}

// Serves reports whether one of the used indexes is one of want, or (PostgreSQL) a
// partition's copy of one: named after the partition and the index's columns
// (audit_record_default_user_id_creation_time_idx).
func Serves(used, want []string) bool {
	for _, u := range used {
		for _, w := range want {
			if u == w {
				return true
			}
			if c := firstColumn(w); c != "" && strings.HasPrefix(u, "audit_record") && strings.Contains(u, "_"+c+"_") {
				return true
			}
		}
	}
	return false
}

// firstColumn returns the first column of the index called name ("" if none).
func firstColumn(name string) string {
	for _, t := range schema.Migrated() {
		for _, ix := range t.Indexes {
			if ix.Name == name {
				return ix.Columns[0]
			}
		}
	}
	return ""
}
