// Package detect finds account abuse in loaded audit records and raises alerts: inbox
// rules and mailbox forwarding that send mail outside the tenant, rules that hide mail,
// transport rules that copy it out, sign-ins from new addresses or countries, password
// spraying, admin role grants, application consent, MFA removal, mailbox permission
// grants, anonymous links and download bursts (see Rules).
//
// Rules are written once, in Go: Evaluate reads the records of a time range (and the
// sign-in history of the look-back before it) with plain parameterized SQL, and every
// decision is made here, so a rule behaves the same on SQLite, PostgreSQL, MySQL/MariaDB
// and SQL Server.
//
// Guarantees:
//   - An alert's ID is the sha256 of its rule and the ids of the records that fired
//     it (for a counting rule, those that reached the threshold), so evaluating the
//     same records again, over any overlapping range, gives the same IDs; Store
//     inserts an alert once and reports only the new ones. Counts are not capped: a
//     counting alert's RecordIDs and evidence hold every record of its episode.
//   - Deliver sends each stored alert to each webhook once: a delivery is claimed in
//     alert_delivery before the POST and marked sent after it; a failure is marked
//     failed and retried by the next Deliver. A process that dies between the POST and
//     the mark leaves the claim, which is retried after ClaimTimeout (at least once
//     beats never for an alert).
//
// The tenant's own domains are Config.Domains plus those learned from the records:
// the domain of at least a fifth (and two) of the tenant's distinct member user ids,
// never a consumer mail domain (gmail.com, outlook.com, ...) nor a guest's, and the
// OrganizationName of Exchange records (x.onmicrosoft.com). Accepted domains added in
// the records are not learned (an attacker could add one; adding one alerts). Guest
// UPNs (#EXT#) are external whatever their domain. A recipient given by name resolves
// through the mail contacts and mail users created in the records.
package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/escape"
)

// Severities, from most to least urgent.
const (
	SeverityHigh   = "high"
	SeverityMedium = "medium"
	SeverityLow    = "low"
)

func severityRank(s string) int {
	switch strings.ToLower(s) {
	case SeverityHigh:
		return 3
	case SeverityMedium:
		return 2
	case SeverityLow:
		return 1
	}
	return 0
}

// Alert is one finding of a rule.
type Alert struct {
	// ID is the hex sha256 of the rule and the ids of the records that fired it (see
	// AlertID): for a counting rule, those that reached its threshold, the first of
	// RecordIDs, so more records of the same episode seen later do not make a new alert.
	ID       string `json:"id"`
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	TenantID string `json:"tenant_id"`
	// UserID is the user the alert is about: the record's UserId (for a sign-in, the
	// user signing in; for a change, who made it; the target is in Evidence).
	UserID string `json:"user_id"`
	// RecordID is the record that fired the rule; RecordIDs every record it rests on.
	RecordID  string   `json:"record_id"`
	RecordIDs []string `json:"record_ids"`
	ClientIP  string   `json:"client_ip"`
	// Country is the ISO code of ClientIP's country, when a GeoIP database is set.
	Country string `json:"country,omitempty"`
	// CreationTime is the CreationTime of RecordID.
	CreationTime time.Time `json:"creation_time"`
	// Summary is one sentence for a person.
	Summary string `json:"summary"`
	// Evidence holds the values the rule looked at.
	Evidence map[string]string `json:"evidence"`
	// Remediation lists suggested commands, to check before running.
	Remediation []string `json:"remediation"`
	// DetectedAt is when the alert was first stored (zero before Store).
	DetectedAt time.Time `json:"detected_at,omitzero"`
}

// AlertID returns the deterministic id of an alert of rule on records.
func AlertID(rule string, recordIDs ...string) string {
	return hashHex(rule + "\x00" + strings.Join(recordIDs, "\x00"))
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// psQuote quotes a value for PowerShell as escape.PowerShell does: a single-quoted
// literal with each of PowerShell's five single-quote characters doubled and control
// characters written [char]0x.., so no record text can leave the literal. Every value a
// remediation line takes from a record goes through it (or odataEq).
func psQuote(s string) string {
	return escape.PowerShell(s)
}

// odataEq returns a PowerShell literal of the OData filter field eq 'value' (the
// value's quotes doubled for OData, then the whole quoted for PowerShell).
func odataEq(field, value string) string {
	return psQuote(field + " eq '" + strings.ReplaceAll(value, "'", "''") + "'")
}
