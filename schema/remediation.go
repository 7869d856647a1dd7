package schema

// RemediationAction is the remediation_action table: one row per remediation action
// o365ingest executed or refused for an alert (o365ingest remediate; ingest/remediate),
// so what was done, by whom and with what answer can be reviewed later. Rows are only
// ever added.
//
// Created by migration 00004_remediation.sql, so it is not part of Tables();
// RemediationTables lists it.
var RemediationAction = Table{
	Name:  "remediation_action",
	Since: 4,
	Doc:   "Remediation actions executed or refused for an alert (o365ingest remediate): the Microsoft Graph requests sent, Graph's answer, who ran it and when. Shown by o365ingest remediations and in the HTML report.",
	Columns: []Column{
		notNull(key("remediation_id", 64, "Random id of this row (a UUID).")),
		notNull(key("alert_id", 64, "alert.alert_id the action was taken for.")),
		notNull(key("action", 32, "revoke-sessions, disable-account, remove-inbox-rule, remove-consent or remove-role.")),
		notNull(key("target", 512, "What the action was taken on, from the stored alert and its records: the user's UPN, the mailbox and rule name, the application, the role and member.")),
		col("request", JSON, "The Graph requests sent, in order (a JSON array of {method, url, body}); the planned ones when the action was refused before any was sent."),
		notNull(key("result", 16, "done, refused (Graph answered 403: a permission is missing), failed (any other error) or not_found (nothing left to remove).")),
		col("http_status", Int, "HTTP status of Graph's last answer; NULL when no request was answered."),
		col("error", Text, "Why the action was refused or failed: Graph's error code and message verbatim, and the permission missing."),
		notNull(key("os_user", 256, "The operating system user who ran o365ingest remediate.")),
		notNull(col("run_at", Time, "When the action ran, UTC.")),
	},
	PrimaryKey: []string{"remediation_id"},
	Indexes: []Index{
		{Name: "ix_remediation_action_alert", Columns: []string{"alert_id", "action"}},
		{Name: "ix_remediation_action_time", Columns: []string{"run_at"}},
	},
}

// RemediationTables returns the tables migration 00004_remediation.sql creates.
func RemediationTables() []*Table {
	return []*Table{&RemediationAction}
}
