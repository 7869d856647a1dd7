-- user_activity: Everything one user did in a time range
SELECT creation_time, workload, operation, client_ip, object_id
  FROM audit_record
 WHERE user_id = 'Megan.Bowen@contoso.com'
   AND creation_time >= '2026-11-01' AND creation_time < '2026-12-01'
 ORDER BY creation_time;

-- site_files: Who downloaded or shared files from a site
SELECT creation_time, user_id, operation, object_id, client_ip
  FROM audit_record
 WHERE site_url_prefix = LEFT('https://contoso.sharepoint.com/sites/Finance/', 400)
   AND site_url = 'https://contoso.sharepoint.com/sites/Finance/'
   AND operation IN ('FileDownloaded', 'FileSyncDownloadedFull', 'FileCopied', 'SharingSet', 'SharingInvitationCreated',
                     'AnonymousLinkCreated', 'SecureLinkCreated', 'AddedToSecureLink', 'CompanyLinkCreated')
 ORDER BY creation_time;

-- signins_country: Sign-ins from a country
SELECT creation_time, user_id, client_ip, client_asn, succeeded, application_id
  FROM v_signin
 WHERE client_country = 'NG'
   AND creation_time >= '2026-11-01'
 ORDER BY creation_time;

-- signins_asn: Sign-ins from an autonomous system (an ASN database)
SELECT creation_time, user_id, client_ip, client_country, succeeded
  FROM v_signin
 WHERE client_asn = 64496
 ORDER BY creation_time;

-- ip_activity: Everything from one IP address
SELECT creation_time, user_id, workload, operation, object_id
  FROM audit_record
 WHERE client_ip = '203.0.113.66'
 ORDER BY creation_time;

-- network_activity: Everything from one network (here 203.0.113.0/24)
SELECT creation_time, user_id, client_ip, workload, operation
  FROM audit_record
 WHERE client_ip LIKE '203.0.113.%'
 ORDER BY creation_time;

-- mailbox_access: Who accessed a mailbox (MailItemsAccessed, and anyone but its owner)
SELECT creation_time, user_id, operation, logon_type, client_ip, client_info_string
  FROM audit_record
 WHERE mailbox_owner_upn = 'Alex.Wilber@contoso.com'
   AND (operation = 'MailItemsAccessed' OR logon_type <> 0 OR user_id <> mailbox_owner_upn)
 ORDER BY creation_time;

-- admin_changes: What an admin changed
SELECT creation_time, category, operation, target, detail, grantee, result_status
  FROM v_admin_change
 WHERE user_id = 'Admin@contoso.com'
   AND creation_time >= '2026-11-01'
 ORDER BY creation_time;

-- failures_by_address: Sign-in failures by address in the last day
SELECT TOP 20 client_ip, COUNT(*) AS failures, COUNT(DISTINCT user_id) AS users
  FROM audit_record
 WHERE operation = 'UserLoginFailed' AND creation_time >= DATEADD(day, -1, SYSUTCDATETIME())
 GROUP BY client_ip ORDER BY failures DESC;

-- readme_inbox_rule_forward: Every New-InboxRule whose ForwardTo is outside our domain
SELECT r.creation_time, r.user_id, r.client_ip, p.value AS forward_to
FROM audit_record r
JOIN audit_property p ON p.record_id = r.id AND p.list = 'Parameters'
WHERE r.operation = 'New-InboxRule'
  AND p.name IN ('ForwardTo', 'RedirectTo', 'ForwardAsAttachmentTo')
  AND p.value NOT LIKE '%@contoso.com%'
ORDER BY r.creation_time;

-- detect_forwarding_rules: Inbox rules that forward or redirect outside the organization
SELECT creation_time, user_id, client_ip, source, rule_name, forward_to, redirect_to, forward_as_attachment_to, delete_message
  FROM v_mailbox_rule
 WHERE record_id IN (SELECT record_id FROM audit_property
                      WHERE list = 'Parameters' AND name IN ('ForwardTo', 'RedirectTo', 'ForwardAsAttachmentTo'))
   AND (forward_to IS NOT NULL OR redirect_to IS NOT NULL OR forward_as_attachment_to IS NOT NULL)
   AND LOWER(COALESCE(forward_to, redirect_to, forward_as_attachment_to)) NOT LIKE '%@contoso.com%'
 ORDER BY creation_time;

-- detect_mailbox_forwarding: Mailbox forwarding to an outside address (the last change per mailbox wins)
SELECT creation_time, user_id, client_ip, target, forwarding_smtp_address, deliver_to_mailbox_and_forward
  FROM v_mailbox_forwarding
 WHERE record_id IN (SELECT record_id FROM audit_property
                      WHERE list = 'Parameters' AND name = 'ForwardingSmtpAddress')
   AND kind = 'mailbox'
   AND forwarding_smtp_address IS NOT NULL
   AND LOWER(forwarding_smtp_address) NOT LIKE '%@contoso.com'
 ORDER BY target, creation_time;

-- detect_password_spraying: Addresses with failed sign-ins of several users (password spraying)
SELECT client_ip, COUNT(*) AS failures, COUNT(DISTINCT user_id) AS users,
       MIN(creation_time) AS first_seen, MAX(creation_time) AS last_seen
  FROM v_signin
 WHERE succeeded = 0
 GROUP BY client_ip
HAVING COUNT(DISTINCT user_id) >= 3
 ORDER BY users DESC, failures DESC;

-- detect_one_address: Everything one address did, across workloads (pivot on an attacker's IP)
SELECT r.creation_time, r.workload, r.operation, r.user_id, r.object_id
  FROM audit_record r
 WHERE r.client_ip = '203.0.113.66'
 ORDER BY r.creation_time;

-- detect_anonymous_links: Anonymous links and shares to guests
SELECT creation_time, user_id, operation, url, shared_with
  FROM v_sharing
 WHERE external = 1
 ORDER BY creation_time;

-- detect_admin_by_category: Admin changes by category
SELECT category, operation, COUNT(*) AS changes
  FROM v_admin_change
 GROUP BY category, operation
 ORDER BY category, changes DESC;

