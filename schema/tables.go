package schema

// col builds a Column; f lists the raw-record source paths.
func col(name string, t Type, doc string, from ...string) Column {
	return Column{Name: name, Type: t, Doc: doc, From: from}
}

func key(name string, size int, doc string, from ...string) Column {
	return Column{Name: name, Type: Key, Size: size, Doc: doc, From: from}
}

func notNull(c Column) Column {
	c.NotNull = true
	return c
}

// foldCase marks an address or UPN column as compared case-insensitively from version
// v on (Column.FoldCase).
func foldCase(v int, c Column) Column {
	c.FoldCase = v
	return c
}

// verbatim marks a JSON column as keeping its text exactly from version v on
// (Column.Verbatim).
func verbatim(v int, c Column) Column {
	c.Verbatim = v
	return c
}

// SchemaCostVersion is the version that cuts what the bulk loader paid for and no
// documented question uses (indexes), and stores raw as PostgreSQL json.
const SchemaCostVersion = 9

// since marks a column as added by version v.
func since(v int, c Column) Column {
	c.Since = v
	return c
}

// AuditRecord is the audit_record table: one row per distinct record Id, with the common
// schema, typed columns for the fields investigations use, and the raw record.
var AuditRecord = Table{
	Name: "audit_record",
	Doc:  "One row per audit record (distinct Id). Typed columns for the common schema and the Exchange, SharePoint/OneDrive, Azure AD, DLP and Teams fields investigations use; raw holds the record exactly as received.",
	Columns: []Column{
		// Identity and provenance.
		notNull(key("id", 128, "The record's Id (a GUID).")),
		notNull(key("tenant_id", 64, "Tenant the record was fetched for (the configured tenant id; for imports, OrganizationId).")),
		key("content_type", 64, "Content type it was listed under (Audit.Exchange, ...; 'import' for imported files)."),
		key("content_id", 256, "Content blob it first arrived in."),
		// Common schema.
		col("record_type", Int, "RecordType number; join record_type for its name.", "RecordType"),
		notNull(col("creation_time", Time, "CreationTime: when the event happened, UTC.")),
		key("operation", 256, "Operation: the activity or cmdlet name (New-InboxRule, UserLoggedIn, FileDownloaded, ...).", "Operation"),
		key("organization_id", 64, "OrganizationId: the tenant GUID.", "OrganizationId"),
		col("user_type", Int, "UserType number; join user_type for its name.", "UserType"),
		col("user_key", Text, "UserKey: alternative user id (PUID, SID, claims string).", "UserKey"),
		key("workload", 64, "Workload: Exchange, SharePoint, OneDrive, AzureActiveDirectory, MicrosoftTeams, ...", "Workload"),
		key("result_status", 128, "ResultStatus as sent (Succeeded, True, Success, Failed, ...).", "ResultStatus"),
		foldCase(5, col("object_id", Text, "ObjectId: the object acted on (file URL, mailbox, rule, user).", "ObjectId")),
		foldCase(5, key("user_id", 512, "UserId: the actor's UPN or a system account.", "UserId")),
		key("client_ip", 64, "ClientIP normalized: no port, no brackets, no ::ffff: prefix; NULL when empty. Falls back to ClientIPAddress, ActorIpAddress.", "ClientIP", "ClientIPAddress", "ActorIpAddress"),
		col("scope", Int, "Scope: 0 online, 1 on-premises.", "Scope"),
		col("record_version", Int, "Version of the record format.", "Version"),
		key("app_id", 128, "AppId.", "AppId"),
		key("client_app_id", 128, "ClientAppId.", "ClientAppId"),
		key("aad_session_id", 128, "AppAccessContext.AADSessionId: the Entra session, to tie activity to a sign-in.", "AppAccessContext.AADSessionId"),
		key("unique_token_id", 128, "AppAccessContext.UniqueTokenId.", "AppAccessContext.UniqueTokenId"),
		// Exchange admin.
		col("external_access", Bool, "ExternalAccess: run by Microsoft datacenter staff or a delegated admin (admin); logon user outside the owner's organization (mailbox).", "ExternalAccess"),
		key("organization_name", 256, "OrganizationName.", "OrganizationName"),
		col("originating_server", Text, "OriginatingServer.", "OriginatingServer"),
		col("modified_object_resolved_name", Text, "ModifiedObjectResolvedName.", "ModifiedObjectResolvedName"),
		// Exchange mailbox.
		key("mailbox_guid", 64, "MailboxGuid.", "MailboxGuid"),
		foldCase(5, key("mailbox_owner_upn", 512, "MailboxOwnerUPN: whose mailbox.", "MailboxOwnerUPN")),
		key("mailbox_owner_sid", 256, "MailboxOwnerSid.", "MailboxOwnerSid"),
		col("logon_type", Int, "LogonType: 0 owner, 1 admin, 2 delegated, 3 transport, 4 system service, 6 delegated admin.", "LogonType"),
		col("internal_logon_type", Int, "InternalLogonType.", "InternalLogonType"),
		key("logon_user_sid", 256, "LogonUserSid.", "LogonUserSid"),
		col("logon_user_display_name", Text, "LogonUserDisplayName.", "LogonUserDisplayName"),
		col("client_info_string", Text, "ClientInfoString (Client=OWA;Action=ViaProxy, ...).", "ClientInfoString"),
		key("client_ip_address", 64, "ClientIPAddress (Exchange mailbox), normalized like client_ip.", "ClientIPAddress"),
		col("client_process_name", Text, "ClientProcessName.", "ClientProcessName"),
		col("client_version", Text, "ClientVersion.", "ClientVersion"),
		key("session_id", 128, "SessionId.", "SessionId"),
		col("item_id", Text, "Item.Id: the mail item's store id.", "Item.Id"),
		col("item_subject", Text, "Item.Subject.", "Item.Subject"),
		col("item_folder", Text, "Item.ParentFolder.Path, else Folder.Path.", "Item.ParentFolder.Path", "Folder.Path"),
		col("item_internet_message_id", Text, "Item.InternetMessageId.", "Item.InternetMessageId", "InternetMessageId"),
		col("item_attachments", Text, "Item.Attachments (names and sizes, one string).", "Item.Attachments"),
		col("item_size", Int, "Item.SizeInBytes.", "Item.SizeInBytes"),
		col("dest_folder", Text, "DestFolder.Path.", "DestFolder.Path"),
		foldCase(5, key("dest_mailbox_owner_upn", 512, "DestMailboxOwnerUPN.", "DestMailboxOwnerUPN")),
		col("cross_mailbox_operation", Bool, "CrossMailboxOperations (either spelling).", "CrossMailboxOperations", "CrossMailboxOperation"),
		foldCase(5, key("send_as_user_smtp", 512, "SendAsUserSmtp.", "SendAsUserSmtp")),
		foldCase(5, key("send_on_behalf_of_user_smtp", 512, "SendOnBehalfOfUserSmtp.", "SendOnBehalfOfUserSmtp")),
		col("operation_count", Int, "OperationCount of aggregated records.", "OperationCount"),
		// SharePoint / OneDrive.
		key("site_id", 64, "Site: the site GUID.", "Site"),
		col("site_url", Text, "SiteUrl.", "SiteUrl"),
		key("web_id", 64, "WebId.", "WebId"),
		key("item_type", 64, "ItemType (File, Folder, Web, Site, List, Page).", "ItemType"),
		key("event_source", 64, "EventSource (SharePoint, ObjectModel).", "EventSource"),
		col("user_agent", Text, "UserAgent, else the sign-in's ExtendedProperties UserAgent.", "UserAgent", "ExtendedProperties[UserAgent]"),
		col("source_relative_url", Text, "SourceRelativeUrl.", "SourceRelativeUrl"),
		col("source_file_name", Text, "SourceFileName.", "SourceFileName"),
		key("source_file_extension", 64, "SourceFileExtension.", "SourceFileExtension"),
		col("destination_relative_url", Text, "DestinationRelativeUrl.", "DestinationRelativeUrl"),
		col("destination_file_name", Text, "DestinationFileName.", "DestinationFileName"),
		key("destination_file_extension", 64, "DestinationFileExtension.", "DestinationFileExtension"),
		key("list_id", 64, "ListId.", "ListId"),
		key("list_item_unique_id", 64, "ListItemUniqueId.", "ListItemUniqueId"),
		col("list_title", Text, "ListTitle.", "ListTitle"),
		key("correlation_id", 64, "CorrelationId.", "CorrelationId"),
		key("application_id", 128, "ApplicationId: the app used (SharePoint) or signed in to (Azure AD).", "ApplicationId"),
		col("application_display_name", Text, "ApplicationDisplayName.", "ApplicationDisplayName"),
		foldCase(5, key("target_user_or_group_name", 512, "TargetUserOrGroupName: who a file was shared with.", "TargetUserOrGroupName")),
		key("target_user_or_group_type", 64, "TargetUserOrGroupType (Member, Guest, Group, Partner, ...).", "TargetUserOrGroupType"),
		col("event_data", Text, "EventData (an XML fragment, e.g. <Type>Edit</Type>).", "EventData"),
		key("unique_sharing_id", 64, "UniqueSharingId.", "UniqueSharingId"),
		key("sharing_type", 64, "SharingType.", "SharingType"),
		foldCase(5, col("user_shared_with", Text, "UserSharedWith.", "UserSharedWith")),
		key("machine_id", 128, "MachineId of a sync client.", "MachineId"),
		// Azure AD.
		col("azure_ad_event_type", Int, "AzureActiveDirectoryEventType.", "AzureActiveDirectoryEventType"),
		foldCase(5, key("actor_upn", 512, "The first Actor whose Type is 5 (UPN).", "Actor[Type=5]")),
		key("actor_context_id", 64, "ActorContextId: the actor's tenant.", "ActorContextId"),
		key("actor_ip_address", 64, "ActorIpAddress, normalized like client_ip.", "ActorIpAddress"),
		foldCase(5, key("target_upn", 512, "The first Target whose Type is 5 (UPN): the user acted on.", "Target[Type=5]")),
		key("target_context_id", 64, "TargetContextId.", "TargetContextId"),
		key("inter_systems_id", 64, "InterSystemsId.", "InterSystemsId"),
		key("intra_system_id", 64, "IntraSystemId (docs: IntraSystemsId).", "IntraSystemId", "IntraSystemsId"),
		col("client", Text, "Client (sign-in client device info).", "Client"),
		key("error_number", 32, "ErrorNumber: the AADSTS error of a sign-in, '0' on success (docs: ErrorCode).", "ErrorNumber", "ErrorCode"),
		col("logon_error", Text, "LogonError: readable sign-in failure reason.", "LogonError"),
		col("login_status", Int, "LoginStatus (legacy account logon).", "LoginStatus"),
		key("user_domain", 256, "UserDomain (legacy account logon).", "UserDomain"),
		key("request_type", 128, "ExtendedProperties RequestType of a sign-in (OAuth2:Authorize, ...).", "ExtendedProperties[RequestType]"),
		// DLP and compliance.
		key("incident_id", 64, "IncidentId of a DLP event.", "IncidentId"),
		col("policy_name", Text, "PolicyDetails[0].PolicyName of a DLP event.", "PolicyDetails.0.PolicyName"),
		col("rule_name", Text, "PolicyDetails[0].Rules[0].RuleName of a DLP event.", "PolicyDetails.0.Rules.0.RuleName"),
		key("severity", 64, "Severity: DLP rule severity or alert severity.", "PolicyDetails.0.Rules.0.Severity", "Severity"),
		col("dlp_sender", Text, "ExchangeMetaData.From of a DLP event.", "ExchangeMetaData.From"),
		col("dlp_subject", Text, "ExchangeMetaData.Subject of a DLP event.", "ExchangeMetaData.Subject"),
		col("dlp_file_url", Text, "SharePointMetaData.FilePathUrl of a DLP event.", "SharePointMetaData.FilePathUrl"),
		key("alert_id", 64, "AlertId of a Security & Compliance alert.", "AlertId"),
		// Teams and general.
		col("team_name", Text, "TeamName.", "TeamName"),
		key("team_guid", 256, "TeamGuid.", "TeamGuid"),
		col("channel_name", Text, "ChannelName.", "ChannelName"),
		key("channel_guid", 256, "ChannelGuid.", "ChannelGuid"),
		col("item_name", Text, "ItemName.", "ItemName"),
		key("message_id", 256, "MessageId.", "MessageId"),
		// Bookkeeping.
		col("parse_notes", Text, "What the normalizer could not fit into a typed column (the value stays in raw), e.g. 'LogonType: not an integer: \"x\"'. NULL when none."),
		notNull(col("ingested_at", Time, "When o365ingest stored the record, UTC.")),
		verbatim(SchemaCostVersion, notNull(col("raw", JSON, "The record exactly as received (PostgreSQL: json since version 9, which keeps the text byte for byte, \\u0000 included; jsonb before)."))),
		// Added by version 5.
		since(5, key("client_country", 8, "ISO 3166 country code of client_ip, from the GeoIP database named by ingest.geoip_db when the record was loaded; NULL without one, or when the address is not in it.")),
		since(5, col("client_asn", Int, "Autonomous system number of client_ip, from ingest.geoip_db (an ASN database) when the record was loaded; NULL otherwise.")),
	},
	PrimaryKey: []string{"id"},
	Indexes: []Index{
		{Name: "ix_audit_record_time", Columns: []string{"creation_time"}},
		{Name: "ix_audit_record_user_time", Columns: []string{"user_id", "creation_time"}},
		{Name: "ix_audit_record_operation_time", Columns: []string{"operation", "creation_time"}},
		{Name: "ix_audit_record_ip", Columns: []string{"client_ip"}},
		{Name: "ix_audit_record_object", Columns: []string{"object_id"}},
		// Dropped by version 9: no documented question and no loader query selects by
		// tenant (one store is one tenant's, or a few), and each index costs the bulk
		// loader (bench --schema-cost).
		{Name: "ix_audit_record_tenant_time", Columns: []string{"tenant_id", "creation_time"}, Dropped: SchemaCostVersion},
		{Name: "ix_audit_record_mailbox_owner", Columns: []string{"mailbox_owner_upn"}, Sparse: SchemaCostVersion},
		// Dropped by version 9: nothing selects records by content blob (the ledger,
		// content_blob, is keyed by it).
		{Name: "ix_audit_record_content", Columns: []string{"content_id"}, Dropped: SchemaCostVersion},
		// Version 5: the documented analyst questions, each served by an index. Version
		// 9 makes those of columns most records leave NULL partial on PostgreSQL and
		// SQLite (Index.Sparse), with the mailbox owner's.
		{Name: "ix_audit_record_actor_time", Columns: []string{"actor_upn", "creation_time"}, Since: 5, Sparse: SchemaCostVersion},
		{Name: "ix_audit_record_target_time", Columns: []string{"target_upn", "creation_time"}, Since: 5, Sparse: SchemaCostVersion},
		// Dropped on MySQL/MariaDB by version 9: ix_audit_record_site_operation (version 8)
		// begins with the same 255-character prefix and serves every lookup it served.
		{Name: "ix_audit_record_site", Columns: []string{"site_url"}, Since: 5, Sparse: SchemaCostVersion, Dropped: SchemaCostVersion, DroppedOn: []string{"mysql"}},
		{Name: "ix_audit_record_country_time", Columns: []string{"client_country", "creation_time"}, Since: 5, Sparse: SchemaCostVersion},
		{Name: "ix_audit_record_asn_time", Columns: []string{"client_asn", "creation_time"}, Since: 5, Sparse: SchemaCostVersion},
		// A network (client_ip LIKE '203.0.113.%'): MySQL, SQL Server and SQLite (GLOB)
		// serve the prefix from ix_audit_record_ip; PostgreSQL needs a pattern index.
		{Name: "ix_audit_record_ip_prefix", Columns: []string{"client_ip"}, Since: 5, Pattern: true, Dialects: []string{"postgres"}},
		// Version 6: the views select by record type (v_file_activity 6, v_sharing 14,
		// v_signin 9 and 15 or by operation), which no index served.
		{Name: "ix_audit_record_type_time", Columns: []string{"record_type", "creation_time"}, Since: 6},
		// Version 8, MySQL/MariaDB only: indexes that answer a view's question without
		// reading the rows from the clustered index (with the default 128 MB buffer pool
		// and O_DIRECT every such row is a disk read; PostgreSQL reads through the OS
		// cache). They end with id because MariaDB counts a merged view's correlated
		// property subqueries (which read r.id) as read even when not selected.
		// Failed sign-ins by address: v_signin's succeeded is the derived signin_succeeded.
		{Name: "ix_audit_record_signin", Columns: []string{"signin_succeeded", "client_ip", "user_id", "creation_time", "id"}, Since: 8, Dialects: []string{"mysql"}},
		// Admin changes by category: v_admin_change selects by operation and reads r.id.
		{Name: "ix_audit_record_operation_id", Columns: []string{"operation", "id"}, Since: 8, Dialects: []string{"mysql"}},
		// Anonymous links and shares to guests: v_sharing's external is the derived
		// sharing_external.
		{Name: "ix_audit_record_sharing_external", Columns: []string{"sharing_external", "creation_time"}, Since: 8, Dialects: []string{"mysql"}},
		// A site's records by operation, so that only the rows of the operations asked
		// for are read (site_url is LONGTEXT: a 255-character prefix).
		{Name: "ix_audit_record_site_operation", Columns: []string{"site_url", "operation", "creation_time"}, Since: 8, Dialects: []string{"mysql"}},
	},
	// Version 8: MySQL/MariaDB compute these from the row (VIRTUAL: stored only in the
	// indexes above), for the views' text on MySQL (schema/views.go).
	Derived: []Derived{
		{Name: "signin_succeeded", Type: "TINYINT", Expr: SigninSucceeded, Since: 8, Dialects: []string{"mysql"}},
		{Name: "sharing_external", Type: "TINYINT", Expr: SharingExternal, Since: 8, Dialects: []string{"mysql"}},
	},
}

