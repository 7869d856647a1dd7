package detect

import (
	"slices"
	"strings"
)

// Rule describes one detection rule.
type Rule struct {
	// Name is how config (disabled) and alerts name the rule.
	Name string
	// Severity of its alerts.
	Severity string
	// Description says what fires it.
	Description string
}

// The rule names.
const (
	RuleInboxForwardExternal   = "inbox_rule_forward_external"
	RuleInboxHide              = "inbox_rule_hide"
	RuleMailboxForwardExternal = "mailbox_forward_external"
	RuleTransportCopyExternal  = "transport_rule_external"
	RuleSigninNewAddress       = "signin_new_address"
	RuleSigninNewCountry       = "signin_new_country"
	RuleSigninSpray            = "signin_spray"
	RuleAdminRoleGranted       = "admin_role_granted"
	RuleAppConsent             = "app_consent"
	RuleMFARemoved             = "mfa_removed"
	RuleMailboxPermissionGrant = "mailbox_permission_granted"
	RuleAnonymousLink          = "anonymous_link"
	RuleDownloadBurst          = "download_burst"
)

var rules = []Rule{
	{RuleInboxForwardExternal, SeverityHigh, "New-InboxRule/Set-InboxRule with ForwardTo, ForwardAsAttachmentTo or RedirectTo outside the tenant's domains, or an Outlook UpdateInboxRules whose actions forward or redirect outside them."},
	{RuleInboxHide, SeverityHigh, "An inbox rule that deletes mail or moves it to Deleted Items, Junk Email, RSS Feeds/Subscriptions, Archive or Conversation History, for all incoming mail (no condition) or for mail about payments, invoices, passwords or security (the words attackers hide)."},
	{RuleMailboxForwardExternal, SeverityHigh, "Set-Mailbox (or New-Mailbox) with ForwardingSmtpAddress or ForwardingAddress outside the tenant's domains."},
	{RuleTransportCopyExternal, SeverityHigh, "New-TransportRule/Set-TransportRule that blind-copies, copies, redirects or adds recipients outside the tenant's domains."},
	{RuleSigninNewAddress, SeverityMedium, "A successful sign-in from a network (IPv4 /24, IPv6 /48) the user has not signed in from in the look-back and that is not a network several other users sign in from; only for users with a baseline (signin_min_history earlier sign-ins)."},
	{RuleSigninNewCountry, SeverityHigh, "A successful sign-in from a country the user has not signed in from in the look-back (needs geoip_file; same baseline rule)."},
	{RuleSigninSpray, SeverityHigh, "Failed sign-ins of spray_users or more distinct users from one address within spray_window_minutes."},
	{RuleAdminRoleGranted, SeverityHigh, "A directory role assigned (Add member to role., eligible or scoped), or an Exchange role group member or management role assignment added."},
	{RuleAppConsent, SeverityMedium, "Consent granted to an application (Consent to application.)."},
	{RuleMFARemoved, SeverityHigh, "Strong authentication disabled, security info deleted, or an Update user. that removes StrongAuthentication methods or requirements."},
	{RuleMailboxPermissionGrant, SeverityMedium, "FullAccess granted on a mailbox (Add-MailboxPermission) or SendAs granted (Add-RecipientPermission, Add-ADPermission), by anyone but the service itself."},
	{RuleAnonymousLink, SeverityLow, "anonymous_links or more anonymous sharing links created by one user within anonymous_link_window_minutes (set anonymous_links: 1 to alert on every one)."},
	{RuleDownloadBurst, SeverityMedium, "download_burst or more file downloads by one user within download_window_minutes."},
}

// Rules lists every rule.
func Rules() []Rule { return slices.Clone(rules) }

// RuleNames lists every rule's name.
func RuleNames() []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.Name
	}
	return out
}

func ruleByName(name string) (Rule, bool) {
	for _, r := range rules {
		if strings.EqualFold(r.Name, name) {
			return r, true
		}
	}
	return Rule{}, false
}

func severityOf(rule string) string {
	r, _ := ruleByName(rule)
	return r.Severity
}
