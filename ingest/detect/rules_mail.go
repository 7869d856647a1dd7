package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// Operations the mail rules read.
var (
	inboxRuleOps     = []string{"New-InboxRule", "Set-InboxRule", "Remove-InboxRule", "UpdateInboxRules"}
	mailboxOps       = []string{"Set-Mailbox", "New-Mailbox"}
	transportRuleOps = []string{"New-TransportRule", "Set-TransportRule"}
	contactOps       = []string{"New-MailContact", "Set-MailContact", "New-MailUser", "Set-MailUser"}
)

// inboxForwardParams are the New-InboxRule/Set-InboxRule parameters that send mail on,
// with the verb a summary uses for each.
var inboxForwardParams = []struct{ param, verb string }{
	{"ForwardTo", "forwards"}, {"ForwardAsAttachmentTo", "forwards as attachments"}, {"RedirectTo", "redirects"},
}

// inboxConditionParams are the New-InboxRule/Set-InboxRule parameters that narrow which
// mail a rule applies to. A rule with none of them applies to all incoming mail.
var inboxConditionParams = []string{
	"From", "FromAddressContainsWords", "SubjectContainsWords", "BodyContainsWords",
	"SubjectOrBodyContainsWords", "SentTo", "RecipientAddressContainsWords", "HeaderContainsWords",
	"HasAttachment", "HasClassification", "FlaggedForAction", "FromSubscription", "MessageTypeMatches",
	"MyNameInCcBox", "MyNameInToBox", "MyNameInToOrCcBox", "MyNameNotInToBox", "ReceivedAfterDate",
	"ReceivedBeforeDate", "SentOnlyToMe", "WithImportance", "WithinSizeRangeMaximum",
	"WithinSizeRangeMinimum", "WithSensitivity",
}

// hiddenFolders are the folders nobody reads: a rule moving mail there hides it
// whatever its conditions (Sigma's BEC rule).
var hiddenFolders = []string{"rss feeds", "rss subscriptions", "conversation history"}

// hidingFolders are the folders a rule moves mail to so the owner does not see it.
var hidingFolders = append([]string{"deleted items", "junk email", "junk e-mail", "archive"}, hiddenFolders...)

// fraudWords are the subjects of the replies a fraud hides from the mailbox owner;
// alertWords those of the warnings about the compromise (Elastic's and Sentinel's
// lists, matched at the start of a word).
var (
	fraudWords = regexp.MustCompile(`\b(invoice|payment|wire|bank|transfer|remittance|iban|swift|purchase order|paypal)`)
	alertWords = regexp.MustCompile(`\b(security|alert|unusual sign|unusual activity|suspicious|verify your|verification|password|mfa|multi-factor|multifactor|two-factor|2fa|sign-in|signin|sign in|login|log in|locked|compromis|hack|phish|fraud|scam|helpdesk|help desk|it support|accountprotection|microsoftonline|unauthori|new device|malware|virus)`)
	// strongAlertWords name account-security warnings only: moving them even to an
	// ordinary folder hides them ("security" or "alert" alone may be a team's filing).
	strongAlertWords = regexp.MustCompile(`\b(unusual sign|unusual activity|suspicious|verify your|password|mfa|multi-factor|multifactor|two-factor|2fa|compromis|hack|phish|accountprotection|microsoftonline|unauthori|new device|security alert|account locked|locked out)`)
)

// inboxRule is what an inbox-rule change does, read from either form.
type inboxRule struct {
	source     string // cmdlet or outlook
	name       string
	mailbox    string
	recipients []string            // mail addresses it forwards or redirects to
	verbs      map[string][]string // verb -> addresses
	names      []string            // recipients given as directory names
	forwards   bool
	delete     bool
	moveTo     string
	hides      bool // moves to a hiding folder
	hidden     bool // moves to a folder nobody reads
	markRead   bool
	conditions []string
	// unknown: a Set-InboxRule whose earlier conditions are not in the records
	// (Set-InboxRule logs only the parameters it changes).
	unknown     bool
	fraudLures  []string
	alertLures  []string
	strongLures []string
	contactHits map[string]string // contact name -> external address
}

