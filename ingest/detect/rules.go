package detect

import (
	"slices"
	"strings"
)

// Rule describes one detection rule. The registry (Rules) is the one list that
// evaluation, config (disabled) and the README's rule table are checked against.
type Rule struct {
	// Name is how config (disabled) and alerts name the rule.
	Name string
	// Severity of its alerts.
	Severity string
	// Description says what fires it.
	Description string
	// Technique is the MITRE ATT&CK technique it detects ("T1114.003 Email Forwarding Rule").
	Technique string
	// Anchors are the public rules it matches (SigmaHQ, Azure-Sentinel, Elastic, CISA
	// Sparrow, Hawk titles).
	Anchors []string

	// ops are the operations it reads, from is which records of them (see span), with
	// their properties when props and their raw JSON when raw.
	ops        []string
	from       span
	props, raw bool
	// only keeps the records with this property (none when zero).
	only propEq
	// run evaluates the rule over its records (in time order).
	run func(e *evaluation, recs []*record)
}

// span is how far before the evaluated range a rule reads records.
type span int

const (
	// spanRange reads only the range.
	spanRange span = iota
	// spanWindow reads the rule's counting window before the range.
	spanWindow
	// spanLookback reads the look-back (lookback_days) before the range.
	spanLookback
	// spanEver reads every stored record before the range's end (rare objects such as
	// mail contacts, which may have been created long ago).
	spanEver
)

// The rule names.
const (
	RuleInboxForwardExternal     = "inbox_rule_forward_external"
	RuleInboxHide                = "inbox_rule_hide"
	RuleMailboxForwardExternal   = "mailbox_forward_external"
	RuleTransportCopyExternal    = "transport_rule_external"
	RuleSigninNewAddress         = "signin_new_address"
	RuleSigninNewCountry         = "signin_new_country"
	RuleSigninSpray              = "signin_spray"
	RuleSigninBruteForce         = "signin_brute_force"
	RuleImpossibleTravel         = "impossible_travel"
	RuleAdminRoleGranted         = "admin_role_granted"
	RuleAppConsent               = "app_consent"
	RuleAppCredentialAdded       = "app_credential_added"
	RuleAppRoleGranted           = "app_role_granted"
	RuleMFARemoved               = "mfa_removed"
	RuleAuthMethodRegistered     = "auth_method_registered"
	RuleConditionalAccessChanged = "conditional_access_changed"
	RuleDomainAdded              = "domain_added"
	RuleDomainFederationChanged  = "domain_federation_changed"
	RuleAuditDisabled            = "audit_disabled"
	RuleSecurityPolicyDisabled   = "security_policy_disabled"
	RuleMailboxPermissionGrant   = "mailbox_permission_granted"
	RuleMailboxFolderPermission  = "mailbox_folder_permission_granted"
	RuleMailSyncByApp            = "mail_sync_by_app"
	RuleEDiscoveryExport         = "ediscovery_export"
	RuleSiteAdminAdded           = "site_admin_added"
	RuleTeamExternalMember       = "team_external_member"
	RuleAnonymousLink            = "anonymous_link"
	RuleDownloadBurst            = "download_burst"
	RuleMassDelete               = "mass_delete"
)

// rules is the registry, filled in init (the rules' functions refer back to it).
var rules []Rule

