package emulator

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Domain is the synthetic tenant's domain (a reserved .example name, never a real one).
const Domain = "contoso.example"

// The attack story planted in the synthetic tenant (see AttackStory).
const (
	AttackUser      = "megan.bowen@" + Domain
	AttackerIP      = "203.0.113.66"
	AttackForwardTo = "collect@exfil-mail.example"
	AttackRuleName  = ".."
)

// AttackStory describes the compromise planted in the synthetic data, so
// detection tests and the demo can assert on it. The phished account
// AttackUser gets failed sign-ins (UserLoginFailed, ErrorNumber 50126) from
// AttackerIP, an address no user ever used before, then a successful
// UserLoggedIn from it; then, from the same address, New-InboxRule (RecordType
// 1, Exchange) named AttackRuleName that forwards to AttackForwardTo, deletes
// and marks the mail as read; then Set-Mailbox with ForwardingSmtpAddress
// "smtp:"+AttackForwardTo and DeliverToMailboxAndForward False. It happens
// about 30 hours before the emulator started (its span permitting). Benign
// look-alikes exist: internal move-to-folder inbox rules, forwarding to
// internal addresses, Outlook UpdateInboxRules mailbox records.
type AttackStory struct {
	User            string    `json:"user"`
	AttackerIP      string    `json:"attacker_ip"`
	ForwardTo       string    `json:"forward_to"`
	RuleName        string    `json:"rule_name"`
	FailedSignInIDs []string  `json:"failed_sign_in_ids"`
	SignInID        string    `json:"sign_in_id"`
	InboxRuleID     string    `json:"inbox_rule_id"`
	SetMailboxID    string    `json:"set_mailbox_id"`
	Start           time.Time `json:"start"` // CreationTime of the first failed sign-in
	SignInTime      time.Time `json:"sign_in_time"`
	InboxRuleTime   time.Time `json:"inbox_rule_time"`
	SetMailboxTime  time.Time `json:"set_mailbox_time"`
}

type user struct {
	upn, alias, display string
	puid                string // 16 hex digits
	objectID            string
	sid                 string
	mailboxGUID         string
	officeIP, homeIP    string
	ipv6                string
	ua                  string
	os, browser         string
}

// event is one generated record before it is put in a blob.
type event struct {
	contentType string
	at          time.Time // CreationTime
	id          string
	raw         []byte
}

type gen struct {
	rng    *rand.Rand
	tenant string
	users  []user
	seq    int
}

var firstNames = []string{"Megan", "Alex", "Adele", "Diego", "Grady", "Henrietta", "Isaiah", "Johanna", "Joni", "Lee", "Lidia", "Lynne", "Miriam", "Nestor", "Patti", "Pradeep", "Allan", "Christie", "Debra", "Emily", "Enrico", "Irvin", "Ben", "Cameron", "Dana", "Elena", "Farid", "Gita", "Hana", "Ivan", "Jonas", "Kira", "Luca", "Mona", "Nadia", "Omar", "Paula", "Quinn", "Rosa", "Sven"}
var lastNames = []string{"Bowen", "Wilber", "Vance", "Siciliani", "Archie", "Cellars", "Langer", "Lauer", "Sherman", "Gu", "Holloway", "Robbins", "Graham", "Wilke", "Fernandez", "Gupta", "Deyoung", "Cline", "Berg", "Braun", "Drago", "Sayers", "Okafor", "Novak", "Lindqvist", "Tanaka", "Haddad", "Moreau", "Kowalski", "Silva", "Nguyen", "Jensen", "Rossi", "Petrov", "Keller", "Byrne", "Costa", "Duarte", "Ibrahim", "Yilmaz"}

var userAgents = []struct{ ua, os, browser string }{
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Windows10", "Edge"},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Windows10", "Chrome"},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "MacOs", "Safari"},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", "Ios", "Mobile Safari"},
	{"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)", "Windows10", "Rich Client"},
}