// AuditProperty is the audit_property table: the nested Name/Value lists as rows.
var AuditProperty = Table{
	Name: "audit_property",
	Doc:  "The nested Name/Value lists of each record as rows (Parameters, ExtendedProperties, ModifiedProperties, DeviceProperties, OperationProperties, ExtraProperties, Actor, Target), so 'every New-InboxRule whose ForwardTo is outside our domain' is a plain join.",
	Columns: []Column{
		notNull(key("record_id", 128, "audit_record.id.")),
		notNull(key("list", 64, "The list: Parameters, ExtendedProperties, ModifiedProperties, DeviceProperties, OperationProperties, ExtraProperties, Actor, Target.")),
		notNull(col("ordinal", Int, "Position in the list, from 0.")),
		notNull(key("name", 256, "Name (Actor/Target: identity type; ExtraProperties: Key).")),
		col("value", Text, "Value (ModifiedProperties: NewValue; Actor/Target: ID)."),
		col("old_value", Text, "ModifiedProperties: OldValue; NULL for other lists."),
	},
	PrimaryKey: []string{"record_id", "list", "ordinal"},
	Indexes: []Index{
		// Dropped on PostgreSQL and SQLite by version 9: ix_audit_property_lookup begins
		// with the same columns and serves every lookup it served.
		{Name: "ix_audit_property_name", Columns: []string{"list", "name"}, Dropped: SchemaCostVersion, DroppedOn: []string{"postgres", "sqlite"}},
		// Version 6: the views read one property of one record (record_id, list, name).
		// PostgreSQL's planner would take ix_audit_property_name for a rare name and
		// filter the record id over every row with that name (v_mailbox_rule: seconds);
		// on InnoDB and SQL Server that index already ends with the primary key.
		{Name: "ix_audit_property_lookup", Columns: []string{"list", "name", "record_id"}, Since: 6, Dialects: []string{"postgres", "sqlite"}},
	},
}

