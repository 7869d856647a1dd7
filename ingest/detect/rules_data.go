package detect

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Operations the data rules read.
var (
	anonLinkOps   = []string{"AnonymousLinkCreated", "AnonymousLinkUpdated"}
	downloadOps   = []string{"FileDownloaded", "FileSyncDownloadedFull"}
	deleteOps     = []string{"FileDeleted", "FileRecycled", "FileDeletedFirstStageRecycleBin", "FileDeletedSecondStageRecycleBin", "FolderDeleted", "FolderRecycled", "HardDelete", "SoftDelete"}
	mailAccessOps = []string{"MailItemsAccessed"}
	ediscoveryOps = []string{"New-ComplianceSearch", "Set-ComplianceSearch", "New-ComplianceSearchAction", "SearchCreated", "SearchExported", "SearchExportDownloaded", "ViewedSearchExported"}
	siteAdminOps  = []string{"SiteCollectionAdminAdded", "SiteCollectionCreated"}
	teamMemberOps = []string{"MemberAdded"}
)

func (e *evaluation) anonymousLinks(recs []*record) {
	th := e.th
	e.episodes(recs, RuleAnonymousLink, time.Duration(th.AnonymousLinkWindowMinutes)*time.Minute, userKey,
		func(hits []*record) bool { return len(hits) >= th.AnonymousLinks },
		func(r *record, all []*record) (string, map[string]string, []string) {
			s := fmt.Sprintf("%s created an anonymous sharing link (anyone with the link) to %s.", r.UserID, r.ObjectID)
			if len(all) > 1 {
				s = fmt.Sprintf("%s created %d anonymous sharing links (anyone with the link) within %s.", r.UserID, len(all), humanDuration(spanOf(all)))
			}
			return s, map[string]string{"files": objects(all)}, []string{
				"# Remove the links: each file's Manage access pane, or Remove-PnPFileSharingLink -FileUrl '<server-relative url>' -Identity '<link id>'",
				fmt.Sprintf("Get-SPOSite -Identity %s | Format-List Url,SharingCapability", psQuote(siteOf(r.ObjectID))),
				fmt.Sprintf("Set-SPOSite -Identity %s -SharingCapability ExistingExternalUserSharingOnly", psQuote(siteOf(r.ObjectID))),
			}
		})
}

func userKey(r *record) string {
	if r.UserID == "" {
		return ""
	}
	return r.TenantID + "\x00" + strings.ToLower(r.UserID)
}

func (e *evaluation) downloads(recs []*record) {
	th := e.th
	e.episodes(recs, RuleDownloadBurst, time.Duration(th.DownloadWindowMinutes)*time.Minute,
		func(r *record) string {
			// The sync client filling a new device from the user's own OneDrive.
			if r.Operation == "FileSyncDownloadedFull" && strings.Contains(strings.ToLower(firstNonEmpty(r.SiteURL, r.ObjectID))+"/", oneDriveOf(r.UserID)+"/") {
				return ""
			}
			return userKey(r)
		},
		func(hits []*record) bool { return len(hits) >= th.DownloadBurst },
		func(r *record, all []*record) (string, map[string]string, []string) {
			return fmt.Sprintf("%s downloaded %d files within %s.", r.UserID, len(all), humanDuration(spanOf(all))),
				map[string]string{"files": objects(all)},
				[]string{
					fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
					fmt.Sprintf("Get-MgAuditLogSignIn -Filter %s -Top 20", odataEq("userPrincipalName", r.UserID)),
				}
		})
}

// mailDelete is what a HardDelete/SoftDelete record removed.
type mailDelete struct {
	Folder struct {
		Path string
	}
	AffectedItems []struct {
		ParentFolder struct {
			Path string
		}
	}
}