func newGen(seed int64, tenant string, nUsers int) *gen {
	g := &gen{rng: rand.New(rand.NewPCG(uint64(seed), 0x6f333635)), tenant: tenant}
	seen := map[string]bool{}
	for len(g.users) < nUsers {
		var f, l string
		switch len(g.users) {
		case 0:
			f, l = "Megan", "Bowen"
		case 1:
			f, l = "Alex", "Wilber"
		default:
			f, l = firstNames[g.rng.IntN(len(firstNames))], lastNames[g.rng.IntN(len(lastNames))]
		}
		alias := strings.ToLower(f + "." + l)
		if seen[alias] {
			alias = fmt.Sprintf("%s%d", alias, len(g.users))
		}
		seen[alias] = true
		ua := userAgents[g.rng.IntN(len(userAgents))]
		i := len(g.users)
		g.users = append(g.users, user{
			upn: alias + "@" + Domain, alias: alias, display: f + " " + l,
			puid:        fmt.Sprintf("10032001%08X", g.rng.Uint32()),
			objectID:    g.guid(),
			sid:         fmt.Sprintf("S-1-5-21-3422892061-1135328251-2670905592-%d", 40000+i),
			mailboxGUID: g.guid(),
			officeIP:    fmt.Sprintf("192.0.2.%d", 10+g.rng.IntN(20)),
			homeIP:      fmt.Sprintf("198.51.100.%d", 1+i%254),
			ipv6:        fmt.Sprintf("2001:db8:%x:%x::%x", 0x4f, i/250, 1+i%250),
			ua:          ua.ua, os: ua.os, browser: ua.browser,
		})
	}
	return g
}

