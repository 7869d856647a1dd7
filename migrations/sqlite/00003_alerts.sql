-- Alerts raised by the detection rules and their delivery to webhooks (schema.Alert,
-- schema.AlertDelivery; see ingest/detect). Written by hand, not by migrations/internal/gen.

-- +goose Up
CREATE TABLE IF NOT EXISTS "alert" (
    "alert_id" TEXT NOT NULL,
    "rule" TEXT NOT NULL,
    "severity" TEXT NOT NULL,
    "tenant_id" TEXT,
    "user_id" TEXT,
    "record_id" TEXT,
    "record_ids" TEXT CHECK (json_valid("record_ids")),
    "client_ip" TEXT,
    "country" TEXT,
    "creation_time" TEXT NOT NULL,
    "summary" TEXT NOT NULL,
    "evidence" TEXT CHECK (json_valid("evidence")),
    "remediation" TEXT CHECK (json_valid("remediation")),
    "detected_at" TEXT NOT NULL,
    CONSTRAINT "pk_alert" PRIMARY KEY ("alert_id")
) STRICT;
CREATE INDEX IF NOT EXISTS "ix_alert_time" ON "alert" ("creation_time");
CREATE INDEX IF NOT EXISTS "ix_alert_user" ON "alert" ("user_id");

CREATE TABLE IF NOT EXISTS "alert_delivery" (
    "alert_id" TEXT NOT NULL,
    "webhook" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL,
    "last_error" TEXT,
    "sent_at" TEXT,
    "updated_at" TEXT NOT NULL,
    CONSTRAINT "pk_alert_delivery" PRIMARY KEY ("alert_id", "webhook")
) STRICT;
CREATE INDEX IF NOT EXISTS "ix_alert_delivery_status" ON "alert_delivery" ("webhook", "status");

-- +goose Down
DROP TABLE IF EXISTS "alert_delivery";
DROP TABLE IF EXISTS "alert";