// deletedItems returns how many items a delete record removed that count as mass
// deletion: files 1 (0 for emptying a recycle bin); mail the items outside Deleted
// Items, Recoverable Items and Junk Email (emptying those is housekeeping).
func deletedItems(r *record) int {
	if strings.HasSuffix(r.Operation, "RecycleBin") {
		return 0 // emptying a recycle bin: the files were deleted (and counted) before
	}
	if r.Operation != "HardDelete" && r.Operation != "SoftDelete" {
		return 1
	}
	var d mailDelete
	json.Unmarshal([]byte(r.raw), &d)
	bin := func(p string) bool {
		p = strings.ToLower(p)
		return strings.Contains(p, "deleted items") || strings.Contains(p, "recoverable items") || strings.Contains(p, "junk")
	}
	if len(d.AffectedItems) == 0 {
		if bin(d.Folder.Path) {
			return 0
		}
		return 1
	}
	n := 0
	for _, it := range d.AffectedItems {
		if !bin(firstNonEmpty(it.ParentFolder.Path, d.Folder.Path)) {
			n++
		}
	}
	return n
}

func (e *evaluation) massDelete(recs []*record) {
	th := e.th
	// Only mail deletes need their raw record (the items they removed, and where from).
	var mail []*record
	for _, r := range recs {
		if r.Operation == "HardDelete" || r.Operation == "SoftDelete" {
			mail = append(mail, r)
		}
	}
	if err := loadRaw(e.ctx, e.h, mail); err != nil {
		e.err = err
		return
	}
	items := map[*record]int{}
	e.episodes(recs, RuleMassDelete, time.Duration(th.DeleteWindowMinutes)*time.Minute,
		func(r *record) string {
			if r.isService() || !r.succeeded() {
				return ""
			}
			n := deletedItems(r)
			if n == 0 {
				return ""
			}
			items[r] = n
			return userKey(r)
		},
		func(hits []*record) bool {
			n := 0
			for _, h := range hits {
				n += items[h]
			}
			return n >= th.DeleteBurst
		},
		func(r *record, all []*record) (string, map[string]string, []string) {
			files, mail := 0, 0
			for _, h := range all {
				if h.Operation == "HardDelete" || h.Operation == "SoftDelete" {
					mail += items[h]
				} else {
					files++
				}
			}
			var what []string
			if files > 0 {
				what = append(what, plural(files, "file", "files"))
			}
			if mail > 0 {
				what = append(what, plural(mail, "mail item", "mail items"))
			}
			ev := map[string]string{"files_deleted": strconv.Itoa(files), "mail_items_deleted": strconv.Itoa(mail)}
			if files > 0 {
				ev["files"] = objects(all)
			}
			return fmt.Sprintf("%s deleted %s within %s.", r.UserID, strings.Join(what, " and "), humanDuration(spanOf(all))), ev, []string{
				fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
				"# Files: restore from the site's recycle bin (Restore-PnPRecycleBinItem), or the OneDrive/site restore to a point in time",
				fmt.Sprintf("# Mail: Get-RecoverableItems -Identity %s | Restore-RecoverableItems", psQuote(r.UserID)),
			}
		})
}

// firstPartyMailApps are Microsoft's own mail clients, whose Sync is a mailbox being
// set up on a device: Outlook for Windows and Mac, Outlook mobile, Outlook on the web,
// new Outlook, Exchange itself.
var firstPartyMailApps = map[string]bool{
	"d3590ed6-52b3-4102-aeff-aad2292ab01c": true, "27922004-5251-4030-b22d-91ecd9a37ea4": true,
	"00000002-0000-0ff1-ce00-000000000000": true, "9199bf20-a13f-4107-85dc-02114787ef48": true,
	"5d661950-3475-41cd-a2c3-d671a3162bc1": true, "bc59ab01-8403-45c6-8796-ac3ef710b3e3": true,
}