func (g *gen) guid() string {
	a, b := g.rng.Uint64(), g.rng.Uint64()
	a = (a &^ (0xf << 12)) | (4 << 12)
	b = (b &^ (0x3 << 62)) | (0x2 << 62)
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

func (g *gen) pick(n int) int { return g.rng.IntN(n) }

func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

func (g *gen) user() *user {
	// Megan is an ordinary user too, but not from the attacker's address.
	return &g.users[g.rng.IntN(len(g.users))]
}

// ip returns a client address with the format quirks seen in real records.
func (g *gen) ip(u *user, withPort bool) string {
	base := u.officeIP
	switch r := g.rng.Float64(); {
	case r < 0.25:
		base = u.homeIP
	case r < 0.35:
		if withPort {
			return fmt.Sprintf("[%s]:%d", u.ipv6, 1024+g.rng.IntN(60000))
		}
		return u.ipv6
	}
	if withPort && g.chance(0.6) {
		return fmt.Sprintf("%s:%d", base, 1024+g.rng.IntN(60000))
	}
	return base
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") }

// head builds the common fields. Optional fields with empty values are left out.
func (g *gen) head(at time.Time, op string, rt int, status, userKey string, userType int, workload, clientIP, objectID, userID string) (obj, string) {
	id := g.guid()
	o := obj{{"CreationTime", ts(at)}, {"Id", id}, {"Operation", op}, {"OrganizationId", g.tenant}, {"RecordType", rt}}
	if status != "" {
		o = append(o, kv{"ResultStatus", status})
	}
	o = append(o, kv{"UserKey", userKey}, kv{"UserType", userType}, kv{"Version", 1}, kv{"Workload", workload})
	if clientIP != "-" {
		o = append(o, kv{"ClientIP", clientIP})
	}
	if objectID != "" {
		o = append(o, kv{"ObjectId", objectID})
	}
	o = append(o, kv{"UserId", userID})
	return o, id
}

func (g *gen) mk(ct string, at time.Time, o obj, id string) event {
	return event{contentType: ct, at: at, id: id, raw: marshalRecord(o)}
}

// random produces one ordinary event of a content type chosen by the usual mix.
func (g *gen) random(at time.Time) event {
	switch r := g.rng.Float64(); {
	case r < 0.25:
		return g.aad(at)
	case r < 0.60:
		return g.exchange(at)
	case r < 0.90:
		return g.sharepoint(at)
	case r < 0.97:
		return g.general(at)
	default:
		return g.dlp(at)
	}
}

var apps = []struct{ id, name string }{
	{"00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online"},
	{"00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online"},
	{"1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams"},
	{"d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Office"},
	{"89bee1f7-5e6e-4d8a-9f3d-ecd601259da7", "Office365 Shell WCSS-Client"},
}

func (g *gen) signIn(at time.Time, u *user, ip, ua, osName, browser string, ok bool, errNo, logonErr string) (event, string) {
	app := apps[g.pick(len(apps))]
	op, status := "UserLoggedIn", "Success"
	if !ok {
		op, status = "UserLoginFailed", "Failed"
	}
	o, id := g.head(at, op, 15, status, u.objectID, 0, "AzureActiveDirectory", ip, app.id, u.upn)
	ext := []obj{nv("ResultStatusDetail", map[bool]string{true: "Success", false: "UserError"}[ok]), nv("UserAgent", ua),
		nv("UserAuthenticationMethod", fmt.Sprint(1+g.pick(3))), nv("RequestType", "OAuth2:Authorize")}
	if ok {
		ext = append(ext, nv("KeepMeSignedIn", map[bool]string{true: "True", false: "False"}[g.chance(0.3)]))
	}
	o = append(o,
		kv{"AzureActiveDirectoryEventType", 1},
		kv{"ExtendedProperties", ext},
		kv{"ModifiedProperties", []obj{}},
		kv{"Actor", []obj{{{"ID", u.objectID}, {"Type", 0}}, {{"ID", u.upn}, {"Type", 5}}}},
		kv{"ActorContextId", g.tenant},
		kv{"ActorIpAddress", ip},
		kv{"InterSystemsId", g.guid()},
		kv{"IntraSystemId", g.guid()},
		kv{"SupportTicketId", ""},
		kv{"Target", []obj{{{"ID", app.id}, {"Type", 0}}}},
		kv{"TargetContextId", g.tenant},
		kv{"ApplicationId", app.id},
		kv{"DeviceProperties", []obj{nv("OS", osName), nv("BrowserType", browser), nv("IsCompliantAndManaged", "False"), nv("SessionId", g.guid())}},
		kv{"ErrorNumber", errNo},
	)
	if logonErr != "" {
		o = append(o, kv{"LogonError", logonErr})
	}
	return g.mk("Audit.AzureActiveDirectory", at, o, id), id
}

func (g *gen) aad(at time.Time) event {
	u := g.user()
	ip := g.ip(u, false)
	if u.upn == AttackUser && ip == AttackerIP {
		ip = u.officeIP
	}
	switch r := g.rng.Float64(); {
	case r < 0.82:
		e, _ := g.signIn(at, u, ip, u.ua, u.os, u.browser, true, "0", "")
		return e
	case r < 0.93:
		errs := [][2]string{{"50126", "InvalidUserNameOrPassword"}, {"50074", "UserStrongAuthClientAuthNRequired"}, {"50140", "KmsiInterrupt"}, {"50053", "IdsLocked"}}
		x := errs[g.pick(len(errs))]
		e, _ := g.signIn(at, u, ip, u.ua, u.os, u.browser, false, x[0], x[1])
		return e
	default:
		admin := &g.users[1]
		target := g.user()
		ops := []string{"Add member to group.", "Update user.", "Reset user password.", "Add user."}
		op := ops[g.pick(len(ops))]
		o, id := g.head(at, op, 8, "Success", admin.puid+"@"+Domain, 0, "AzureActiveDirectory", "-", target.upn, admin.upn)
		mods := []obj{{{"Name", "Included Updated Properties"}, {"NewValue", "AssignedLicense"}, {"OldValue", ""}}}
		if op == "Add member to group." {
			mods = []obj{{{"Name", "Group.ObjectID"}, {"NewValue", g.guid()}, {"OldValue", ""}}, {{"Name", "Group.DisplayName"}, {"NewValue", "Finance Approvers"}, {"OldValue", ""}}}
		}
		o = append(o,
			kv{"AzureActiveDirectoryEventType", 1},
			kv{"ExtendedProperties", []obj{nv("additionalDetails", "{}"), nv("extendedAuditEventCategory", "User"), nv("resultType", "Success"), nv("auditEventCategory", "UserManagement")}},
			kv{"ModifiedProperties", mods},
			kv{"Actor", []obj{{{"ID", admin.upn}, {"Type", 5}}, {{"ID", admin.puid}, {"Type", 3}}, {{"ID", "User_" + admin.objectID}, {"Type", 2}}, {{"ID", admin.objectID}, {"Type", 2}}, {{"ID", "User"}, {"Type", 2}}}},
			kv{"ActorContextId", g.tenant},
			kv{"InterSystemsId", g.guid()},
			kv{"IntraSystemId", g.guid()},
			kv{"SupportTicketId", ""},
			kv{"Target", []obj{{{"ID", "User_" + target.objectID}, {"Type", 2}}, {{"ID", target.objectID}, {"Type", 2}}, {{"ID", "User"}, {"Type", 2}}, {{"ID", target.upn}, {"Type", 5}}, {{"ID", target.puid}, {"Type", 3}}}},
			kv{"TargetContextId", g.tenant},
		)
		return g.mk("Audit.AzureActiveDirectory", at, o, id)
	}
}

func (g *gen) server() string {
	return fmt.Sprintf("AM0PR05MB%04d (15.20.8207.019)", 1000+g.pick(9000))
}

func (g *gen) adminCmd(at time.Time, u *user, ip, op, objectID string, params []obj) (event, string) {
	o, id := g.head(at, op, 1, "True", u.puid, 2, "Exchange", ip, objectID, u.upn)
	o = append(o, kv{"AppId", ""}, kv{"ClientAppId", ""}, kv{"ExternalAccess", false},
		kv{"OrganizationName", Domain}, kv{"OriginatingServer", g.server()}, kv{"Parameters", params})
	return g.mk("Audit.Exchange", at, o, id), id
}

func (g *gen) mailbox(at time.Time, u *user, op string, rt int) (obj, string) {
	o, id := g.head(at, op, rt, "Succeeded", u.puid, 0, "Exchange", g.ip(u, false), "", u.upn)
	o = append(o,
		kv{"AppId", "00000002-0000-0ff1-ce00-000000000000"}, kv{"ClientAppId", ""},
		kv{"ClientIPAddress", u.officeIP},
		kv{"ClientInfoString", []string{"Client=OWA;Action=ViaProxy", "Client=MSExchangeRPC", "Client=REST;Client=RESTSystem;;"}[g.pick(3)]},
		kv{"ExternalAccess", false}, kv{"InternalLogonType", 0}, kv{"LogonType", 0},
		kv{"LogonUserSid", u.sid}, kv{"MailboxGuid", u.mailboxGUID}, kv{"MailboxOwnerMasterAccountSid", "S-1-5-10"},
		kv{"MailboxOwnerSid", u.sid}, kv{"MailboxOwnerUPN", u.upn}, kv{"OrganizationName", Domain},
		kv{"OriginatingServer", g.server() + "\r\n"}, kv{"SessionId", g.guid()})
	return o, id
}

var subjects = []string{"Q1 supplier invoices", "Re: contract renewal", "Team offsite agenda", "Weekly status", "Fw: travel booking", "Budget review", "Customer escalation", "Lunch on Friday?"}

func (g *gen) itemID() string {
	return fmt.Sprintf("RgAAAAD2vR0nX1c8S6l0cW9udG9zbwcA9kE3AAAAAAEMAAD2kE3AAAAA%06X", g.rng.Uint32()&0xffffff)
}

func (g *gen) exchange(at time.Time) event {
	u := g.user()
	switch r := g.rng.Float64(); {
	case r < 0.35:
		o, id := g.mailbox(at, u, "MailItemsAccessed", 50)
		o = append(o, kv{"OperationCount", 1 + g.pick(5)},
			kv{"OperationProperties", []obj{nv("MailAccessType", "Bind"), nv("IsThrottled", "False")}},
			kv{"Folders", []obj{{{"Id", "LgAAAAD2vR0nX1c8S6l0cW9udG9zbwEA9kE3AAAAAAEMAAAB"}, {"Path", "\\Inbox"},
				{"FolderItems", []obj{{{"Id", g.itemID()}, {"InternetMessageId", fmt.Sprintf("<DM6PR04MB%04X@DM6PR04MB7101.namprd04.prod.outlook.com>", g.rng.Uint32()&0xffff)}, {"SizeInBytes", 2000 + g.pick(90000)}}}}}}})
		return g.mk("Audit.Exchange", at, o, id)
	case r < 0.6:
		o, id := g.mailbox(at, u, "Send", 2)
		o = append(o, kv{"Item", obj{{"Id", g.itemID()}, {"InternetMessageId", fmt.Sprintf("<AM0PR05MB%04X@AM0PR05MB6401.eurprd05.prod.outlook.com>", g.rng.Uint32()&0xffff)},
			{"IsRecord", false}, {"ParentFolder", obj{{"Id", "LgAAAAD2vR0nX1c8S6l0cW9udG9zbwEA9kE3AAAAAAEJAAAB"}, {"Path", "\\Sent Items"}}},
			{"SizeInBytes", 3000 + g.pick(200000)}, {"Subject", subjects[g.pick(len(subjects))]}}})
		return g.mk("Audit.Exchange", at, o, id)
	case r < 0.78:
		op := []string{"MoveToDeletedItems", "SoftDelete", "Move"}[g.pick(3)]
		o, id := g.mailbox(at, u, op, 3)
		o = append(o, kv{"CrossMailboxOperation", false},
			kv{"DestFolder", obj{{"Id", "LgAAAAD2vR0nX1c8S6l0cW9udG9zbwEA9kE3AAAAAAELAAAB"}, {"Path", "\\Deleted Items"}}},
			kv{"Folder", obj{{"Id", "LgAAAAD2vR0nX1c8S6l0cW9udG9zbwEA9kE3AAAAAAEMAAAB"}, {"Path", "\\Inbox"}}},
			kv{"AffectedItems", []obj{{{"Id", g.itemID()}, {"ParentFolder", obj{{"Id", "LgAAAAD2vR0nX1c8S6l0cW9udG9zbwEA9kE3AAAAAAEMAAAB"}, {"Path", "\\Inbox"}}}, {"Subject", subjects[g.pick(len(subjects))]}}}})
		return g.mk("Audit.Exchange", at, o, id)
	case r < 0.84:
		// Benign Outlook rule edit (mailbox audit, RecordType 2).
		o, id := g.mailbox(at, u, "UpdateInboxRules", 2)
		o = append(o, kv{"OperationProperties", []obj{nv("RuleName", "Newsletters"), nv("RuleId", fmt.Sprint(g.rng.Uint64()>>20)),
			nv("RuleOperation", "AddMailboxRule"), nv("RuleState", "Enabled"), nv("RuleCondition", "SubjectContainsWords newsletter"),
			nv("RuleActions", "MoveToFolder \\Inbox\\Newsletters"), nv("ServerRule", "True")}})
		return g.mk("Audit.Exchange", at, o, id)
	case r < 0.89:
		// Benign inbox rule: move to an internal folder.
		name := []string{"Move newsletters", "Vendors", "Project Falcon"}[g.pick(3)]
		e, _ := g.adminCmd(at, u, g.ip(u, true), "New-InboxRule", u.alias+"\\"+name, []obj{nv("Name", name),
			nv("SubjectContainsWords", "newsletter"), nv("MoveToFolder", "Newsletters"), nv("StopProcessingRules", "True")})
		return e
	case r < 0.91:
		// Benign forwarding to a colleague inside the tenant.
		to := g.user()
		e, _ := g.adminCmd(at, u, g.ip(u, true), "Set-Mailbox", u.alias, []obj{nv("Identity", u.alias),
			nv("ForwardingSmtpAddress", "smtp:"+to.upn), nv("DeliverToMailboxAndForward", "True")})
		return e
	default:
		sys := "NT AUTHORITY\\SYSTEM (Microsoft.Exchange.ServiceHost)"
		o, id := g.head(at, "Set-Mailbox", 1, "True", sys, 3, "Exchange", "-", "EURPR05A010.prod.outlook.com/Microsoft Exchange Hosted Organizations/"+Domain+"/"+u.alias, sys)
		o = append(o, kv{"AppId", ""}, kv{"ClientAppId", ""}, kv{"ExternalAccess", true}, kv{"OrganizationName", Domain},
			kv{"OriginatingServer", g.server() + "\n"},
			kv{"Parameters", []obj{nv("Identity", u.alias), nv("ProhibitSendQuota", "99 GB (106,300,440,576 bytes)"), nv("Force", "True")}})
		return g.mk("Audit.Exchange", at, o, id)
	}
}

var files = []string{"Budget 2026.xlsx", "Roadmap.pptx", "Contract draft.docx", "Minutes.docx", "Invoice-4471.pdf", "Design notes.one", "Photo.jpg"}

func (g *gen) sharepoint(at time.Time) event {
	u := g.user()
	file := files[g.pick(len(files))]
	ext := file[strings.LastIndexByte(file, '.')+1:]
	workload, site, rel := "OneDrive", "https://contoso-my.sharepoint.com/personal/"+strings.ReplaceAll(u.alias, ".", "_")+"_contoso_example/", "Documents"
	if g.chance(0.55) {
		s := []string{"Finance", "Legal", "Marketing", "Engineering"}[g.pick(4)]
		workload, site, rel = "SharePoint", "https://contoso.sharepoint.com/sites/"+s+"/", "Shared Documents"
	}
	var op string
	rt := 6
	switch r := g.rng.Float64(); {
	case r < 0.4:
		op = "FileAccessed"
	case r < 0.55:
		op = "FileModified"
	case r < 0.65:
		op = "FileUploaded"
	case r < 0.75:
		op = "FileDownloaded"
	case r < 0.85:
		op = "FilePreviewed"
	default:
		rt = 14
		op = []string{"SharingSet", "AnonymousLinkCreated", "SharingInvitationCreated", "CompanyLinkCreated"}[g.pick(4)]
	}
	key := "i:0h.f|membership|" + strings.ToLower(u.puid) + "@live.com"
	o, id := g.head(at, op, rt, "", key, 0, workload, g.ip(u, false), site+rel+"/"+file, u.upn)
	o = append(o, kv{"CorrelationId", g.guid()}, kv{"EventSource", "SharePoint"}, kv{"ItemType", "File"},
		kv{"ListId", g.guid()}, kv{"ListItemUniqueId", g.guid()}, kv{"Site", g.guid()}, kv{"UserAgent", u.ua},
		kv{"WebId", g.guid()}, kv{"SiteUrl", site}, kv{"SourceFileExtension", ext}, kv{"SourceFileName", file},
		kv{"SourceRelativeUrl", rel})
	if rt == 14 {
		o = append(o, kv{"EventData", "<Type>View</Type>"}, kv{"UniqueSharingId", g.guid()})
		if op == "SharingSet" {
			o = append(o, kv{"TargetUserOrGroupType", "Member"}, kv{"TargetUserOrGroupName", g.user().upn})
		}
	}
	return g.mk("Audit.SharePoint", at, o, id)
}

func (g *gen) general(at time.Time) event {
	u := g.user()
	if g.chance(0.75) {
		op := []string{"TeamsSessionStarted", "MemberAdded", "MessageSent", "ChannelAdded"}[g.pick(4)]
		o, id := g.head(at, op, 25, "", u.objectID, 0, "MicrosoftTeams", g.ip(u, false), "", u.upn)
		team := []string{"Finance", "Engineering", "Sales EMEA", "All Company"}[g.pick(4)]
		o = append(o, kv{"CommunicationType", "Team"}, kv{"TeamName", team},
			kv{"TeamGuid", fmt.Sprintf("19:%032x@thread.tacv2", g.rng.Uint64())}, kv{"ItemName", team})
		if op == "MemberAdded" {
			o = append(o, kv{"Members", []obj{{{"DisplayName", g.user().display}, {"Role", 1}, {"UPN", g.user().upn}}}})
		}
		return g.mk("Audit.General", at, o, id)
	}
	o, id := g.head(at, "ViewReport", 20, "Succeeded", u.puid, 0, "PowerBI", g.ip(u, false), "Sales pipeline", u.upn)
	o = append(o, kv{"UserAgent", u.ua}, kv{"Activity", "ViewReport"}, kv{"ItemName", "Sales pipeline"},
		kv{"WorkSpaceName", "Sales"}, kv{"DatasetName", "Pipeline"}, kv{"ReportName", "Sales pipeline"},
		kv{"WorkspaceId", g.guid()}, kv{"ObjectId", "Sales pipeline"}, kv{"DatasetId", g.guid()}, kv{"ReportId", g.guid()},
		kv{"IsSuccess", true}, kv{"RequestId", g.guid()}, kv{"ActivityId", g.guid()})
	return g.mk("Audit.General", at, o, id)
}

func (g *gen) dlp(at time.Time) event {
	u := g.user()
	rules := []obj{{{"RuleId", g.guid()}, {"RuleName", "Card numbers to external recipients"}, {"Severity", "High"}, {"RuleMode", "Enable"},
		{"Actions", []string{"NotifyUser", "GenerateIncidentReport"}},
		{"ConditionsMatched", obj{{"SensitiveInformation", []obj{{{"SensitiveType", "50842eb7-edc8-4019-85dd-5a5c1f2bb085"}, {"Count", 1 + g.pick(3)}, {"UniqueCount", 1}, {"Confidence", 85}, {"Location", "Message Body"}}}},
			{"OtherConditions", []obj{nv("AccessScope", "NotInOrganization")}}}}}}
	policy := []obj{{{"PolicyId", "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e"}, {"PolicyName", "PCI data leaving the org"}, {"Rules", rules}}}
	if g.chance(0.6) {
		msgID := fmt.Sprintf("<AM0PR05MB%04X@AM0PR05MB6401.eurprd05.prod.outlook.com>", g.rng.Uint32()&0xffff)
		o, id := g.head(at, "DlpRuleMatch", 13, "", fmt.Sprint(g.rng.Uint64()>>2), 4, "Exchange", "-", msgID, "DlpAgent")
		o = append(o, kv{"IncidentId", g.guid()}, kv{"SensitiveInfoDetectionIsIncluded", false},
			kv{"ExchangeMetaData", obj{{"From", u.upn}, {"To", []string{"billing@fabrikam.example"}}, {"CC", []string{}}, {"BCC", []string{}},
				{"MessageID", msgID}, {"RecipientCount", 1}, {"Sent", ts(at.Add(-3 * time.Second))}, {"Subject", "order details"}}},
			kv{"PolicyDetails", policy})
		return g.mk("DLP.All", at, o, id)
	}
	file := files[g.pick(len(files))]
	o, id := g.head(at, "DlpRuleMatch", 11, "", "i:0h.f|membership|"+strings.ToLower(u.puid)+"@live.com", 4, "SharePoint", "-",
		"https://contoso.sharepoint.com/sites/Finance/Shared Documents/"+file, u.upn)
	o = append(o, kv{"IncidentId", g.guid()}, kv{"SensitiveInfoDetectionIsIncluded", false},
		kv{"SharePointMetaData", obj{{"From", u.upn}, {"ItemCreationTime", ts(at.Add(-48 * time.Hour))}, {"SiteCollectionGuid", g.guid()},
			{"SiteCollectionUrl", "https://contoso.sharepoint.com/sites/Finance"}, {"FileName", file}, {"FilePathUrl", "https://contoso.sharepoint.com/sites/Finance/Shared Documents/" + file},
			{"UniqueID", g.guid()}, {"IsViewableByExternalUsers", false}, {"IsVisibleOnlyToOdbOwner", false}}},
		kv{"PolicyDetails", policy})
	return g.mk("DLP.All", at, o, id)
}

// attack returns the attack story's events, starting at t0.
func (g *gen) attack(t0 time.Time) ([]event, AttackStory) {
	u := &g.users[0]
	st := AttackStory{User: u.upn, AttackerIP: AttackerIP, ForwardTo: AttackForwardTo, RuleName: AttackRuleName, Start: t0.UTC().Truncate(time.Second)}
	var evs []event
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	for i, d := range []time.Duration{0, 41 * time.Second, 97 * time.Second} {
		e, id := g.signIn(t0.Add(d), u, AttackerIP, ua, "Windows10", "Chrome", false, "50126", "InvalidUserNameOrPassword")
		evs = append(evs, e)
		st.FailedSignInIDs = append(st.FailedSignInIDs, id)
		_ = i
	}
	st.SignInTime = st.Start.Add(4 * time.Minute)
	e, id := g.signIn(st.SignInTime, u, AttackerIP, ua, "Windows10", "Chrome", true, "0", "")
	evs = append(evs, e)
	st.SignInID = id
	st.InboxRuleTime = st.Start.Add(11 * time.Minute)
	e, id = g.adminCmd(st.InboxRuleTime, u, AttackerIP+":50412", "New-InboxRule", u.alias+"\\"+AttackRuleName, []obj{
		nv("AlwaysDeleteOutlookRulesBlob", "False"), nv("Force", "False"), nv("Name", AttackRuleName),
		nv("SubjectOrBodyContainsWords", "invoice;payment;wire transfer"), nv("ForwardTo", AttackForwardTo),
		nv("MarkAsRead", "True"), nv("DeleteMessage", "True"), nv("StopProcessingRules", "True")})
	evs = append(evs, e)
	st.InboxRuleID = id
	st.SetMailboxTime = st.Start.Add(14 * time.Minute)
	e, id = g.adminCmd(st.SetMailboxTime, u, AttackerIP+":50433", "Set-Mailbox", u.alias, []obj{
		nv("Identity", u.alias), nv("ForwardingSmtpAddress", "smtp:"+AttackForwardTo), nv("DeliverToMailboxAndForward", "False")})
	evs = append(evs, e)
	st.SetMailboxID = id
	return evs, st
}

// contentID builds an id in the modern observed layout:
// {first}${created}$audit_{type}$Audit_{Type}${shard}.
func contentID(ct string, first, created time.Time, seq int64) string {
	f := func(t time.Time) string { return t.UTC().Format("20060102150405") }
	lower := strings.ToLower(strings.ReplaceAll(ct, ".", "_"))
	upper := strings.ReplaceAll(ct, ".", "_")
	return fmt.Sprintf("%s%09d$%s%09d$%s$%s$na0014", f(first), seq%1e9, f(created), created.Nanosecond()/1e3*10%1e9, lower, upper)
}
