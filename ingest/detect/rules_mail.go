package detect

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Operations the mail rules read.
var (
	inboxRuleOps     = []string{"New-InboxRule", "Set-InboxRule", "UpdateInboxRules"}
	mailboxOps       = []string{"Set-Mailbox", "New-Mailbox"}
	transportRuleOps = []string{"New-TransportRule", "Set-TransportRule"}
)

// inboxForwardParams are the New-InboxRule/Set-InboxRule parameters that send mail on.
var inboxForwardParams = []string{"ForwardTo", "ForwardAsAttachmentTo", "RedirectTo"}

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

// hidingFolders are the folders attackers move mail to so the owner does not see it.
var hidingFolders = []string{"deleted items", "junk email", "rss feeds", "rss subscriptions", "archive", "conversation history"}

// lureWords are the subjects attackers hide from the mailbox owner: replies about the
// fraud, and warnings about the compromise.
var lureWords = []string{"invoice", "payment", "wire", "bank", "transfer", "remittance", "password", "phish",
	"hack", "compromise", "security", "suspicious", "fraud", "helpdesk", "help desk", "scam"}

// inboxRule is what an inbox-rule change does, read from either form.
type inboxRule struct {
	source     string // cmdlet or outlook
	name       string
	mailbox    string
	recipients []string // mail addresses it forwards or redirects to
	names      []string // recipients given as directory names (internal)
	forwards   bool
	delete     bool
	moveTo     string
	hides      bool // moves to a hiding folder
	markRead   bool
	conditions []string
	lures      []string
}

func isTrue(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "true") }

// cmdletRule reads a New-InboxRule/Set-InboxRule record.
func cmdletRule(r *record) inboxRule {
	ir := inboxRule{source: "cmdlet", name: r.param("Name"), mailbox: r.param("Mailbox")}
	if ir.name == "" {
		ir.name = r.param("Identity")
	}
	if ir.name == "" {
		ir.name = r.ObjectID
	}
	if ir.mailbox == "" {
		ir.mailbox = r.UserID
		if i := strings.IndexByte(r.ObjectID, '\\'); i > 0 && r.param("Identity") == "" && !strings.Contains(r.UserID, "@") {
			ir.mailbox = r.ObjectID[:i]
		}
	}
	for _, p := range inboxForwardParams {
		a, n := recipients(r.param(p))
		ir.recipients = append(ir.recipients, a...)
		ir.names = append(ir.names, n...)
	}
	ir.forwards = len(ir.recipients)+len(ir.names) > 0
	ir.delete = isTrue(r.param("DeleteMessage")) || isTrue(r.param("SoftDeleteMessage")) || isTrue(r.param("PermanentDelete"))
	ir.moveTo = r.param("MoveToFolder")
	ir.hides = hidingFolder(ir.moveTo)
	ir.markRead = isTrue(r.param("MarkAsRead"))
	for _, c := range inboxConditionParams {
		if v := r.param(c); strings.TrimSpace(v) != "" && !strings.EqualFold(v, "$null") {
			ir.conditions = append(ir.conditions, c+"="+v)
			ir.lures = append(ir.lures, lures(v)...)
		}
	}
	return ir
}

// hidingFolder reports whether a MoveToFolder value names a hiding folder; the value
// may be "Deleted Items", ":\RSS Feeds", "megan.bowen:\Archive" or "\Inbox\Archive".
func hidingFolder(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	if i := strings.LastIndexAny(v, `\:/`); i >= 0 {
		v = v[i+1:]
	}
	return slices.Contains(hidingFolders, strings.TrimSpace(v))
}

func lures(text string) []string {
	text = strings.ToLower(text)
	var out []string
	for _, w := range lureWords {
		if strings.Contains(text, w) {
			out = append(out, w)
		}
	}
	return out
}

// outlookRule reads an UpdateInboxRules record (an Outlook client changing rules through
// the mailbox; RecordType 2): the rule sits in OperationProperties, its actions as text
// (RuleActions, "ForwardToRecipientsAction", ...) and as JSON (ServerRule, with the
// recipients under Actions).
func outlookRule(r *record) (inboxRule, bool) {
	ir := inboxRule{source: "outlook", mailbox: r.MailboxOwner}
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
		}
	}
	if ir.forwards {
		for _, a := range actions {
			addrs, _ := recipients(a)
			for _, x := range addrs {
				if !slices.Contains(ir.recipients, x) {
					ir.recipients = append(ir.recipients, x)
				}
			}
		}
	}
	if c, _ := r.get("OperationProperties", "RuleCondition"); strings.TrimSpace(c) != "" {
		ir.conditions = append(ir.conditions, c)
		ir.lures = lures(c)
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

func (e *evaluation) inboxRules(recs []*record) {
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		var ir inboxRule
		switch r.Operation {
		case "New-InboxRule", "Set-InboxRule":
			ir = cmdletRule(r)
		case "UpdateInboxRules":
			var ok bool
			if ir, ok = outlookRule(r); !ok {
				continue
			}
		default:
			continue
		}
		if e.allowedRule(ir.name) {
			continue
		}
		check := e.checker(r.TenantID)
		external := check.external(ir.recipients)
		ev := map[string]string{"operation": r.Operation, "form": ir.source, "rule_name": ir.name, "mailbox": ir.mailbox}
		if len(ir.recipients) > 0 {
			ev["forward_to"] = strings.Join(ir.recipients, "; ")
		}
		if len(ir.names) > 0 {
			ev["forward_to_names"] = strings.Join(ir.names, "; ")
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
		if len(ir.conditions) > 0 {
			ev["conditions"] = strings.Join(ir.conditions, "; ")
		} else {
			ev["conditions"] = "(none: all incoming mail)"
		}
		rem := []string{
			fmt.Sprintf("Get-InboxRule -Mailbox %s | Format-List Name,Enabled,From,SubjectContainsWords,ForwardTo,RedirectTo,DeleteMessage,MoveToFolder", psQuote(ir.mailbox)),
			fmt.Sprintf("Remove-InboxRule -Mailbox %s -Identity %s -Confirm:$false", psQuote(ir.mailbox), psQuote(ir.name)),
			fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(userOr(r.UserID, ir.mailbox))),
		}
		hides := (ir.delete || ir.hides) && (len(ir.conditions) == 0 || len(ir.lures) > 0)
		var what []string
		if ir.delete {
			what = append(what, "deletes")
		} else if ir.hides {
			what = append(what, "moves to "+ir.moveTo)
		}
		if ir.markRead {
			what = append(what, "marks as read")
		}
		scope := "all incoming mail"
		if len(ir.conditions) > 0 {
			scope = "mail matching " + strings.Join(ir.conditions, ", ")
		}
		if len(external) > 0 && e.on(RuleInboxForwardExternal) {
			ev["external_recipients"] = strings.Join(external, "; ")
			s := fmt.Sprintf("Inbox rule %q on %s forwards %s to %s, outside the organization", ir.name, ir.mailbox, scope, strings.Join(external, ", "))
			if len(what) > 0 {
				s += ", and " + strings.Join(what, " and ")
			}
			e.emit(r, RuleInboxForwardExternal, s+".", ev, rem)
			continue
		}
		if hides && e.on(RuleInboxHide) {
			if len(ir.lures) > 0 {
				ev["lure_words"] = strings.Join(ir.lures, ", ")
			}
			e.emit(r, RuleInboxHide, fmt.Sprintf("Inbox rule %q on %s %s %s, so the owner does not see it.", ir.name, ir.mailbox, strings.Join(what, " and "), scope), ev, rem)
		}
	}
}