func (e *evaluation) mailSync(recs []*record) {
	app := func(r *record) string { return strings.ToLower(firstNonEmpty(r.ClientAppID, r.AppID)) }
	e.episodes(recs, RuleMailSyncByApp, time.Hour,
		func(r *record) string {
			a := app(r)
			if t, _ := r.get("OperationProperties", "MailAccessType"); !strings.EqualFold(t, "Sync") || a == "" || firstPartyMailApps[a] || e.allowedApp(a) {
				return ""
			}
			return r.TenantID + "\x00" + strings.ToLower(firstNonEmpty(r.MailboxOwner, r.UserID)) + "\x00" + a
		},
		func(hits []*record) bool { return len(hits) >= 1 },
		func(r *record, all []*record) (string, map[string]string, []string) {
			mailbox := firstNonEmpty(r.MailboxOwner, r.UserID)
			return fmt.Sprintf("The application %s downloaded the mailbox %s in bulk (MailItemsAccessed Sync, %s).", app(r), mailbox, plural(len(all), "record", "records")),
				map[string]string{"application_id": app(r), "mailbox": mailbox, "records": strconv.Itoa(len(all))},
				append(appRemediation("", app(r), ""), fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(mailbox)))
		})
}

func (e *evaluation) ediscovery(recs []*record) {
	queries := map[string]string{}
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		p := r.params()
		switch r.Operation {
		case "New-ComplianceSearch", "Set-ComplianceSearch":
			name := firstNonEmpty(p["name"], p["identity"], r.ObjectID)
			q := strings.TrimSpace(p["contentmatchquery"] + " " + "ExchangeLocation=" + p["exchangelocation"])
			queries[r.TenantID+"\x00"+strings.ToLower(name)] = q
			continue
		case "SearchCreated":
			continue
		}
		var what, search string
		switch r.Operation {
		case "New-ComplianceSearchAction":
			search = firstNonEmpty(p["searchname"], p["identity"], r.ObjectID)
			_, export := p["export"]
			_, purge := p["purge"]
			switch {
			case purge && !isFalse(p["purge"]):
				what = "purged the mail found by"
			case export && !isFalse(p["export"]):
				what = "exported the results of"
			default:
				continue
			}
		default:
			search = firstNonEmpty(r.ObjectID, p["name"])
			what = map[string]string{"SearchExported": "exported the results of", "SearchExportDownloaded": "downloaded the export of", "ViewedSearchExported": "viewed the export of"}[r.Operation]
		}
		search = strings.TrimSuffix(strings.TrimSuffix(search, "_Export"), "_Purge")
		ev := map[string]string{"operation": r.Operation, "search": search, "query": queries[r.TenantID+"\x00"+strings.ToLower(search)], "parameters": paramText(r)}
		e.emit(r, RuleEDiscoveryExport, fmt.Sprintf("%s %s the compliance search %s.", r.UserID, what, search), ev, []string{
			fmt.Sprintf("Get-ComplianceSearch -Identity %s | Format-List Name,ContentMatchQuery,ExchangeLocation,SharePointLocation,CreatedBy", psQuote(search)),
			fmt.Sprintf("Get-ComplianceSearchAction | Where-Object { $_.SearchName -eq %s } | Format-List Name,Action,Status,CreatedBy", psQuote(search)),
			fmt.Sprintf("Remove-ComplianceSearch -Identity %s -Confirm:$false", psQuote(search)),
			fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
		})
	}
}

// oneDriveOf returns the path of a user's own OneDrive site: /personal/megan_bowen_contoso_com.
func oneDriveOf(upn string) string {
	return "/personal/" + strings.NewReplacer(".", "_", "@", "_").Replace(strings.ToLower(upn))
}

