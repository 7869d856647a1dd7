DROP TABLE IF EXISTS [#o365_stage_quarantine];
SELECT TOP 0 CAST(0 AS BIGINT) AS [o365_ord], [qkey], [tenant_id], [content_type], [content_id], [ordinal], [record_id], [reason], [raw], [quarantined_at] INTO [#o365_stage_quarantine] FROM [quarantine];