func isTrue(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return s == "true" || s == "$true" || s == "1"
}

func isFalse(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return s == "false" || s == "$false" || s == "0"
}

// params returns the Parameters of a cmdlet record, by lower-case name.
func (r *record) params() map[string]string {
	m := map[string]string{}
	for _, p := range r.props {
		if p.List == "Parameters" {
			if _, dup := m[strings.ToLower(p.Name)]; !dup {
				m[strings.ToLower(p.Name)] = p.Value
			}
		}
	}
	return m
}

// ruleKey names an inbox rule across records: tenant, mailbox (its alias) and name.
func ruleKey(tenant, mailbox, name string) string {
	mailbox = strings.ToLower(mailbox)
	if i := strings.IndexByte(mailbox, '@'); i > 0 {
		mailbox = mailbox[:i]
	}
	return tenant + "\x00" + mailbox + "\x00" + strings.ToLower(name)
}

// cmdletTarget returns the mailbox and rule name of a New-/Set-/Remove-InboxRule.
func cmdletTarget(r *record, p map[string]string) (mailbox, name string) {
	name, mailbox = p["name"], p["mailbox"]
	id := p["identity"]
	if i := strings.LastIndexByte(id, '\\'); i > 0 {
		if mailbox == "" {
			mailbox = id[:i]
		}
		id = id[i+1:]
	}
	if name == "" {
		name = id
	}
	if name == "" {
		name = r.ObjectID
		if i := strings.LastIndexByte(name, '\\'); i >= 0 {
			if mailbox == "" && i > 0 && !strings.Contains(r.UserID, "@") {
				mailbox = name[:i]
			}
			name = name[i+1:]
		}
	}
	if mailbox == "" {
		mailbox = r.UserID
	}
	return mailbox, name
}

// cmdletRule reads a New-InboxRule/Set-InboxRule from its (merged) parameters.
func (e *evaluation) cmdletRule(r *record, p map[string]string, mailbox, name string, unknown bool) inboxRule {
	ir := inboxRule{source: "cmdlet", name: name, mailbox: mailbox, unknown: unknown, verbs: map[string][]string{}, contactHits: map[string]string{}}
	for _, f := range inboxForwardParams {
		a, n := recipients(p[strings.ToLower(f.param)])
		a = append(a, e.resolveContacts(r.TenantID, n, ir.contactHits)...)
		for _, x := range a {
			if !slices.Contains(ir.recipients, x) {
				ir.recipients = append(ir.recipients, x)
			}
		}
		ir.verbs[f.verb] = append(ir.verbs[f.verb], a...)
		ir.names = append(ir.names, n...)
	}
	ir.forwards = len(ir.recipients)+len(ir.names) > 0
	ir.delete = isTrue(p["deletemessage"]) || isTrue(p["softdeletemessage"]) || isTrue(p["permanentdelete"])
	ir.moveTo = p["movetofolder"]
	if isNull(ir.moveTo) {
		ir.moveTo = ""
	}
	ir.hides, ir.hidden = folderKind(ir.moveTo)
	ir.markRead = isTrue(p["markasread"])
	for _, c := range inboxConditionParams {
		if v := p[strings.ToLower(c)]; !isNull(v) {
			ir.conditions = append(ir.conditions, c+"="+v)
			ir.addLures(v)
		}
	}
	return ir
}

func isNull(v string) bool {
	v = strings.TrimSpace(v)
	return v == "" || strings.EqualFold(v, "$null") || strings.EqualFold(v, "null")
}