// ContentBlob is the content_blob ledger: one row per content blob seen.
var ContentBlob = Table{
	Name: "content_blob",
	Doc:  "Ledger of content blobs: loaded (every record stored or quarantined, committed with the records), failed (retried next run) or expired (known missing).",
	Columns: []Column{
		notNull(key("tenant_id", 64, "Tenant.")),
		notNull(key("content_id", 256, "contentId.")),
		notNull(key("content_type", 64, "contentType.")),
		col("content_uri", Text, "contentUri."),
		col("content_created", Time, "contentCreated."),
		col("content_expiration", Time, "contentExpiration."),
		notNull(key("status", 16, "loaded, failed or expired.")),
		col("reason", Text, "Why a blob failed or expired (the API's code and message)."),
		key("sha256", 64, "sha256 of the body exactly as received."),
		col("bytes", Int, "Size of the body in bytes."),
		col("record_count", Int, "Records in the body."),
		col("quarantined", Int, "Records of the body quarantined."),
		col("attempts", Int, "Failed attempts so far."),
		notNull(col("updated_at", Time, "When this row was last written, UTC.")),
	},
	PrimaryKey: []string{"tenant_id", "content_id"},
	Indexes: []Index{
		{Name: "ix_content_blob_created", Columns: []string{"tenant_id", "content_type", "content_created"}},
		{Name: "ix_content_blob_status", Columns: []string{"status"}},
	},
}