func (e *evaluation) siteAdmin(recs []*record) {
	created := map[string]*record{} // site URL -> its creation
	for _, r := range recs {
		site := strings.TrimSuffix(strings.ToLower(firstNonEmpty(r.SiteURL, siteOf(r.ObjectID))), "/")
		if r.Operation == "SiteCollectionCreated" {
			created[site] = r
			continue
		}
		if !r.succeeded() || r.isService() {
			continue
		}
		// The owner setting up a site they have just created, or their own OneDrive.
		if c := created[site]; c != nil && strings.EqualFold(c.UserID, r.UserID) && r.Time.Sub(c.Time) < 24*time.Hour {
			continue
		}
		if strings.Contains(site+"/", oneDriveOf(r.UserID)+"/") {
			continue
		}
		var doc struct {
			TargetUserOrGroupName string
			ModifiedProperties    []struct{ Name, NewValue string }
		}
		json.Unmarshal([]byte(r.raw), &doc)
		added := doc.TargetUserOrGroupName
		for _, m := range doc.ModifiedProperties {
			if strings.EqualFold(m.Name, "SiteAdmin") && m.NewValue != "" {
				added = m.NewValue
			}
		}
		site = strings.TrimSuffix(firstNonEmpty(r.SiteURL, siteOf(r.ObjectID)), "/")
		e.emit(r, RuleSiteAdminAdded, fmt.Sprintf("%s made %s a site collection administrator of %s (full control of every file).", r.UserID, firstNonEmpty(added, "someone"), site),
			map[string]string{"site": site, "added_admin": added}, []string{
				fmt.Sprintf("Get-SPOUser -Site %s -Limit All | Where-Object { $_.IsSiteAdmin }", psQuote(site)),
				fmt.Sprintf("Set-SPOUser -Site %s -LoginName %s -IsSiteCollectionAdmin $false", psQuote(site), psQuote(firstNonEmpty(added, "<login name>"))),
				fmt.Sprintf("Revoke-MgUserSignInSession -UserId %s", psQuote(r.UserID)),
			})
	}
}

// guestOrg returns the organization (mail domain) of an external user id: the home
// domain of a guest UPN (jo_fabrikam.com#EXT#@contoso.com), else the address's domain.
func guestOrg(upn string) string {
	u := strings.ToLower(upn)
	if i := strings.Index(u, "#ext#"); i > 0 {
		local := u[:i]
		if j := strings.LastIndexByte(local, '_'); j >= 0 {
			return local[j+1:]
		}
		return local
	}
	return domainOf(u)
}

func (e *evaluation) teamExternal(recs []*record) {
	seen := map[string]bool{}
	for _, r := range recs {
		if !r.succeeded() {
			continue
		}
		var doc struct {
			TeamName string
			Members  []struct {
				UPN, DisplayName string
			}
		}
		json.Unmarshal([]byte(r.raw), &doc)
		for _, m := range doc.Members {
			// A member of the adding user's own domain is a colleague even when the
			// records are too few to learn the domain.
			ext := strings.Contains(strings.ToLower(m.UPN), "#ext#") ||
				(strings.Contains(m.UPN, "@") && !e.checker(r.TenantID).internal(m.UPN) && domainOf(m.UPN) != domainOf(r.UserID))
			if !ext {
				continue
			}
			org := guestOrg(m.UPN)
			key := r.TenantID + "\x00" + org
			known := seen[key]
			seen[key] = true
			if known || e.checker(r.TenantID).allowDomains.has(org) {
				continue
			}
			e.emit(r, RuleTeamExternalMember, fmt.Sprintf("%s added %s, the first member from %s, to the team %s.", r.UserID, m.UPN, org, firstNonEmpty(doc.TeamName, r.ObjectID)),
				map[string]string{"team": doc.TeamName, "member": m.UPN, "organization": org}, []string{
					fmt.Sprintf("Get-Team -DisplayName %s | Get-TeamUser | Format-Table User,Role", psQuote(doc.TeamName)),
					fmt.Sprintf("Get-Team -DisplayName %s | ForEach-Object { Remove-TeamUser -GroupId $_.GroupId -User %s }", psQuote(doc.TeamName), psQuote(m.UPN)),
				})
		}
	}
}

// objects lists the distinct object ids of hits, all of them.
func objects(hits []*record) string {
	var out []string
	for _, h := range hits {
		if !slices.Contains(out, h.ObjectID) {
			out = append(out, h.ObjectID)
		}
	}
	return strings.Join(out, "; ")
}

// siteOf returns the site URL part of a SharePoint/OneDrive object URL.
func siteOf(u string) string {
	for _, marker := range []string{"/sites/", "/teams/", "/personal/"} {
		if i := strings.Index(u, marker); i >= 0 {
			rest := u[i+len(marker):]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				return u[:i+len(marker)+j]
			}
			return u
		}
	}
	return u
}