func (ir *inboxRule) addLures(text string) {
	text = strings.ToLower(text)
	for _, m := range fraudWords.FindAllString(text, -1) {
		if !slices.Contains(ir.fraudLures, m) {
			ir.fraudLures = append(ir.fraudLures, m)
		}
	}
	for _, m := range alertWords.FindAllString(text, -1) {
		if !slices.Contains(ir.alertLures, m) {
			ir.alertLures = append(ir.alertLures, m)
		}
	}
	for _, m := range strongAlertWords.FindAllString(text, -1) {
		if !slices.Contains(ir.strongLures, m) {
			ir.strongLures = append(ir.strongLures, m)
		}
	}
}

// folderKind reports whether a MoveToFolder value names a hiding folder, and a folder
// nobody reads; the value may be "Deleted Items", ":\RSS Feeds", "megan.bowen:\Archive"
// or "\Inbox\Archive".
func folderKind(v string) (hiding, hidden bool) {
	v = strings.ToLower(strings.TrimSpace(v))
	if i := strings.LastIndexAny(v, `\:/`); i >= 0 {
		v = v[i+1:]
	}
	v = strings.TrimSpace(v)
	return slices.Contains(hidingFolders, v), slices.Contains(hiddenFolders, v)
}

// outlookRule reads an UpdateInboxRules record (an Outlook client changing rules through
// the mailbox; RecordType 2): the rule sits in OperationProperties, its actions as text
// (RuleActions, "ForwardToRecipientsAction", ...) and as JSON (ServerRule, with the
// recipients under Actions).
func outlookRule(r *record) (inboxRule, bool) {
	ir := inboxRule{source: "outlook", mailbox: r.MailboxOwner, verbs: map[string][]string{}}
	if ir.mailbox == "" {
		ir.mailbox = r.UserID
	}
	ir.name, _ = r.get("OperationProperties", "RuleName")
	op, _ := r.get("OperationProperties", "RuleOperation")
	if l := strings.ToLower(op); strings.Contains(l, "remove") || strings.Contains(l, "delete") {
		return ir, false
	}
	var actions []string
	for _, p := range r.props {
		if p.List != "OperationProperties" {
			continue
		}
		switch strings.ToLower(p.Name) {
		case "rulename", "ruleid", "ruleoperation", "rulestate", "rulecondition", "rulesequence":
			continue
		case "serverrule":
			actions = append(actions, serverRuleActions(p.Value)...)
			continue
		}
		actions = append(actions, p.Value)
	}
	text := strings.ToLower(strings.Join(actions, "\n"))
	ir.forwards = strings.Contains(text, "forward") || strings.Contains(text, "redirect")
	ir.delete = strings.Contains(text, "delete")
	ir.markRead = strings.Contains(text, "markasread")
	for _, f := range hidingFolders {
		if strings.Contains(text, f) {
			ir.hides, ir.moveTo = true, f
			if slices.Contains(hiddenFolders, f) {
				ir.hidden = true
			}
		}
	}
	if !ir.hides {
		if i := strings.Index(text, "movetofolder"); i >= 0 {
			ir.moveTo = strings.TrimSpace(strings.SplitN(text[i+len("movetofolder"):], "\n", 2)[0])
		}
	}
	verb := "forwards"
	if strings.Contains(text, "redirect") {
		verb = "redirects"
	}
	if ir.forwards {
		for _, a := range actions {
			addrs, _ := recipients(a)
			for _, x := range addrs {
				if !slices.Contains(ir.recipients, x) {
					ir.recipients = append(ir.recipients, x)
					ir.verbs[verb] = append(ir.verbs[verb], x)
				}
			}
		}
	}
	if c, _ := r.get("OperationProperties", "RuleCondition"); strings.TrimSpace(c) != "" {
		ir.conditions = append(ir.conditions, c)
		ir.addLures(c)
	}
	return ir, true
}

// serverRuleActions returns the text of the Actions of a ServerRule JSON document (the
// whole text when it is not JSON), leaving out conditions whose addresses (a From
// condition) are not where mail goes.
func serverRuleActions(v string) []string {
	var doc map[string]any
	if err := json.Unmarshal([]byte(v), &doc); err != nil {
		return []string{v}
	}
	for k, a := range doc {
		if strings.EqualFold(k, "Actions") {
			b, _ := json.Marshal(a)
			return []string{string(b)}
		}
	}
	return nil
}