// Quarantine is the quarantine table: records that could not be normalized or loaded.
var Quarantine = Table{
	Name: "quarantine",
	Doc:  "Records that could not be normalized or loaded, with the raw text and the reason. Never dropped silently.",
	Columns: []Column{
		notNull(key("qkey", 64, "sha256 of tenant, content id, ordinal and raw text: makes a reload idempotent.")),
		notNull(key("tenant_id", 64, "Tenant.")),
		key("content_type", 64, "Content type."),
		key("content_id", 256, "Content blob or imported chunk it came from."),
		col("ordinal", Int, "Position in the blob."),
		key("record_id", 128, "The record's Id when one could be read."),
		notNull(col("reason", Text, "What is wrong, naming the field.")),
		notNull(col("raw", Text, "The record's text as received (made valid UTF-8 when it was not).")),
		notNull(col("quarantined_at", Time, "When, UTC.")),
	},
	PrimaryKey: []string{"qkey"},
	Indexes: []Index{
		{Name: "ix_quarantine_content", Columns: []string{"tenant_id", "content_id"}},
	},
}

// IngestRun is the ingest_run table: one row per run, backfill or import.
var IngestRun = Table{
	Name: "ingest_run",
	Doc:  "One row per run, backfill or import, with its outcome and counters.",
	Columns: []Column{
		notNull(key("run_id", 64, "Run id.")),
		notNull(key("command", 32, "run, backfill or import.")),
		key("host", 256, "Host name of the process."),
		notNull(col("started_at", Time, "Start, UTC.")),
		col("finished_at", Time, "End, UTC; NULL while running or after a crash."),
		key("outcome", 16, "ok, incomplete (some data known missing), failed, interrupted."),
		col("blobs_listed", Int, "Blobs listed."),
		col("blobs_skipped", Int, "Blobs already in the ledger."),
		col("blobs_loaded", Int, "Blobs loaded."),
		col("blobs_failed", Int, "Blobs failed."),
		col("blobs_expired", Int, "Blobs expired before they could be fetched."),
		col("records_loaded", Int, "Records inserted."),
		col("records_duplicate", Int, "Records already present."),
		col("records_quarantined", Int, "Records quarantined."),
		col("message", Text, "Error or summary text."),
	},
	PrimaryKey: []string{"run_id"},
	Indexes: []Index{
		{Name: "ix_ingest_run_started", Columns: []string{"started_at"}},
	},
}