func init() {
	rules = []Rule{
		{Name: RuleInboxForwardExternal, Severity: SeverityHigh,
			Description: "New-InboxRule/Set-InboxRule with ForwardTo, ForwardAsAttachmentTo or RedirectTo outside the tenant's domains (a mail contact named there resolves to its external address), or an Outlook UpdateInboxRules whose actions forward or redirect outside them.",
			Technique:   "T1114.003 Email Forwarding Rule",
			Anchors:     []string{"Elastic: Microsoft 365 Inbox Forwarding Rule Created", "Sentinel: Malicious Inbox Rule", "Sentinel: Office Mail Forwarding - Hunting Version", "Hawk: Get-HawkUserInboxRule"},
			ops:         inboxRuleOps, from: spanLookback, props: true, run: (*evaluation).inboxForward},
		{Name: RuleInboxHide, Severity: SeverityHigh,
			Description: "An inbox rule that moves mail to RSS Subscriptions, RSS Feeds or Conversation History (whatever its conditions); that deletes mail or moves it to Deleted Items, Junk Email or Archive for all mail, for mail its earlier conditions select when those are unknown (Set-InboxRule), or for mail about payments and invoices or with security words (alert, security, sign-in, password, MFA...); or that deletes or moves to any folder account-security warnings (unusual sign-in, suspicious, verify your account, password, MFA, phishing, Microsoft's accountprotection sender).",
			Technique:   "T1564.008 Email Hiding Rules",
			Anchors:     []string{"Sigma: the BEC inbox-rule rule (moves to RSS Subscriptions, RSS Feeds, Conversation History)", "Elastic: M365 Exchange Inbox Phishing Evasion Rule Created", "Sentinel: Malicious Inbox Rule"},
			ops:         inboxRuleOps, from: spanLookback, props: true, run: (*evaluation).inboxHide},
		{Name: RuleMailboxForwardExternal, Severity: SeverityHigh,
			Description: "Set-Mailbox (or New-Mailbox) with ForwardingSmtpAddress or ForwardingAddress outside the tenant's domains, including a ForwardingAddress naming a mail contact (New-MailContact/Set-MailContact) whose ExternalEmailAddress is outside.",
			Technique:   "T1114.003 Email Forwarding Rule",
			Anchors:     []string{"Sentinel: Office Mail Forwarding - Hunting Version", "Sentinel: Multiple users email forwarded to same destination", "Hawk: Get-HawkUserEmailForwarding"},
			ops:         mailboxOps, props: true, run: (*evaluation).mailboxForwarding},
		{Name: RuleTransportCopyExternal, Severity: SeverityHigh,
			Description: "New-TransportRule/Set-TransportRule that blind-copies, copies, redirects or adds recipients outside the tenant's domains.",
			Technique:   "T1114.003 Email Forwarding Rule",
			Anchors:     []string{"Sentinel: Mail redirect via ExO transport rule", "Elastic: Microsoft 365 Exchange Transport Rule Creation", "Elastic: Microsoft 365 Exchange Transport Rule Modification"},
			ops:         transportRuleOps, props: true, run: (*evaluation).transportRules},
		{Name: RuleSigninNewAddress, Severity: SeverityMedium,
			Description: "A successful sign-in from a network (IPv4 /24, IPv6 /48) the user has not signed in from in the look-back and that is not a network several other users sign in from; only for users with a baseline (signin_min_history earlier sign-ins).",
			Technique:   "T1078.004 Valid Accounts: Cloud Accounts",
			Anchors:     []string{"Sentinel: Anomalous sign-in location by user account and authenticating application", "Sigma: Microsoft 365 - Activity from Infrequent Country"},
			ops:         signinOps, from: spanLookback, run: (*evaluation).signinNewAddress},
		{Name: RuleSigninNewCountry, Severity: SeverityHigh,
			Description: "A successful sign-in from a country the user has not signed in from in the look-back (needs geoip_file; same baseline rule).",
			Technique:   "T1078.004 Valid Accounts: Cloud Accounts",
			Anchors:     []string{"Sigma: Microsoft 365 - Activity from Infrequent Country", "Elastic: Microsoft 365 Portal Login from Rare Location"},
			ops:         signinOps, from: spanLookback, run: (*evaluation).signinNewCountry},
		{Name: RuleSigninSpray, Severity: SeverityHigh,
			Description: "Failed sign-ins of spray_users or more distinct users from one source (an IPv4 address, an IPv6 /64) within spray_window_minutes; a failure its user follows with a successful sign-in from the same source within the window is a typo, not counted (the alert names the sprayed accounts that signed in). Interrupts that are no failure (MFA prompts 50074/50076/50072/50079, keep-me-signed-in 50140, password reset or consent prompts, Conditional Access and device interrupts) are not counted.",
			Technique:   "T1110.003 Password Spraying",
			Anchors:     []string{"Elastic: Potential Password Spraying of Microsoft 365 User Accounts", "Sentinel: Password spray attack against Azure AD application", "Sigma: Sign-in Failure Bad Password Threshold"},
			ops:         signinOps, from: spanWindow, run: (*evaluation).spray},
		{Name: RuleSigninBruteForce, Severity: SeverityMedium,
			Description: "brute_force_failures or more failed sign-ins of one user within brute_force_window_minutes from networks the user had not signed in from successfully before (a device of theirs retrying an old password is no attack), or a lockout (50053 IdsLocked) among at least 3 failures; interrupts are not counted.",
			Technique:   "T1110.001 Password Guessing",
			Anchors:     []string{"Elastic: Attempts to Brute Force a Microsoft 365 User Account", "Sigma: Account Lockout", "Sentinel: Brute force attack against Azure Portal"},
			ops:         signinOps, from: spanWindow, run: (*evaluation).bruteForce},
		{Name: RuleImpossibleTravel, Severity: SeverityHigh,
			Description: "Two successful sign-ins of one user from places too far apart for the time between them (needs geoip_file): with a City database, faster than 900 km/h over more than 500 km; with a Country database, two countries within travel_window_minutes.",
			Technique:   "T1078.004 Valid Accounts: Cloud Accounts",
			Anchors:     []string{"Elastic: Microsoft 365 Portal Logins from Impossible Travel Locations", "Sigma: Microsoft 365 - Impossible Travel Activity"},
			ops:         signinOps, from: spanLookback, run: (*evaluation).impossibleTravel},
		{Name: RuleAdminRoleGranted, Severity: SeverityHigh,
			Description: "A directory role assigned: Add member to role., eligible or scoped, and PIM assignments, permanent, time-bound or eligible (Add member to role in PIM completed (permanent)/(timebound), Add eligible member to role in PIM completed (permanent)/(timebound), Add member to role outside of PIM); or an Exchange role group member or management role assignment added. Not PIM's own Add member to role. when an eligible admin activates (MS-PIM).",
			Technique:   "T1098.003 Additional Cloud Roles",
			Anchors:     []string{"Sigma: User Added to an Administrator Role", "Elastic: Azure Global Administrator Role Addition to PIM User", "Sentinel: User Assigned Privileged Role", "Elastic: Microsoft 365 Exchange Management Group Role Assignment"},
			ops:         roleOps, props: true, run: (*evaluation).roleGranted},
		{Name: RuleAppConsent, Severity: SeverityMedium,
			Description: "Consent granted to an application (Consent to application.).",
			Technique:   "T1528 Steal Application Access Token",
			Anchors:     []string{"Elastic: Possible Consent Grant Attack via Azure-Registered Application", "Sentinel: Rare application consent", "Sigma: Delegated Permissions Granted For All Users", "Sparrow: consent grants"},
			ops:         consentOps, props: true, run: (*evaluation).consent},
		{Name: RuleAppCredentialAdded, Severity: SeverityHigh,
			Description: "A secret or certificate added to an application or service principal (Add service principal credentials., Update application – Certificates and secrets management ).",
			Technique:   "T1098.001 Additional Cloud Credentials",
			Anchors:     []string{"Sigma: Added Credentials to Existing Application", "Sentinel: New access credential added to Application or Service Principal", "Elastic: Azure Service Principal Credentials Added", "Mandiant Azure AD Investigator: application and service principal credentials"},
			ops:         appCredentialOps, props: true, run: (*evaluation).appCredential},
		{Name: RuleAppRoleGranted, Severity: SeverityHigh,
			Description: "An application permission granted: an app role assigned to a service principal (Add app role assignment to service principal.), such as Mail.Read or full_access_as_app.",
			Technique:   "T1098.003 Additional Cloud Roles",
			Anchors:     []string{"Sigma: App Granted Privileged Delegated Or App Permissions", "Sentinel: Mail.Read Permissions Granted to Application", "Sentinel: Azure AD Role Management Permission Grant"},
			ops:         appRoleOps, props: true, raw: true, run: (*evaluation).appRole},
		{Name: RuleMFARemoved, Severity: SeverityHigh,
			Description: "Strong authentication disabled, security info deleted, or an Update user. that removes StrongAuthentication methods or lowers the StrongAuthenticationRequirement state (1 enabled or 2 enforced to 0), even when the number of entries stays the same.",
			Technique:   "T1556.006 Multi-Factor Authentication",
			Anchors:     []string{"Sigma: Disabled MFA to Bypass Authentication Mechanisms", "Elastic: Multi-Factor Authentication Disabled for an Azure User"},
			ops:         mfaOps, props: true, run: (*evaluation).mfaRemoved},
		{Name: RuleAuthMethodRegistered, Severity: SeverityMedium,
			Description: "An authentication method or temporary access pass registered for a user by an admin (Admin registered security info), or by the user (User registered security info) from an address that is not one the user or the organization signs in from.",
			Technique:   "T1098.005 Device Registration / T1556.006 Multi-Factor Authentication",
			Anchors:     []string{"Sigma: Change to Authentication Method", "Sentinel: Authentication Methods Changed for Privileged Account", "Sentinel: Addition of a Temporary Access Pass to a Privileged Account"},
			ops:         authMethodOps, props: true, raw: true, run: (*evaluation).authMethod},
		{Name: RuleConditionalAccessChanged, Severity: SeverityHigh,
			Description: "A Conditional Access policy deleted, or updated to disabled or report-only.",
			Technique:   "T1556.009 Conditional Access Policies",
			Anchors:     []string{"Sigma: CA Policy Removed by Non Approved Actor", "Sigma: CA Policy Updated by Non Approved Actor", "Sentinel: Conditional Access Policy Modified by New User"},
			ops:         caOps, props: true, raw: true, run: (*evaluation).conditionalAccess},
		{Name: RuleDomainAdded, Severity: SeverityMedium,
			Description: "A domain added or verified in the directory, or an Exchange accepted domain created or changed (New-AcceptedDomain, Set-AcceptedDomain). Domains added this way are never learned as the tenant's own.",
			Technique:   "T1484.002 Domain Trust Modification",
			Anchors:     []string{"Elastic: New or Modified Federation Domain", "Sigma: New Federated Domain Added"},
			ops:         domainOps, props: true, run: (*evaluation).domainAdded},
		{Name: RuleDomainFederationChanged, Severity: SeverityHigh,
			Description: "A domain's authentication set to federated or its federation settings changed (Set domain authentication., Set federation settings on domain.), or an Exchange federated domain added; not Entra Connect's directory sync account rolling AD FS's signing certificate.",
			Technique:   "T1484.002 Domain Trust Modification",
			Anchors:     []string{"Sigma: Azure Domain Federation Settings Modified", "Sentinel: Modified domain federation trust settings", "Elastic: New or Modified Federation Domain", "Mandiant Azure AD Investigator: federated domain settings"},
			ops:         federationOps, props: true, run: (*evaluation).federation},
		{Name: RuleAuditDisabled, Severity: SeverityHigh,
			Description: "Auditing turned off: Set-AdminAuditLogConfig -UnifiedAuditLogIngestionEnabled $false (or -AdminAuditLogEnabled $false), Set-MailboxAuditBypassAssociation -AuditBypassEnabled $true, Set-Mailbox -AuditEnabled $false, Set-OrganizationConfig -AuditDisabled $true.",
			Technique:   "T1562.008 Disable or Modify Cloud Logs",
			Anchors:     []string{"Sentinel: Exchange AuditLog disabled", "Elastic: O365 Mailbox Audit Logging Bypass", "Elastic: M365 Exchange Mailbox Audit Logging Bypass Added"},
			ops:         auditOps, props: true, run: (*evaluation).auditDisabled},
		{Name: RuleSecurityPolicyDisabled, Severity: SeverityHigh,
			Description: "A Safe Links, Safe Attachments, anti-malware, anti-phishing or DLP policy or rule disabled or removed (Disable-SafeLinksRule, Remove-SafeLinksPolicy, Remove-MalwareFilterPolicy, Disable-MalwareFilterRule, Remove-AntiPhishPolicy, Remove-DlpPolicy, Remove-DlpCompliancePolicy, Set-DlpCompliancePolicy -Mode Disable, or any of their Set- cmdlets turning an Enable* setting off).",
			Technique:   "T1562.001 Disable or Modify Tools",
			Anchors:     []string{"Elastic: Microsoft 365 Exchange Safe Link Policy Disabled", "Elastic: Microsoft 365 Exchange Safe Attachment Rule Disabled", "Elastic: Microsoft 365 Exchange Malware Filter Policy Deletion", "Elastic: Microsoft 365 Exchange Malware Filter Rule Modification", "Elastic: Microsoft 365 Exchange Anti-Phish Policy Deletion", "Elastic: Microsoft 365 Exchange DLP Policy Removed"},
			ops:         securityPolicyOps, props: true, run: (*evaluation).securityPolicy},
		{Name: RuleMailboxPermissionGrant, Severity: SeverityMedium,
			Description: "FullAccess granted on a mailbox (Add-MailboxPermission), SendAs granted (Add-RecipientPermission, Add-ADPermission) or SendOnBehalf granted (Set-Mailbox -GrantSendOnBehalfTo), by anyone but the service itself.",
			Technique:   "T1098.002 Additional Email Delegate Permissions",
			Anchors:     []string{"Elastic: O365 Exchange Suspicious Mailbox Right Delegation", "Sentinel: Rare and potentially high-risk Office operations"},
			ops:         slices.Concat(permissionOps, mailboxOps), props: true, run: (*evaluation).permissionGranted},
		{Name: RuleMailboxFolderPermission, Severity: SeverityMedium,
			Description: "Read or higher rights on a mail folder (the Inbox, the mailbox root, Sent Items...) of a mailbox granted to another user, Default or Anonymous (Add-MailboxFolderPermission, Set-MailboxFolderPermission, Outlook AddFolderPermissions/ModifyFolderPermissions); calendar and contact sharing do not fire.",
			Technique:   "T1098.002 Additional Email Delegate Permissions",
			Anchors:     []string{"Sentinel: Rare and potentially high-risk Office operations (Add-MailboxFolderPermission)", "Elastic: O365 Exchange Suspicious Mailbox Right Delegation (same class, folder level)"},
			ops:         folderPermissionOps, props: true, run: (*evaluation).folderPermission},
		{Name: RuleMailSyncByApp, Severity: SeverityHigh,
			Description: "An application other than Microsoft's Outlook clients downloading a mailbox in bulk (MailItemsAccessed with MailAccessType Sync), one alert per application and mailbox per hour, every folder in the evidence.",
			Technique:   "T1114.002 Remote Email Collection",
			Anchors:     []string{"Sentinel: Exchange workflow MailItemsAccessed operation anomaly", "Sparrow: MailItemsAccessed by application (AppId)"},
			ops:         mailAccessOps, props: true, only: propEq{"OperationProperties", "MailAccessType", "Sync"}, run: (*evaluation).mailSync},
		{Name: RuleEDiscoveryExport, Severity: SeverityHigh,
			Description: "A compliance (eDiscovery) search exported or its results downloaded (New-ComplianceSearchAction -Export, SearchExported, SearchExportDownloaded, ViewedSearchExported), or a search purging mail (New-ComplianceSearchAction -Purge); the search's query from its New-ComplianceSearch is in the evidence.",
			Technique:   "T1114 Email Collection",
			Anchors:     []string{"Sigma: PST Export Alert Using New-ComplianceSearchAction", "Sigma: PST Export Alert Using eDiscovery Alert", "Microsoft alert policy: eDiscovery search started or exported"},
			ops:         ediscoveryOps, from: spanLookback, props: true, run: (*evaluation).ediscovery},
		{Name: RuleSiteAdminAdded, Severity: SeverityMedium,
			Description: "A site collection administrator added to a SharePoint site or OneDrive (SiteCollectionAdminAdded), by anyone but the service itself, except by the user who created the site within the day before or on their own OneDrive.",
			Technique:   "T1098 Account Manipulation",
			Anchors:     []string{"Defender for Cloud Apps: Add site collection administrator (SiteCollectionAdminAdded)"},
			ops:         siteAdminOps, from: spanLookback, raw: true, run: (*evaluation).siteAdmin},
		{Name: RuleTeamExternalMember, Severity: SeverityMedium,
			Description: "An external user (a guest #EXT# or an outside domain) added to a team, from an organization no earlier team member addition in the look-back came from.",
			Technique:   "T1136.003 Create Account: Cloud Account",
			Anchors:     []string{"Sentinel: External user from a new organisation added to Teams", "Sentinel: External user added and removed in a short timeframe"},
			ops:         teamMemberOps, from: spanLookback, raw: true, run: (*evaluation).teamExternal},
		{Name: RuleAnonymousLink, Severity: SeverityLow,
			Description: "anonymous_links or more anonymous sharing links created by one user within anonymous_link_window_minutes (set anonymous_links: 1 to alert on every one).",
			Technique:   "T1567 Exfiltration Over Web Service",
			Anchors:     []string{"no exact anchor: Hawk and Sentinel hunting on AnonymousLinkCreated"},
			ops:         anonLinkOps, from: spanWindow, run: (*evaluation).anonymousLinks},
		{Name: RuleDownloadBurst, Severity: SeverityMedium,
			Description: "download_burst or more file downloads by one user within download_window_minutes (the sync client filling a device from the user's own OneDrive not counted); every download in the evidence.",
			Technique:   "T1530 Data from Cloud Storage",
			Anchors:     []string{"Elastic: Microsoft 365 Mass download by a single user", "Sentinel: Office365 Sharepoint File transfer above threshold"},
			ops:         downloadOps, from: spanWindow, run: (*evaluation).downloads},
		{Name: RuleMassDelete, Severity: SeverityHigh,
			Description: "delete_burst or more files (FileDeleted, FileRecycled, FolderDeleted...; emptying a recycle bin not counted) or mail items (HardDelete, SoftDelete outside Deleted Items and Recoverable Items) deleted by one user within delete_window_minutes.",
			Technique:   "T1485 Data Destruction",
			Anchors:     []string{"Sigma: Microsoft 365 - Unusual Volume of File Deletion", "Elastic: Microsoft 365 Unusual Volume of File Deletion"},
			ops:         deleteOps, from: spanWindow, run: (*evaluation).massDelete},
	}
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