// walkInboxRules replays the inbox-rule changes of recs (the look-back and the range,
// in time order), merging each Set-InboxRule into what the records say the rule was,
// and calls fn for every successful New-/Set-InboxRule and UpdateInboxRules.
func (e *evaluation) walkInboxRules(recs []*record, fn func(r *record, ir inboxRule)) {
	state := map[string]map[string]string{}
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		switch r.Operation {
		case "New-InboxRule", "Set-InboxRule":
			p := r.params()
			mailbox, name := cmdletTarget(r, p)
			key := ruleKey(r.TenantID, mailbox, name)
			merged, unknown := p, false
			if r.Operation == "Set-InboxRule" {
				if old, ok := state[key]; ok {
					merged = map[string]string{}
					for k, v := range old {
						merged[k] = v
					}
					for k, v := range p {
						merged[k] = v
					}
				} else {
					unknown = true
				}
			}
			if newName := p["name"]; r.Operation == "Set-InboxRule" && newName != "" {
				delete(state, key)
				key = ruleKey(r.TenantID, mailbox, newName)
				name = newName
			}
			if !unknown {
				state[key] = merged
			}
			fn(r, e.cmdletRule(r, merged, mailbox, name, unknown))
		case "Remove-InboxRule":
			mailbox, name := cmdletTarget(r, r.params())
			delete(state, ruleKey(r.TenantID, mailbox, name))
		case "UpdateInboxRules":
			if ir, ok := outlookRule(r); ok {
				fn(r, ir)
			}
		}
	}
}

// inboxEvidence is what both inbox-rule rules show.
func inboxEvidence(r *record, ir inboxRule) map[string]string {
	ev := map[string]string{"operation": r.Operation, "form": ir.source, "rule_name": ir.name, "mailbox": ir.mailbox}
	if len(ir.recipients) > 0 {
		ev["forward_to"] = strings.Join(ir.recipients, "; ")
	}
	for verb, a := range ir.verbs {
		if len(a) > 0 {
			ev[strings.ReplaceAll(verb, " ", "_")] = strings.Join(a, "; ")
		}
	}
	if len(ir.names) > 0 {
		ev["forward_to_names"] = strings.Join(ir.names, "; ")
	}
	for n, a := range ir.contactHits {
		ev["mail_contact."+n] = a
	}
	if ir.delete {
		ev["delete"] = "true"
	}
	if ir.moveTo != "" {
		ev["move_to_folder"] = ir.moveTo
	}
	if ir.markRead {
		ev["mark_as_read"] = "true"
	}
	switch {
	case len(ir.conditions) > 0:
		ev["conditions"] = strings.Join(ir.conditions, "; ")
	case ir.unknown:
		ev["conditions"] = "(unknown: Set-InboxRule logs only the parameters it changed, and no earlier New-InboxRule of this rule is in the records)"
	default:
		ev["conditions"] = "(none: all incoming mail)"
	}
	return ev
}

// scope says which mail a rule applies to.
func (ir inboxRule) scope() string {
	switch {
	case len(ir.conditions) > 0 && ir.unknown:
		return "mail matching " + strings.Join(ir.conditions, ", ") + " (and any earlier conditions the record does not show)"
	case len(ir.conditions) > 0:
		return "mail matching " + strings.Join(ir.conditions, ", ")
	case ir.unknown:
		return "the mail its earlier conditions select (not in the records: Set-InboxRule logs only what it changed)"
	}
	return "all incoming mail"
}

func inboxRemediation(r *record, ir inboxRule) []string {
	rem := []string{
		fmt.Sprintf("Get-InboxRule -Mailbox %s -IncludeHidden | Format-List Name,Identity,Enabled,From,SubjectContainsWords,SubjectOrBodyContainsWords,ForwardTo,ForwardAsAttachmentTo,RedirectTo,DeleteMessage,MoveToFolder,MarkAsRead,StopProcessingRules", psQuote(ir.mailbox)),
		fmt.Sprintf("Remove-InboxRule -Mailbox %s -Identity %s -Confirm:$false", psQuote(ir.mailbox), psQuote(ir.name)),
	}
	return append(rem, sessionRevocation(r.UserID, ir.mailbox)...)
}

