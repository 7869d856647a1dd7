-- Alerts raised by the detection rules and their delivery to webhooks (schema.Alert,
-- schema.AlertDelivery; see ingest/detect). Written by hand, not by migrations/internal/gen.
-- MySQL commits each DDL statement implicitly, so each one is re-runnable.

-- +goose Up
CREATE TABLE IF NOT EXISTS `alert` (
    `alert_id` VARCHAR(64) NOT NULL,
    `rule` VARCHAR(64) NOT NULL,
    `severity` VARCHAR(16) NOT NULL,
    `tenant_id` VARCHAR(64),
    `user_id` VARCHAR(512),
    `record_id` VARCHAR(128),
    `record_ids` JSON,
    `client_ip` VARCHAR(64),
    `country` VARCHAR(8),
    `creation_time` DATETIME(6) NOT NULL,
    `summary` LONGTEXT NOT NULL,
    `evidence` JSON,
    `remediation` JSON,
    `detected_at` DATETIME(6) NOT NULL,
    PRIMARY KEY (`alert_id`),
    KEY `ix_alert_time` (`creation_time`),
    KEY `ix_alert_user` (`user_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `alert_delivery` (
    `alert_id` VARCHAR(64) NOT NULL,
    `webhook` VARCHAR(64) NOT NULL,
    `status` VARCHAR(16) NOT NULL,
    `attempts` BIGINT NOT NULL,
    `last_error` LONGTEXT,
    `sent_at` DATETIME(6),
    `updated_at` DATETIME(6) NOT NULL,
    PRIMARY KEY (`alert_id`, `webhook`),
    KEY `ix_alert_delivery_status` (`webhook`, `status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS `alert_delivery`;
DROP TABLE IF EXISTS `alert`;