// IngestLease is the ingest_lease table: leases that share work between processes.
var IngestLease = Table{
	Name: "ingest_lease",
	Doc:  "Leases on units of work (tenant and content type), so concurrent processes never load the same blobs at once.",
	Columns: []Column{
		notNull(key("name", 256, "What is leased, e.g. 'contoso/Audit.Exchange'.")),
		notNull(key("holder", 256, "Who holds it: host, pid and a random id.")),
		notNull(col("expires_at", Time, "When the lease lapses unless renewed, UTC.")),
	},
	PrimaryKey: []string{"name"},
}

// RecordTypeTable is the record_type lookup table.
var RecordTypeTable = Table{
	Name: "record_type",
	Doc:  "RecordType number to name (every value in the API reference). Kept current by o365ingest migrate.",
	Columns: []Column{
		notNull(col("record_type", Int, "RecordType number.")),
		notNull(key("name", 128, "Member name.")),
	},
	PrimaryKey: []string{"record_type"},
}

// UserTypeTable is the user_type lookup table.
var UserTypeTable = Table{
	Name: "user_type",
	Doc:  "UserType number to name.",
	Columns: []Column{
		notNull(col("user_type", Int, "UserType number.")),
		notNull(key("name", 64, "Name.")),
	},
	PrimaryKey: []string{"user_type"},
}
