package schema

// Alert is the alert table: one row per alert a detection rule raised (ingest/detect).
// The primary key is a deterministic id (sha256 of the rule and the record ids it fired
// on), so evaluating the same records again never stores an alert twice.
//
// The alert tables are created by migration 00003_alerts.sql, not by 00001_init.sql, so
// they are not part of Tables(); AlertTables lists them.
var Alert = Table{
	Name:  "alert",
	Since: 3,
	Doc:   "Alerts raised by the detection rules (o365ingest detect, and each run). One row per alert, keyed by a deterministic id, so re-reading records never duplicates an alert.",
	Columns: []Column{
		notNull(key("alert_id", 64, "sha256 (hex) of the rule and the record id(s) it fired on.")),
		notNull(key("rule", 64, "The detection rule (inbox_rule_forward_external, mailbox_forward_external, ...).")),
		notNull(key("severity", 16, "high, medium or low.")),
		key("tenant_id", 64, "Tenant of the record."),
		foldCase(5, key("user_id", 512, "The user the alert is about (the record's UserId).")),
		key("record_id", 128, "The record that fired the rule (audit_record.id); for rules over many records, the one that crossed the threshold."),
		col("record_ids", JSON, "Every record id the alert rests on (a JSON array)."),
		key("client_ip", 64, "The client address of the record."),
		key("country", 8, "ISO country code of client_ip when a GeoIP database is configured."),
		notNull(col("creation_time", Time, "CreationTime of record_id, UTC.")),
		notNull(col("summary", Text, "One line a person reads: what happened.")),
		col("evidence", JSON, "The values the rule looked at (a JSON object of strings)."),
		col("remediation", JSON, "Suggested commands (a JSON array of strings): Exchange Online PowerShell, Microsoft Graph PowerShell."),
		notNull(col("detected_at", Time, "When o365ingest first stored the alert, UTC.")),
	},
	PrimaryKey: []string{"alert_id"},
	Indexes: []Index{
		{Name: "ix_alert_time", Columns: []string{"creation_time"}},
		{Name: "ix_alert_user", Columns: []string{"user_id"}},
	},
}

// AlertDelivery is the alert_delivery table: the state of one alert's delivery to one
// webhook, so each alert is sent once per webhook and a failed delivery is retried.
var AlertDelivery = Table{
	Name:  "alert_delivery",
	Since: 3,
	Doc:   "Delivery of each alert to each configured webhook: sent (never again), failed (retried next run) or sending (claimed by a process).",
	Columns: []Column{
		notNull(key("alert_id", 64, "alert.alert_id.")),
		notNull(key("webhook", 64, "The webhook's id: its configured name, else a hash of its URL (never the URL, which may hold a token).")),
		notNull(key("status", 16, "sending, sent or failed.")),
		notNull(col("attempts", Int, "Delivery attempts so far.")),
		col("last_error", Text, "Why the last attempt failed."),
		col("sent_at", Time, "When it was delivered, UTC."),
		notNull(col("updated_at", Time, "When this row was last written, UTC.")),
	},
	PrimaryKey: []string{"alert_id", "webhook"},
	Indexes: []Index{
		{Name: "ix_alert_delivery_status", Columns: []string{"webhook", "status"}},
	},
}

// AlertTables returns the tables migration 00003_alerts.sql creates.
func AlertTables() []*Table {
	return []*Table{&Alert, &AlertDelivery}
}
