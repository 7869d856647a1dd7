-- Alerts raised by the detection rules and their delivery to webhooks (schema.Alert,
-- schema.AlertDelivery; see ingest/detect). Written by hand, not by migrations/internal/gen.

-- +goose Up
CREATE TABLE [alert] (
    [alert_id] NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
    [rule] NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
    [severity] NVARCHAR(16) COLLATE Latin1_General_100_BIN2 NOT NULL,
    [tenant_id] NVARCHAR(64) COLLATE Latin1_General_100_BIN2,
    [user_id] NVARCHAR(512) COLLATE Latin1_General_100_BIN2,
    [record_id] NVARCHAR(128) COLLATE Latin1_General_100_BIN2,
    [record_ids] NVARCHAR(MAX) COLLATE Latin1_General_100_BIN2 CONSTRAINT [ck_alert_record_ids_json] CHECK (ISJSON([record_ids]) = 1),
    [client_ip] NVARCHAR(64) COLLATE Latin1_General_100_BIN2,
    [country] NVARCHAR(8) COLLATE Latin1_General_100_BIN2,
    [creation_time] DATETIME2(6) NOT NULL,
    [summary] NVARCHAR(MAX) COLLATE Latin1_General_100_BIN2 NOT NULL,
    [evidence] NVARCHAR(MAX) COLLATE Latin1_General_100_BIN2 CONSTRAINT [ck_alert_evidence_json] CHECK (ISJSON([evidence]) = 1),
    [remediation] NVARCHAR(MAX) COLLATE Latin1_General_100_BIN2 CONSTRAINT [ck_alert_remediation_json] CHECK (ISJSON([remediation]) = 1),
    [detected_at] DATETIME2(6) NOT NULL,
    CONSTRAINT [pk_alert] PRIMARY KEY CLUSTERED ([alert_id])
);
CREATE INDEX [ix_alert_time] ON [alert] ([creation_time]);
CREATE INDEX [ix_alert_user] ON [alert] ([user_id]);

CREATE TABLE [alert_delivery] (
    [alert_id] NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
    [webhook] NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
    [status] NVARCHAR(16) COLLATE Latin1_General_100_BIN2 NOT NULL,
    [attempts] BIGINT NOT NULL,
    [last_error] NVARCHAR(MAX) COLLATE Latin1_General_100_BIN2,
    [sent_at] DATETIME2(6),
    [updated_at] DATETIME2(6) NOT NULL,
    CONSTRAINT [pk_alert_delivery] PRIMARY KEY CLUSTERED ([alert_id], [webhook])
);
CREATE INDEX [ix_alert_delivery_status] ON [alert_delivery] ([webhook], [status]);

-- +goose Down
DROP TABLE IF EXISTS [alert_delivery];
DROP TABLE IF EXISTS [alert];
