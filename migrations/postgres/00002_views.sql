-- Investigation views (documented in ingest/detect/README.md). Written by hand, not by
-- migrations/internal/gen: the same view names and columns on every database (schema.Views),
-- checked by ingest/detect's tests. Name/Value properties are read with correlated subqueries
-- on audit_property's primary key; flags are 1/0 (NULL when the record does not set them).

-- +goose Up
CREATE OR REPLACE VIEW v_signin AS
SELECT r.id AS record_id,
       r.tenant_id,
       r.creation_time,
       r.user_id,
       r.client_ip,
       r.operation,
       CASE WHEN r.operation = 'UserLoginFailed' THEN 0
            WHEN r.error_number IS NOT NULL AND r.error_number <> '0' THEN 0
            WHEN r.login_status IS NOT NULL AND r.login_status <> 0 THEN 0
            ELSE 1 END AS succeeded,
       r.result_status,
       r.error_number,
       r.logon_error,
       r.application_id,
       r.object_id AS resource_id,
       r.user_agent,
       r.request_type,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'ExtendedProperties' AND p."name" = 'UserAuthenticationMethod') AS auth_method,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'ExtendedProperties' AND p."name" = 'ResultStatusDetail') AS result_detail,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'DeviceProperties' AND p."name" = 'Id') AS device_id,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'DeviceProperties' AND p."name" = 'DisplayName') AS device_name,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'DeviceProperties' AND p."name" = 'OS') AS device_os,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'DeviceProperties' AND p."name" = 'BrowserType') AS browser,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'DeviceProperties' AND p."name" = 'IsCompliant') AS device_compliant,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'DeviceProperties' AND p."name" = 'IsCompliantAndManaged') AS device_managed,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'DeviceProperties' AND p."name" IN ('DeviceTrustType', 'TrustType')) AS device_trust_type,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'DeviceProperties' AND p."name" = 'SessionId') AS session_id
  FROM audit_record r
 WHERE r.record_type IN (9, 15) OR r.operation IN ('UserLoggedIn', 'UserLoginFailed');

CREATE OR REPLACE VIEW v_mailbox_rule AS
SELECT r.id AS record_id,
       r.tenant_id,
       r.creation_time,
       r.user_id,
       r.client_ip,
       r.operation,
       CASE WHEN r.operation = 'UpdateInboxRules' THEN 'outlook' ELSE 'cmdlet' END AS source,
       COALESCE(r.mailbox_owner_upn, (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'Mailbox'), r.user_id) AS mailbox,
       COALESCE((SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'Name'), (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'OperationProperties' AND p."name" = 'RuleName'), (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'Identity'), r.object_id) AS rule_name,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'OperationProperties' AND p."name" = 'RuleOperation') AS rule_operation,
       r.result_status,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'ForwardTo') AS forward_to,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'ForwardAsAttachmentTo') AS forward_as_attachment_to,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'RedirectTo') AS redirect_to,
       (SELECT MAX(CASE WHEN LOWER(p."value") = 'true' THEN 1 WHEN LOWER(p."value") = 'false' THEN 0 END) FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" IN ('DeleteMessage', 'SoftDeleteMessage')) AS delete_message,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'MoveToFolder') AS move_to_folder,
       (SELECT MAX(CASE WHEN LOWER(p."value") = 'true' THEN 1 WHEN LOWER(p."value") = 'false' THEN 0 END) FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'MarkAsRead') AS mark_as_read,
       (SELECT MAX(CASE WHEN LOWER(p."value") = 'true' THEN 1 WHEN LOWER(p."value") = 'false' THEN 0 END) FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'StopProcessingRules') AS stop_processing_rules,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'From') AS from_address,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'SubjectContainsWords') AS subject_contains_words,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'BodyContainsWords') AS body_contains_words,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'SubjectOrBodyContainsWords') AS subject_or_body_contains_words,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'OperationProperties' AND p."name" = 'RuleCondition') AS rule_condition,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'OperationProperties' AND p."name" = 'RuleActions') AS rule_actions
  FROM audit_record r
 WHERE r.operation IN ('New-InboxRule', 'Set-InboxRule', 'Enable-InboxRule', 'Disable-InboxRule', 'Remove-InboxRule', 'UpdateInboxRules');