// sessionRevocation revokes the sessions of the account that made a change and, when
// it is another account, of the mailbox's owner too.
func sessionRevocation(actor, mailbox string) []string {
	var out []string
	if strings.Contains(actor, "@") {
		out = append(out, fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(actor)))
	}
	if mailbox != "" && !sameAccount(actor, mailbox) {
		out = append(out,
			fmt.Sprintf("Revoke-MgUserSignInSession -UserId (Get-Mailbox -Identity %s).ExternalDirectoryObjectId", psQuote(mailbox)),
			fmt.Sprintf("Get-InboxRule -Mailbox %s -IncludeHidden | Format-List Name,Enabled,ForwardTo,ForwardAsAttachmentTo,RedirectTo,DeleteMessage,MoveToFolder", psQuote(mailbox)))
		if strings.Contains(actor, "@") {
			out = append(out, fmt.Sprintf("Get-InboxRule -Mailbox %s -IncludeHidden | Format-List Name,Enabled,ForwardTo,ForwardAsAttachmentTo,RedirectTo,DeleteMessage,MoveToFolder", psQuote(actor)))
		}
	}
	if len(out) == 0 && mailbox != "" {
		out = append(out, fmt.Sprintf("Revoke-MgUserSignInSession -UserId (Get-Mailbox -Identity %s).ExternalDirectoryObjectId", psQuote(mailbox)))
	}
	return out
}

// sameAccount reports whether a UPN and a mailbox identity (UPN, alias, or
// Exchange path) are the same account.
func sameAccount(upn, mailbox string) bool {
	local := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		if i := strings.LastIndexAny(s, `\/`); i >= 0 {
			s = s[i+1:]
		}
		if i := strings.IndexByte(s, '@'); i >= 0 {
			s = s[:i]
		}
		return s
	}
	return strings.EqualFold(upn, mailbox) || (local(upn) != "" && local(upn) == local(mailbox))
}

func (e *evaluation) inboxForward(recs []*record) {
	e.walkInboxRules(recs, func(r *record, ir inboxRule) {
		if e.allowedRule(ir.name) {
			return
		}
		external := e.checker(r.TenantID).external(ir.recipients)
		if len(external) == 0 {
			return
		}
		ev := inboxEvidence(r, ir)
		ev["external_recipients"] = strings.Join(external, "; ")
		var parts []string
		for _, f := range inboxForwardParams {
			if x := e.checker(r.TenantID).external(ir.verbs[f.verb]); len(x) > 0 {
				parts = append(parts, f.verb+" "+ir.scope()+" to "+strings.Join(x, ", "))
			}
		}
		for verb, a := range ir.verbs {
			if !slices.ContainsFunc(inboxForwardParams, func(f struct{ param, verb string }) bool { return f.verb == verb }) {
				if x := e.checker(r.TenantID).external(a); len(x) > 0 {
					parts = append(parts, verb+" "+ir.scope()+" to "+strings.Join(x, ", "))
				}
			}
		}
		s := fmt.Sprintf("Inbox rule %q on %s %s, outside the organization", ir.name, ir.mailbox, strings.Join(parts, ", and "))
		if what := ir.hideVerbs(); len(what) > 0 {
			s += ", and " + strings.Join(what, " and ")
		}
		e.emit(r, RuleInboxForwardExternal, s+".", ev, inboxRemediation(r, ir))
	})
}

func (ir inboxRule) hideVerbs() []string {
	var what []string
	if ir.delete {
		what = append(what, "deletes")
	} else if ir.moveTo != "" {
		what = append(what, "moves to "+ir.moveTo)
	}
	if ir.markRead {
		what = append(what, "marks as read")
	}
	return what
}

