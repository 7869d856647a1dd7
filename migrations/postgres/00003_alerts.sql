-- Alerts raised by the detection rules and their delivery to webhooks (schema.Alert,
-- schema.AlertDelivery; see ingest/detect). Written by hand, not by migrations/internal/gen.

-- +goose Up
CREATE TABLE IF NOT EXISTS "alert" (
    "alert_id" text NOT NULL,
    "rule" text NOT NULL,
    "severity" text NOT NULL,
    "tenant_id" text,
    "user_id" text,
    "record_id" text,
    "record_ids" jsonb,
    "client_ip" text,
    "country" text,
    "creation_time" timestamptz NOT NULL,
    "summary" text NOT NULL,
    "evidence" jsonb,
    "remediation" jsonb,
    "detected_at" timestamptz NOT NULL,
    CONSTRAINT "pk_alert" PRIMARY KEY ("alert_id")
);
CREATE INDEX IF NOT EXISTS "ix_alert_time" ON "alert" ("creation_time");
CREATE INDEX IF NOT EXISTS "ix_alert_user" ON "alert" ("user_id");

CREATE TABLE IF NOT EXISTS "alert_delivery" (
    "alert_id" text NOT NULL,
    "webhook" text NOT NULL,
    "status" text NOT NULL,
    "attempts" bigint NOT NULL,
    "last_error" text,
    "sent_at" timestamptz,
    "updated_at" timestamptz NOT NULL,
    CONSTRAINT "pk_alert_delivery" PRIMARY KEY ("alert_id", "webhook")
);
CREATE INDEX IF NOT EXISTS "ix_alert_delivery_status" ON "alert_delivery" ("webhook", "status");

-- +goose Down
DROP TABLE IF EXISTS "alert_delivery";
DROP TABLE IF EXISTS "alert";