func userOr(user, fallback string) string {
	if strings.Contains(user, "@") {
		return user
	}
	return fallback
}

func (e *evaluation) mailboxForwarding(recs []*record) {
	if !e.on(RuleMailboxForwardExternal) {
		return
	}
	for _, r := range recs {
		if !r.succeeded() || !slices.Contains(mailboxOps, r.Operation) {
			continue
		}
		smtp, _ := recipients(r.param("ForwardingSmtpAddress"))
		addr, names := recipients(r.param("ForwardingAddress"))
		external := e.checker(r.TenantID).external(append(smtp, addr...))
		if len(external) == 0 {
			continue
		}
		mailbox := r.param("Identity")
		if mailbox == "" {
			mailbox = r.ObjectID
		}
		ev := map[string]string{"operation": r.Operation, "mailbox": mailbox, "external_recipients": strings.Join(external, "; ")}
		if v := r.param("ForwardingSmtpAddress"); v != "" {
			ev["forwarding_smtp_address"] = v
		}
		if v := r.param("ForwardingAddress"); v != "" {
			ev["forwarding_address"] = v
		}
		if len(names) > 0 {
			ev["forwarding_names"] = strings.Join(names, "; ")
		}
		keep := r.param("DeliverToMailboxAndForward")
		if keep != "" {
			ev["deliver_to_mailbox_and_forward"] = keep
		}
		s := fmt.Sprintf("Mailbox %s now forwards all mail to %s, outside the organization", mailbox, strings.Join(external, ", "))
		if strings.EqualFold(keep, "false") {
			s += ", without keeping a copy"
		}
		e.emit(r, RuleMailboxForwardExternal, s+".", ev, []string{
			fmt.Sprintf("Get-Mailbox -Identity %s | Format-List ForwardingSmtpAddress,ForwardingAddress,DeliverToMailboxAndForward", psQuote(mailbox)),
			fmt.Sprintf("Set-Mailbox -Identity %s -ForwardingSmtpAddress $null -ForwardingAddress $null -DeliverToMailboxAndForward $false", psQuote(mailbox)),
			fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(userOr(r.UserID, mailbox))),
		})
	}
}

// transportCopyParams are the New-TransportRule/Set-TransportRule parameters that send
// a message to more recipients.
var transportCopyParams = []string{"BlindCopyTo", "CopyTo", "RedirectMessageTo", "AddToRecipients"}

func (e *evaluation) transportRules(recs []*record) {
	if !e.on(RuleTransportCopyExternal) {
		return
	}
	for _, r := range recs {
		if !r.succeeded() || !slices.Contains(transportRuleOps, r.Operation) {
			continue
		}
		name := r.param("Name")
		if name == "" {
			name = r.param("Identity")
		}
		if name == "" {
			name = r.ObjectID
		}
		if e.allowedRule(name) {
			continue
		}
		ev := map[string]string{"operation": r.Operation, "transport_rule": name}
		var external []string
		for _, p := range transportCopyParams {
			a, _ := recipients(r.param(p))
			if x := e.checker(r.TenantID).external(a); len(x) > 0 {
				ev[snake(p)] = r.param(p)
				external = append(external, x...)
			}
		}
		if len(external) == 0 {
			continue
		}
		ev["external_recipients"] = strings.Join(external, "; ")
		e.emit(r, RuleTransportCopyExternal, fmt.Sprintf("Transport rule %q sends copies of matching mail to %s, outside the organization.", name, strings.Join(external, ", ")), ev, []string{
			fmt.Sprintf("Get-TransportRule -Identity %s | Format-List Name,State,Conditions,Actions,BlindCopyTo,CopyTo,RedirectMessageTo,AddToRecipients", psQuote(name)),
			fmt.Sprintf("Disable-TransportRule -Identity %s -Confirm:$false", psQuote(name)),
			fmt.Sprintf("Remove-TransportRule -Identity %s -Confirm:$false", psQuote(name)),
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