func (e *evaluation) inboxHide(recs []*record) {
	e.walkInboxRules(recs, func(r *record, ir inboxRule) {
		if e.allowedRule(ir.name) {
			return
		}
		if e.on(RuleInboxForwardExternal) && len(e.checker(r.TenantID).external(ir.recipients)) > 0 {
			return // the forwarding alert tells it all
		}
		moves := ir.moveTo != "" || ir.delete
		var why string
		switch {
		case ir.hidden:
			why = "a folder nobody reads"
		case (ir.delete || ir.hides) && len(ir.conditions) == 0 && !ir.unknown:
			why = "all incoming mail"
		case (ir.delete || ir.hides) && ir.unknown && len(ir.conditions) == 0:
			why = "conditions unknown"
		case (ir.delete || ir.hides) && len(ir.alertLures) > 0, moves && len(ir.strongLures) > 0:
			why = "security notifications"
		case (ir.delete || ir.hides) && len(ir.fraudLures) > 0:
			why = "replies about payments"
		default:
			return
		}
		ev := inboxEvidence(r, ir)
		ev["why"] = why
		if l := slices.Concat(ir.alertLures, ir.fraudLures); len(l) > 0 {
			ev["lure_words"] = strings.Join(l, ", ")
		}
		e.emit(r, RuleInboxHide, fmt.Sprintf("Inbox rule %q on %s %s %s, so the owner does not see it.", ir.name, ir.mailbox, strings.Join(ir.hideVerbs(), " and "), ir.scope()), ev, inboxRemediation(r, ir))
	})
}

// loadContacts reads, per tenant, the mail contacts and mail users created or changed
// in every stored record before to, by each name a recipient parameter may give them
// (Name, Alias, DisplayName, Identity, their addresses), to their external address.
func loadContacts(ctx context.Context, h sink.Handle, to time.Time) (map[string]map[string]string, error) {
	recs, err := loadRecords(ctx, h, contactOps, epoch, to, true, false)
	if err != nil {
		return nil, fmt.Errorf("reading mail contacts: %w", err)
	}
	out := map[string]map[string]string{}
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		p := r.params()
		addrs, _ := recipients(p["externalemailaddress"])
		if len(addrs) == 0 {
			continue
		}
		if out[r.TenantID] == nil {
			out[r.TenantID] = map[string]string{}
		}
		for _, k := range []string{"name", "alias", "displayname", "identity", "primarysmtpaddress"} {
			if v := contactName(p[k]); v != "" {
				out[r.TenantID][v] = addrs[0]
				// Exchange derives an alias from the name without its spaces.
				out[r.TenantID][strings.ReplaceAll(v, " ", "")] = addrs[0]
			}
		}
		if v := contactName(r.ObjectID); v != "" {
			out[r.TenantID][v] = addrs[0]
		}
	}
	return out, nil
}

// contactName normalizes a recipient name: lower case, the last segment of an
// Exchange path (contoso.onmicrosoft.com/Contacts/Backup), smtp: stripped.
func contactName(v string) string {
	v = strings.ToLower(strings.Trim(strings.TrimSpace(v), `"' []`))
	if i := strings.LastIndexAny(v, `\/`); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimPrefix(v, "smtp:")
}

// resolveContacts returns the external addresses of the names that are mail contacts
// (or mail users) in the records, noting each in hits.
func (e *evaluation) resolveContacts(tenant string, names []string, hits map[string]string) []string {
	var out []string
	for _, n := range names {
		if a, ok := e.contacts[tenant][contactName(n)]; ok {
			out = append(out, a)
			if hits != nil {
				hits[n] = a
			}
		}
	}
	return out
}