CREATE OR REPLACE VIEW v_mailbox_forwarding AS
SELECT r.id AS record_id,
       r.tenant_id,
       r.creation_time,
       r.user_id,
       r.client_ip,
       r.operation,
       CASE WHEN r.operation IN ('New-TransportRule', 'Set-TransportRule') THEN 'transport_rule' ELSE 'mailbox' END AS kind,
       COALESCE((SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'Identity'), (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'Name'), r.object_id) AS target,
       r.result_status,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'ForwardingSmtpAddress') AS forwarding_smtp_address,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'ForwardingAddress') AS forwarding_address,
       (SELECT MAX(CASE WHEN LOWER(p."value") = 'true' THEN 1 WHEN LOWER(p."value") = 'false' THEN 0 END) FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'DeliverToMailboxAndForward') AS deliver_to_mailbox_and_forward,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'RedirectMessageTo') AS redirect_message_to,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'BlindCopyTo') AS blind_copy_to,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'CopyTo') AS copy_to,
       (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'AddToRecipients') AS add_to_recipients
  FROM audit_record r
 WHERE (r.operation IN ('Set-Mailbox', 'New-Mailbox')
        AND EXISTS (SELECT 1 FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" IN ('ForwardingSmtpAddress', 'ForwardingAddress', 'DeliverToMailboxAndForward')))
    OR (r.operation IN ('New-TransportRule', 'Set-TransportRule')
        AND EXISTS (SELECT 1 FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" IN ('RedirectMessageTo', 'BlindCopyTo', 'CopyTo', 'AddToRecipients')));

CREATE OR REPLACE VIEW v_file_activity AS
SELECT r.id AS record_id,
       r.tenant_id,
       r.creation_time,
       r.user_id,
       r.client_ip,
       r.workload,
       r.operation,
       r.site_url,
       r.source_relative_url AS folder,
       r.source_file_name AS file_name,
       r.source_file_extension AS file_extension,
       r.object_id AS url,
       r.destination_relative_url AS destination_folder,
       r.destination_file_name,
       r.item_type,
       r.user_agent
  FROM audit_record r
 WHERE r.record_type = 6;

CREATE OR REPLACE VIEW v_sharing AS
SELECT r.id AS record_id,
       r.tenant_id,
       r.creation_time,
       r.user_id,
       r.client_ip,
       r.workload,
       r.operation,
       r.object_id AS url,
       r.site_url,
       r.source_file_name AS file_name,
       COALESCE(r.target_user_or_group_name, r.user_shared_with) AS shared_with,
       r.target_user_or_group_type AS shared_with_type,
       r.event_data,
       r.sharing_type,
       r.unique_sharing_id,
       CASE WHEN r.operation LIKE 'Anonymous%' THEN 1 ELSE 0 END AS anonymous,
       CASE WHEN r.operation LIKE 'Anonymous%' THEN 1
            WHEN r.target_user_or_group_type = 'Guest' THEN 1
            WHEN LOWER(COALESCE(r.target_user_or_group_name, r.user_shared_with, '')) LIKE '%#ext#%' THEN 1
            ELSE 0 END AS external
  FROM audit_record r
 WHERE r.record_type = 14;

CREATE OR REPLACE VIEW v_admin_change AS
SELECT r.id AS record_id,
       r.tenant_id,
       r.creation_time,
       r.user_id,
       r.client_ip,
       r.workload,
       r.operation,
       CASE WHEN r.operation IN ('Add member to role.', 'Add eligible member to role.', 'Add scoped member to role.', 'Remove member from role.', 'Remove eligible member from role.', 'Add-RoleGroupMember', 'Remove-RoleGroupMember', 'New-ManagementRoleAssignment') THEN 'role'
            WHEN r.operation IN ('Consent to application.', 'Add delegated permission grant.', 'Add app role assignment to service principal.', 'Add OAuth2PermissionGrant.') THEN 'consent'
            WHEN r.operation IN ('Reset user password.', 'Change user password.', 'Set force change user password.', 'Reset password (by admin)', 'Reset password (self-service)', 'Change password (self-service)') THEN 'password'
            WHEN r.operation IN ('Add-MailboxPermission', 'Remove-MailboxPermission', 'Add-RecipientPermission', 'Remove-RecipientPermission', 'Add-MailboxFolderPermission', 'Set-MailboxFolderPermission', 'Add-ADPermission') THEN 'mailbox_permission'
            WHEN r.operation = 'Set-Mailbox' THEN 'mailbox_permission'
            ELSE 'mfa' END AS category,
       COALESCE(r.target_upn, (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'Identity'), r.object_id) AS target,
       COALESCE((SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'ModifiedProperties' AND p."name" = 'Role.DisplayName'), (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'AccessRights'), (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'ExtendedRights'), (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Target' AND p."name" = 'Name')) AS detail,
       COALESCE((SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'User'), (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'Trustee'), (SELECT MAX(p."value") FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" = 'GrantSendOnBehalfTo'), CASE WHEN r.operation IN ('Add member to role.', 'Add eligible member to role.', 'Add scoped member to role.', 'Remove member from role.', 'Remove eligible member from role.', 'Add-RoleGroupMember', 'Remove-RoleGroupMember', 'New-ManagementRoleAssignment') THEN r.target_upn END) AS grantee,
       r.result_status
  FROM audit_record r
 WHERE r.operation IN ('Add member to role.', 'Add eligible member to role.', 'Add scoped member to role.', 'Remove member from role.', 'Remove eligible member from role.', 'Add-RoleGroupMember', 'Remove-RoleGroupMember', 'New-ManagementRoleAssignment')
    OR r.operation IN ('Consent to application.', 'Add delegated permission grant.', 'Add app role assignment to service principal.', 'Add OAuth2PermissionGrant.')
    OR r.operation IN ('Disable Strong Authentication.', 'Enable Strong Authentication.', 'User registered security info', 'User deleted security info', 'User changed default security info', 'Admin registered security info', 'Admin deleted security info', 'Admin updated security info')
    OR r.operation IN ('Reset user password.', 'Change user password.', 'Set force change user password.', 'Reset password (by admin)', 'Reset password (self-service)', 'Change password (self-service)')
    OR r.operation IN ('Add-MailboxPermission', 'Remove-MailboxPermission', 'Add-RecipientPermission', 'Remove-RecipientPermission', 'Add-MailboxFolderPermission', 'Set-MailboxFolderPermission', 'Add-ADPermission')
    OR (r.operation = 'Update user.' AND EXISTS (SELECT 1 FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'ModifiedProperties' AND p."name" LIKE 'StrongAuthentication%'))
    OR (r.operation = 'Set-Mailbox' AND EXISTS (SELECT 1 FROM audit_property p WHERE p.record_id = r.id AND p."list" = 'Parameters' AND p."name" IN ('GrantSendOnBehalfTo')));

-- +goose Down
DROP VIEW IF EXISTS v_admin_change;
DROP VIEW IF EXISTS v_sharing;
DROP VIEW IF EXISTS v_file_activity;
DROP VIEW IF EXISTS v_mailbox_forwarding;
DROP VIEW IF EXISTS v_mailbox_rule;
DROP VIEW IF EXISTS v_signin;