func (e *evaluation) mailboxForwarding(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		p := r.params()
		smtp, _ := recipients(p["forwardingsmtpaddress"])
		addr, names := recipients(p["forwardingaddress"])
		hits := map[string]string{}
		addr = append(addr, e.resolveContacts(r.TenantID, names, hits)...)
		external := e.checker(r.TenantID).external(append(smtp, addr...))
		if len(external) == 0 {
			continue
		}
		mailbox := firstNonEmpty(p["identity"], r.ObjectID)
		ev := map[string]string{"operation": r.Operation, "mailbox": mailbox, "external_recipients": strings.Join(external, "; "), "changed_by": r.UserID}
		ev["forwarding_smtp_address"] = p["forwardingsmtpaddress"]
		ev["forwarding_address"] = p["forwardingaddress"]
		for n, a := range hits {
			ev["mail_contact."+n] = a
		}
		keep := p["delivertomailboxandforward"]
		ev["deliver_to_mailbox_and_forward"] = keep
		s := fmt.Sprintf("Mailbox %s now forwards all mail to %s, outside the organization", mailbox, strings.Join(external, ", "))
		if len(hits) > 0 {
			s += " (through a mail contact whose external address it is)"
		}
		if isFalse(keep) {
			s += ", without keeping a copy"
		}
		if !sameAccount(r.UserID, mailbox) {
			s += fmt.Sprintf("; set by %s", r.UserID)
		}
		rem := []string{
			fmt.Sprintf("Get-Mailbox -Identity %s | Format-List ForwardingSmtpAddress,ForwardingAddress,DeliverToMailboxAndForward", psQuote(mailbox)),
			fmt.Sprintf("Set-Mailbox -Identity %s -ForwardingSmtpAddress $null -ForwardingAddress $null -DeliverToMailboxAndForward $false", psQuote(mailbox)),
		}
		for n := range hits {
			rem = append(rem, fmt.Sprintf("Remove-MailContact -Identity %s -Confirm:$false", psQuote(n)))
		}
		e.emit(r, RuleMailboxForwardExternal, s+".", ev, append(rem, sessionRevocation(r.UserID, mailbox)...))
	}
}

// transportCopyParams are the New-TransportRule/Set-TransportRule parameters that send
// a message to more recipients.
var transportCopyParams = []string{"BlindCopyTo", "CopyTo", "RedirectMessageTo", "AddToRecipients"}

func (e *evaluation) transportRules(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		p := r.params()
		name := firstNonEmpty(p["name"], p["identity"], r.ObjectID)
		if e.allowedRule(name) {
			continue
		}
		ev := map[string]string{"operation": r.Operation, "transport_rule": name}
		var external, redirected []string
		for _, param := range transportCopyParams {
			a, n := recipients(p[strings.ToLower(param)])
			a = append(a, e.resolveContacts(r.TenantID, n, nil)...)
			if x := e.checker(r.TenantID).external(a); len(x) > 0 {
				ev[snake(param)] = p[strings.ToLower(param)]
				external = append(external, x...)
				if param == "RedirectMessageTo" {
					redirected = append(redirected, x...)
				}
			}
		}
		if len(external) == 0 {
			continue
		}
		ev["external_recipients"] = strings.Join(external, "; ")
		verb := "sends copies of matching mail to"
		if len(redirected) == len(external) {
			verb = "redirects matching mail to"
		} else if len(redirected) > 0 {
			verb = "redirects or copies matching mail to"
		}
		e.emit(r, RuleTransportCopyExternal, fmt.Sprintf("Transport rule %q %s %s, outside the organization.", name, verb, strings.Join(external, ", ")), ev, []string{
			fmt.Sprintf("Get-TransportRule -Identity %s | Format-List Name,State,Conditions,Actions,BlindCopyTo,CopyTo,RedirectMessageTo,AddToRecipients", psQuote(name)),
			fmt.Sprintf("Disable-TransportRule -Identity %s -Confirm:$false", psQuote(name)),
			fmt.Sprintf("Remove-TransportRule -Identity %s -Confirm:$false", psQuote(name)),
			fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
		})
	}
}

// snake turns a parameter name into an evidence key: BlindCopyTo → blind_copy_to.
func snake(s string) string {
	var b strings.Builder
	for i, c := range s {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}
